"""Messages to users: sent while the user waits, or in the background.

While the user waits where they have proved who they are and need to hear whether it went (a
TAC in a signed-in flow). In the background where the answer must not depend on whether an
account exists, in its words or in its time (recovery, ASVS 6.3.8): a gateway that takes two
seconds would otherwise tell real IDs from made-up ones. Notices go in the background too: they
never hold up the action they report.

A channel that failed is remembered for a while in the ephemeral store (shared by all workers),
so that every recovery meanwhile says so alike, whatever ID was typed.

The local outbox (development and tests) is written at once either way: a file append, no wait
on anyone.
"""
import logging
from concurrent.futures import ThreadPoolExecutor

from .delivery import DeliveryError, OutboxSender, senders

FAILING, FAILING_SECONDS = "delivery_failing", 120
_log = logging.getLogger(__name__)
_background = ThreadPoolExecutor(max_workers=4, thread_name_prefix="idp-delivery")


class Outgoing:
    def __init__(self, provider):
        self.p = provider

    def failing(self, channel: str) -> bool:
        """Whether the channel failed within the last FAILING_SECONDS."""
        return self.p.store.get(FAILING, channel) is not None

    def send_now(self, tenant_id: str, channel: str, to: str, text: str, title: str | None = None) -> None:
        """Deliver before returning; raises DeliveryError (and marks the channel failing)."""
        try:
            senders(self.p.settings)[channel].send(tenant_id, to, text, subject=title)
        except DeliveryError:
            self.p.store.put(FAILING, channel, {}, FAILING_SECONDS)
            raise

    def send_later(self, tenant_id: str, channel: str, to: str, text: str, title: str | None = None, *,
                   account_id: str | None = None) -> None:
        """Deliver without holding up the response; a failure is audited and marks the channel."""
        sender = senders(self.p.settings)[channel]

        def deliver():
            try:
                sender.send(tenant_id, to, text, subject=title)
            except DeliveryError as exc:
                self.p.store.put(FAILING, channel, {}, FAILING_SECONDS)
                self.p.audit.record(tenant_id, "delivery.failed", outcome="failure", subject=account_id,
                                    channel=channel, error=str(exc))
            except Exception:  # a worker thread has no one to raise to: keep it in the log
                _log.exception("delivery by %s to tenant %s failed", channel, tenant_id)

        if isinstance(sender, OutboxSender):
            deliver()
        else:
            _background.submit(deliver)
