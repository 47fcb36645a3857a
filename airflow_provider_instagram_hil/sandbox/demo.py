"""``make demo``: one approval, end to end, on this machine (``make demo CHANNEL=messenger|whatsapp``).

Starts a temporary Airflow home with SQLite, the sandbox Graph API (standing in for Meta) and the real
``instagram-hil webhook``; runs the channel's example DAG with ``airflow dags test``; shows the prompt as
the reviewer's app would show it; taps Approve through a signed webhook delivery in that channel's shape;
prints the decision and the task states.

With a real connection in ``AIRFLOW_CONN_INSTAGRAM_DEFAULT`` and the reviewer's IGSID in
``INSTAGRAM_HIL_REVIEWER_ID``, the same command runs live: no sandbox, the DM goes to the reviewer's phone
through Meta, and the demo waits for the real tap on the webhook (which Meta must be able to reach: see
the README).
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
import time
from pathlib import Path

from airflow_provider_instagram_hil.sandbox.processes import ManagedProcess
from airflow_provider_instagram_hil.sandbox.stack import SandboxStack

DAG_IDS = {
    "instagram": "example_instagram_approval",
    "messenger": "example_messenger_approval",
    "whatsapp": "example_whatsapp_approval",
}
DAG_ID = DAG_IDS["instagram"]
WIDTH = 46


def _say(text: str) -> None:
    print(text, flush=True)


def _line(text: str = "") -> None:
    _say("│ " + text.ljust(WIDTH - 2) + " │")


def _show_prompt(prompt: dict) -> None:
    """The prompt drawn as the reviewer's app shows it: Instagram's quick replies under the DM,
    Messenger's button template, WhatsApp's reply buttons, list or template."""
    channel, kind = prompt.get("channel", "instagram"), prompt.get("kind", "quick_replies")
    titles = [choice["title"] for choice in prompt.get("options") or prompt["quick_replies"]]
    header = {
        "instagram": f"Instagram DM to reviewer {prompt['recipient_id']}",
        "messenger": f"Messenger · Sandbox Page → {prompt['recipient_id']}",
        "whatsapp": f"WhatsApp · Sandbox Business → +{prompt['recipient_id']}",
    }[channel]
    if kind == "template":
        header += " (template)"
    _say("┌" + "─" * WIDTH + "┐")
    _line(header)
    _say("├" + "─" * WIDTH + "┤")
    for paragraph in prompt["text"].splitlines() or [""]:
        for line in textwrap.wrap(paragraph, WIDTH - 2) or [""]:
            _line(line)
    _say("├" + "─" * WIDTH + "┤")
    if kind in ("button_template", "interactive_button", "template"):
        # Full-width buttons, one per line, under the bubble.
        arrow = "↩ " if channel == "whatsapp" else ""
        for title in titles:
            _line(f"{arrow}{title}".center(WIDTH - 2))
    elif kind == "interactive_list":
        _line(f"☰ {prompt.get('list_button', 'Choose')}".center(WIDTH - 2))
        _say("├" + "─" * WIDTH + "┤")
        for title in titles:
            _line(f"○ {title}")
    else:
        for line in textwrap.wrap("  ".join(f"[ {title} ]" for title in titles), WIDTH - 2):
            _line(line)
    _say("└" + "─" * WIDTH + "┘")


def _show_task_states(stack: SandboxStack, dag_run: ManagedProcess, code: int, dag_id: str = DAG_ID) -> None:
    _say("\n▶ Task states")
    for task_id, state in sorted(stack.task_states(dag_id).items()):
        _say(f"  {task_id:<28} {state}")
    if code != 0:
        _say(f"\n✗ the DAG run failed; its log: {dag_run.log_path}")


def run_sandbox_demo(dags_folder: Path, option: str, channel: str = "instagram") -> int:
    """Run the demo on ``channel`` against the sandbox Graph API; return the process exit code."""
    dag_id = DAG_IDS[channel]
    _say(f"▶ Starting a temporary Airflow home, the sandbox Graph API and the webhook ({channel}) …")
    with SandboxStack(dags_folder) as stack:
        _say(f"  Airflow home     {stack.home}")
        _say(f"  sandbox Graph    {stack.graph_url}   (a local stand-in for Meta)")
        _say(f"  webhook          {stack.webhook_url}")
        challenge = stack.handshake()
        _say(f"  Meta handshake   GET ?hub.mode=subscribe → 200 '{challenge}'")

        _say(f"\n▶ airflow dags test {dag_id}")
        started = time.monotonic()
        dag_run = stack.start_dag_test(dag_id)
        prompt = stack.wait_for_prompt(channel=channel)
        _say(f"  the approval task sent its prompt after {time.monotonic() - started:.1f}s and deferred:\n")
        _show_prompt(prompt)

        _say(f"\n▶ The reviewer taps [{option}] (a signed webhook delivery, as Meta sends it)")
        tapped = time.monotonic()
        response = stack.tap(prompt, option)
        _say(f"  webhook answered {response.status_code} after {(time.monotonic() - tapped) * 1000:.0f} ms")

        code = dag_run.wait(timeout=300)
        _say(f"  airflow dags test exited {code}, {time.monotonic() - tapped:.1f}s after the tap")

        request = stack.store().get_request(_request_id(prompt))
        _say("\n▶ Decision store")
        if request is not None and channel == "whatsapp":
            for recipient in request.recipients:
                state = recipient.delivery.value
                _say(f"  prompt to {recipient.recipient_id}: {state} (from WhatsApp's status callback)")
        if request is not None:
            _say(
                f"  request {request.request_id}: {request.status.value}, option {request.chosen_option!r}, "
                f"by {request.responded_by} at {request.responded_at:%H:%M:%S}"
            )
        replies = [m for m in stack.sent_messages(channel) if not m.get("options")]
        for reply in replies:
            _say(f"  reply to the reviewer on {channel}: {reply['text']!r}")
        _show_task_states(stack, dag_run, code, dag_id)
        return code


def run_live_demo(dags_folder: Path, connection: str, reviewer_id: str, port: int, timeout_s: int) -> int:
    """Run the demo against Meta: a real DM, a real tap; return the process exit code."""
    env = {"AIRFLOW_VAR_INSTAGRAM_HIL_RESPONSE_TIMEOUT_SECONDS": str(timeout_s)}
    _say("▶ Live mode: prompts go to Meta for real.")
    with SandboxStack(
        dags_folder,
        live_connection=connection,
        reviewer_id=reviewer_id,
        webhook_host=os.environ.get("INSTAGRAM_HIL_WEBHOOK_HOST", "127.0.0.1"),
        webhook_port=port,
        extra_env=env,
    ) as stack:
        _say(f"  Airflow home     {stack.home}")
        _say(f"  webhook          {stack.webhook_url}")
        _say("  Meta must reach it over HTTPS: point your reverse proxy or tunnel at it and set the callback")
        _say("  URL and the connection's verify_token in the Meta app dashboard (Webhooks → Instagram).")
        _say(f"\n▶ airflow dags test {DAG_ID}: reviewer {reviewer_id} gets a DM; waiting up to {timeout_s}s")
        dag_run = stack.start_dag_test(DAG_ID)
        code = dag_run.wait(timeout=timeout_s + 300)
        _say(f"  airflow dags test exited {code}")
        _show_task_states(stack, dag_run, code)
        return code


def _request_id(prompt: dict) -> str:
    return (prompt.get("options") or prompt["quick_replies"])[0]["payload"].split(":")[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="instagram-hil-demo", description=__doc__.splitlines()[0])
    parser.add_argument("--dags-folder", type=Path, default=Path("example_dags"))
    parser.add_argument("--option", default="Approve", help="which quick reply the reviewer taps")
    parser.add_argument(
        "--channel", choices=sorted(DAG_IDS), default="instagram", help="the channel the prompt goes out on"
    )
    parser.add_argument(
        "--live-timeout", type=int, default=600, help="live mode: seconds to wait for the tap"
    )
    args = parser.parse_args(argv)
    if not args.dags_folder.is_dir():
        parser.error(f"--dags-folder {args.dags_folder} is not a folder; run `make demo` from the repository")
    connection = os.environ.get("AIRFLOW_CONN_INSTAGRAM_DEFAULT")
    reviewer_id = os.environ.get("INSTAGRAM_HIL_REVIEWER_ID")
    if connection and reviewer_id and args.channel != "instagram":
        parser.error("live mode runs on Instagram; unset AIRFLOW_CONN_INSTAGRAM_DEFAULT for the sandbox demo")
    if connection and reviewer_id:
        port = int(os.environ.get("INSTAGRAM_HIL_WEBHOOK_PORT", "8085"))
        return run_live_demo(args.dags_folder, connection, reviewer_id, port, args.live_timeout)
    if connection or reviewer_id:
        parser.error("live mode needs both AIRFLOW_CONN_INSTAGRAM_DEFAULT and INSTAGRAM_HIL_REVIEWER_ID")
    return run_sandbox_demo(args.dags_folder, args.option, args.channel)


if __name__ == "__main__":
    sys.exit(main())
