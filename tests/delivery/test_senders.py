"""SMS and email senders: the outbox, an HMAC-signed HTTP gateway (against a local receiver),
and SMTP (against a local SMTP receiver)."""
import hashlib
import hmac
import json
import socketserver
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from idp.delivery import DeliveryError, HttpSmsSender, OutboxSender, SmtpSender, senders
from tests.helpers import PASSWORD, login, make_user, submit_form


class Gateway:
    """A local SMS gateway that fails the first `failures` requests."""

    def __init__(self, failures=0, status=500, hold=None):
        # hold: an Event the gateway waits on before it answers (a slow gateway)
        self.received, self.failures, self.status = [], failures, status
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                gateway.received.append((self.headers, body))
                if hold is not None:
                    hold.wait(30)
                if len(gateway.received) <= gateway.failures:
                    self.send_response(gateway.status)
                else:
                    self.send_response(202)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/sms"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def gateway():
    made = []

    def make(**kw):
        made.append(Gateway(**kw))
        return made[-1]
    yield make
    for g in made:
        g.close()


def test_an_outbox_that_cannot_be_written_is_a_failed_delivery(tmp_path):
    (tmp_path / "a-file").write_text("")
    with pytest.raises(DeliveryError, match="could not be written"):
        OutboxSender(str(tmp_path / "a-file"), "sms").send("kwsp", "+60123456789", "TAC 123456")


def test_outbox_writes_one_json_object_a_line(tmp_path):
    OutboxSender(str(tmp_path), "sms").send("kwsp", "+60123456789", "TAC 123456")
    OutboxSender(str(tmp_path), "email").send("kwap", "a@example.com", "hello", subject="Notis")
    sms = json.loads((tmp_path / "sms.jsonl").read_text())
    email = json.loads((tmp_path / "email.jsonl").read_text())
    assert sms["to"] == "+60123456789" and sms["tenant"] == "kwsp" and sms["sent_at"]
    assert email["subject"] == "Notis" and email["text"] == "hello"


def test_http_gateway_message_is_signed(gateway):
    g = gateway()
    HttpSmsSender(g.url, "gateway-secret").send("kwsp", "+60123456789", "TAC 123456")
    headers, body = g.received[0]
    expected = hmac.new(b"gateway-secret", headers["X-IDP-Timestamp"].encode() + b"." + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-IDP-Signature"], expected)
    assert json.loads(body)["to"] == "+60123456789"


def test_http_gateway_retries_with_backoff_then_succeeds(gateway):
    g = gateway(failures=2)
    HttpSmsSender(g.url, "s", backoff=0.01).send("kwsp", "+60123456789", "x")
    assert len(g.received) == 3


def test_http_gateway_gives_up_with_a_clear_error(gateway):
    g = gateway(failures=10)
    with pytest.raises(DeliveryError, match="HTTP 500"):
        HttpSmsSender(g.url, "s", backoff=0.01).send("kwsp", "+60123456789", "x")
    assert len(g.received) == 3


def test_http_gateway_does_not_retry_a_refused_message(gateway):
    g = gateway(failures=10, status=400)
    with pytest.raises(DeliveryError):
        HttpSmsSender(g.url, "s", backoff=0.01).send("kwsp", "+60123456789", "x")
    assert len(g.received) == 1


def test_unreachable_gateway_is_a_delivery_error():
    with pytest.raises(DeliveryError):
        HttpSmsSender("http://127.0.0.1:9/sms", "s", timeout=0.5, attempts=1).send("kwsp", "+60123456789", "x")


def test_a_gateway_trickling_its_answer_is_cut_off_as_a_whole():
    # a socket timeout bounds each read: a byte a second would hold the sender (and, for a TAC
    # in a signed-in flow, the user's request) for as long as the gateway liked
    from tests.oidc.test_backchannel_delivery import trickler
    server, url = trickler(4)
    try:
        started = time.monotonic()
        with pytest.raises(DeliveryError, match="no whole answer within 1 s"):
            HttpSmsSender(url, "s", timeout=1, attempts=1).send("kwsp", "+60123456789", "x")
        assert time.monotonic() - started < 2
    finally:
        server.close()


class SmtpReceiver(socketserver.ThreadingTCPServer):
    """Just enough SMTP to receive one message (no TLS)."""

    allow_reuse_address = True
    daemon_threads = True

    def __init__(self):
        self.messages = []
        receiver = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                self.wfile.write(b"220 test ESMTP\r\n")
                data, in_data = [], False
                for raw in self.rfile:
                    line = raw.decode().rstrip("\r\n")
                    if in_data:
                        if line == ".":
                            receiver.messages.append("\n".join(data))
                            in_data = False
                            self.wfile.write(b"250 OK\r\n")
                        else:
                            data.append(line)
                        continue
                    verb = line.split(" ")[0].upper()
                    if verb == "EHLO":
                        self.wfile.write(b"250 test\r\n")
                    elif verb == "DATA":
                        in_data = True
                        self.wfile.write(b"354 go\r\n")
                    elif verb == "QUIT":
                        self.wfile.write(b"221 bye\r\n")
                        return
                    else:
                        self.wfile.write(b"250 OK\r\n")

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()


def test_smtp_sender_delivers_to_a_relay():
    relay = SmtpReceiver()
    try:
        SmtpSender("127.0.0.1", relay.server_address[1], starttls=False, sender="idp@kwap.example").send(
            "kwap", "staf@klinik.example", "Kata laluan sementara", subject="eHemodialisis")
    finally:
        relay.shutdown()
        relay.server_close()
    assert "Subject: eHemodialisis" in relay.messages[0] and "staf@klinik.example" in relay.messages[0]


def test_smtp_relay_down_is_a_delivery_error():
    with pytest.raises(DeliveryError):
        SmtpSender("127.0.0.1", 9, starttls=False, timeout=0.5).send("kwap", "a@example.com", "x")


def test_backend_choice_is_validated(tmp_path):
    base = {"IDP_OUTBOX_DIR": str(tmp_path), "IDP_EMAIL_BACKEND": "outbox"}
    assert isinstance(senders({**base, "IDP_SMS_BACKEND": "http", "IDP_SMS_HTTP_URL": "http://x"})["sms"], HttpSmsSender)
    with pytest.raises(ValueError):
        senders({**base, "IDP_SMS_BACKEND": "pigeon"})


def _use_gateway(provider, g):
    provider.settings.update(IDP_SMS_BACKEND="http", IDP_SMS_HTTP_URL=g.url, IDP_SMS_HTTP_SECRET="s",
                             IDP_SMS_HTTP_BACKOFF=0.01)


def _eventually(condition, seconds=20):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the background delivery did not happen"
        time.sleep(0.02)


def _forgot_password(browser, username):
    start = browser.get("/t/kwsp/account/forgot_password")
    url = start.headers["Location"]
    return submit_form(browser, browser.get(url), url, username=username).get_data(as_text=True)


FAILED = "tidak dapat menghantar SMS"


def test_a_failed_gateway_is_told_to_every_recovery_alike(provider, browser, rp, user, gateway):
    # recovery cannot wait for the gateway (its answer would then tell real IDs apart), so the
    # first failure is found in the background; from then on every recovery says so, any ID
    g = gateway(failures=100)
    _use_gateway(provider, g)
    assert FAILED not in _forgot_password(browser, "ali")
    _eventually(lambda: provider.outgoing.failing("sms"))
    assert len(g.received) == 3  # the sender's retries, all refused
    assert FAILED in _forgot_password(browser, "ali") and FAILED in _forgot_password(browser, "no-such-user")
    events = [e.event for e in provider.audit.events("kwsp", subject=user["id"])]
    assert "delivery.failed" in events


def test_recovery_does_not_wait_for_a_slow_gateway(provider, browser, rp, user, gateway):
    release = threading.Event()
    g = gateway(hold=release)
    _use_gateway(provider, g)
    try:
        page = _forgot_password(browser, "ali")  # answered while the gateway still holds the SMS
        assert 'name="code"' in page and FAILED not in page and not release.is_set()
    finally:
        release.set()
    _eventually(lambda: len(g.received) == 1)
    assert json.loads(g.received[0][1])["to"] == "+60123456789"


def test_a_signed_in_user_hears_at_once_that_the_sms_failed(provider, browser, rp, user, gateway):
    # who it is was proved by the session and the password: the TAC is sent while they wait
    login(browser)
    _use_gateway(provider, gateway(failures=100))
    start = browser.get("/t/kwsp/account/totp_enrol")
    url = start.headers["Location"]
    page = submit_form(browser, browser.get(url), url, password=PASSWORD)
    assert FAILED in page.get_data(as_text=True)
    assert provider.outgoing.failing("sms")


def test_a_refused_recipient_does_not_mark_the_channel_failing(provider, browser, rp, user, gateway):
    # the gateway refusing one number (4xx) says nothing about the others: were the channel
    # marked, one account's bad number would stop every recovery, and tell that its ID is real
    g = gateway(failures=100, status=400)
    _use_gateway(provider, g)
    _forgot_password(browser, "ali")
    _eventually(lambda: "delivery.failed" in [e.event for e in provider.audit.events("kwsp", subject=user["id"])])
    assert not provider.outgoing.failing("sms")
    assert FAILED not in _forgot_password(browser, "no-such-user")


def test_a_gateway_that_cannot_keep_up_drops_and_says_so(provider, browser, rp, user, gateway, monkeypatch):
    from idp import outgoing
    monkeypatch.setattr(outgoing, "PENDING_LIMIT", 1)
    release = threading.Event()
    g = gateway(hold=release)
    _use_gateway(provider, g)
    try:
        _forgot_password(browser, "ali")  # waits at the gateway
        _eventually(lambda: len(g.received) == 1)
        _forgot_password(browser, "ali")  # finds the line full
        events = [e for e in provider.audit.events("kwsp", subject=user["id"]) if e.event == "delivery.dropped"]
        assert len(events) == 1 and provider.outgoing.failing("sms")
    finally:
        release.set()
    _eventually(lambda: outgoing.lane_of("sms").pending == 0)


def test_a_message_past_its_deadline_is_not_sent(provider, gateway):
    g = gateway()
    _use_gateway(provider, g)
    provider.outgoing.send_later("kwsp", "sms", "+60123456789", "TAC 123456", account_id="a-1", expires_in=-1)
    _eventually(lambda: any(e.event == "delivery.dropped" for e in provider.audit.events("kwsp", subject="a-1")))
    assert g.received == []


def test_a_relay_that_is_down_is_told_to_every_reset_by_link_alike(provider, browser):
    make_user(provider, tenant="kwap", username="staf09", identity_type="staff", email="staf09@klinik.example")
    provider.settings.update(IDP_EMAIL_BACKEND="smtp", IDP_SMTP_HOST="127.0.0.1", IDP_SMTP_PORT=9,
                             IDP_SMTP_STARTTLS="false")

    def reset_by_link(username):
        start = browser.get("/t/kwap/account/forgot_password")
        url = start.headers["Location"]
        return submit_form(browser, browser.get(url), url, username=username).get_data(as_text=True)

    assert "Emel tidak dihantar" not in reset_by_link("staf09")  # found out in the background
    _eventually(lambda: provider.outgoing.failing("email"))
    assert "Emel tidak dihantar" in reset_by_link("staf09") and "Emel tidak dihantar" in reset_by_link("nobody")
