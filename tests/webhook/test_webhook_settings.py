"""Replies reuse one hook per thread for a while, then read the connection again."""

from __future__ import annotations

import pytest
from credentials import TEST_TOKEN

from airflow_provider_instagram_hil.exceptions import InvalidTokenError
from airflow_provider_instagram_hil.hooks.instagram import InstagramHook
from airflow_provider_instagram_hil.sandbox.graph_api import SandboxGraphApi
from airflow_provider_instagram_hil.webhook.settings import HookReplies


@pytest.fixture
def graph(instagram_conn_env):
    with SandboxGraphApi(token=TEST_TOKEN) as sandbox:
        instagram_conn_env(host=sandbox.url)
        yield sandbox


@pytest.fixture
def built(monkeypatch):
    """Count InstagramHook constructions."""
    count = [0]
    original = InstagramHook.__init__

    def counting_init(self, *args, **kwargs):
        count[0] += 1
        original(self, *args, **kwargs)

    monkeypatch.setattr(InstagramHook, "__init__", counting_init)
    return count


class TestHookSender:
    def test_one_hook_per_thread_within_the_ttl(self, graph, built):
        send = HookReplies("instagram_default").send
        for n in range(3):
            assert send("instagram", "17841400000000001", f"reply {n}").startswith("m_")
        assert [m["text"] for m in graph.wait_for_messages(3)] == ["reply 0", "reply 1", "reply 2"]
        assert built[0] == 1

    def test_a_new_hook_after_the_ttl_picks_up_a_renewed_token(self, graph, built, instagram_conn_env):
        send = HookReplies("instagram_default", ttl=0.0).send
        send("instagram", "1", "first")
        instagram_conn_env(host=graph.url, password="renewed-token")
        # The sandbox only accepts TEST_TOKEN: refusing the renewed token proves the connection was re-read.
        with pytest.raises(InvalidTokenError):
            send("messenger", "2", "second")
        assert built[0] == 2
        assert [m["text"] for m in graph.messages] == ["first"]
