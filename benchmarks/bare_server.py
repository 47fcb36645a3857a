"""The ceiling of the webhook benchmark: the same server stack (waitress + Flask) answering 200 at once.

It reads the body (as any endpoint must, to keep the connection usable) and answers a small JSON object,
with no signature check, no parsing and no store. Run:
``python -m benchmarks.bare_server --host 127.0.0.1 --port 0 --threads 8``; it prints
``Serving bare endpoint on http://HOST:PORT/webhooks/instagram`` once listening.
"""

from __future__ import annotations

import argparse
import sys

import waitress
from flask import Flask, jsonify, request
from flask.typing import ResponseReturnValue

PATH = "/webhooks/instagram"


def create_app() -> Flask:
    app = Flask("benchmarks.bare_server")

    @app.post(PATH)
    def receive() -> ResponseReturnValue:
        request.get_data()
        return jsonify(status="ok")

    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args(argv)
    server = waitress.create_server(create_app(), host=args.host, port=args.port, threads=args.threads)
    print(f"Serving bare endpoint on http://{args.host}:{server.effective_port}{PATH}", flush=True)
    server.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
