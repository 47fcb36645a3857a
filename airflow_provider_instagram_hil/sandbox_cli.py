"""``instagram-hil sandbox ...``: try a DAG end to end without Meta.

``serve`` runs the sandbox Graph API (:mod:`.sandbox.graph_api`, a local stand-in for Meta, not Meta) and
prints the connections and variables that point a DAG and the webhook at it; ``env`` prints the same
without serving; ``messages`` lists what the sandbox was sent (the prompts, with their request ids);
``tap`` plays the reviewer: it delivers a tap to the webhook as Meta would, in the prompt's channel shape,
signed with the app secret. No Airflow import: these commands only talk HTTP to loopback.

The sandbox's secrets have fixed defaults (it listens on loopback and is not Meta), so ``env``, ``serve``
and ``tap`` agree without passing anything around.
"""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import sys
import threading
from typing import Any

import requests

from airflow_provider_instagram_hil.payloads import decode_payload

EXIT_OK = 0
EXIT_FAILURE = 1

DEFAULT_SANDBOX_PORT = 8086
DEFAULT_SANDBOX_URL = f"http://127.0.0.1:{DEFAULT_SANDBOX_PORT}"
DEFAULT_WEBHOOK_URL = "http://127.0.0.1:8085/webhooks/instagram"
#: One Meta app serves the three channels here: one app secret and verify token, a token per channel.
DEFAULT_APP_SECRET = "sandbox-app-secret"
DEFAULT_VERIFY_TOKEN = "sandbox-verify-token"
TOKENS = {
    "instagram": "sandbox-instagram-token",
    "messenger": "sandbox-messenger-page-token",
    "whatsapp": "sandbox-whatsapp-token",
}
API_VERSION = "v25.0"


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add the ``sandbox`` command to the ``instagram-hil`` parser."""
    sandbox = commands.add_parser(
        "sandbox",
        help="a local stand-in for Meta's Graph API: try a DAG without Meta",
        description="Serve the sandbox Graph API (not Meta), list what it was sent, tap as the reviewer.",
    )
    actions = sandbox.add_subparsers(dest="sandbox_command", required=True, metavar="ACTION")

    serve = actions.add_parser(
        "serve", help="serve the sandbox Graph API and print the settings that point a DAG at it"
    )
    serve.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    serve.add_argument(
        "--port",
        type=int,
        default=DEFAULT_SANDBOX_PORT,
        help=f"0 picks a free one (default {DEFAULT_SANDBOX_PORT})",
    )
    _secret_arguments(serve)
    serve.add_argument("--env-file", help="also write the export lines to this file")
    serve.set_defaults(handler=sandbox_serve)

    env = actions.add_parser("env", help="print the export lines `serve` prints, without serving")
    env.add_argument("--sandbox-url", default=DEFAULT_SANDBOX_URL, help=f"default {DEFAULT_SANDBOX_URL}")
    _secret_arguments(env)
    env.set_defaults(handler=sandbox_env)

    messages = actions.add_parser("messages", help="list the messages the sandbox was sent, oldest first")
    messages.add_argument("--sandbox-url", default=DEFAULT_SANDBOX_URL, help=f"default {DEFAULT_SANDBOX_URL}")
    messages.add_argument(
        "--wait", type=float, default=0, metavar="SECONDS", help="wait up to this long for a first prompt"
    )
    messages.add_argument("--json", action="store_true", help="print JSON")
    messages.set_defaults(handler=sandbox_messages)

    tap = actions.add_parser(
        "tap", help="deliver the reviewer's tap on a prompt to the webhook, signed as Meta signs it"
    )
    tap.add_argument("request_id", help="the request id `sandbox messages` shows (a unique prefix will do)")
    tap.add_argument("option", help="the option's title, e.g. Approve")
    tap.add_argument("--sandbox-url", default=DEFAULT_SANDBOX_URL, help=f"default {DEFAULT_SANDBOX_URL}")
    tap.add_argument("--webhook-url", default=DEFAULT_WEBHOOK_URL, help=f"default {DEFAULT_WEBHOOK_URL}")
    tap.add_argument(
        "--app-secret", default=DEFAULT_APP_SECRET, help="signs the delivery (default: the sandbox's)"
    )
    tap.add_argument("--sender", help="the reviewer who taps, when the prompt went to several")
    tap.set_defaults(handler=sandbox_tap)


def _secret_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--webhook-url",
        default=DEFAULT_WEBHOOK_URL,
        help=f"where Meta posts events (default {DEFAULT_WEBHOOK_URL})",
    )
    parser.add_argument("--app-secret", default=DEFAULT_APP_SECRET, help="the connections' app secret")
    parser.add_argument("--verify-token", default=DEFAULT_VERIFY_TOKEN, help="the connections' verify token")


# -- settings -----------------------------------------------------------------------------------------


def settings_for(graph_url: str, app_secret: str, verify_token: str) -> dict[str, str]:
    """The environment that points Airflow and the webhook at a sandbox on ``graph_url``: the three
    channel connections, the webhook's channel settings and the example DAGs' reviewer variables."""
    from airflow_provider_instagram_hil.sandbox.graph_answers import SANDBOX_PHONE_NUMBER_ID
    from airflow_provider_instagram_hil.sandbox.stack import (
        DEFAULT_MESSENGER_REVIEWER_ID,
        DEFAULT_REVIEWER_ID,
        DEFAULT_WHATSAPP_REVIEWER,
    )

    def connection(channel: str) -> str:
        extra: dict[str, Any] = {
            "app_secret": app_secret,
            "verify_token": verify_token,
            "api_version": API_VERSION,
        }
        if channel == "whatsapp":
            extra["phone_number_id"] = SANDBOX_PHONE_NUMBER_ID
        conn = {"conn_type": channel, "host": graph_url, "password": TOKENS[channel], "extra": extra}
        return json.dumps(conn, separators=(",", ":"))

    return {
        "AIRFLOW_CONN_INSTAGRAM_DEFAULT": connection("instagram"),
        "AIRFLOW_CONN_MESSENGER_DEFAULT": connection("messenger"),
        "AIRFLOW_CONN_WHATSAPP_DEFAULT": connection("whatsapp"),
        "AIRFLOW__INSTAGRAM_HIL__MESSENGER_CONN_ID": "messenger_default",
        "AIRFLOW__INSTAGRAM_HIL__WHATSAPP_CONN_ID": "whatsapp_default",
        "AIRFLOW_VAR_INSTAGRAM_HIL_REVIEWER_ID": DEFAULT_REVIEWER_ID,
        "AIRFLOW_VAR_INSTAGRAM_HIL_MESSENGER_REVIEWER_ID": DEFAULT_MESSENGER_REVIEWER_ID,
        "AIRFLOW_VAR_INSTAGRAM_HIL_WHATSAPP_REVIEWER": DEFAULT_WHATSAPP_REVIEWER,
    }


def export_lines(settings: dict[str, str]) -> str:
    return "".join(f"export {name}={shlex.quote(value)}\n" for name, value in settings.items())


def sandbox_env(args: argparse.Namespace) -> int:
    print(
        export_lines(settings_for(args.sandbox_url.rstrip("/"), args.app_secret, args.verify_token)), end=""
    )
    return EXIT_OK


# -- serve --------------------------------------------------------------------------------------------


def sandbox_serve(args: argparse.Namespace) -> int:
    """Serve the sandbox Graph API until SIGTERM or SIGINT."""
    from airflow_provider_instagram_hil.sandbox.graph_api import READY_PREFIX, SandboxGraphApi
    from airflow_provider_instagram_hil.sandbox.stack import TEMPLATE_BODY, TEMPLATE_LANGUAGE, TEMPLATE_NAME

    sandbox = SandboxGraphApi(
        args.host,
        args.port,
        token=TOKENS["instagram"],
        page_token=TOKENS["messenger"],
        whatsapp_token=TOKENS["whatsapp"],
    )
    try:
        sandbox.start()
    except OSError as exc:
        print(
            f"instagram-hil: error: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}. "
            "Pick another --port.",
            file=sys.stderr,
        )
        return 2
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        # As Meta would: WhatsApp status callbacks go to the webhook, and one approved template exists.
        sandbox.statuses.configure(args.webhook_url, args.app_secret)
        sandbox.add_template(TEMPLATE_NAME, TEMPLATE_LANGUAGE, TEMPLATE_BODY, ["Approve", "Reject"])
        lines = export_lines(settings_for(sandbox.url, args.app_secret, args.verify_token))
        if args.env_file:
            with open(args.env_file, "w", encoding="utf-8") as env_file:
                env_file.write(lines)
        print(f"Sandbox Graph API (a local stand-in for Meta, not Meta) on {sandbox.url}")
        print("Point Airflow and `instagram-hil webhook` at it with these settings:")
        print(lines, end="")
        print(
            f"WhatsApp status callbacks go to {args.webhook_url}. Then: `instagram-hil sandbox messages` "
            "shows the prompts, `instagram-hil sandbox tap <request-id> <option>` answers one."
        )
        print(f"{READY_PREFIX}{sandbox.url}", flush=True)  # last: whoever waits for it has the rest
        stop.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sandbox.stop()
    print("sandbox Graph API stopped", file=sys.stderr, flush=True)
    return EXIT_OK


# -- messages and taps --------------------------------------------------------------------------------


def fetch_messages(sandbox_url: str, *, wait: float = 0) -> list[dict[str, Any]]:
    """The messages the sandbox accepted, oldest first; with ``wait``, once at least one prompt is there."""
    params: dict[str, Any] = {"min_count": 1, "with_options": 1, "wait": wait} if wait > 0 else {}
    response = requests.get(f"{sandbox_url.rstrip('/')}/_sandbox/messages", params=params, timeout=wait + 10)
    response.raise_for_status()
    if wait > 0:  # the long poll returned prompts only: list everything
        return fetch_messages(sandbox_url)
    return list(response.json()["messages"])


def request_id_of(message: dict[str, Any]) -> str | None:
    """The request id a prompt's buttons carry; None for a message without options."""
    choices = message.get("options") or message.get("quick_replies") or []
    decoded = decode_payload(choices[0].get("payload")) if choices else None
    return decoded.request_id if decoded else None


def sandbox_messages(args: argparse.Namespace) -> int:
    try:
        messages = fetch_messages(args.sandbox_url, wait=args.wait)
    except requests.RequestException as exc:
        return _unreachable(args.sandbox_url, exc)
    if args.json:
        print(json.dumps(messages, indent=2))
        return EXIT_OK
    if not messages:
        print("no messages yet")
        return EXIT_OK if args.wait <= 0 else EXIT_FAILURE
    for message in messages:
        choices = message.get("options") or message.get("quick_replies") or []
        request_id = request_id_of(message)
        head = f"{message['channel']} to {message['recipient_id']}"
        print(f"{head}, request {request_id}:" if request_id else f"{head}:")
        for line in str(message.get("text", "")).splitlines():
            print(f"  {line}")
        if choices:
            print("  options: " + " / ".join(choice["title"] for choice in choices))
    return EXIT_OK


def sandbox_tap(args: argparse.Namespace) -> int:
    """Find the prompt of ``request_id`` in the sandbox, and deliver the tap on ``option`` to the webhook."""
    from airflow_provider_instagram_hil.sandbox.reviewer import post_signed, tap_event

    try:
        prompts = [m for m in fetch_messages(args.sandbox_url) if request_id_of(m)]
    except requests.RequestException as exc:
        return _unreachable(args.sandbox_url, exc)
    ids = {request_id_of(m) for m in prompts}
    matching = sorted(i for i in ids if i and i.startswith(args.request_id))
    if len(matching) != 1:
        what = "matches no prompt" if not matching else f"matches {len(matching)} requests"
        return _fail(f"request id {args.request_id!r} {what}; `instagram-hil sandbox messages` lists them")
    request_id = matching[0]
    mine = [m for m in prompts if request_id_of(m) == request_id]
    if args.sender:
        mine = [m for m in mine if m["recipient_id"].lstrip("+") == args.sender.lstrip("+")]
        if not mine:
            return _fail(f"request {request_id} was not sent to {args.sender}")
    prompt = mine[-1]
    try:
        event = tap_event(prompt, args.option)
    except KeyError:
        titles = ", ".join(c["title"] for c in prompt.get("options") or prompt["quick_replies"])
        return _fail(f"{args.option!r} is not an option of request {request_id}; choose one of {titles}")
    try:
        response = post_signed(args.webhook_url, event, args.app_secret)
    except requests.RequestException as exc:
        return _fail(f"cannot reach the webhook at {args.webhook_url} ({type(exc).__name__}); is it running?")
    print(f"tapped {args.option!r} on request {request_id} as {prompt['recipient_id']} ({prompt['channel']})")
    print(f"webhook answered {response.status_code}: {response.text.strip()}")
    return EXIT_OK if response.status_code == 200 else EXIT_FAILURE


def _unreachable(url: str, exc: Exception) -> int:
    return _fail(
        f"cannot reach the sandbox at {url} ({type(exc).__name__}); start `instagram-hil sandbox serve`"
    )


def _fail(message: str) -> int:
    print(f"instagram-hil: error: {message}", file=sys.stderr)
    return EXIT_FAILURE
