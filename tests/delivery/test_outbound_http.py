"""One POST outside, bounded as a whole (idp/outbound_http.py): real sockets on loopback."""
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from idp.outbound_http import PostFailed, post


class _Accepting(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def portal():
    server = HTTPServer(("127.0.0.1", 0), _Accepting)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def blackhole():
    """A port whose connections never complete: a listener that never accepts, its queue full."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=0)
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(listener.getsockname())
        fillers.append(filler)
    time.sleep(0.1)
    yield listener.getsockname()[1]
    for sock in (*fillers, listener):
        sock.close()


def test_an_address_that_never_answers_leaves_the_next_its_share_of_the_time(portal, blackhole, monkeypatch):
    resolve = socket.getaddrinfo

    def addresses(host, *args, **kwargs):  # a portal whose first address is dead
        if host == "portal.test":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port)) for port in (blackhole, portal)]
        return resolve(host, *args, **kwargs)
    monkeypatch.setattr(socket, "getaddrinfo", addresses)
    started = time.monotonic()
    assert post(f"http://portal.test:{portal}/bc", b"x", {}, 1) == 200
    assert time.monotonic() - started < 1.2


def test_no_address_answering_is_a_failure_within_the_time(blackhole):
    started = time.monotonic()
    with pytest.raises(PostFailed, match="no whole answer within 1 s"):
        post(f"http://127.0.0.1:{blackhole}/bc", b"x", {}, 1)
    assert time.monotonic() - started < 1.5


@pytest.mark.parametrize("url", ["http://127.0.0.1:99999/bc", "http://127.0.0.1:port/bc"])
def test_a_url_with_no_usable_port_is_a_failure_not_an_exception(url):
    with pytest.raises(PostFailed, match="not a usable URL"):
        post(url, b"x", {}, 1)


def test_an_ipv6_literal_without_a_port_is_not_misread(monkeypatch):
    seen = []
    monkeypatch.setattr("idp.outbound_http._connect", lambda address, ends_at: seen.append(address) or 1 / 0)
    with pytest.raises(ZeroDivisionError):
        post("http://[::1]/bc", b"x", {}, 1)
    assert seen == [("::1", 80)]


@pytest.mark.parametrize("url", ["http:///bc", f"http://{'a' * 64}.example/bc"])
def test_a_host_the_resolver_will_not_take_is_a_failure(url):
    with pytest.raises(PostFailed):
        post(url, b"x", {}, 1)
