"""A small HTTP/1.1 load generator for the webhook benchmark, run in its own process.

It replays prepared, signed POST bodies over keep-alive connections with plain asyncio streams (far
lighter than a general HTTP client, so most of the two cores stay with the server under test):

- ``closed``: ``--connections`` clients each send their next request as soon as the previous answer
  arrives, for ``--duration`` seconds or until the bodies run out (peak throughput);
- ``open``: requests start on a fixed schedule of ``--rate`` per second for ``--duration`` seconds,
  whatever the server does; latency is measured from the scheduled start, so a slow server is not
  hidden by a generator that waits for it (no coordinated omission).

Every loop is bounded in count (the bodies given) and time: ``--duration``, then at most ``--drain``
seconds for the answers still due; requests unanswered by then are cancelled and reported as timeouts.
Loopback only: the URL must point at 127.0.0.1 or localhost.

Run: ``python -m benchmarks.loadgen --url URL --bodies FILE --mode closed --result OUT.json``.
The bodies file holds one JSON object per line: ``{"body": "...", "signature": "sha256=..."}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

MAX_OPEN_CONNECTIONS = 64
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


class HttpConnection:
    """One keep-alive HTTP/1.1 connection that sends prepared requests and reads whole answers."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def request(self, data: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            await self.open()
        assert self.reader is not None
        assert self.writer is not None
        self.writer.write(data)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length, chunked, close = 0, False, False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value.strip())
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
        if chunked:
            parts = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await self.reader.readuntil(b"\r\n")
                    break
                parts.append(await self.reader.readexactly(size + 2))
            body = b"".join(part[:-2] for part in parts)
        else:
            body = await self.reader.readexactly(length)
        if close:
            self.close()
        return status, body


def _outcome(status: int, body: bytes) -> str:
    """``recorded`` (200 and the webhook recorded the tap), ``ok`` (200 otherwise) or the status code."""
    if status != 200:
        return str(status)
    try:
        return "recorded" if json.loads(body).get("recorded") == 1 else "ok"
    except (ValueError, AttributeError):
        return "ok"


class Run:
    """Requests, what became of each, and their latencies."""

    def __init__(self, url: str, bodies: list[dict[str, str]]) -> None:
        parts = urlsplit(url)
        if parts.hostname not in LOOPBACK_HOSTS:
            raise SystemExit(f"loadgen only targets loopback, not {parts.hostname}")
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        path = parts.path or "/"
        self.requests = [
            (
                f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: application/json\r\n"
                f"X-Hub-Signature-256: {item['signature']}\r\n"
                f"Content-Length: {len(item['body'].encode())}\r\n\r\n"
            ).encode()
            + item["body"].encode()
            for item in bodies
        ]
        self.outcomes: dict[int, str] = {}
        self.latencies: list[float] = []
        self.errors = 0
        self.connections_opened = 0

    async def _send(self, conn: HttpConnection, index: int, started: float) -> None:
        try:
            status, body = await conn.request(self.requests[index])
        except asyncio.CancelledError:
            conn.close()
            self.outcomes[index] = "timeout"
            raise
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, IndexError):
            conn.close()
            self.errors += 1
            self.outcomes[index] = "error"
            return
        self.latencies.append(time.perf_counter() - started)
        self.outcomes[index] = _outcome(status, body)

    @staticmethod
    async def _finish(tasks: list[asyncio.Future[None]], timeout: float) -> None:
        """Wait for ``tasks`` at most ``timeout`` seconds, then cancel what is left (counted as timeouts)."""
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=max(0.0, timeout))
        for task in pending:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def closed(self, connections: int, duration: float, drain: float) -> float:
        next_index = 0
        deadline = time.perf_counter() + duration

        async def client() -> None:
            nonlocal next_index
            conn = HttpConnection(self.host, self.port)
            self.connections_opened += 1
            try:
                while next_index < len(self.requests) and time.perf_counter() < deadline:
                    index, next_index = next_index, next_index + 1
                    await self._send(conn, index, time.perf_counter())
            finally:
                conn.close()

        start = time.perf_counter()
        await self._finish([asyncio.ensure_future(client()) for _ in range(connections)], duration + drain)
        return time.perf_counter() - start

    async def open_loop(
        self, rate: float, duration: float, drain: float, warm_connections: int
    ) -> tuple[float, float]:
        idle: list[HttpConnection] = []
        opened = 0
        available = asyncio.Condition()
        for _ in range(warm_connections):
            conn = HttpConnection(self.host, self.port)
            await conn.open()
            idle.append(conn)
            opened += 1

        async def one(index: int, scheduled: float) -> None:
            nonlocal opened
            async with available:
                while not idle and opened >= MAX_OPEN_CONNECTIONS:
                    await available.wait()
                if idle:
                    conn = idle.pop()
                else:
                    conn, opened = HttpConnection(self.host, self.port), opened + 1
            try:
                await self._send(conn, index, scheduled)
            finally:
                async with available:
                    idle.append(conn)
                    available.notify()

        count = min(len(self.requests), int(rate * duration))
        tasks: list[asyncio.Future[None]] = []
        lateness = 0.0
        start = time.perf_counter()
        for index in range(count):
            scheduled = start + index / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                lateness = max(lateness, -delay)
            tasks.append(asyncio.ensure_future(one(index, scheduled)))
        # Requests never started (queued for a connection) when cancelled count as timeouts too.
        await self._finish(tasks, drain)
        for index in range(count):
            self.outcomes.setdefault(index, "timeout")
        elapsed = time.perf_counter() - start
        self.connections_opened = opened
        for conn in idle:
            conn.close()
        return elapsed, lateness


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", required=True)
    parser.add_argument("--bodies", type=Path, required=True)
    parser.add_argument("--start", type=int, default=0, help="first line of the bodies file to use")
    parser.add_argument("--count", type=int, default=None, help="most bodies to use")
    parser.add_argument("--mode", choices=("closed", "open"), required=True)
    parser.add_argument("--connections", type=int, default=8, help="closed loop: concurrent connections")
    parser.add_argument("--rate", type=float, default=500.0, help="open loop: requests per second")
    parser.add_argument("--duration", type=float, required=True)
    parser.add_argument(
        "--drain", type=float, default=10.0, help="seconds to wait for answers after the last request started"
    )
    parser.add_argument("--result", type=Path, required=True)
    args = parser.parse_args(argv)

    with args.bodies.open(encoding="utf-8") as lines:
        bodies = [json.loads(line) for line in lines]
    stop = len(bodies) if args.count is None else min(len(bodies), args.start + args.count)
    run = Run(args.url, bodies[args.start : stop])
    cpu0 = time.process_time()
    lateness = None
    if args.mode == "closed":
        elapsed = asyncio.run(run.closed(args.connections, args.duration, args.drain))
    else:
        elapsed, lateness = asyncio.run(
            run.open_loop(args.rate, args.duration, args.drain, min(8, MAX_OPEN_CONNECTIONS))
        )
    result: dict[str, Any] = {
        "mode": args.mode,
        "start": args.start,
        "sent": len(run.outcomes),
        "elapsed_s": elapsed,
        "loadgen_cpu_s": time.process_time() - cpu0,
        "connections_opened": run.connections_opened,
        "errors": run.errors,
        "timeouts": sum(1 for outcome in run.outcomes.values() if outcome == "timeout"),
        "max_schedule_lateness_s": lateness,
        # Indexes are relative to --start.
        "outcomes": {str(index): outcome for index, outcome in sorted(run.outcomes.items())},
        "latencies_s": run.latencies,
    }
    args.result.write_text(json.dumps(result), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
