"""The "Instagram request" link: its URL in both configurations, and how it reaches the API server."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from airflow_provider_instagram_hil.channels.instagram import INSTAGRAM
from airflow_provider_instagram_hil.links import instagram as links_module
from airflow_provider_instagram_hil.links.instagram import (
    REQUEST_ID_XCOM_KEY,
    InstagramRequestLink,
    request_link_url,
)
from airflow_provider_instagram_hil.plugins.instagram import InstagramHilPlugin
from airflow_provider_instagram_hil.version_compat import BaseOperator

PUBLIC_URL_ENV = "AIRFLOW__INSTAGRAM_HIL__PUBLIC_URL"
REQUEST_ID = "0f" * 16
TI_KEY = {"dag_id": "publish_post", "task_id": "approve", "run_id": "manual__2026-01-01", "map_index": -1}


class _TiKey:
    def __init__(self, **fields: object) -> None:
        self.__dict__.update(fields)


@pytest.fixture
def xcom(monkeypatch):
    """Replace the XCom lookup (the only Airflow plumbing the link touches); return the stored values."""
    stored: dict[tuple, object] = {}

    class _FakeXCom:
        @classmethod
        def get_value(cls, *, ti_key, key):
            return stored.get((ti_key.dag_id, ti_key.run_id, ti_key.task_id, ti_key.map_index, key))

    monkeypatch.setattr(links_module, "XCom", _FakeXCom)
    return stored


def _push_request_id(stored: dict, value: object) -> None:
    stored[
        (TI_KEY["dag_id"], TI_KEY["run_id"], TI_KEY["task_id"], TI_KEY["map_index"], REQUEST_ID_XCOM_KEY)
    ] = value


class TestInstagramRequestLink:
    def test_name_and_xcom_key(self):
        link = InstagramRequestLink()
        assert link.name == "Instagram request"
        assert link.xcom_key == "_link_InstagramRequestLink"
        assert REQUEST_ID_XCOM_KEY == "instagram_hil_request_id"

    def test_links_to_inbox_without_public_url(self, monkeypatch, xcom):
        monkeypatch.delenv(PUBLIC_URL_ENV, raising=False)
        _push_request_id(xcom, REQUEST_ID)
        url = InstagramRequestLink().get_link(None, ti_key=_TiKey(**TI_KEY))  # type: ignore[arg-type]
        assert url == INSTAGRAM.inbox_url == "https://www.instagram.com/direct/inbox/"

    def test_links_to_status_page_with_public_url(self, monkeypatch, xcom):
        monkeypatch.setenv(PUBLIC_URL_ENV, "https://airflow.example.com/instagram-hil/")
        _push_request_id(xcom, REQUEST_ID)
        url = InstagramRequestLink().get_link(None, ti_key=_TiKey(**TI_KEY))  # type: ignore[arg-type]
        assert url == f"https://airflow.example.com/instagram-hil/requests/{REQUEST_ID}"

    @pytest.mark.parametrize("public_url", [None, "https://airflow.example.com/instagram-hil"])
    def test_disabled_before_a_request_exists(self, monkeypatch, xcom, public_url):
        if public_url:
            monkeypatch.setenv(PUBLIC_URL_ENV, public_url)
        url = InstagramRequestLink().get_link(None, ti_key=_TiKey(**TI_KEY))  # type: ignore[arg-type]
        assert url == ""


class TestRequestLinkUrl:
    @pytest.mark.parametrize(
        "request_id",
        [
            pytest.param(None, id="none"),
            pytest.param("", id="empty"),
            pytest.param("../../admin", id="path"),
            pytest.param({"request_id": REQUEST_ID}, id="not-a-string"),
            pytest.param("ABCDEF" * 6, id="upper-case"),
        ],
    )
    def test_anything_but_a_request_id_gives_no_link(self, request_id):
        assert request_link_url(request_id, "https://x.example") == ""

    def test_status_page(self):
        assert (
            request_link_url(REQUEST_ID, "https://x.example/p")
            == f"https://x.example/p/requests/{REQUEST_ID}"
        )


class _ApprovalLikeOperator(BaseOperator):
    """Stands in for the approval operator: declares the link the same way."""

    operator_extra_links = (InstagramRequestLink(),)

    def execute(self, context):
        return None


class TestSerialization:
    """On Airflow 3 the API server sees the link only through the serialized DAG."""

    def test_round_trip_without_plugin_registration(self):
        from airflow.sdk import DAG
        from airflow.serialization.serialized_objects import DagSerialization

        with DAG(
            "link_roundtrip", schedule=None, start_date=datetime(2026, 1, 1, tzinfo=timezone.utc)
        ) as dag:
            _ApprovalLikeOperator(task_id="approve")

        encoded = DagSerialization.to_dict(dag)
        (task,) = encoded["dag"]["tasks"]
        assert task["__var"]["_operator_extra_links"] == {"Instagram request": "_link_InstagramRequestLink"}

        assert InstagramHilPlugin().operator_extra_links == []
        restored = DagSerialization.from_dict(encoded).get_task("approve")
        assert restored.extra_links == ["Instagram request"]
        (link,) = restored.operator_extra_links
        # The API server reads the URL the worker stored under this key; it never runs our get_link().
        assert link.xcom_key == "_link_InstagramRequestLink"
