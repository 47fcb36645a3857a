"""InstagramHITLNotifier: Airflow's own human-in-the-loop tasks, answered from an Instagram DM.

Add it to ``ApprovalOperator``, ``HITLOperator`` or ``HITLBranchOperator`` (providers-standard) as one of
their ``notifiers``. When the task starts waiting, the notifier DMs each mapped reviewer the task's
subject, its body as plain text and the options as quick replies, and records the request in the decision
store (``source="airflow-hitl"``). A tap reaches our webhook, which answers the task through Airflow's
``hitlDetails`` API as the reviewer's Airflow user (see :mod:`~airflow_provider_instagram_hil.hitl.bridge`):
Airflow resumes the task by its own mechanism, and the first answer wins, in the chat or in Airflow.

A chat cannot offer what some tasks ask: several options at once (``multiple=True``), a form (``params``,
as ``HITLEntryOperator`` has), or more options than quick replies hold. Those reviewers get the subject,
the body and a link to the task's Required Actions page instead of buttons.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_provider_instagram_hil import config
from airflow_provider_instagram_hil.hitl.bridge import SOURCE
from airflow_provider_instagram_hil.hitl.text import hitl_prompt
from airflow_provider_instagram_hil.hooks.instagram import InstagramHook
from airflow_provider_instagram_hil.messages import quick_replies_for, validate_options
from airflow_provider_instagram_hil.prompt import options_line
from airflow_provider_instagram_hil.store import ApprovalRequest, Delivery, RecipientSpec
from airflow_provider_instagram_hil.version_compat import BaseNotifier

if TYPE_CHECKING:
    from airflow_provider_instagram_hil.version_compat import Context

#: How long a tap is accepted when the task has no ``response_timeout`` (Airflow then waits forever;
#: the Required Actions page keeps working after this).
NO_TIMEOUT_HORIZON = timedelta(days=30)


class InstagramHITLNotifier(BaseNotifier):
    """DM the reviewers of an Airflow human-in-the-loop task and let them answer with a tap.

    ``ApprovalOperator(..., notifiers=[InstagramHITLNotifier(recipients={"alice": "6200..."})])``

    Each reviewer is an Airflow user id mapped to an Instagram-scoped id (IGSID). When the task names
    ``assigned_users``, only the mapped users among them are prompted, and only they may answer; Airflow
    checks the same list again when the webhook writes the answer. The webhook answers as the reviewer's
    own Airflow user, so Airflow's record names that person.

    Delivery problems never fail the task: it still waits, and the Required Actions page still answers it.

    :param recipients: Airflow user id to IGSID, e.g. ``{"alice": "6200..."}``; the IGSIDs may be
        templates (``"{{ var.value.alice_igsid }}"``). (templated)
    :param instagram_conn_id: the connection that sends the DMs.
    :param link_to_airflow: also add the task's Required Actions link below the options (it always comes
        when the task cannot be answered with buttons). Needs ``[api] base_url``.
    """

    template_fields = ("recipients",)

    def __init__(
        self,
        *,
        recipients: Mapping[str, str],
        instagram_conn_id: str = InstagramHook.default_conn_name,
        link_to_airflow: bool = False,
    ) -> None:
        super().__init__()
        _check_recipients(recipients)
        self.recipients = recipients
        self.instagram_conn_id = instagram_conn_id
        self.link_to_airflow = link_to_airflow

    @cached_property
    def hook(self) -> InstagramHook:
        return InstagramHook(instagram_conn_id=self.instagram_conn_id)

    def notify(self, context: Context) -> None:
        """Register the task's request (when a tap can answer it) and DM each mapped reviewer."""
        task = context["task"]
        ti = context["task_instance"]
        recipients = self._reviewers(task)
        if not recipients:
            return
        options = [str(option) for option in getattr(task, "options", [])]
        why_not = _why_not_answerable(task, options)
        request = None
        if why_not is None:
            request = self._register(task, ti, recipients, options)
            if request is None:
                why_not = "the decision store could not record the request"
        link = self._link(context) if why_not is not None or self.link_to_airflow else None
        if why_not is not None:
            self.log.info("Task %s cannot be answered with a tap (%s): sending a link", ti.task_id, why_not)
        text = self._text(task, options, link, buttons=request is not None)
        replies = quick_replies_for(request.request_id, options) if request is not None else None
        for spec in recipients:
            self._send(request, spec, text, replies)

    # -- who, what -----------------------------------------------------------------------------------

    def _reviewers(self, task: Any) -> list[RecipientSpec]:
        """The mapped reviewers the task allows: its ``assigned_users`` if it names any, else everyone."""
        _check_recipients(self.recipients)  # rendered
        assigned = getattr(task, "assigned_users", None) or []
        allowed = {str(user.get("id")) for user in assigned if isinstance(user, Mapping)}
        chosen = [
            RecipientSpec(str(igsid).strip(), "instagram", str(user_id))
            for user_id, igsid in self.recipients.items()
            if not allowed or str(user_id) in allowed
        ]
        if not chosen:
            self.log.warning(
                "None of the task's assigned users (%s) has an Instagram recipient; nobody is notified",
                ", ".join(sorted(allowed)),
            )
        return chosen

    def _register(
        self, task: Any, ti: Any, recipients: list[RecipientSpec], options: list[str]
    ) -> ApprovalRequest | None:
        # providers-standard before 1.13 took the HITL timeout from execution_timeout
        timeout = getattr(task, "response_timeout", None) or getattr(task, "execution_timeout", None)
        defaults = getattr(task, "defaults", None) or []
        try:
            request, created = config.shared_store(None).register_request(
                dag_id=ti.dag_id,
                run_id=ti.run_id,
                task_id=ti.task_id,
                map_index=ti.map_index if ti.map_index is not None else -1,
                try_number=ti.try_number,
                recipients=recipients,
                options=options,
                expires_at=_utcnow() + (timeout or NO_TIMEOUT_HORIZON),
                default_option=defaults[0] if len(defaults) == 1 else None,
                subject=" ".join(str(task.subject).split())[:500],
                source=SOURCE,
            )
        except Exception as exc:  # a store problem must not fail the task: Airflow's page still answers
            self.log.error("Could not record the request of task %s: %s", ti.task_id, exc)
            return None
        self.log.info(
            "Request %s (%s) for Airflow's human-in-the-loop task %s",
            request.request_id,
            "new" if created else "existing for this try",
            ti.task_id,
        )
        return request

    def _text(self, task: Any, options: list[str], link: str | None, *, buttons: bool) -> str:
        subject, body = str(task.subject), getattr(task, "body", None)
        if buttons:
            footer = f"{options_line(options)}\nOr answer in Airflow: {link}" if link else ""
            try:
                return hitl_prompt(subject, body, options, footer=footer)
            except ValueError:
                return hitl_prompt(subject, body, options)
        footer = f"Answer in Airflow: {link}" if link else "Answer in Airflow's Required Actions page."
        try:
            return hitl_prompt(subject, body, options, footer=footer)
        except ValueError:
            return hitl_prompt(subject[:200], None, options, footer=footer[:700])

    def _link(self, context: Context) -> str | None:
        task: Any = context["task"]
        try:
            return str(task.generate_link_to_ui_from_context(context=context))
        except Exception as exc:  # no [api] base_url, or not a HITLOperator
            self.log.warning("No link to the Required Actions page: %s", exc)
            return None

    # -- sending --------------------------------------------------------------------------------------

    def _send(
        self,
        request: ApprovalRequest | None,
        spec: RecipientSpec,
        text: str,
        replies: list[Any] | None,
    ) -> None:
        if request is not None:
            recipient = request.recipient(spec.recipient_id)
            if recipient is not None and recipient.delivery is Delivery.SENT:
                self.log.info("Reviewer %s already has request %s", spec.name, request.request_id)
                return
        try:
            sent = self.hook.send_message(spec.recipient_id, text, replies)
        except Exception as exc:
            self.log.warning("Could not DM reviewer %s: %s", spec.name, type(exc).__name__)
            if request is not None:
                self._store_call("mark_prompt_failed", request, spec, f"{type(exc).__name__}: {exc}")
            return
        self.log.info("Sent the task's prompt to reviewer %s", spec.name)
        if request is not None:
            self._store_call("mark_prompt_sent", request, spec, str(sent.get("message_id") or ""))

    def _store_call(self, method: str, request: ApprovalRequest, spec: RecipientSpec, value: str) -> None:
        try:
            getattr(config.shared_store(None), method)(request.request_id, spec.recipient_id, value)
        except Exception as exc:
            self.log.warning("Could not record the delivery of request %s: %s", request.request_id, exc)


def _why_not_answerable(task: Any, options: list[str]) -> str | None:
    """Why a tap cannot answer ``task``, or None when it can."""
    if getattr(task, "multiple", False):
        return "it takes several options at once"
    if getattr(task, "serialized_params", None):  # what Airflow stores and its page shows as a form
        return "it asks for a form (params)"
    try:
        validate_options(options)
    except ValueError as exc:
        return str(exc)
    return None


def _check_recipients(recipients: object) -> None:
    ok = (
        isinstance(recipients, Mapping)
        and bool(recipients)
        and all(
            isinstance(user, str) and user.strip() and isinstance(igsid, str) and igsid.strip()
            for user, igsid in recipients.items()
        )
    )
    if not ok or not isinstance(recipients, Mapping):
        raise ValueError(
            f"recipients must map Airflow user ids to IGSIDs, e.g. {{'alice': '6200...'}}, got {recipients!r}"
        )
    igsids = [str(igsid).strip() for igsid in recipients.values()]
    if len(set(igsids)) != len(igsids):
        raise ValueError("recipients maps two Airflow users to the same IGSID")


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)
