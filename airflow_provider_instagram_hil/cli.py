"""The ``instagram-hil`` command: serve the webhook; look after the decision store (``store_cli``); try
a DAG without Meta (``sandbox_cli``).

Exit codes: 0 success, 1 a failure at run time (store unreachable, integrity problems), 2 a configuration
error (missing app secret, foreign or newer store schema) or bad usage.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Sequence
from types import FrameType
from typing import Any

from airflow_provider_instagram_hil import sandbox_cli, store_cli
from airflow_provider_instagram_hil.exceptions import SchemaVersionError, StoreUnavailableError

log = logging.getLogger("airflow_provider_instagram_hil.cli")

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CONFIG = 2

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8085
DEFAULT_THREADS = 8
#: Open connections waitress keeps at once. Bodies are read by its I/O loop, never by the worker threads,
#: so slow clients cost a connection each: a few hundred of them still leave room for Meta.
DEFAULT_CONNECTION_LIMIT = 1000
#: Seconds a connection may stay silent (mid-request or idle between requests) before it is closed.
DEFAULT_CHANNEL_TIMEOUT = 15
#: File descriptors kept for everything but client connections (store, logs, listening sockets).
_RESERVED_FDS = 64


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``instagram-hil``."""
    parser = argparse.ArgumentParser(
        prog="instagram-hil",
        description="Instagram human-in-the-loop for Airflow: the webhook, the store and its requests.",
        epilog="Settings come from Airflow: [instagram_hil] store_url, conn_id (and messenger_conn_id, "
        "whatsapp_conn_id when set), and those connections' extras (app_secret, verify_token). Exit codes: 1 "
        "run-time failure, 2 configuration error.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    webhook = commands.add_parser("webhook", help="serve the Meta webhook with waitress")
    webhook.add_argument("--host", default=DEFAULT_HOST, help=f"interface to bind (default {DEFAULT_HOST})")
    webhook.add_argument(
        "--port",
        type=_port,
        default=DEFAULT_PORT,
        help=f"TCP port; 0 picks a free one (default {DEFAULT_PORT})",
    )
    webhook.add_argument(
        "--threads",
        type=_positive,
        default=DEFAULT_THREADS,
        help=f"worker threads (default {DEFAULT_THREADS})",
    )
    webhook.add_argument(
        "--connection-limit",
        type=_positive,
        default=DEFAULT_CONNECTION_LIMIT,
        help="open connections served at once; more wait in the listen backlog "
        f"(default {DEFAULT_CONNECTION_LIMIT})",
    )
    webhook.add_argument(
        "--channel-timeout",
        type=_positive,
        default=DEFAULT_CHANNEL_TIMEOUT,
        help="seconds a connection may send nothing (mid-request or between requests) before it is "
        f"closed (default {DEFAULT_CHANNEL_TIMEOUT})",
    )
    webhook.add_argument(
        "--no-replies",
        action="store_true",
        help="record decisions without replying to the reviewer in the chat (e.g. no route to Meta)",
    )
    webhook.set_defaults(handler=_serve_webhook)

    store_cli.add_commands(commands)
    sandbox_cli.add_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``instagram-hil``; return the exit code."""
    args = build_parser().parse_args(argv)
    handler: Any = args.handler
    try:
        return int(handler(args))
    except SchemaVersionError as exc:
        return _fail(exc, EXIT_CONFIG)
    except StoreUnavailableError as exc:
        return _fail(exc, EXIT_FAILURE)


# -- webhook ----------------------------------------------------------------------------------------------


def _serve_webhook(args: argparse.Namespace) -> int:
    import waitress

    from airflow_provider_instagram_hil.webhook import (
        WEBHOOK_PATH,
        WebhookConfigError,
        create_app,
        get_resources,
    )

    try:
        app = create_app({"INSTAGRAM_HIL_SEND_REPLIES": False} if args.no_replies else None)
    except WebhookConfigError as exc:
        return _fail(exc, EXIT_CONFIG)
    _configure_logging()
    resources = get_resources(app)
    try:
        resources.store.ensure_schema()
    except StoreUnavailableError as exc:
        log.warning("%s; serving anyway: deliveries get 503 (and Meta retries) until it is back", exc)
    except SchemaVersionError:
        resources.close(timeout=0)
        raise

    connection_limit = _connection_limit(args.connection_limit)
    try:
        server: Any = waitress.create_server(
            app,
            host=args.host,
            port=args.port,
            threads=args.threads,
            # waitress refuses absurd bodies itself; the app answers 413 with JSON for the rest.
            max_request_body_size=4 * resources.max_body_bytes,
            # waitress reads whole requests in its I/O loop before a thread sees them; slow clients
            # cost a connection each, bounded by these two.
            connection_limit=connection_limit,
            channel_timeout=args.channel_timeout,
            cleanup_interval=max(1, min(args.channel_timeout // 2, 30)),
            asyncore_use_poll=True,  # select() fails past 1024 descriptors
            ident="instagram-hil",
        )
    except OSError as exc:
        resources.close(timeout=0)
        reason = exc.strerror or type(exc).__name__
        return _fail(
            f"cannot listen on {args.host}:{args.port}: {reason}. Pick another --port or --host, or stop "
            "the process that uses it.",
            EXIT_CONFIG,
        )
    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        for host, port in _listening(server):
            log.info("Serving Instagram webhook on http://%s:%s%s", host, port, WEBHOOK_PATH)
        server.run()  # returns once _stop raised SystemExit inside its loop
    except SystemExit:
        pass  # a signal before the loop started
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        server.close()
        resources.close()
        log.info("Instagram webhook stopped")
    return EXIT_OK


def _connection_limit(wanted: int) -> int:
    """``wanted``, raising this process's open-file limit to fit it when allowed, else what fits."""
    try:
        import resource
    except ImportError:  # not on POSIX: nothing to raise
        return wanted
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = wanted + _RESERVED_FDS
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    if soft != resource.RLIM_INFINITY and soft < needed:
        fitting = max(1, soft - _RESERVED_FDS)
        log.warning(
            "--connection-limit %d needs %d open files but this process may open %d: serving %d "
            "connections at once (raise 'ulimit -n')",
            wanted,
            needed,
            soft,
            fitting,
        )
        return fitting
    return wanted


def _stop(signum: int, _frame: FrameType | None) -> None:
    # Later signals are ignored: shutdown is already under way.
    signal.signal(signum, signal.SIG_IGN)
    log.info("Stopping the Instagram webhook (%s)", signal.Signals(signum).name)
    raise SystemExit(EXIT_OK)


def _listening(server: Any) -> list[tuple[str, int]]:
    """(host, port) pairs a waitress server listens on, IPv6 hosts in brackets."""
    pairs = getattr(server, "effective_listen", None) or [(server.effective_host, server.effective_port)]
    return [(f"[{host}]" if ":" in str(host) else str(host), int(port)) for host, port in pairs]


def _configure_logging() -> None:
    """Show INFO lines of this package; Airflow (imported by the settings) usually set up the handlers."""
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    package = logging.getLogger("airflow_provider_instagram_hil")
    if package.getEffectiveLevel() > logging.INFO:
        package.setLevel(logging.INFO)


# -- helpers ----------------------------------------------------------------------------------------------


def _fail(exc: Exception | str, code: int) -> int:
    print(f"instagram-hil: error: {exc}", file=sys.stderr)
    return code


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port must be between 0 and 65535, got {value}")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


if __name__ == "__main__":
    sys.exit(main())
