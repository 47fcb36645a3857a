"""A TCP forwarder for the database host: bridge address -> 127.0.0.1, counting PostgreSQL statements.

PostgreSQL and Redis listen on 127.0.0.1 only; the other hosts (network namespaces) reach them through
this process, which listens on the bridge's address in the root namespace. For PostgreSQL it also reads
the client's side of the protocol (not the server's) and counts every statement executed, per client
address and database: the test learns how many queries each triggerer sent to the decision store
without touching the server's configuration. Run as a script:

    python forwarder.py --stats FILE LISTEN_HOST:PORT=TARGET_HOST:PORT[/pg] ...

It prints ``FORWARDING`` once listening and rewrites ``FILE`` (JSON) twice a second.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import struct
import sys
from collections import Counter, defaultdict

SSL_REQUEST, GSSENC_REQUEST, CANCEL_REQUEST = 80877103, 80877104, 80877102
#: Statement counts: "client_ip database" -> statement text -> executions.
COUNTS: defaultdict[str, Counter[str]] = defaultdict(Counter)


def _normalised(sql: str) -> str:
    return " ".join(sql.split())[:160]


class PgClientReader:
    """Follows one client's stream of PostgreSQL messages and counts executed statements."""

    def __init__(self, client_ip: str) -> None:
        self.client_ip = client_ip
        self.database = "?"
        self.buffer = bytearray()
        self.started = False
        self.statements: dict[bytes, str] = {}

    def feed(self, data: bytes) -> None:
        self.buffer += data
        while True:
            if not self.started:
                if len(self.buffer) < 8:
                    return
                (length,) = struct.unpack("!I", self.buffer[:4])
                if len(self.buffer) < length:
                    return
                body, self.buffer = bytes(self.buffer[4:length]), self.buffer[length:]
                (code,) = struct.unpack("!I", body[:4])
                if code in (SSL_REQUEST, GSSENC_REQUEST, CANCEL_REQUEST):
                    continue  # the real startup message follows (the server said no: PGSSLMODE=disable)
                params = body[4:].split(b"\0")
                pairs = dict(zip(params[0::2], params[1::2], strict=False))
                self.database = pairs.get(b"database", pairs.get(b"user", b"?")).decode(errors="replace")
                self.started = True
                continue
            if len(self.buffer) < 5:
                return
            kind = self.buffer[:1]
            (length,) = struct.unpack("!I", self.buffer[1:5])
            if len(self.buffer) < 1 + length:
                return
            body, self.buffer = bytes(self.buffer[5 : 1 + length]), self.buffer[1 + length :]
            self._message(kind, body)

    def _message(self, kind: bytes, body: bytes) -> None:
        key = f"{self.client_ip} {self.database}"
        if kind == b"Q":
            COUNTS[key][_normalised(body.split(b"\0", 1)[0].decode(errors="replace"))] += 1
        elif kind == b"P":
            name, rest = body.split(b"\0", 1)
            self.statements[name] = rest.split(b"\0", 1)[0].decode(errors="replace")
        elif kind == b"B":
            _portal, rest = body.split(b"\0", 1)
            name = rest.split(b"\0", 1)[0]
            COUNTS[key][_normalised(self.statements.get(name, "?"))] += 1


async def _pipe(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, tap: PgClientReader | None
) -> None:
    try:
        while data := await reader.read(65536):
            if tap is not None:
                tap.feed(data)
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def _serve(listen: tuple[str, int], target: tuple[str, int], pg: bool) -> asyncio.Server:
    async def handle(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            server_reader, server_writer = await asyncio.open_connection(*target)
        except OSError:
            client_writer.close()
            return
        peer = client_writer.get_extra_info("peername")[0]
        tap = PgClientReader(peer) if pg else None
        await asyncio.gather(
            _pipe(client_reader, server_writer, tap), _pipe(server_reader, client_writer, None)
        )

    return await asyncio.start_server(handle, *listen, backlog=512, reuse_address=True)


async def _write_stats(path: str) -> None:
    while True:
        await asyncio.sleep(0.5)
        tmp = f"{path}.tmp"
        with open(tmp, "w", encoding="utf-8") as out:
            json.dump({key: dict(counter) for key, counter in COUNTS.items()}, out)
        os.replace(tmp, path)


def _address(text: str) -> tuple[str, int]:
    host, port = text.rsplit(":", 1)
    return host, int(port)


async def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stats", required=True)
    parser.add_argument("routes", nargs="+", help="LISTEN_HOST:PORT=TARGET_HOST:PORT[/pg]")
    args = parser.parse_args(argv)
    servers = []
    for route in args.routes:
        listen, target = route.split("=", 1)
        pg = target.endswith("/pg")
        servers.append(await _serve(_address(listen), _address(target.removesuffix("/pg")), pg))
    print("FORWARDING", flush=True)
    await _write_stats(args.stats)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
