"""A hostile "Hub" on loopback: one TCP server that misbehaves in a chosen way, for the
tests and tests/scripts/attack.py. Importing this module starts nothing.

Each behaviour answers every connection the same way:

- ``silent``: accepts, reads the request, never answers.
- ``trickle``: answers one byte of a valid response every 0.3 s, forever.
- ``truncated``: announces 100,000 bytes (HEAD and GET, as the Hub would) and sends 10.
- ``redirect-loop``: every request is redirected to itself.
- ``bad-location``: a redirect to a malformed URL.
- ``xet``: a file stored in Xet (its headers), which this client cannot fetch.
- ``not-http``: an SSH banner, then close.
- ``reset``: closes the connection at once.
- ``garbage-status``: an HTTP status line of nonsense.
- ``huge-header``: an endless header line.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
from collections.abc import Callable

BEHAVIOURS = (
    "silent",
    "trickle",
    "truncated",
    "redirect-loop",
    "bad-location",
    "xet",
    "not-http",
    "reset",
    "garbage-status",
    "huge-header",
)
COMMIT = "0123456789abcdef0123456789abcdef01234567"
ETAG = "a" * 64


def _read_request(sock: socket.socket) -> tuple[str, str]:
    data = b""
    while b"\r\n\r\n" not in data and len(data) < 65536:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    first = data.split(b"\r\n", 1)[0].decode("latin-1").split()
    return (first[0], first[1]) if len(first) >= 2 else ("", "/")


def _hub_headers(length: int) -> str:
    return (
        f'X-Repo-Commit: {COMMIT}\r\nETag: "{ETAG}"\r\nX-Linked-Etag: "{ETAG}"\r\n'
        f"X-Linked-Size: {length}\r\nContent-Length: {length}\r\n"
    )


class HostileHub:
    """``HostileHub(behaviour)``: serving on ``endpoint`` until ``stop()``."""

    def __init__(self, behaviour: str) -> None:
        if behaviour not in BEHAVIOURS:
            raise ValueError(f"unknown behaviour {behaviour!r}")
        self.behaviour = behaviour
        self.stopping = threading.Event()
        answer = self._answer

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                with contextlib.suppress(OSError):
                    answer(self.request)

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def endpoint(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def stop(self) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()

    def _answer(self, sock: socket.socket) -> None:
        method, path = _read_request(sock)
        send: Callable[[str], None] = lambda text: sock.sendall(text.encode("latin-1"))  # noqa: E731
        b = self.behaviour
        if b == "silent":
            self.stopping.wait()
        elif b == "trickle":
            response = "HTTP/1.1 200 OK\r\n" + _hub_headers(1000) + "\r\n" + "x" * 1000
            for ch in response:
                if self.stopping.wait(0.3):
                    return
                send(ch)
        elif b == "truncated":
            send("HTTP/1.1 200 OK\r\n" + _hub_headers(100_000) + "\r\n")
            if method == "GET":
                send("x" * 10)
        elif b == "redirect-loop":
            send(f"HTTP/1.1 302 Found\r\nLocation: {path}\r\nContent-Length: 0\r\n\r\n")
        elif b == "bad-location":
            send("HTTP/1.1 302 Found\r\nLocation: http://[::1\r\nContent-Length: 0\r\n\r\n")
        elif b == "xet":
            xet = (
                "X-Xet-Hash: " + "b" * 64 + "\r\n"
                f'Link: <{self.endpoint}/api/xet-read-token>; rel="xet-auth", '
                f'<{self.endpoint}/cas>; rel="xet-reconstruction-info"\r\n'
            )
            send("HTTP/1.1 200 OK\r\n" + _hub_headers(1000) + xet + "\r\n")
        elif b == "not-http":
            send("SSH-2.0-OpenSSH_9.6\r\n")
        elif b == "garbage-status":
            send("HTTP/1.1 abc nonsense\r\n\r\n")
        elif b == "huge-header":
            send("HTTP/1.1 200 OK\r\nX-Long: ")
            while not self.stopping.is_set():
                send("y" * 65536)
        # reset: close at once
