"""Stores that are sick but not dead: stalling servers on loopback, read-only files (imported by name).

:class:`StallingProxy` stands in front of a real server and can stall: every connection stays open and
its bytes are acknowledged by the kernel, but nothing is forwarded until :meth:`~StallingProxy.resume`,
exactly what a client sees of a stopped (``SIGSTOP``), swapping or hung database server.
:class:`SilentListener` accepts connections and never says a word.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import threading
from collections.abc import Iterator
from types import TracebackType


class SilentListener:
    """A TCP listener that accepts every connection and never answers."""

    def __init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._server.getsockname()[1]
        self._held: list[socket.socket] = []
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="silent-listener", daemon=True)
        self._thread.start()

    @property
    def accepted(self) -> int:
        return len(self._held)

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            self._held.append(conn)

    def close(self) -> None:
        self._closed.set()
        self._server.close()
        for conn in self._held:
            conn.close()

    def __enter__(self) -> SilentListener:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class StallingProxy:
    """A TCP proxy to ``upstream`` that forwards until :meth:`stall`, and again after :meth:`resume`.

    :param upstream_host: the real server's host.
    :param upstream_port: the real server's port.
    """

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._server.getsockname()[1]
        self._flowing = threading.Event()
        self._flowing.set()
        self._closed = threading.Event()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self.connections = 0
        threading.Thread(target=self._accept, name="stalling-proxy", daemon=True).start()

    def stall(self) -> None:
        """Stop forwarding, in both directions, on every connection, old and new."""
        self._flowing.clear()

    def resume(self) -> None:
        """Forward again (what was held back goes on, as a resumed server would read it)."""
        self._flowing.set()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
                self._sockets.append(client)
            threading.Thread(target=self._connect, args=(client,), daemon=True).start()

    def _connect(self, client: socket.socket) -> None:
        self._flowing.wait()
        try:
            upstream = socket.create_connection(self.upstream, timeout=10)
        except OSError:
            client.close()
            return
        upstream.settimeout(None)
        with self._lock:
            self._sockets.append(upstream)
        threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
        self._pump(upstream, client)

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                self._flowing.wait()
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._closed.set()
        self._flowing.set()
        self._server.close()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.close()

    def __enter__(self) -> StallingProxy:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def via(url: str, port: int) -> str:
    """``url`` with its host and port replaced by loopback ``port`` (e.g. a :class:`StallingProxy`)."""
    from sqlalchemy.engine import make_url

    return make_url(url).set(host="127.0.0.1", port=port).render_as_string(hide_password=False)


def upstream_of(url: str) -> tuple[str, int]:
    """Host and port ``url`` points at (PostgreSQL's default port when it names none)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    return parsed.host or "127.0.0.1", parsed.port or 5432


@contextlib.contextmanager
def read_only_file(path: str) -> Iterator[None]:
    """Make ``path`` read-only for this process, root included, then writable again.

    As root, ``chmod`` changes nothing (root writes anyway): the immutable attribute (``chattr +i``)
    does. A file made read-only so is opened read-only by SQLite, and stays so for that connection.
    """
    if os.geteuid() != 0:
        mode = os.stat(path).st_mode
        os.chmod(path, 0o444)
        try:
            yield
        finally:
            os.chmod(path, mode)
        return
    done = subprocess.run(["chattr", "+i", path], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        import pytest

        pytest.skip(f"cannot make a file read-only for root here (chattr +i: {done.stderr.strip()})")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", path], check=True)
