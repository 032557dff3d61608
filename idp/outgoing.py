"""Messages to users: sent while the user waits, or in the background.

While the user waits where they have proved who they are and need to hear whether it went (a
TAC in a signed-in flow). In the background where the answer must not depend on whether an
account exists, in its words or in its time (recovery, ASVS 6.3.8): a gateway that takes two
seconds would otherwise tell real IDs from made-up ones. Notices go in the background too: they
never hold up the action they report. So do portals' back-channel logout tokens, each portal on
a lane of its own (`lane_of`, used by idp/oauth/logout.py).

The background is a few threads per channel and worker process, with a bounded number of
messages waiting: past it, or past a message's own deadline (a TAC that would arrive expired),
a message is dropped and audited rather than queued without end. Messages still waiting when a
worker is stopped are lost (docs/OPERATIONS.md).

A channel whose gateway or relay fails (down, timing out, 5xx, or not keeping up) is remembered
for a while in the ephemeral store, shared by all workers, so that every recovery meanwhile says
so alike, whatever ID was typed. A refusal of one recipient does not count as that.

The local outbox (development and tests) is written at once either way: a file append, no wait
on anyone.
"""
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from .delivery import DeliveryError, OutboxSender, senders

FAILING, FAILING_SECONDS = "delivery_failing", 120
WORKERS = 2            # threads per channel and worker process
PENDING_LIMIT = 200    # messages waiting per channel and worker process
_log = logging.getLogger(__name__)


class _Channel:
    def __init__(self, name: str):
        self.pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix=f"idp-{name}")
        self.pending, self.lock = 0, threading.Lock()

    def reserve(self) -> bool:
        with self.lock:
            if self.pending >= PENDING_LIMIT:
                return False
            self.pending += 1
            return True

    def release(self) -> None:
        with self.lock:
            self.pending -= 1


_channels: dict[str, _Channel] = {}
_channels_pid, _channels_lock = None, threading.Lock()


def lane_of(name: str) -> _Channel:
    """The background threads and bounded queue of one channel (an SMS gateway, a portal's
    back-channel logout URI), in this worker process."""
    global _channels_pid
    with _channels_lock:
        if _channels_pid != os.getpid():  # a forked worker has none of its parent's threads
            _channels.clear()
            _channels_pid = os.getpid()
        if name not in _channels:
            _channels[name] = _Channel(name)
        return _channels[name]


class Outgoing:
    def __init__(self, provider):
        self.p = provider

    def failing(self, channel: str) -> bool:
        """Whether the channel's gateway or relay failed within the last FAILING_SECONDS."""
        return self.p.store.get(FAILING, channel) is not None

    def send_now(self, tenant_id: str, channel: str, to: str, text: str, title: str | None = None) -> None:
        """Deliver before returning; raises DeliveryError."""
        try:
            senders(self.p.settings)[channel].send(tenant_id, to, text, subject=title)
        except DeliveryError as exc:
            self._failed(channel, exc)
            raise

    def send_later(self, tenant_id: str, channel: str, to: str, text: str, title: str | None = None, *,
                   account_id: str | None = None, expires_in: float | None = None) -> None:
        """Deliver without holding up the response; `expires_in`: seconds after which the message
        is worth nothing (a TAC's lifetime). Failures and drops are audited."""
        sender = senders(self.p.settings)[channel]
        audit = dict(outcome="failure", subject=account_id, channel=channel)
        if isinstance(sender, OutboxSender):  # a local file: written now, failing as a gateway would
            try:
                sender.send(tenant_id, to, text, subject=title)
            except DeliveryError as exc:
                self._failed(channel, exc)
                self.p.audit.record(tenant_id, "delivery.failed", error=str(exc), **audit)
            return
        lane = lane_of(channel)
        if not lane.reserve():  # the gateway is not keeping up
            self.p.store.put(FAILING, channel, {}, FAILING_SECONDS)
            self.p.audit.record(tenant_id, "delivery.dropped", reason="queue_full", **audit)
            return
        deadline = None if expires_in is None else time.monotonic() + expires_in

        def deliver():
            try:
                if deadline is not None and time.monotonic() > deadline:
                    self.p.audit.record(tenant_id, "delivery.dropped", reason="expired", **audit)
                    return
                sender.send(tenant_id, to, text, subject=title)
            except DeliveryError as exc:
                self._failed(channel, exc)
                self.p.audit.record(tenant_id, "delivery.failed", error=str(exc), **audit)
            except Exception:  # a worker thread has no one to raise to: keep it in the log
                _log.exception("delivery by %s to tenant %s failed", channel, tenant_id)
            finally:
                lane.release()

        lane.pool.submit(deliver)

    def _failed(self, channel: str, error: DeliveryError) -> None:
        if error.transient:  # the gateway itself, not one refused recipient
            self.p.store.put(FAILING, channel, {}, FAILING_SECONDS)
