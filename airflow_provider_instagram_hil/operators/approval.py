"""The approval operator of every channel: register the request, prompt, defer, resume, go on or skip.

:class:`BaseApprovalOperator` knows no channel: it asks its
:class:`~airflow_provider_instagram_hil.channels.Channel` to check recipients and options, render the
prompt and send it. The thin operators of
``operators/instagram.py``, ``operators/messenger.py`` and ``operators/whatsapp.py`` name the channel and
its connection; everything else (store, trigger, policies, results) is shared.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_provider_instagram_hil import config
from airflow_provider_instagram_hil.channels.base import Channel, ChannelConnId
from airflow_provider_instagram_hil.links.instagram import REQUEST_ID_XCOM_KEY
from airflow_provider_instagram_hil.operators.arguments import (
    as_review_fields,
    count_recipients,
    recipient_specs,
    response_timeout_of,
    templated,
)
from airflow_provider_instagram_hil.operators.follow_up import FollowUps
from airflow_provider_instagram_hil.operators.prompting import send_follow_ups, send_prompts
from airflow_provider_instagram_hil.operators.resume import event_of_this_try, unanswered_message
from airflow_provider_instagram_hil.prompt import ReviewField, deadline_line, zone
from airflow_provider_instagram_hil.store import (
    ApprovalRequest,
    DecisionPolicy,
    DecisionStore,
    Recipient,
    RecipientRole,
    RequestStatus,
)
from airflow_provider_instagram_hil.store.urls import refuse_secrets_in_url
from airflow_provider_instagram_hil.triggers.events import (
    WAKE,
    ApprovalResult,
    DecisionEventPayload,
    approval_result,
    decided_by,
    payload_from_state,
)
from airflow_provider_instagram_hil.triggers.instagram import InstagramDecisionTrigger
from airflow_provider_instagram_hil.typed_answers import CODE_LENGTH, request_code
from airflow_provider_instagram_hil.version_compat import (
    AirflowException,
    AirflowFailException,
    BaseOperator,
    SkipMixin,
    mask_secret,
)

if TYPE_CHECKING:
    import jinja2

    from airflow_provider_instagram_hil.version_compat import Context

APPROVE = "Approve"
REJECT = "Reject"
DEFAULT_RESPONSE_TIMEOUT = timedelta(hours=24)
#: Extra time the scheduler grants past the deadline: the trigger ends the wait itself; this only
#: catches a triggerer that died (it outlasts the trigger's own retries against a failing store).
DEFERRAL_GRACE = timedelta(minutes=10)
#: ``on_window_closed``: fail the task, or keep the prompt until the reviewer writes to the account.
WINDOW_CLOSED_CHOICES = ("fail", "wait")


class BaseApprovalOperator(BaseOperator, SkipMixin):
    """Send an approval prompt on a messaging channel and wait (deferred) for the reviewer's answer.

    Use a channel's operator (``InstagramApprovalOperator``, ``MessengerApprovalOperator``,
    ``WhatsAppApprovalOperator``); they take the same parameters, apart from the connection.

    The prompt lists the subject, the review fields and the options as the channel's buttons. The task
    defers to :class:`~airflow_provider_instagram_hil.triggers.instagram.InstagramDecisionTrigger` (it
    reads the store only, whatever the channel) until the webhook records a decision, or the timeout
    passes. An option in ``reject_options`` skips the direct downstream tasks (or fails the task with
    ``fail_on_reject``); any other option lets them run. The XCom ``return_value`` is an
    :class:`ApprovalResult`, pushed before downstream tasks are skipped.

    :param recipient_id: the reviewer's id on the channel, a list of them, or a mapping of names to ids
        (``{"alice": "..."}``; messages then say "answered by alice"). Each gets the prompt;
        ``decision_policy`` says whose answers decide. (templated)
    :param subject: the first line of the prompt; never shortened. (templated)
    :param fields: what the reviewer should see: :class:`~airflow_provider_instagram_hil.prompt.ReviewField`
        objects (``display`` plain, masked or concealed), or a mapping of label to value (all plain).
        Values are shortened to fit the channel's message. (templated)
    :param options: the answers offered as buttons; how many, and how long, depends on the channel.
    :param reject_options: the options that count as a rejection; default ``["Reject"]`` when it is an option.
    :param response_timeout: how long to wait for the answer (default 24 hours); a template must render to
        a number of seconds, e.g. ``"{{ var.value.get('review_seconds', 86400) }}"``. (templated)
    :param default_option: the option recorded when nobody answers in time; None (or a template that
        renders to an empty string) fails the task. (templated)
    :param fail_on_reject: fail the task on a rejection instead of skipping downstream tasks.
    :param decision_policy: ``"first"`` (the first answer decides, default), ``"all"`` (every reviewer
        must approve; one rejection rejects) or ``"quorum"`` (``min_approvals`` approvals decide; it is
        rejected once that many can no longer be reached).
    :param min_approvals: approvals a ``"quorum"`` needs.
    :param veto_on_reject: with ``"quorum"``, any rejection rejects at once.
    :param require_reason_on_reject: a rejection counts only with a reason typed after it
        (``Reject: numbers look wrong``); a bare Reject tap gets a reply asking for one.
    :param deadline_timezone: the IANA time zone the prompt states the deadline in (default UTC).
    :param remind_after: one duration or several: after each (counted from the prompt), whoever has not
        answered gets a short reminder with the buttons again, while the request is pending (a reviewer
        outside the channel's messaging window is skipped).
    :param escalate_to: backup reviewers (same forms as ``recipient_id``), prompted only once nobody
        answered within ``escalate_after``; from then on their answer counts too. Policy ``"first"`` only.
    :param escalate_after: when to prompt ``escalate_to``.
    :param on_window_closed: what happens when Meta refuses a reviewer's prompt because they have not
        written to the account within the channel's messaging window (24 hours): ``"fail"`` (default;
        the task fails when too few reviewers got the prompt) or ``"wait"`` (the prompt is kept and sent
        by the webhook as soon as that reviewer writes to the account, while the request is pending; the
        task keeps waiting, deferred, until then or its deadline).
    :param end_from_trigger: when the outcome lets downstream tasks run, the trigger ends the task
        itself with the XCom result, instead of starting a worker just to return it (default True).
        Rejections, failures and timeouts without a default always resume on a worker.
    :param conn_id: the connection that sends the prompt (the channel operators name it after the channel).
    :param poll_interval: seconds between two reads of the decision store; None reads
        ``[instagram_hil] poll_interval``.
    :param store_url: the decision store; None (recommended) reads ``[instagram_hil] store_url`` in each
        process. It travels in the trigger's kwargs, so it must not hold a password.
    """

    #: The channel this operator prompts on (a class attribute; an operator may set its own variant of
    #: that channel, e.g. Instagram's persistent buttons, before this class's ``__init__``).
    channel: Channel
    #: The connection that sends the prompt: the channel operator's ``<channel>_conn_id`` (rendered once
    #: the task runs).
    conn_id = ChannelConnId()

    template_fields: Collection[str] = (
        "recipient_id",
        "subject",
        "fields",
        "response_timeout",
        "default_option",
        "escalate_to",
    )
    inherits_from_skipmixin = True
    ui_color = "#fbe4f0"

    def __init__(
        self,
        *,
        recipient_id: str | Sequence[str] | Mapping[str, str],
        subject: str,
        fields: Sequence[ReviewField] | Mapping[str, Any] | None = None,
        options: Sequence[str] = (APPROVE, REJECT),
        reject_options: Sequence[str] | None = None,
        response_timeout: timedelta | str = DEFAULT_RESPONSE_TIMEOUT,
        default_option: str | None = None,
        fail_on_reject: bool = False,
        decision_policy: str = "first",
        min_approvals: int | None = None,
        veto_on_reject: bool = False,
        require_reason_on_reject: bool = False,
        deadline_timezone: str = "UTC",
        remind_after: timedelta | Sequence[timedelta] | None = None,
        escalate_to: str | Sequence[str] | Mapping[str, str] | None = None,
        escalate_after: timedelta | None = None,
        on_window_closed: str = "fail",
        end_from_trigger: bool = True,
        conn_id: str | None = None,
        poll_interval: float | None = None,
        store_url: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if isinstance(recipient_id, (str, list, tuple, Mapping)) and not templated(recipient_id):
            # An XComArg, or a template, is checked once rendered (before any send).
            recipient_specs(recipient_id, self.channel)
        self.recipient_id = recipient_id
        if not isinstance(subject, str) or not subject.strip():
            raise ValueError(f"subject must be a non-empty string, got {subject!r}")
        self.subject = subject
        self.fields = as_review_fields(fields)
        self.channel.validate_options(options)
        self.options = list(options)
        if reject_options is None:
            reject_options = [REJECT] if REJECT in self.options else []
        if isinstance(reject_options, str) or not set(reject_options) <= set(self.options):
            raise ValueError(
                f"reject_options {reject_options!r} must be a list of options from {self.options}"
            )
        self.reject_options = list(reject_options)
        # Templates are checked once rendered (render_template_fields), before anything is sent.
        self.response_timeout: timedelta | str = (
            response_timeout if templated(response_timeout) else response_timeout_of(response_timeout)
        )
        if not templated(default_option):
            self._check_default_option(default_option)
        self.default_option = default_option
        self.fail_on_reject = fail_on_reject
        if require_reason_on_reject and not self.reject_options:
            raise ValueError("require_reason_on_reject needs reject_options")
        self.require_reason_on_reject = require_reason_on_reject
        zone(deadline_timezone)  # an unknown zone fails at parse time
        self.deadline_timezone = deadline_timezone
        # A templated timeout bounds the follow-ups once rendered (_check_rendered).
        bound = self.response_timeout if isinstance(self.response_timeout, timedelta) else None
        self.follow_ups = FollowUps.build(remind_after, escalate_after, bound)
        if (escalate_to is None) != (escalate_after is None):
            raise ValueError("escalate_to and escalate_after go together: give both or neither")
        if escalate_to is not None and decision_policy != "first":
            raise ValueError("escalate_to only applies to decision_policy 'first'")
        if isinstance(escalate_to, (str, list, tuple, Mapping)) and not templated(escalate_to):
            recipient_specs(escalate_to, self.channel, field="escalate_to")
        self.escalate_to = escalate_to
        if on_window_closed not in WINDOW_CLOSED_CHOICES:
            raise ValueError(
                f"on_window_closed must be one of {', '.join(map(repr, WINDOW_CLOSED_CHOICES))}, "
                f"got {on_window_closed!r}"
            )
        self.on_window_closed = on_window_closed
        self.end_from_trigger = end_from_trigger
        self.policy = DecisionPolicy.build(decision_policy, min_approvals, veto_on_reject)
        self.policy.check_options(self.options, self.reject_options)
        if isinstance(recipient_id, (str, list, tuple, Mapping)):
            self.policy.check_recipients(count_recipients(recipient_id))
        self.conn_id = conn_id
        if poll_interval is not None and not poll_interval > 0:
            raise ValueError(f"poll_interval must be a positive number of seconds, got {poll_interval!r}")
        self.poll_interval = poll_interval
        if store_url is not None:
            refuse_secrets_in_url(store_url)  # user info or query (?password=, ?sslpassword=)
        self.store_url = store_url
        # Fail at parse time when the subject (if not templated) and the options cannot fit one message.
        static_subject = subject if not templated(subject) else "?"
        timeout = self.response_timeout if isinstance(self.response_timeout, timedelta) else None
        self._prompt_text(
            static_subject, [], _utcnow() + (timeout or DEFAULT_RESPONSE_TIMEOUT), "X" * CODE_LENGTH
        )

    @cached_property
    def hook(self) -> Any:
        """The channel's hook on ``conn_id``: it sends the prompt."""
        return self.channel.make_hook(self.conn_id)

    def render_template_fields(self, context: Context, jinja_env: jinja2.Environment | None = None) -> None:
        """Render templates, then register masked and concealed values with the secrets masker.

        Airflow stores rendered fields right after rendering, before ``execute``: masking here keeps
        those values out of logs from the first moment they exist.
        """
        super().render_template_fields(context, jinja_env)
        self._check_rendered()
        for field in as_review_fields(self.fields):
            if field.is_secret and field.value not in (None, ""):
                mask_secret(str(field.value))

    def _check_rendered(self) -> None:
        """Check the templated parameters once rendered; raise ``ValueError`` naming the one that is wrong."""
        self.response_timeout = response_timeout_of(self.response_timeout, rendered=True)
        FollowUps.build(self.follow_ups.remind_after, self.follow_ups.escalate_after, self.response_timeout)
        self.default_option = self.default_option or None
        self._check_default_option(self.default_option, rendered=True)
        if self.conn_id is not None and (not isinstance(self.conn_id, str) or not self.conn_id.strip()):
            raise ValueError(f"the connection id rendered to {self.conn_id!r}; it must name a connection")

    def _check_default_option(self, value: object, *, rendered: bool = False) -> None:
        if value is not None and value not in self.options:
            state = "rendered to" if rendered else "is"
            raise ValueError(
                f"default_option {state} {value!r}, which is not one of the options {self.options}"
            )

    # -- execute --------------------------------------------------------------------------------------

    def execute(self, context: Context) -> Any:
        """Register the request, send the prompt once per task try, and defer until it is answered."""
        return self.execute_complete(context, self._ask(context))

    def _ask(self, context: Context) -> DecisionEventPayload:
        """Register this try's request and prompt whoever has not got it yet; defer (raising
        ``TaskDeferred``) while it is pending, else return its outcome."""
        ti = context["ti"]
        # Every recipient is checked before anyone is prompted.
        recipients = recipient_specs(self.recipient_id, self.channel, rendered=True)
        if self.escalate_to is not None:
            backups = recipient_specs(self.escalate_to, self.channel, rendered=True, field="escalate_to")
            taken = {spec.recipient_id for spec in recipients}
            if any(spec.recipient_id in taken for spec in backups):
                raise ValueError(
                    "escalate_to names a reviewer of recipient_id; a backup must be someone else"
                )
            recipients += [replace(spec, role=RecipientRole.ESCALATION) for spec in backups]
        fields = as_review_fields(self.fields)
        expires_at = _utcnow() + response_timeout_of(self.response_timeout, rendered=True)
        # Checked before anything is registered; rendered for real once the request id is known.
        self._prompt_text(self.subject, fields, expires_at, "X" * CODE_LENGTH)
        store = self._store()
        request, created = store.register_request(
            dag_id=ti.dag_id,
            run_id=ti.run_id,
            task_id=ti.task_id,
            map_index=ti.map_index if ti.map_index is not None else -1,
            try_number=ti.try_number,
            recipients=recipients,
            options=self.options,
            expires_at=expires_at,
            default_option=self.default_option,
            reject_options=self.reject_options,
            policy=self.policy,
            subject=self.subject,
            channel=self.channel.name,
            require_reason=self.require_reason_on_reject,
            timezone=self.deadline_timezone,
        )
        self.log.info(
            "Approval request %s (%s, %s) for recipient(s) %s",
            request.request_id,
            "new" if created else "existing for this try",
            self.policy.describe(),
            ", ".join(r.label for r in request.recipients),
        )
        # The channel's "... request" extra link reads it; pushed before deferring so it shows while waiting.
        ti.xcom_push(key=REQUEST_ID_XCOM_KEY, value=request.request_id)
        if request.status is not RequestStatus.PENDING:
            self.log.info(
                "Request %s is already %s; resuming at once", request.request_id, request.status.value
            )
            return payload_from_state(request.state)
        text = self._prompt_text(self.subject, fields, request.expires_at, request_code(request.request_id))
        send_prompts(self, store, request, text)
        self._defer(request)
        raise AssertionError("defer() raises TaskDeferred")  # pragma: no cover

    def _prompt_text(
        self, subject: str, fields: Sequence[ReviewField], expires_at: datetime, code: str
    ) -> str:
        """The prompt: subject, fields, the deadline and what happens without an answer, the options and
        the request's code for a typed answer."""
        deadline = deadline_line(expires_at, self.deadline_timezone, self.default_option)
        return self.channel.render_prompt(subject, fields, self.options, deadline=deadline, code=code)

    def _defer(self, request: ApprovalRequest) -> None:
        """Wait in the triggerer for ``request``; raises ``TaskDeferred``."""
        now = _utcnow()
        remaining = max(request.expires_at - now, timedelta(0))
        wake_at = self.follow_ups.next_wake(request, now) if self.follow_ups else None
        self.defer(
            trigger=InstagramDecisionTrigger(
                request_id=request.request_id,
                timeout_at=request.expires_at,
                poll_interval=self.poll_interval or config.get_poll_interval(),
                store_url=self.store_url,
                end_from_trigger=self.end_from_trigger,
                reject_options=self.reject_options,
                push_result=bool(self.do_xcom_push),
                wake_at=wake_at,
            ),
            method_name="execute_complete",
            timeout=remaining + DEFERRAL_GRACE,
        )

    def _prompt_one(self, request: ApprovalRequest, recipient: Recipient, text: str) -> str | None:
        """Send the prompt to one recipient; return Meta's message id. Raises what the send raised."""
        return self.channel.send_prompt(
            self.hook, recipient.recipient_id, text, request.request_id, list(request.options)
        )

    def _confirm_delivery(
        self, store: DecisionStore, request: ApprovalRequest, text: str, sent: Mapping[str, str | None]
    ) -> list[tuple[Recipient, Exception]]:
        """After the sends: the recipients (of ``sent``: id to message id) whose prompt turned out not to
        arrive after all, with why. Channels that report failures later (WhatsApp) override it."""
        return []

    # -- resume ---------------------------------------------------------------------------------------

    def execute_complete(self, context: Context, event: DecisionEventPayload | str) -> ApprovalResult:
        """Turn the trigger's event into the XCom result; skip downstream tasks on a rejection."""
        event = event_of_this_try(self, context, event)
        if event.get("status") == WAKE:
            event = send_follow_ups(self, event["request_id"])
        request_id = event.get("request_id", "?")
        status = event.get("status")
        chosen = event.get("chosen_option")
        if status == "error":
            raise AirflowException(f"Approval request {request_id} failed: {event.get('error')}")
        if status == "timed_out" and chosen is None:
            raise AirflowFailException(unanswered_message(self, request_id))
        result = approval_result(event, self.reject_options)
        if result is None or chosen not in self.options:
            raise AirflowException(
                f"Approval request {request_id}: unexpected event (status {status!r}, option {chosen!r})"
            )
        who = decided_by(result)
        self.log.info("Request %s: %r chosen by %s", request_id, chosen, who)
        if result["approved"]:
            return result
        if self.fail_on_reject:
            raise AirflowFailException(
                f"Approval request {request_id} was rejected: {chosen!r} chosen by {who}"
            )
        relatives = self.get_direct_relatives(upstream=False) if self.has_dag() else []
        downstream = [task for task in relatives if not task.is_teardown]
        if not downstream:
            return result
        ti = context["ti"]
        # Skipping raises in Airflow 3, so the result would never reach XCom as a return value.
        ti.xcom_push(key="return_value", value=result)
        self.log.info("Rejected: skipping %s", ", ".join(task.task_id for task in downstream))
        self.skip(ti=ti, tasks=downstream)
        return result

    def _store(self) -> DecisionStore:
        return config.shared_store(self.store_url)


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)
