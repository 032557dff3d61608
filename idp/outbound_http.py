"""One POST to a server outside (an SMS gateway, a portal's back-channel logout URI), bounded
as a whole. A socket timeout bounds each read only: a server sending a byte at a time would
hold the sending thread as long as it liked. Redirects are not followed: what was posted is for
the URI that was configured or registered, and a 3xx answer is not its acceptance. Sent direct:
no HTTP(S)_PROXY, as urllib would take from the environment."""
import socket
import threading
import time
from http.client import HTTPConnection, HTTPException, HTTPSConnection
from urllib.parse import urlsplit

MAX_ANSWER = 64 * 1024  # of a body read, so that the connection closes cleanly; none is needed


class PostFailed(Exception):
    """No answer: unreachable, cut off at the deadline, or not HTTP."""


def post(url: str, body: bytes, headers: dict, seconds: float) -> int:
    """The answer's status code, within `seconds` from the first connection attempt (the name's
    look-up aside: that is the resolver's own timeouts)."""
    try:
        parts = urlsplit(url)
        # the port always given: without it, http.client reads an IPv6 literal's last group as one
        port = parts.port or (443 if parts.scheme == "https" else 80)
        if not parts.hostname:
            raise ValueError("no host")
    except ValueError as exc:  # a port that is no number, or no host
        raise PostFailed(f"not a usable URL: {exc}") from None
    kind = HTTPSConnection if parts.scheme == "https" else HTTPConnection
    connection = kind(parts.hostname, port, timeout=seconds)
    ends_at = time.monotonic() + seconds
    # http.client's hook for making the socket (connect() calls it; HTTPS wraps what it returns)
    connection._create_connection = lambda address, *_: _connect(address, ends_at)
    deadline = _Deadline(connection, seconds)
    try:
        connection.connect()  # (a TLS handshake: bounded by the socket's timeout, set to the time left)
        deadline.check()
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connection.request("POST", target, body, headers)
        response = connection.getresponse()
        response.read(MAX_ANSWER)
        deadline.check()
        return response.status
    except (OSError, HTTPException, ValueError) as exc:  # a cut-off: a reset, a short answer, a timeout;
        # ValueError: a name the resolver will not take (a label over 63 characters: UnicodeError)
        late = deadline.passed or isinstance(exc, TimeoutError)
        raise PostFailed(deadline.message if late else str(exc) or type(exc).__name__) from None
    finally:
        deadline.cancel()
        connection.close()


def _connect(address, ends_at: float) -> socket.socket:
    """A connection to the first of the host's addresses that takes one, each given its share of
    the time left: one that never answers must not use up the time of the others."""
    host, port = address
    candidates = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    error = None
    for n, (family, kind, protocol, _, where) in enumerate(candidates):
        left = ends_at - time.monotonic()
        if left <= 0:
            break
        sock = socket.socket(family, kind, protocol)
        sock.settimeout(left / (len(candidates) - n))
        try:
            sock.connect(where)
        except OSError as exc:
            sock.close()
            error = exc
            continue
        sock.settimeout(max(ends_at - time.monotonic(), 0.001))
        return sock
    raise error or TimeoutError("no address took the connection in time")


class _Deadline:
    """Shuts the connection's socket when the time is up, which ends any read or write waiting
    on it once connected."""

    def __init__(self, connection, seconds: float):
        self.connection, self.passed = connection, False
        self.message = f"no whole answer within {seconds:g} s"
        self._timer = threading.Timer(seconds, self._cut)
        self._timer.daemon = True
        self._timer.start()

    def _cut(self):
        self.passed = True
        sock = self.connection.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed

    def check(self):
        if self.passed:
            raise PostFailed(self.message)

    def cancel(self):
        self._timer.cancel()
