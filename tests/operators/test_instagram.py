"""The approval operator on a real decision store (SQLite and PostgreSQL); the Graph call is recorded."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG
from airflow.sdk.exceptions import DownstreamTasksSkipped, TaskDeferred
from sqlalchemy import select

from airflow_provider_instagram_hil.channels.instagram import INSTAGRAM, INSTAGRAM_BUTTONS
from airflow_provider_instagram_hil.exceptions import InstagramApiError, MessagingWindowClosedError
from airflow_provider_instagram_hil.links.instagram import REQUEST_ID_XCOM_KEY
from airflow_provider_instagram_hil.operators import approval as operator_module
from airflow_provider_instagram_hil.operators import prompting as prompting_module
from airflow_provider_instagram_hil.operators.approval import DEFERRAL_GRACE
from airflow_provider_instagram_hil.operators.instagram import InstagramApprovalOperator
from airflow_provider_instagram_hil.payloads import decode_payload
from airflow_provider_instagram_hil.prompt import MASK, ReviewField
from airflow_provider_instagram_hil.store import DecisionPolicy, Delivery, RequestStatus
from airflow_provider_instagram_hil.store.schema import metadata
from airflow_provider_instagram_hil.triggers.events import wake_payload
from airflow_provider_instagram_hil.triggers.instagram import InstagramDecisionTrigger
from airflow_provider_instagram_hil.typed_answers import request_code
from airflow_provider_instagram_hil.version_compat import AirflowException, AirflowFailException

REVIEWER = "6200000000000001"
OTHER_REVIEWER = "6200000000000002"
IBAN = "DE89-3704-0044-0532-0130-00"
SIGNING_KEY = "s3cr3t-bucket-signing-key-77"


def window_closed() -> MessagingWindowClosedError:
    return MessagingWindowClosedError("Outside of allowed window", code=10, subcode=2534022, status=400)


def approval(store_url: str | None = None, **overrides):
    kwargs = {
        "task_id": "approve",
        "recipient_id": REVIEWER,
        "subject": "Publish dataset sales?",
        "fields": [
            ReviewField("Rows", "1284551"),
            ReviewField("IBAN", "{{ iban }}", display="masked"),
            ReviewField("Signing key", "{{ signing_key }}", display="concealed"),
        ],
        "store_url": store_url,
        "poll_interval": 0.5,
    }
    kwargs.update(overrides)
    return InstagramApprovalOperator(**kwargs)


def rendered(operator, context):
    operator.render_template_fields({**context, "iban": IBAN, "signing_key": SIGNING_KEY})
    return operator


def deferred(operator, context) -> TaskDeferred:
    with pytest.raises(TaskDeferred) as info:
        operator.execute(context)
    return info.value


def event(request_id="r1", status="decided", option="Approve", **extra):
    payload = {
        "status": status,
        "request_id": request_id,
        "chosen_option": option,
        "responded_by": REVIEWER if status == "decided" else None,
        "responded_at": "2026-11-25T12:00:00+00:00",
        "timed_out": status == "timed_out",
        "error": None,
        "responses": [
            {
                "responder": REVIEWER,
                "channel": "instagram",
                "option": option,
                "reason": None,
                "received_at": "2026-11-25T12:00:00+00:00",
                "source": "instagram",
            }
        ]
        if status == "decided"
        else [],
    }
    payload.update(extra)
    return payload


class TestInit:
    @pytest.mark.parametrize(
        ("overrides", "message"),
        [
            pytest.param({"options": ["A"] * 2}, "unique", id="duplicate-options"),
            pytest.param({"options": [f"o{i}" for i in range(14)]}, "at most 13", id="too-many-options"),
            pytest.param({"options": ["x" * 21]}, "limited to 20", id="long-option"),
            pytest.param({"options": "Approve"}, "not one string", id="options-string"),
            pytest.param({"reject_options": ["Nope"]}, "reject_options", id="reject-not-an-option"),
            pytest.param({"default_option": "Maybe"}, "default_option", id="default-not-an-option"),
            pytest.param({"response_timeout": timedelta(0)}, "response_timeout", id="zero-timeout"),
            pytest.param({"response_timeout": 3600}, "response_timeout", id="timeout-not-timedelta"),
            pytest.param({"poll_interval": 0}, "poll_interval", id="zero-poll-interval"),
            pytest.param({"recipient_id": ""}, "recipient_id", id="empty-recipient"),
            pytest.param({"recipient_id": []}, "recipient_id", id="no-recipients"),
            pytest.param({"fields": ["Rows"]}, "fields", id="fields-not-review-fields"),
            pytest.param({"subject": "s" * 1000}, "subject and the options", id="subject-too-long"),
            pytest.param({"subject": "  "}, "subject must be a non-empty string", id="empty-subject"),
            pytest.param({"store_url": "postgresql://u:pw@db/x"}, "password", id="store-url-password"),
            pytest.param(
                {"decision_policy": "majority"}, "decision_policy must be one of", id="unknown-policy"
            ),
            pytest.param({"decision_policy": "quorum"}, "needs min_approvals", id="quorum-without-count"),
            pytest.param({"min_approvals": 2}, "only applies to decision_policy 'quorum'", id="count-alone"),
            pytest.param({"veto_on_reject": True}, "veto_on_reject only applies", id="veto-with-first"),
            pytest.param(
                {"decision_policy": "quorum", "min_approvals": 3, "recipient_id": [REVIEWER, OTHER_REVIEWER]},
                "only 2 reviewer",
                id="quorum-out-of-reach",
            ),
            pytest.param(
                {"decision_policy": "all", "options": ["Reject"], "reject_options": ["Reject"]},
                "not a rejection",
                id="all-without-approval",
            ),
            pytest.param({"recipient_id": [REVIEWER, REVIEWER]}, "twice", id="repeated-recipient"),
            pytest.param({"recipient_id": {"alice": ""}}, "mapping of names", id="mapping-empty-id"),
            pytest.param({"deadline_timezone": "CEST"}, "unknown time zone 'CEST'", id="unknown-zone"),
            pytest.param(
                {"options": ["Go", "Wait"], "require_reason_on_reject": True},
                "require_reason_on_reject needs reject_options",
                id="reason-without-rejections",
            ),
        ],
    )
    def test_invalid_arguments_raise_naming_the_parameter(self, overrides, message):
        with pytest.raises(ValueError, match=message):
            approval(**overrides)

    def test_defaults(self):
        operator = InstagramApprovalOperator(task_id="t", recipient_id=REVIEWER, subject="Go?")
        assert operator.options == ["Approve", "Reject"]
        assert operator.reject_options == ["Reject"]
        assert operator.response_timeout == timedelta(hours=24)
        assert operator.default_option is None
        assert operator.fail_on_reject is False
        assert operator.instagram_conn_id == "instagram_default"
        assert operator.poll_interval is None
        assert operator.store_url is None
        assert operator.fields == []
        assert operator.template_fields == (
            "recipient_id",
            "subject",
            "fields",
            "response_timeout",
            "default_option",
            "escalate_to",
            "instagram_conn_id",
        )

    def test_no_reject_option_by_default_without_reject(self):
        assert approval(options=["Full refresh", "Skip"]).reject_options == []

    def test_mapping_fields_are_plain(self):
        operator = approval(fields={"Rows": 12, "Owner": "data-team"})
        assert operator.fields == [ReviewField("Rows", 12), ReviewField("Owner", "data-team")]

    def test_templated_subject_is_checked_when_rendered(self):
        approval(subject="{{ 's' * 2000 }}")  # cannot be known at parse time

    def test_str_of_fields_hides_secret_values(self, make_context):
        operator = rendered(approval(), make_context())
        text = str(operator.fields)
        assert IBAN not in text
        assert SIGNING_KEY not in text
        assert "1284551" in text


class TestExecute:
    def test_registers_sends_once_and_defers(self, store, store_url, shared_store, sends, make_context):
        context = make_context()
        before = datetime.now(timezone.utc)
        operator = rendered(approval(store_url), context)
        deferral = deferred(operator, context)

        assert len(sends.messages) == 1
        message = sends.messages[0]
        assert message["recipient_id"] == REVIEWER
        assert message["text"].startswith("Publish dataset sales?\n")
        assert "Rows: 1284551" in message["text"]
        assert f"IBAN: {MASK}" in message["text"]
        assert "Signing key" not in message["text"]
        assert [r["title"] for r in message["quick_replies"]] == ["Approve", "Reject"]
        request_id = decode_payload(message["quick_replies"][0]["payload"]).request_id

        request = store.get_request(request_id)
        assert request.status is RequestStatus.PENDING
        (recipient,) = request.recipients
        assert (recipient.recipient_id, recipient.prompt_message_id) == (REVIEWER, "mid.1")
        assert recipient.delivery is Delivery.SENT
        assert request.subject == "Publish dataset sales?"
        assert (request.options, request.reject_options) == (("Approve", "Reject"), ("Reject",))
        assert (request.dag_id, request.task_id, request.try_number) == ("example_dag", "approve", 1)
        assert (
            before + timedelta(hours=24)
            <= request.expires_at
            <= datetime.now(timezone.utc) + timedelta(hours=24)
        )

        trigger = deferral.trigger
        assert isinstance(trigger, InstagramDecisionTrigger)
        assert deferral.method_name == "execute_complete"
        _, kwargs = trigger.serialize()
        assert kwargs == {
            "request_id": request_id,
            "timeout_at": request.expires_at.isoformat(),
            "poll_interval": 0.5,
            "store_url": store_url,
            "end_from_trigger": True,
            "reject_options": ["Reject"],
            "push_result": True,
        }
        assert timedelta(hours=24) < deferral.timeout <= timedelta(hours=24) + DEFERRAL_GRACE
        # The "Instagram request" extra link finds the request through this XCom while the task waits.
        assert (REQUEST_ID_XCOM_KEY, request_id) in context["ti"].pushed

    def test_prompt_states_deadline_default_and_code(
        self, store, store_url, shared_store, sends, make_context
    ):
        context = make_context()
        operator = rendered(
            approval(
                store_url,
                default_option="Reject",
                deadline_timezone="Asia/Tokyo",
                require_reason_on_reject=True,
            ),
            context,
        )
        deferred(operator, context)

        (message,) = sends.messages
        request_id = decode_payload(message["quick_replies"][0]["payload"]).request_id
        request = store.get_request(request_id)
        local = request.expires_at.astimezone(ZoneInfo("Asia/Tokyo"))
        deadline = f"Answer by {local:%a} {local.day} {local:%b} {local:%H:%M} JST (no answer: Reject)."
        assert message["text"].endswith(
            f"{deadline}\nReply: Approve / Reject (request {request_code(request_id)})"
        )
        assert (request.require_reason, request.timezone) == (True, "Asia/Tokyo")

    def test_rerun_of_the_same_try_sends_no_second_prompt(
        self, store, store_url, shared_store, sends, make_context
    ):
        context = make_context()
        first = deferred(rendered(approval(store_url), context), context)
        second = deferred(rendered(approval(store_url), context), context)
        assert len(sends.messages) == 1
        assert first.trigger.request_id == second.trigger.request_id
        assert first.trigger.timeout_at == second.trigger.timeout_at

    def test_next_try_gets_a_new_request_and_prompt(self, store_url, shared_store, sends, make_context):
        first = deferred(rendered(approval(store_url), make_context()), make_context())
        second = deferred(rendered(approval(store_url), make_context()), make_context(try_number=2))
        assert len(sends.messages) == 2
        assert first.trigger.request_id != second.trigger.request_id

    def test_already_decided_request_resumes_at_once(
        self, store, store_url, shared_store, sends, make_context
    ):
        context = make_context()
        request_id = deferred(rendered(approval(store_url), context), context).trigger.request_id
        store.record_decision(request_id, option="Approve", responder_id=REVIEWER)
        result = rendered(approval(store_url), context).execute(context)
        assert result["request_id"] == request_id
        assert result["chosen_option"] == "Approve"
        assert result["approved"] is True
        assert len(sends.messages) == 1

    def test_default_poll_interval_and_store_url_come_from_config(
        self, monkeypatch, store_url, shared_store, sends, make_context
    ):
        monkeypatch.setenv("AIRFLOW__INSTAGRAM_HIL__STORE_URL", store_url)
        monkeypatch.setenv("AIRFLOW__INSTAGRAM_HIL__POLL_INTERVAL", "7.5")
        context = make_context()
        operator = rendered(approval(None, poll_interval=None), context)
        kwargs = deferred(operator, context).trigger.serialize()[1]
        assert kwargs["poll_interval"] == 7.5
        assert kwargs["store_url"] is None

    def test_window_closed_fails_without_retry_and_cancels(
        self, store, store_url, shared_store, sends, make_context
    ):
        sends.fail[REVIEWER] = window_closed()
        context = make_context()
        with pytest.raises(AirflowFailException, match="must send a message to the Instagram account first"):
            rendered(approval(store_url), context).execute(context)
        assert store.maintenance.count_by_status() == {"cancelled": 1}
        (request,) = store.maintenance.list_requests()
        (recipient,) = store.get_request(request.request_id).recipients
        assert recipient.delivery is Delivery.FAILED
        assert recipient.delivery_error.startswith("MessagingWindowClosedError")

    @pytest.mark.parametrize(
        "error",
        [
            pytest.param(
                InstagramApiError("Service temporarily unavailable", code=2, status=503), id="graph"
            ),
            pytest.param(ConnectionError("connection reset"), id="network"),
        ],
    )
    @pytest.mark.parametrize("on_window_closed", ["fail", "wait"])
    def test_other_send_errors_cancel_and_reraise(
        self, store, store_url, shared_store, sends, make_context, error, on_window_closed
    ):
        sends.fail[REVIEWER] = error
        context = make_context()
        with pytest.raises(type(error)) as info:
            rendered(approval(store_url, on_window_closed=on_window_closed), context).execute(context)
        assert info.value is error
        assert store.maintenance.count_by_status() == {"cancelled": 1}
        assert store.outbox.counts() == {}  # only a closed window keeps a prompt

    def test_retry_after_a_failed_send_prompts_again(
        self, store, store_url, shared_store, sends, make_context
    ):
        sends.fail[REVIEWER] = ConnectionError("down")
        context = make_context()
        with pytest.raises(ConnectionError):
            rendered(approval(store_url), context).execute(context)
        del sends.fail[REVIEWER]
        deferred(rendered(approval(store_url), context), context)
        assert len(sends.messages) == 1
        assert store.maintenance.count_by_status() == {"pending": 1}

    def test_several_recipients_one_reachable_is_enough(
        self, store, store_url, shared_store, sends, make_context, logs
    ):
        sends.fail[OTHER_REVIEWER] = window_closed()
        context = make_context()
        operator = rendered(approval(store_url, recipient_id=[OTHER_REVIEWER, REVIEWER]), context)
        request_id = deferred(operator, context).trigger.request_id
        assert [m["recipient_id"] for m in sends.messages] == [REVIEWER]
        request = store.get_request(request_id)
        assert tuple(r.recipient_id for r in request.recipients) == (OTHER_REVIEWER, REVIEWER)
        assert [r.delivery for r in request.recipients] == [Delivery.FAILED, Delivery.SENT]
        assert f"to recipient {OTHER_REVIEWER}: MessagingWindowClosedError" in logs()

    def test_a_rerun_prompts_only_those_who_did_not_get_it(
        self, store, store_url, shared_store, sends, make_context
    ):
        sends.fail[OTHER_REVIEWER] = ConnectionError("down")
        context = make_context()
        first = deferred(
            rendered(approval(store_url, recipient_id=[REVIEWER, OTHER_REVIEWER]), context), context
        )
        del sends.fail[OTHER_REVIEWER]

        again = deferred(
            rendered(approval(store_url, recipient_id=[REVIEWER, OTHER_REVIEWER]), context), context
        )

        assert first.trigger.request_id == again.trigger.request_id
        assert [m["recipient_id"] for m in sends.messages] == [REVIEWER, OTHER_REVIEWER]

    def test_policy_all_needs_every_reviewer_prompted(
        self, store, store_url, shared_store, sends, make_context
    ):
        sends.fail[OTHER_REVIEWER] = window_closed()
        context = make_context()
        operator = rendered(
            approval(store_url, recipient_id=[REVIEWER, OTHER_REVIEWER], decision_policy="all"), context
        )

        with pytest.raises(AirflowFailException, match=f"Only 1 of 2 reviewers.*needs 2.*{OTHER_REVIEWER}"):
            operator.execute(context)
        assert store.maintenance.count_by_status() == {"cancelled": 1}

    def test_policy_and_names_are_stored(self, store, store_url, shared_store, sends, make_context):
        context = make_context()
        operator = rendered(
            approval(
                store_url,
                recipient_id={"alice": REVIEWER, "bob": OTHER_REVIEWER},
                decision_policy="quorum",
                min_approvals=2,
                veto_on_reject=True,
            ),
            context,
        )

        request = store.get_request(deferred(operator, context).trigger.request_id)

        assert request.policy == DecisionPolicy.build("quorum", 2, veto=True)
        assert [(r.name, r.recipient_id) for r in request.recipients] == [
            ("alice", REVIEWER),
            ("bob", OTHER_REVIEWER),
        ]

    def test_several_recipients_all_windows_closed(self, store, store_url, shared_store, sends, make_context):
        sends.fail.update({REVIEWER: window_closed(), OTHER_REVIEWER: window_closed()})
        context = make_context()
        with pytest.raises(AirflowFailException, match=f"{REVIEWER}, {OTHER_REVIEWER}"):
            rendered(approval(store_url, recipient_id=[REVIEWER, OTHER_REVIEWER]), context).execute(context)
        assert store.maintenance.count_by_status() == {"cancelled": 1}

    def test_window_closed_with_wait_keeps_the_prompt_and_defers(
        self, store, store_url, shared_store, sends, make_context, logs
    ):
        sends.fail[OTHER_REVIEWER] = window_closed()
        context = make_context()
        kwargs = {
            "recipient_id": [REVIEWER, OTHER_REVIEWER],
            "decision_policy": "all",
            "on_window_closed": "wait",
        }

        request_id = deferred(rendered(approval(store_url, **kwargs), context), context).trigger.request_id

        request = store.get_request(request_id)
        assert request.status is RequestStatus.PENDING
        assert [r.delivery for r in request.recipients] == [Delivery.SENT, Delivery.WAITING]
        assert store.outbox.counts() == {"held": 1}
        assert (
            f"Recipient {OTHER_REVIEWER} has not written to the account within Instagram's messaging"
            in logs()
        )
        # A rerun of the try neither sends nor keeps it again.
        deferred(rendered(approval(store_url, **kwargs), context), context)
        assert [m["recipient_id"] for m in sends.messages] == [REVIEWER]
        assert store.outbox.counts() == {"held": 1}

    def test_on_window_closed_is_checked_at_parse_time(self, store_url):
        with pytest.raises(ValueError, match="on_window_closed must be one of 'fail', 'wait', got 'later'"):
            approval(store_url, on_window_closed="later")

    def test_prompt_too_long_after_rendering_registers_nothing(
        self, store, store_url, shared_store, sends, make_context
    ):
        context = make_context()
        operator = rendered(approval(store_url, subject="{{ 's' * 2000 }}"), context)
        with pytest.raises(ValueError, match="subject and the options"):
            operator.execute(context)
        assert store.maintenance.count_by_status() == {}
        assert sends.messages == []

    def test_empty_rendered_recipient_raises(self, store_url, shared_store, sends, make_context):
        context = make_context()
        operator = rendered(approval(store_url, recipient_id="{{ nobody }}"), context)
        with pytest.raises(ValueError, match="recipient_id rendered to"):
            operator.execute(context)

    def test_secret_values_appear_nowhere(
        self, monkeypatch, store, store_url, shared_store, sends, make_context, logs
    ):
        masked: list[str] = []
        monkeypatch.setattr(operator_module, "mask_secret", lambda value, *a, **k: masked.append(value))
        context = make_context()
        with DAG("example_dag", schedule=None):
            operator = rendered(approval(store_url), context)
            operator >> EmptyOperator(task_id="publish")
        assert set(masked) == {IBAN, SIGNING_KEY}  # registered as soon as they are rendered
        deferral = deferred(operator, context)
        request_id = deferral.trigger.request_id
        store.record_decision(request_id, option="Reject", responder_id=REVIEWER)
        with pytest.raises(DownstreamTasksSkipped):
            operator.execute_complete(context, event(request_id, option="Reject"))
        result = context["ti"].pushed[0][1]

        with store.engine.connect() as conn:
            rows = repr([conn.execute(select(table)).all() for table in metadata.sorted_tables])
        places = {
            "sent text": sends.messages[0]["text"],
            "store rows": rows,
            "trigger kwargs": repr(deferral.trigger.serialize()),
            "xcom": repr(result) + repr(context["ti"].pushed),
            "fields": str(operator.fields) + repr(operator.fields),
            "logs": logs(),
        }
        assert request_id in places["logs"]  # the logs were captured
        for place, text in places.items():
            assert IBAN not in text, place
            assert SIGNING_KEY not in text, place


class TestExecuteComplete:
    def test_approve_returns_the_result(self, make_context):
        context = make_context()
        result = approval().execute_complete(context, event())
        assert result == {
            "request_id": "r1",
            "chosen_option": "Approve",
            "approved": True,
            "responded_by": REVIEWER,
            "responded_at": "2026-11-25T12:00:00+00:00",
            "timed_out": False,
            "responses": event()["responses"],
        }
        assert context["ti"].pushed == []

    def _in_dag(self, **overrides):
        with DAG("example_dag", schedule=None):
            operator = approval(**overrides)
            operator >> EmptyOperator(task_id="publish")
            EmptyOperator(task_id="cleanup").as_teardown(setups=operator)
        return operator

    def test_reject_pushes_the_result_then_skips_downstream(self, make_context):
        context = make_context()
        with pytest.raises(DownstreamTasksSkipped) as info:
            self._in_dag().execute_complete(context, event(option="Reject"))
        assert info.value.tasks == ["publish"]  # teardowns still run
        key, value = context["ti"].pushed[0]
        assert key == "return_value"
        assert value["chosen_option"] == "Reject"
        assert value["approved"] is False

    def test_reject_without_downstream_returns(self, make_context):
        result = approval().execute_complete(make_context(), event(option="Reject"))
        assert result["approved"] is False

    def test_reject_with_fail_on_reject_fails(self, make_context):
        with pytest.raises(AirflowFailException, match="rejected: 'Reject' chosen by recipient"):
            self._in_dag(fail_on_reject=True).execute_complete(make_context(), event(option="Reject"))

    def test_timeout_with_default_reject_skips(self, make_context):
        context = make_context()
        with pytest.raises(DownstreamTasksSkipped):
            self._in_dag(default_option="Reject").execute_complete(
                context, event(status="timed_out", option="Reject")
            )
        assert context["ti"].pushed[0][1]["timed_out"] is True

    def test_timeout_with_default_approve_goes_on(self, make_context):
        result = approval(default_option="Approve").execute_complete(
            make_context(), event(status="timed_out", option="Approve")
        )
        assert result["approved"] is True
        assert result["timed_out"] is True
        assert result["responded_by"] is None

    def test_custom_options_are_approvals_unless_listed(self, make_context):
        operator = approval(options=["Full refresh", "Incremental", "Skip"])
        result = operator.execute_complete(make_context(), event(option="Skip"))
        assert result["approved"] is True
        assert result["chosen_option"] == "Skip"

    def test_timeout_without_default_says_who_and_since_when(
        self, store, store_url, shared_store, sends, make_context
    ):
        context = make_context()
        operator = rendered(approval(store_url, response_timeout=timedelta(minutes=30)), context)
        request_id = deferred(operator, context).trigger.request_id
        store.expire_request(request_id, now=datetime.now(timezone.utc) + timedelta(hours=1))
        request = store.get_request(request_id)
        with pytest.raises(AirflowFailException) as info:
            operator.execute_complete(context, event(request_id, status="timed_out", option=None))
        message = str(info.value)
        assert REVIEWER in message
        assert request.created_at.isoformat() in message
        assert "0:30:00" in message
        assert "default_option" in message

    def test_timeout_without_default_when_the_store_is_gone(self, make_context):
        operator = approval("sqlite:////nonexistent-dir/x/y/z.db", response_timeout=timedelta(hours=2))
        with pytest.raises(AirflowFailException, match=f"from recipient {REVIEWER} within 2:00:00"):
            operator.execute_complete(make_context(), event(status="timed_out", option=None))

    def test_error_event_raises_with_the_error(self, make_context):
        with pytest.raises(AirflowException, match="failed: the approval request was cancelled"):
            approval().execute_complete(
                make_context(), event(status="error", option=None, error="the approval request was cancelled")
            )

    def test_a_task_ended_by_its_trigger_in_dags_test_reads_its_result(
        self, store, store_url, shared_store, sends, make_context
    ):
        # ``airflow dags test`` resumes the task with the bare state of the trigger's TaskSuccessEvent.
        context = make_context()
        operator = rendered(approval(store_url), context)
        request_id = deferred(operator, context).trigger.request_id
        store.record_decision(request_id, option="Approve", responder_id=REVIEWER)

        result = operator.execute_complete(context, "success")

        assert (result["request_id"], result["chosen_option"], result["approved"]) == (
            request_id,
            "Approve",
            True,
        )

    def test_an_event_of_an_earlier_try_is_ignored_and_the_task_waits_again(
        self, store, store_url, shared_store, sends, make_context
    ):
        first = make_context()
        old_id = deferred(rendered(approval(store_url), first), first).trigger.request_id
        store.record_decision(old_id, option="Reject", responder_id=REVIEWER)
        second = make_context(try_number=2)
        operator = rendered(approval(store_url), second)
        new_id = deferred(operator, second).trigger.request_id

        with pytest.raises(TaskDeferred) as again:
            operator.execute_complete(second, event(old_id, option="Reject"))

        assert again.value.trigger.request_id == new_id
        store.record_decision(new_id, option="Approve", responder_id=REVIEWER)
        assert operator.execute_complete(second, event(old_id, option="Reject"))["request_id"] == new_id

    def test_unknown_option_is_refused(self, make_context):
        with pytest.raises(AirflowException, match="unexpected event"):
            approval().execute_complete(make_context(), event(option="Maybe"))


class TestPersistentButtons:
    def test_off_by_default(self):
        operator = approval()
        assert operator.persistent_buttons is False
        assert operator.channel is INSTAGRAM
        assert InstagramApprovalOperator.channel is INSTAGRAM

    @pytest.mark.parametrize(
        ("options", "message"),
        [
            pytest.param(
                ["a", "b", "c", "d"],
                "^persistent_buttons: Instagram's button template holds at most 3 options, got 4; offer at "
                r"most 3 options, or leave persistent_buttons off \(quick replies hold 13\)$",
                id="four-options",
            ),
            pytest.param(["🇩🇪🇫🇷🇮🇹🇪🇸🇵🇹🇳🇱"], "button-template button holds at most 20", id="title-24-utf16"),
        ],
    )
    def test_refused_when_the_dag_is_parsed(self, options, message):
        with pytest.raises(ValueError, match=message):
            approval(options=options, persistent_buttons=True)
        approval(options=options)  # quick replies take them

    def test_prompt_and_reminder_are_button_templates(
        self, store, store_url, shared_store, sends, make_context, monkeypatch
    ):
        context = make_context()
        operator = rendered(
            approval(store_url, persistent_buttons=True, remind_after=timedelta(hours=1)), context
        )
        assert operator.channel is INSTAGRAM_BUTTONS
        assert InstagramApprovalOperator.channel is INSTAGRAM  # the class keeps its channel
        deferral = deferred(operator, context)

        (prompt,) = sends.messages
        assert "quick_replies" not in prompt
        assert [(b["type"], b["title"]) for b in prompt["buttons"]] == [
            ("postback", "Approve"),
            ("postback", "Reject"),
        ]
        request_id = decode_payload(prompt["buttons"][0]["payload"]).request_id
        assert deferral.trigger.request_id == request_id
        # Typed answers still work on desktop and web, which show no buttons.
        assert prompt["text"].endswith(f"\nReply: Approve / Reject (request {request_code(request_id)})")
        assert store.get_request(request_id).recipients[0].prompt_message_id == "mid.1"

        later = datetime.now(timezone.utc) + timedelta(hours=1, minutes=1)
        monkeypatch.setattr(operator_module, "_utcnow", lambda: later)
        monkeypatch.setattr(prompting_module, "_utcnow", lambda: later)
        with pytest.raises(TaskDeferred):
            operator.execute_complete(context, wake_payload(request_id))
        reminder = sends.messages[1]
        assert reminder["text"].startswith("Reminder: 'Publish dataset sales?' still needs your answer")
        assert [b["title"] for b in reminder["buttons"]] == ["Approve", "Reject"]
