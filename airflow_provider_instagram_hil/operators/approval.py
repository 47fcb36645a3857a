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
from airflow_provider_instagram_hil.exceptions import (
    DecisionStoreError,
    InstagramHilError,
    MessagingWindowClosedError,
)
from airflow_provider_instagram_hil.links.instagram import REQUEST_ID_XCOM_KEY
from airflow_provider_instagram_hil.operators.follow_up import FollowUps, reminder_text
from airflow_provider_instagram_hil.prompt import ReviewField, deadline_line, zone
from airflow_provider_instagram_hil.store import (
    PROMPTED,
    ApprovalRequest,
    DecisionPolicy,
    DecisionStore,
    Delivery,
    PolicyKind,
    Recipient,
    RecipientRole,
    RecipientSpec,
    RequestStatus,
)
from airflow_provider_instagram_hil.store.engine import refuse_secrets_in_url
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
#: Deliveries of a prompt kept for when its recipient writes (``on_window_closed="wait"``).
KEPT = frozenset({Delivery.WAITING, Delivery.CONTACTED})
#: Said in the audit trail of a kept prompt.
WINDOW_CLOSED_NOTE = "outside the messaging window: sent when they next write"


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
        if isinstance(recipient_id, (str, list, tuple, Mapping)) and not _templated(recipient_id):
            # An XComArg, or a template, is checked once rendered (before any send).
            _recipient_specs(recipient_id, self.channel)
        self.recipient_id = recipient_id
        if not isinstance(subject, str) or not subject.strip():
            raise ValueError(f"subject must be a non-empty string, got {subject!r}")
        self.subject = subject
        self.fields = _as_review_fields(fields)
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
            response_timeout if _templated(response_timeout) else _response_timeout(response_timeout)
        )
        if not _templated(default_option):
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
        if isinstance(escalate_to, (str, list, tuple, Mapping)) and not _templated(escalate_to):
            _recipient_specs(escalate_to, self.channel, field="escalate_to")
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
            self.policy.check_recipients(_count_recipients(recipient_id))
        self.conn_id = conn_id
        if poll_interval is not None and not poll_interval > 0:
            raise ValueError(f"poll_interval must be a positive number of seconds, got {poll_interval!r}")
        self.poll_interval = poll_interval
        if store_url is not None:
            refuse_secrets_in_url(store_url)  # user info or query (?password=, ?sslpassword=)
        self.store_url = store_url
        # Fail at parse time when the subject (if not templated) and the options cannot fit one message.
        static_subject = subject if not _templated(subject) else "?"
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
        for field in _as_review_fields(self.fields):
            if field.is_secret and field.value not in (None, ""):
                mask_secret(str(field.value))

    def _check_rendered(self) -> None:
        """Check the templated parameters once rendered; raise ``ValueError`` naming the one that is wrong."""
        self.response_timeout = _response_timeout(self.response_timeout, rendered=True)
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
        recipients = _recipient_specs(self.recipient_id, self.channel, rendered=True)
        if self.escalate_to is not None:
            backups = _recipient_specs(self.escalate_to, self.channel, rendered=True, field="escalate_to")
            taken = {spec.recipient_id for spec in recipients}
            if any(spec.recipient_id in taken for spec in backups):
                raise ValueError(
                    "escalate_to names a reviewer of recipient_id; a backup must be someone else"
                )
            recipients += [replace(spec, role=RecipientRole.ESCALATION) for spec in backups]
        fields = _as_review_fields(self.fields)
        expires_at = _utcnow() + _response_timeout(self.response_timeout, rendered=True)
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
        self._send_prompt(store, request, text)
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

    def _send_prompt(self, store: DecisionStore, request: ApprovalRequest, text: str) -> None:
        """Prompt every recipient not prompted yet in this try; cancel the request and raise when too few
        of them have the prompt for the policy ever to be met."""
        prompted = sum(r.delivery in PROMPTED for r in request.recipients)
        failures: list[tuple[str, Exception]] = []
        sent: dict[str, str | None] = {}
        for recipient in request.recipients:
            if recipient.role is RecipientRole.ESCALATION:
                continue  # prompted when the request is escalated (see _follow_up)
            if recipient.delivery in PROMPTED:
                self.log.info(
                    "Recipient %s already has the prompt of request %s", recipient.label, request.request_id
                )
                continue
            if recipient.delivery in KEPT:
                prompted += 1
                continue  # kept for when they write (logged when it was kept)
            try:
                message_id = self._prompt_one(request, recipient, text)
            except Exception as exc:
                kept = isinstance(exc, MessagingWindowClosedError) and self.on_window_closed == "wait"
                if kept and self._keep_prompt(store, request, recipient, text):
                    prompted += 1
                    continue
                self.log.warning(
                    "Could not send the prompt of request %s to recipient %s: %s",
                    request.request_id,
                    recipient.label,
                    type(exc).__name__,
                )
                failures.append((recipient.label, exc))
                self._record_failure(store, request, recipient.recipient_id, exc)
                continue
            store.mark_prompt_sent(
                request.request_id, recipient.recipient_id, message_id or "", channel=self.channel.name
            )
            sent[recipient.recipient_id] = message_id
            prompted += 1
            self.log.info(
                "Sent the prompt of request %s to recipient %s", request.request_id, recipient.label
            )
        for recipient, error in self._confirm_delivery(store, request, text, sent):
            failures.append((recipient.label, error))
            self._record_failure(store, request, recipient.recipient_id, error)
            prompted -= 1
        needed = _prompts_needed(request)
        if prompted >= needed:
            return
        self._cancel(store, request)
        if prompted:  # some got it, but the policy needs more of them
            raise AirflowFailException(
                f"Only {prompted} of {len(request.recipients)} reviewers got the prompt of request "
                f"{request.request_id}; decision policy {self.policy.describe()} needs {needed}. Could not "
                f"reach {', '.join(who for who, _ in failures)}: {failures[0][1]}"
            ) from failures[0][1]
        closed = [(who, exc) for who, exc in failures if isinstance(exc, MessagingWindowClosedError)]
        if len(closed) == len(failures):
            who = ", ".join(recipient for recipient, _ in closed)
            raise AirflowFailException(
                f"Could not send the approval prompt to {who}: {closed[0][1]}"
            ) from closed[0][1]
        raise next(exc for _, exc in failures if not isinstance(exc, MessagingWindowClosedError))

    def _keep_prompt(
        self, store: DecisionStore, request: ApprovalRequest, recipient: Recipient, text: str
    ) -> bool:
        """Keep ``recipient``'s refused prompt for when they write to the account; False when the store
        could not record it (the recipient then counts as not reached)."""
        try:
            store.hold_prompt(
                request.request_id,
                recipient.recipient_id,
                text,
                WINDOW_CLOSED_NOTE,
                channel=self.channel.name,
            )
        except DecisionStoreError as exc:
            self.log.warning("Could not keep the prompt of request %s: %s", request.request_id, exc)
            return False
        self.log.info(
            "Recipient %s has not written to the account within %s's messaging window: the prompt of "
            "request %s is kept and goes out when they next write; waiting meanwhile",
            recipient.label,
            self.channel.title,
            request.request_id,
        )
        return True

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

    def _record_failure(
        self, store: DecisionStore, request: ApprovalRequest, recipient_id: str, exc: Exception
    ) -> None:
        error = f"{type(exc).__name__}: {exc}" if isinstance(exc, InstagramHilError) else type(exc).__name__
        try:
            store.mark_prompt_failed(request.request_id, recipient_id, error, channel=self.channel.name)
        except DecisionStoreError as store_error:
            self.log.warning(
                "Could not record the failed prompt of request %s: %s", request.request_id, store_error
            )

    def _cancel(self, store: DecisionStore, request: ApprovalRequest) -> None:
        try:
            store.cancel_request(request.request_id)
            self.log.info("Cancelled request %s", request.request_id)
        except DecisionStoreError as exc:
            self.log.warning("Could not cancel request %s: %s", request.request_id, exc)

    # -- resume ---------------------------------------------------------------------------------------

    def execute_complete(self, context: Context, event: DecisionEventPayload | str) -> ApprovalResult:
        """Turn the trigger's event into the XCom result; skip downstream tasks on a rejection."""
        event = self._event_of_this_try(context, event)
        if event.get("status") == WAKE:
            event = self._follow_up(event["request_id"])
        request_id = event.get("request_id", "?")
        status = event.get("status")
        chosen = event.get("chosen_option")
        if status == "error":
            raise AirflowException(f"Approval request {request_id} failed: {event.get('error')}")
        if status == "timed_out" and chosen is None:
            raise AirflowFailException(self._unanswered_message(request_id))
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

    def _event_of_this_try(self, context: Context, event: DecisionEventPayload | str) -> DecisionEventPayload:
        """The decision event of this task try's own request.

        Two cases resume a try with an event that is not its request's: ``airflow dags test`` passes the
        bare state ("success") of a task the trigger ended itself, and a trigger of an earlier try (say,
        before the task was cleared) can fire into the new try. Both are answered from the store; a try
        whose own request is still pending defers again.
        """
        ti = context["ti"]
        store = self._store()
        own_request = event.get("request_id") if isinstance(event, dict) else None
        if own_request is not None:
            try:
                found = store.get_request(own_request)
            except DecisionStoreError as exc:
                self.log.warning("Could not check request %s against this try: %s", own_request, exc)
                return event  # type: ignore[return-value]
            if found is None or found.try_number == ti.try_number:
                return event  # type: ignore[return-value]
            self.log.warning(
                "Ignoring the event of request %s: it belongs to try %d, this is try %d",
                own_request,
                found.try_number,
                ti.try_number,
            )
        request = store.request_for_try(
            dag_id=ti.dag_id,
            run_id=ti.run_id,
            task_id=ti.task_id,
            map_index=ti.map_index if ti.map_index is not None else -1,
            try_number=ti.try_number,
        )
        if request is None:
            # Resumed with another try's event before this try ever ran execute (a clear that raced
            # that try's deferral): ask now.
            self.log.info("Try %d has not sent its approval request yet; sending it now", ti.try_number)
            return self._ask(context)
        if request.status is RequestStatus.PENDING:
            self.log.info("Request %s of this try is still pending; waiting for it again", request.request_id)
            self._defer(request)
        return payload_from_state(request.state)

    def _store(self) -> DecisionStore:
        return config.shared_store(self.store_url)

    # -- follow-ups -----------------------------------------------------------------------------------

    def _follow_up(self, request_id: str) -> DecisionEventPayload:
        """Woken by the trigger: send the reminders and escalation prompts due, then wait again (raises
        ``TaskDeferred``); return the outcome when the request closed meanwhile."""
        store = self._store()
        request = store.get_request(request_id)
        if request is None:
            raise AirflowException(f"Approval request {request_id} is not in the decision store")
        if request.status is RequestStatus.PENDING:
            due = self.follow_ups.due(request, _utcnow())
            # In the order they fell due (one late wake may find both due).
            for recipient in due.reminders:
                self._remind(store, request, recipient)
            for recipient in due.escalation:
                self._escalate(store, request, recipient)
            self._defer(store.get_request(request_id) or request)
        return payload_from_state(request.state)

    def _escalate(self, store: DecisionStore, request: ApprovalRequest, recipient: Recipient) -> None:
        text = self._prompt_text(
            request.subject or self.subject,
            _as_review_fields(self.fields),
            request.expires_at,
            request_code(request.request_id),
        )
        try:
            message_id = self._prompt_one(request, recipient, text)
        except Exception as exc:
            self.log.warning(
                "Could not escalate request %s to %s: %s",
                request.request_id,
                recipient.label,
                type(exc).__name__,
            )
            self._record_failure(store, request, recipient.recipient_id, exc)
            return
        store.mark_prompt_sent(
            request.request_id, recipient.recipient_id, message_id, channel=self.channel.name, now=_utcnow()
        )
        self.log.info(
            "Nobody answered request %s within %s: escalated to %s",
            request.request_id,
            self.follow_ups.escalate_after,
            recipient.label,
        )

    def _remind(self, store: DecisionStore, request: ApprovalRequest, recipient: Recipient) -> None:
        try:
            self._prompt_one(request, recipient, reminder_text(request))
        except MessagingWindowClosedError:
            self.log.info(
                "Not reminding %s of request %s: outside the channel's messaging window",
                recipient.label,
                request.request_id,
            )
        except Exception as exc:
            self.log.warning(
                "Could not remind %s of request %s: %s",
                recipient.label,
                request.request_id,
                type(exc).__name__,
            )
        else:
            self.log.info("Reminded %s of request %s", recipient.label, request.request_id)
        # Marked either way: one attempt per reminder time, never a retry loop.
        channel = self.channel.name
        store.mark_reminded(request.request_id, recipient.recipient_id, channel=channel, now=_utcnow())

    def _unanswered_message(self, request_id: str) -> str:
        """Say who did not answer and since when, from the store when it can be read."""
        request = None
        try:
            request = self._store().get_request(request_id)
        except DecisionStoreError as exc:
            self.log.warning("Could not read request %s for the timeout message: %s", request_id, exc)
        if request is None:
            recipient_id = self.recipient_id
            recipients = recipient_id if isinstance(recipient_id, str) else ", ".join(map(str, recipient_id))
            return (
                f"No answer to approval request {request_id} from recipient {recipients} within "
                f"{self.response_timeout}. Set default_option to go on automatically at the timeout."
            )
        return (
            f"No answer to approval request {request_id} from recipient "
            f"{', '.join(r.label for r in request.recipients)}: "
            f"prompted at {request.created_at.isoformat()}, timed out at {request.expires_at.isoformat()} "
            f"(response_timeout {self.response_timeout}). Set default_option to go on "
            f"automatically at the timeout."
        )


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _templated(value: object) -> bool:
    """Whether ``value`` (or any string in it) holds a Jinja template, rendered only when the task runs."""
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, Mapping):
        return any(_templated(item) for item in value.values())
    if isinstance(value, (list, tuple)):
        return any(_templated(item) for item in value)
    return False


def _response_timeout(value: object, *, rendered: bool = False) -> timedelta:
    """``response_timeout`` as a positive timedelta: a timedelta, or once rendered from a template, a
    number of seconds; else ``ValueError`` naming it."""
    timeout = value
    if rendered and isinstance(value, (str, int, float)) and not isinstance(value, bool):
        try:
            timeout = timedelta(seconds=float(value))
        except (ValueError, OverflowError):
            timeout = None
    if not isinstance(timeout, timedelta) or timeout <= timedelta(0):
        if rendered:
            raise ValueError(
                f"response_timeout rendered to {value!r}; it must be a positive number of seconds or a "
                "timedelta"
            )
        raise ValueError(f"response_timeout must be a positive timedelta or a template, got {value!r}")
    return timeout


def _count_recipients(value: Mapping[str, Any] | Sequence[Any] | str) -> int:
    return 1 if isinstance(value, str) else len(value)


def _recipient_specs(
    value: object, channel: Channel, *, rendered: bool = False, field: str = "recipient_id"
) -> list[RecipientSpec]:
    """Normalise ``recipient_id`` (an id, a list, or names to ids) into recipients on ``channel``, or
    raise ``ValueError`` naming it (``field``: the parameter's name)."""
    if isinstance(value, Mapping):
        pairs = [(name, item) for name, item in value.items()]
    elif isinstance(value, str):
        pairs = [(None, value)]
    elif isinstance(value, Sequence):
        pairs = [(None, item) for item in value]
    else:
        pairs = []
    ok = bool(pairs) and all(
        isinstance(item, str) and item.strip() and (name is None or (isinstance(name, str) and name.strip()))
        for name, item in pairs
    )
    if not ok:
        state = "rendered to" if rendered else "is"
        what = channel.recipient_kind
        raise ValueError(
            f"{field} {state} {value!r}; it must be {what}, a non-empty list of them, or a mapping of "
            "names to them"
        )
    ids = [channel.validate_recipient(str(item)) for _, item in pairs]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{field} lists the same {channel.title} recipient twice: {value!r}")
    return [
        RecipientSpec(rid, channel.name, name.strip() if name else None)
        for (name, _), rid in zip(pairs, ids, strict=True)
    ]


def _prompts_needed(request: ApprovalRequest) -> int:
    """How many reviewers must have the prompt for the request's policy to be reachable at all."""
    reviewers = sum(r.role is RecipientRole.REVIEWER for r in request.recipients)
    if request.policy.kind is PolicyKind.ALL:
        return reviewers
    if request.policy.kind is PolicyKind.QUORUM:
        return request.policy.min_approvals or 1
    return 1


def _as_review_fields(fields: Sequence[ReviewField] | Mapping[str, Any] | None) -> list[ReviewField]:
    """Accept review fields or a label-to-value mapping (plain fields); else ``ValueError``."""
    if fields is None:
        return []
    if isinstance(fields, Mapping):
        return [ReviewField(str(label), value) for label, value in fields.items()]
    if isinstance(fields, str) or not all(isinstance(item, ReviewField) for item in fields):
        raise ValueError("fields must be a list of ReviewField or a mapping of label to value")
    return list(fields)
