"""Airflow's own human-in-the-loop tasks, answered from a chat: one notifier per channel.

Add one to ``ApprovalOperator``, ``HITLOperator`` or ``HITLBranchOperator`` (providers-standard) as one
of their ``notifiers``. When the task starts waiting, the notifier sends each mapped reviewer the task's
subject, its body as plain text and the options as the channel's buttons, and records the request in the
decision store (``source="airflow-hitl"``). A tap reaches our webhook, which answers the task through
Airflow's ``hitlDetails`` API as the reviewer's Airflow user (see
:mod:`~airflow_provider_instagram_hil.hitl.bridge`): Airflow resumes the task by its own mechanism, and
the first answer wins, in the chat or in Airflow.

A chat cannot offer what some tasks ask: several options at once (``multiple=True``), a form (``params``,
as ``HITLEntryOperator`` has), or more options than the channel's buttons hold. Those reviewers get the
subject, the body and a link to the task's Required Actions page instead of buttons.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_provider_instagram_hil import config
from airflow_provider_instagram_hil.channels import Channel
from airflow_provider_instagram_hil.channels.base import ChannelConnId
from airflow_provider_instagram_hil.channels.instagram import INSTAGRAM
from airflow_provider_instagram_hil.channels.messenger import MESSENGER
from airflow_provider_instagram_hil.channels.whatsapp import WHATSAPP
from airflow_provider_instagram_hil.hitl.bridge import SOURCE
from airflow_provider_instagram_hil.hitl.text import hitl_prompt
from airflow_provider_instagram_hil.notifications.base import ChannelNotifier
from airflow_provider_instagram_hil.prompt import options_line
from airflow_provider_instagram_hil.store import PROMPTED, ApprovalRequest, RecipientSpec

if TYPE_CHECKING:
    from airflow_provider_instagram_hil.version_compat import Context

#: How long a tap is accepted when the task has no ``response_timeout`` (Airflow then waits forever;
#: the Required Actions page keeps working after this).
NO_TIMEOUT_HORIZON = timedelta(days=30)


class BaseHITLNotifier(ChannelNotifier):
    """Send the reviewers of an Airflow human-in-the-loop task its prompt, and let them answer with a tap.

    Each reviewer is an Airflow user id mapped to the channel's recipient id. When the task names
    ``assigned_users``, only the mapped users among them are prompted, and only they may answer; Airflow
    checks the same list again when the webhook writes the answer. The webhook answers as the reviewer's
    own Airflow user, so Airflow's record names that person.

    Delivery problems never fail the task: it still waits, and the Required Actions page still answers it.

    :param recipients: Airflow user id to the reviewer's id on the channel, e.g. ``{"alice": "6200..."}``;
        the ids may be templates (``"{{ var.value.alice_igsid }}"``). (templated)
    :param conn_id: the connection that sends (the channel notifiers name it after the channel).
    :param link_to_airflow: also add the task's Required Actions link below the options (it always comes
        when the task cannot be answered with buttons). Needs ``[api] base_url``.
    :param kwargs: passed on to ``BaseNotifier``.
    """

    #: The channel this notifier sends on.
    channel: ClassVar[Channel]
    #: The connection that sends: the notifier's ``<channel>_conn_id`` (rendered once it runs).
    conn_id = ChannelConnId()

    template_fields: Sequence[str] = ("recipients",)

    def __init__(
        self,
        *,
        recipients: Mapping[str, str],
        conn_id: str | None = None,
        link_to_airflow: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._check_recipients(recipients)
        self.recipients = recipients
        self.conn_id = conn_id
        self.link_to_airflow = link_to_airflow

    @cached_property
    def hook(self) -> Any:
        """The channel's hook on ``conn_id``."""
        return self.channel.make_hook(self.conn_id)

    def notify(self, context: Context) -> None:
        """Register the task's request (when a tap can answer it) and prompt each mapped reviewer."""
        task: Any = context["task"]
        ti = context["task_instance"]
        reviewers = self._reviewers(task)
        if not reviewers:
            return
        options = [str(option) for option in getattr(task, "options", [])]
        why_not = self._why_not_answerable(task, options)
        request = None
        if why_not is None:
            request = self._register(task, ti, reviewers, options)
            if request is None:
                why_not = "the decision store could not record the request"
        link = self._link(context) if why_not is not None or self.link_to_airflow else None
        if why_not is not None:
            self.log.info("Task %s cannot be answered with a tap (%s): sending a link", ti.task_id, why_not)
        text = self._text(task, options, link, buttons=request is not None)
        for spec in reviewers:
            self._send(request, spec, text)

    # -- who, what ------------------------------------------------------------------------------------

    def _reviewers(self, task: Any) -> list[RecipientSpec]:
        """The mapped reviewers the task allows: its ``assigned_users`` if it names any, else everyone."""
        self._check_recipients(self.recipients)  # rendered
        assigned = getattr(task, "assigned_users", None) or []
        allowed = {str(user.get("id")) for user in assigned if isinstance(user, Mapping)}
        chosen = []
        for user_id, recipient in self.recipients.items():
            if allowed and str(user_id) not in allowed:
                continue
            try:
                chosen.append(
                    RecipientSpec(self.channel.validate_recipient(recipient), self.channel.name, user_id)
                )
            except ValueError as exc:
                self.log.error("Reviewer %s is not reachable: %s", user_id, exc)
        if not chosen:
            self.log.warning(
                "None of the task's assigned users (%s) has a %s recipient; nobody is notified",
                ", ".join(sorted(allowed)),
                self.channel.title,
            )
        return chosen

    def _why_not_answerable(self, task: Any, options: list[str]) -> str | None:
        """Why a tap cannot answer ``task``, or None when it can."""
        if getattr(task, "multiple", False):
            return "it takes several options at once"
        if getattr(task, "serialized_params", None):  # what Airflow stores and its page shows as a form
            return "it asks for a form (params)"
        try:
            self.channel.validate_options(options)
        except ValueError as exc:
            return str(exc)
        return None

    def _register(
        self, task: Any, ti: Any, reviewers: list[RecipientSpec], options: list[str]
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
                recipients=reviewers,
                options=options,
                expires_at=_utcnow() + (timeout or NO_TIMEOUT_HORIZON),
                default_option=defaults[0] if len(defaults) == 1 else None,
                subject=str(task.subject),
                source=SOURCE,
                channel=self.channel.name,
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
            layout = self.channel.style_for(len(options)).layout
            footer = ""
            if link:
                footer = f"{options_line(options)}\nOr answer in Airflow: {link}"
                if not layout.options_line:
                    footer = f"Or answer in Airflow: {link}"
            try:
                return hitl_prompt(subject, body, options, footer=footer, layout=layout)
            except ValueError:
                return hitl_prompt(subject, body, options, layout=layout)
        layout = self.channel.styles[-1].layout
        footer = f"Answer in Airflow: {link}" if link else "Answer in Airflow's Required Actions page."
        try:
            return hitl_prompt(subject, body, options, footer=footer, layout=layout)
        except ValueError:
            return hitl_prompt(subject[:200], None, options, footer=footer[:700], layout=layout)

    def _link(self, context: Context) -> str | None:
        task: Any = context["task"]
        try:
            return str(task.generate_link_to_ui_from_context(context=context))
        except Exception as exc:  # no [api] base_url, or not a HITLOperator
            self.log.warning("No link to the Required Actions page: %s", exc)
            return None

    # -- sending --------------------------------------------------------------------------------------

    def _send(self, request: ApprovalRequest | None, spec: RecipientSpec, text: str) -> None:
        """Prompt one reviewer (with buttons when ``request`` is given); record how it went."""
        if request is not None:
            recipient = request.recipient(spec.recipient_id, self.channel.name)
            if recipient is not None and recipient.delivery in PROMPTED:
                self.log.info("Reviewer %s already has request %s", spec.name, request.request_id)
                return
        try:
            if request is None:
                message_id = self.channel.send_reply(self.hook, spec.recipient_id, text)
            else:
                message_id = self.channel.send_prompt(
                    self.hook, spec.recipient_id, text, request.request_id, list(request.options)
                )
        except Exception as exc:
            self.log.warning("Could not send reviewer %s the prompt: %s", spec.name, type(exc).__name__)
            if request is not None:
                self._store_call("mark_prompt_failed", request, spec, f"{type(exc).__name__}: {exc}")
            return
        self.log.info("Sent the task's prompt to reviewer %s on %s", spec.name, self.channel.title)
        if request is not None:
            self._store_call("mark_prompt_sent", request, spec, message_id or "")

    def _store_call(self, method: str, request: ApprovalRequest, spec: RecipientSpec, value: str) -> None:
        try:
            store = config.shared_store(None)
            getattr(store, method)(request.request_id, spec.recipient_id, value, channel=self.channel.name)
        except Exception as exc:
            self.log.warning("Could not record the delivery of request %s: %s", request.request_id, exc)

    @classmethod
    def _check_recipients(cls, recipients: object) -> None:
        """A non-empty mapping of Airflow user ids to distinct ids; literal ids checked for the channel."""
        ok = (
            isinstance(recipients, Mapping)
            and bool(recipients)
            and all(
                isinstance(user, str) and user.strip() and isinstance(rid, str) and rid.strip()
                for user, rid in recipients.items()
            )
        )
        if not ok or not isinstance(recipients, Mapping):
            raise ValueError(
                "recipients must map Airflow user ids to recipient ids, e.g. {'alice': '6200...'}, got "
                f"{recipients!r}"
            )
        ids = [str(rid).strip() for rid in recipients.values()]
        if len(set(ids)) != len(ids):
            raise ValueError("recipients maps two Airflow users to the same recipient")
        for rid in ids:
            if "{{" not in rid and "{%" not in rid:
                cls.channel.validate_recipient(rid)


class InstagramHITLNotifier(BaseHITLNotifier):
    """An Airflow HITL task's prompt as an Instagram DM with quick replies.

    ``ApprovalOperator(..., notifiers=[InstagramHITLNotifier(recipients={"alice": "6200..."})])``

    :param recipients: Airflow user id to IGSID. (templated)
    :param instagram_conn_id: the connection that sends the DMs. (templated)
    """

    channel = INSTAGRAM
    template_fields: Sequence[str] = (*BaseHITLNotifier.template_fields, "instagram_conn_id")

    def __init__(
        self, *, recipients: Mapping[str, str], instagram_conn_id: str = "instagram_default", **kwargs: Any
    ) -> None:
        super().__init__(recipients=recipients, conn_id=instagram_conn_id, **kwargs)


class MessengerHITLNotifier(BaseHITLNotifier):
    """An Airflow HITL task's prompt in Messenger, as a Facebook Page (buttons for up to 3 options).

    :param recipients: Airflow user id to Page-scoped ID (PSID). (templated)
    :param messenger_conn_id: the connection (type ``messenger``) with the Page access token. (templated)
    """

    channel = MESSENGER
    template_fields: Sequence[str] = (*BaseHITLNotifier.template_fields, "messenger_conn_id")

    def __init__(
        self, *, recipients: Mapping[str, str], messenger_conn_id: str = "messenger_default", **kwargs: Any
    ) -> None:
        super().__init__(recipients=recipients, conn_id=messenger_conn_id, **kwargs)


class WhatsAppHITLNotifier(BaseHITLNotifier):
    """An Airflow HITL task's prompt on WhatsApp (reply buttons, or a list for 4-10 options).

    Only inside the 24-hour window: a closed window is reported later by Meta's status webhook and
    recorded on the reviewer's delivery; the Required Actions page still answers the task.

    :param recipients: Airflow user id to phone number in international format. (templated)
    :param whatsapp_conn_id: the connection (type ``whatsapp``). (templated)
    """

    channel = WHATSAPP
    template_fields: Sequence[str] = (*BaseHITLNotifier.template_fields, "whatsapp_conn_id")

    def __init__(
        self, *, recipients: Mapping[str, str], whatsapp_conn_id: str = "whatsapp_default", **kwargs: Any
    ) -> None:
        super().__init__(recipients=recipients, conn_id=whatsapp_conn_id, **kwargs)


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)
