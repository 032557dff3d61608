"""How logout tokens reach the portals (Back-Channel Logout 2.8): each delivery bounded as a whole,
a lane per portal so a slow one holds up no other, no redirects followed, and what could not be
delivered audited. Real sockets on loopback: a portal that trickles its answer, one that
redirects, a healthy one."""
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from idp import outgoing
from idp.oauth import logout as backchannel
from tests.helpers import register_client
from tests.oidc.test_backchannel_logout import Receiver


def trickler(seconds):
    """A portal that reads the request, then sends its answer's header a byte a second."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)

    def answer(connection):
        try:
            connection.recv(65536)
            connection.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
            for _ in range(seconds):
                connection.sendall(b"a")
                time.sleep(1)
            connection.sendall(b"\r\nContent-Length: 0\r\n\r\n")
        except OSError:
            pass
        finally:
            connection.close()

    def accept():
        while True:
            try:
                connection, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=answer, args=(connection,), daemon=True).start()
    threading.Thread(target=accept, daemon=True).start()
    return server, f"http://127.0.0.1:{server.getsockname()[1]}/bc"


def _outcomes(provider, client_id):
    return [(e.outcome, e.detail.get("error")) for e in provider.audit.events("kwsp", event="logout.backchannel")
            if e.client_id == client_id]


def test_a_slow_portal_is_cut_off_and_holds_up_no_other(provider, monkeypatch):
    monkeypatch.setattr(backchannel, "DELIVERY_SECONDS", 1)
    slow_server, slow_uri = trickler(4)
    healthy = Receiver()
    try:
        register_client(provider, client_id="slow", backchannel_logout_uri=slow_uri)
        register_client(provider, client_id="healthy", backchannel_logout_uri=healthy.url)
        tenant, started = provider.tenants["kwsp"], time.monotonic()
        slow = [f for n in range(4) for f in backchannel.notify_backchannel(provider, tenant, ["slow"], "sub", f"s{n}")]
        [fine] = backchannel.notify_backchannel(provider, tenant, ["healthy"], "sub", "s9")
        assert fine.result(5) is True and time.monotonic() - started < 1  # not behind the slow portal's four
        assert [f.result(10) for f in slow] == [False] * 4
        assert time.monotonic() - started < 3.5  # two at a time, each cut off after 1 s (not after 4)
    finally:
        slow_server.close()
        healthy.close()
    assert _outcomes(provider, "slow") == [("failure", "no whole answer within 1 s")] * 4
    assert _outcomes(provider, "healthy") == [("success", None)]


def test_a_redirect_is_not_followed_nor_taken_for_a_delivery(provider):
    followed = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(302)
            self.send_header("Location", "/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self):  # where a followed redirect would land, without the token
            followed.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        register_client(provider, backchannel_logout_uri=f"http://127.0.0.1:{server.server_address[1]}/bc")
        [delivery] = backchannel.notify_backchannel(provider, provider.tenants["kwsp"], ["portal"], "sub", "sid")
        assert delivery.result(10) is False and followed == []
    finally:
        server.shutdown()
        server.server_close()
    assert _outcomes(provider, "portal") == [("failure", "HTTP 302")]


@pytest.mark.parametrize("why", ["queue_full", "stale"])
def test_a_notice_that_cannot_wait_longer_is_dropped_and_audited(provider, monkeypatch, why):
    receiver = Receiver()
    try:
        register_client(provider, backchannel_logout_uri=receiver.url)
        if why == "queue_full":
            monkeypatch.setattr(outgoing, "PENDING_LIMIT", 0)
        else:
            monkeypatch.setattr(backchannel, "STALE_SECONDS", -1)
        futures = backchannel.notify_backchannel(provider, provider.tenants["kwsp"], ["portal"], "sub", "sid")
        assert all(f.result(5) is False for f in futures)
    finally:
        receiver.close()
    assert receiver.requests == []
    assert _outcomes(provider, "portal") == [("failure", why)]
