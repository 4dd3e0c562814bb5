"""A small TCP proxy the tests control, to put real faults between WhaleFall and a live server.

Loopback only, threads only, bounded (at most `max_connections` at a time, every socket closed by
`close()`). Faults, set on the proxy at any time:

- `cut_on = b"..."`: when the client sends bytes containing the marker (a query text: the MySQL
  and PostgreSQL protocols send queries as plain text), both sides are closed at once, as a
  network cut would. With `refuse_after_cut`, the proxy then stops listening: reconnects are
  refused, as they are when the server went away.
- `blackhole = True`: accept connections and never forward or answer anything.
- `delay = 0.05`: wait this long before forwarding each chunk the server sends (a slow link).
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType


class FaultProxy:
    def __init__(
        self, target_port: int, *, target_host: str = "127.0.0.1", max_connections: int = 32
    ) -> None:
        self.target = (target_host, target_port)
        self.max_connections = max_connections
        self.cut_on: bytes | None = None
        self.refuse_after_cut = False
        self.blackhole = False
        self.delay = 0.0
        self.cuts = 0
        self.accepted = 0
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.port: int = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._accept_loop, name="fault-proxy", daemon=True)
        self._thread.start()

    # --- control ------------------------------------------------------------------------------
    def stop_listening(self) -> None:
        """From now on connections to the port are refused."""
        # shutdown() first: on Linux it stops listening at once and wakes the blocked accept();
        # close() alone leaves the port listening until accept() returns.
        _close(self._listener)

    def close(self) -> None:
        self._closed.set()
        self.stop_listening()
        with self._lock:
            sockets = list(self._sockets)
            self._sockets.clear()
        for sock in sockets:
            _close(sock)
        self._thread.join(timeout=5)

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- plumbing -----------------------------------------------------------------------------
    def _track(self, *socks: socket.socket) -> None:
        with self._lock:
            self._sockets.update(socks)

    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                busy = len(self._sockets)
            if busy >= 2 * self.max_connections:
                _close(client)
                continue
            self.accepted += 1
            self._track(client)
            if self.blackhole:
                continue  # held open, never answered, closed by close()
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                _close(client)
                continue
            upstream.settimeout(None)
            self._track(upstream)
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, from_client: bool) -> None:
        try:
            while not self._closed.is_set():
                data = src.recv(65536)
                if not data:
                    break
                if from_client and self.cut_on and self.cut_on in data:
                    self.cuts += 1
                    if self.refuse_after_cut:
                        self.stop_listening()
                    break
                if not from_client and self.delay:
                    time.sleep(self.delay)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            _close(src)
            _close(dst)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass
