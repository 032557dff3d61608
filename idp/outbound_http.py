"""One POST to a server outside (an SMS gateway, a portal's back-channel logout URI), bounded
as a whole. A socket timeout bounds each read only: a server sending a byte at a time would
hold the sending thread as long as it liked. Redirects are not followed: what was posted is for
the URI that was configured or registered, and a 3xx answer is not its acceptance."""
import socket
import threading
from http.client import HTTPConnection, HTTPException, HTTPSConnection
from urllib.parse import urlsplit

MAX_ANSWER = 64 * 1024  # of a body read, so that the connection closes cleanly; none is needed


class PostFailed(Exception):
    """No answer: unreachable, cut off at the deadline, or not HTTP."""


def post(url: str, body: bytes, headers: dict, seconds: float) -> int:
    """The answer's status code, within `seconds` from the first connection attempt."""
    parts = urlsplit(url)
    kind = HTTPSConnection if parts.scheme == "https" else HTTPConnection
    connection = kind(parts.hostname, parts.port, timeout=seconds)
    deadline = _Deadline(connection, seconds)
    try:
        connection.connect()  # (the host's look-up and connect: bounded by the socket timeout)
        deadline.check()
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connection.request("POST", target, body, headers)
        response = connection.getresponse()
        response.read(MAX_ANSWER)
        deadline.check()
        return response.status
    except (OSError, HTTPException) as exc:  # a cut-off shows as a reset or a short answer
        raise PostFailed(deadline.passed and deadline.message or str(exc) or type(exc).__name__) from None
    finally:
        deadline.cancel()
        connection.close()


class _Deadline:
    """Shuts the connection's socket when the time is up, which ends any read or write waiting
    on it (a TLS handshake included)."""

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
