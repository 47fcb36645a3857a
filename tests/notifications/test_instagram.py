"""InstagramNotifier over real HTTP to the sandbox Graph API."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from credentials import TEST_TOKEN

from airflow_provider_instagram_hil.exceptions import MessagingWindowClosedError
from airflow_provider_instagram_hil.meta_limits import MAX_TEXT_BYTES
from airflow_provider_instagram_hil.notifications.instagram import InstagramNotifier
from airflow_provider_instagram_hil.sandbox.graph_api import SandboxGraphApi


@pytest.fixture
def graph(instagram_conn_env):
    with SandboxGraphApi(token=TEST_TOKEN) as sandbox:
        instagram_conn_env(host=sandbox.url)
        yield sandbox


def _context() -> dict:
    return {"ti": SimpleNamespace(task_id="load", dag_id="sales"), "run_id": "manual__1"}


class TestInstagramNotifier:
    def test_renders_and_sends_the_text(self, graph):
        notifier = InstagramNotifier(
            recipient_id="{{ 'igsid-' ~ 7 }}", text="{{ ti.dag_id }}.{{ ti.task_id }} failed"
        )
        notifier(_context())
        (message,) = graph.wait_for_messages(1)
        assert message["recipient_id"] == "igsid-7"
        assert message["text"] == "sales.load failed"
        assert not message["quick_replies"]

    def test_long_text_is_shortened_to_the_byte_limit(self, graph):
        InstagramNotifier(recipient_id="1", text="é" * 900)(_context())
        (message,) = graph.wait_for_messages(1)
        assert len(message["text"].encode()) <= MAX_TEXT_BYTES
        assert message["text"].endswith("…")

    def test_every_recipient_is_tried_before_the_first_failure_is_raised(self, graph):
        graph.inject_fault("window_closed", times=1)
        with pytest.raises(MessagingWindowClosedError):
            InstagramNotifier(recipient_id=["1", "2"], text="hello")(_context())
        assert [m["recipient_id"] for m in graph.wait_for_messages(1)] == ["2"]

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            pytest.param({"recipient_id": "", "text": "x"}, "recipient_id", id="no-recipient"),
            pytest.param({"recipient_id": "1", "text": "  "}, "text", id="blank-text"),
        ],
    )
    def test_invalid_arguments(self, kwargs, message):
        with pytest.raises(ValueError, match=message):
            InstagramNotifier(**kwargs)


class TestAirflowNotifierContract:
    """As Slack's notifier: ``BaseNotifier`` keyword arguments, a templated connection, an async path."""

    def test_connection_id_is_templated(self, graph, instagram_conn_env):
        instagram_conn_env("instagram_alerts", host=graph.url)
        notifier = InstagramNotifier(recipient_id="1", text="hi", instagram_conn_id="{{ params.conn }}")
        assert "instagram_conn_id" in notifier.template_fields
        notifier({**_context(), "params": {"conn": "instagram_alerts"}})
        assert notifier.hook.graph_conn_id == "instagram_alerts"
        assert [m["text"] for m in graph.wait_for_messages(1)] == ["hi"]

    def test_awaited_it_renders_the_given_context_and_sends_without_blocking_the_loop(self, graph):
        graph.timeout_fault_seconds = 1.0
        graph.inject_fault("timeout")  # Meta answers the send after a second
        notifier = InstagramNotifier(
            recipient_id="1", text="{{ ti.dag_id }} missed its deadline", context=_context()
        )
        assert notifier.context["run_id"] == "manual__1"  # the keyword reached BaseNotifier

        async def await_it() -> bool:
            sending = asyncio.ensure_future(_wait(notifier))
            await asyncio.sleep(0.2)
            in_flight = not sending.done()  # a blocking send would have held the loop for the whole second
            await sending
            return in_flight

        assert asyncio.run(await_it()) is True
        assert [m["text"] for m in graph.wait_for_messages(1)] == ["sales missed its deadline"]

    def test_awaited_failures_propagate(self, graph):
        graph.inject_fault("window_closed")
        notifier = InstagramNotifier(recipient_id="1", text="late", context=_context())
        with pytest.raises(MessagingWindowClosedError):
            asyncio.run(_wait(notifier))


async def _wait(notifier: InstagramNotifier) -> None:
    await notifier
