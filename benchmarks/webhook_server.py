"""The webhook app served as ``instagram-hil webhook`` serves it, but with replies to the reviewer off.

A diagnostic server for the webhook benchmark: set beside the real command, it shows what the ingest path
(signature, parsing, the store) costs without the replies. Settings come from Airflow exactly as for the
command. Run: ``python -m benchmarks.webhook_server --port 0 --threads 8``; it prints
``Serving Instagram webhook on http://HOST:PORT/webhooks/instagram`` once listening.
"""

from __future__ import annotations

import argparse
import logging
import sys

import waitress

from airflow_provider_instagram_hil.webhook import WEBHOOK_PATH, create_app, get_state


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args(argv)
    app = create_app({"INSTAGRAM_HIL_SEND_REPLIES": False})
    package = logging.getLogger("airflow_provider_instagram_hil")
    if package.getEffectiveLevel() > logging.INFO:  # the same log lines as the command
        package.setLevel(logging.INFO)
    state = get_state(app)
    state.store.ensure_schema()
    server = waitress.create_server(
        app,
        host=args.host,
        port=args.port,
        threads=args.threads,
        max_request_body_size=4 * state.max_body_bytes,
        ident="instagram-hil",
    )
    print(
        f"Serving Instagram webhook on http://{args.host}:{server.effective_port}{WEBHOOK_PATH}", flush=True
    )
    server.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
