"""WhatsAppApprovalOperator: ask a reviewer on WhatsApp, with a template when the window is closed."""

from __future__ import annotations

import re
import time
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from airflow_provider_instagram_hil.channels.whatsapp import WHATSAPP, is_window_closed
from airflow_provider_instagram_hil.exceptions import (
    DecisionStoreError,
    InstagramApiError,
    MessagingWindowClosedError,
)
from airflow_provider_instagram_hil.hooks.whatsapp import WINDOW_HINT, WhatsAppHook
from airflow_provider_instagram_hil.links.whatsapp import WhatsAppRequestLink
from airflow_provider_instagram_hil.operators.approval import BaseApprovalOperator
from airflow_provider_instagram_hil.operators.arguments import as_review_fields, templated
from airflow_provider_instagram_hil.store import ApprovalRequest, DecisionStore, Delivery, Recipient

DEFAULT_TEMPLATE_LANGUAGE = "en_US"
DEFAULT_DELIVERY_WAIT = 20.0
#: Seconds between two reads of the store while waiting for delivery statuses.
DELIVERY_POLL_SECONDS = 0.25
#: Meta's template names: lowercase letters, digits and underscores.
_TEMPLATE_NAME_RE = re.compile(r"^[a-z0-9_]{1,512}$")
#: Meta's template language codes: ``en``, ``en_US``, ``pt_BR``, ``zh_CN``, ``fil``, ...
_LANGUAGE_RE = re.compile(r"^[a-z]{2,3}(_[A-Za-z]{2,4})?$")
#: What a status callback settles about a prompt.
_SETTLED = frozenset({Delivery.DELIVERED, Delivery.READ, Delivery.FAILED})


class WhatsAppApprovalOperator(BaseApprovalOperator):
    """Send an approval prompt on WhatsApp and wait (deferred) for the reviewer's answer.

    Up to 3 options are interactive reply buttons (title at most 20 characters), 4 to 10 an interactive
    list (row title at most 24); the body holds at most 1,024 characters. Every other parameter is
    :class:`~airflow_provider_instagram_hil.operators.approval.BaseApprovalOperator`'s, as for
    ``InstagramApprovalOperator``.

    WhatsApp delivers interactive messages only within 24 hours of the reviewer's last message to the
    number. Outside that window Meta refuses the prompt, at once (error 131047) or in a status callback a
    moment later; the task waits up to ``delivery_wait`` seconds for that callback. Then, with
    ``template_name`` set, the pre-approved template is sent instead: its one body variable gets the
    subject and fields on one line, its quick-reply buttons (one per option, in order) the options. Without
    a template the task fails at once, saying what to do.

    :param recipient_id: the reviewer's phone number in international format (``+4915123456789``), a list
        of them, or a mapping of names to numbers. (templated)
    :param whatsapp_conn_id: the connection (type ``whatsapp``) with the token and phone number ID.
        (templated)
    :param template_name: a pre-approved template to send outside the customer-service window; None (or a
        template that renders to an empty string) sends none. (templated)
    :param template_language: its language code, e.g. ``en_US``. (templated)
    :param delivery_wait: seconds to wait for Meta's delivery status of a new prompt (the webhook records
        it), so that a window closed is noticed before the task defers; 0 does not wait.
    """

    channel = WHATSAPP
    template_fields: Collection[str] = (
        *BaseApprovalOperator.template_fields,
        "whatsapp_conn_id",
        "template_name",
        "template_language",
    )
    operator_extra_links = (WhatsAppRequestLink(),)
    ui_color = "#dcf8c6"

    def __init__(
        self,
        *,
        recipient_id: str | Sequence[str] | Mapping[str, str],
        whatsapp_conn_id: str = WhatsAppHook.default_conn_name,
        template_name: str | None = None,
        template_language: str = DEFAULT_TEMPLATE_LANGUAGE,
        delivery_wait: float = DEFAULT_DELIVERY_WAIT,
        **kwargs: Any,
    ) -> None:
        super().__init__(recipient_id=recipient_id, conn_id=whatsapp_conn_id, **kwargs)
        if self.on_window_closed == "wait":
            # WhatsApp reports a closed window after the send, in a status callback; a template reaches
            # the reviewer instead.
            raise ValueError(
                "WhatsApp: on_window_closed='wait' is not supported; set template_name to reach a reviewer "
                "outside the 24-hour window"
            )
        if not 0 <= delivery_wait <= 300:
            raise ValueError(f"delivery_wait must be 0 to 300 seconds, got {delivery_wait!r}")
        # Templates are checked once rendered (render_template_fields), before anything is sent.
        self.template_name = template_name if templated(template_name) else _template_name(template_name)
        self.template_language = (
            template_language if templated(template_language) else _template_language(template_language)
        )
        self.delivery_wait = float(delivery_wait)
        if self.template_name and not templated(self.template_name) and not templated(self.subject):
            WHATSAPP.render_template_text(self.subject, [])  # the subject must fit the template's variable

    def _check_rendered(self) -> None:
        super()._check_rendered()
        self.template_name = _template_name(self.template_name, rendered=True)
        self.template_language = _template_language(self.template_language, rendered=True)

    def _prompt_one(self, request: ApprovalRequest, recipient: Recipient, text: str) -> str | None:
        """The interactive prompt; the template instead when WhatsApp says at once the window is closed."""
        try:
            return super()._prompt_one(request, recipient, text)
        except MessagingWindowClosedError:
            if not self.template_name:
                raise
            self.log.info(
                "Recipient %s is outside WhatsApp's 24-hour window; sending template %s instead",
                recipient.label,
                self.template_name,
            )
            return self._send_template(request, recipient)

    def _send_template(self, request: ApprovalRequest, recipient: Recipient) -> str | None:
        assert self.template_name is not None
        text = WHATSAPP.render_template_text(self.subject, as_review_fields(self.fields))
        self._templated = {*getattr(self, "_templated", ()), recipient.recipient_id}
        return WHATSAPP.send_template(
            self.hook,
            recipient.recipient_id,
            text,
            request.request_id,
            list(request.options),
            name=self.template_name,
            language=self.template_language,
        )

    def _confirm_delivery(
        self, store: DecisionStore, request: ApprovalRequest, text: str, sent: Mapping[str, str | None]
    ) -> list[tuple[Recipient, Exception]]:
        """Wait up to ``delivery_wait`` for the status of each new prompt; send the template to whoever's
        prompt failed because the window is closed; return the recipients it could not reach."""
        waiting = {rid: mid for rid, mid in sent.items() if mid}
        if not waiting or self.delivery_wait <= 0:
            return []
        settled = self._wait_for_statuses(store, request.request_id, waiting)
        failures: list[tuple[Recipient, Exception]] = []
        for recipient in settled:
            if recipient.delivery is not Delivery.FAILED:
                continue
            error = recipient.delivery_error or "unknown error"
            if not is_window_closed(error):
                failures.append(
                    (recipient, InstagramApiError(f"WhatsApp could not deliver the prompt: {error}"))
                )
                continue
            if not self.template_name or recipient.recipient_id in getattr(self, "_templated", ()):
                failures.append((recipient, MessagingWindowClosedError(error, hint=WINDOW_HINT)))
                continue
            self.log.info(
                "WhatsApp reports recipient %s outside the 24-hour window; sending template %s instead",
                recipient.label,
                self.template_name,
            )
            try:
                message_id = self._send_template(request, recipient)
            except Exception as exc:
                failures.append((recipient, exc))
                continue
            store.mark_prompt_sent(
                request.request_id, recipient.recipient_id, message_id or "", channel=self.channel.name
            )
        return failures

    def _wait_for_statuses(
        self, store: DecisionStore, request_id: str, waiting: Mapping[str, str]
    ) -> list[Recipient]:
        """The recipients of ``waiting`` (id to message id) once each one's prompt is delivered, read or
        failed, or whatever is known when ``delivery_wait`` runs out."""
        deadline = time.monotonic() + self.delivery_wait
        mine: list[Recipient] = []
        while True:
            try:
                request = store.get_request(request_id)
            except DecisionStoreError as exc:
                self.log.warning("Could not read the delivery of request %s: %s", request_id, exc)
                return []
            mine = [
                r
                for r in (request.recipients if request else ())
                if r.channel == self.channel.name and waiting.get(r.recipient_id) == r.prompt_message_id
            ]
            if all(r.delivery in _SETTLED for r in mine) or time.monotonic() >= deadline:
                break
            time.sleep(DELIVERY_POLL_SECONDS)
        unsettled = [r.label for r in mine if r.delivery not in _SETTLED]
        if unsettled:
            self.log.info(
                "No delivery status from WhatsApp within %g s for %s; waiting for the answer anyway (the "
                "webhook records later statuses)",
                self.delivery_wait,
                ", ".join(unsettled),
            )
        return mine


def _template_name(value: object, *, rendered: bool = False) -> str | None:
    """``template_name``, None when empty; else ``ValueError`` naming it."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not _TEMPLATE_NAME_RE.match(value):
        state = "rendered to" if rendered else "is"
        raise ValueError(
            f"WhatsApp: template_name {state} {value!r}, which is not a template name (lowercase letters, "
            "digits and underscores, as in WhatsApp Manager)"
        )
    return value


def _template_language(value: object, *, rendered: bool = False) -> str:
    """``template_language``; else ``ValueError`` naming it."""
    if not isinstance(value, str) or not _LANGUAGE_RE.match(value):
        state = "rendered to" if rendered else "is"
        raise ValueError(
            f"WhatsApp: template_language {state} {value!r}, which is not a language code such as en_US"
        )
    return value
