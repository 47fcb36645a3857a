"""InstagramApprovalOperator: ask a reviewer in an Instagram DM, wait for the tap, go on or skip."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from airflow_provider_instagram_hil.channels.instagram import INSTAGRAM, INSTAGRAM_BUTTONS
from airflow_provider_instagram_hil.channels.send_api import MAX_BUTTONS
from airflow_provider_instagram_hil.hooks.instagram import InstagramHook
from airflow_provider_instagram_hil.links.instagram import InstagramRequestLink
from airflow_provider_instagram_hil.meta_limits import MAX_QUICK_REPLIES
from airflow_provider_instagram_hil.operators.approval import APPROVE, REJECT, BaseApprovalOperator


class InstagramApprovalOperator(BaseApprovalOperator):
    """Send an approval prompt as an Instagram DM and wait (deferred) for the reviewer's answer.

    The prompt lists the subject, the review fields and the options as quick replies (at most 13, 20
    characters each) in at most 1000 UTF-8 bytes; see
    :class:`~airflow_provider_instagram_hil.operators.approval.BaseApprovalOperator` for every parameter
    it shares with the Messenger and WhatsApp operators.

    Meta only delivers the prompt if the reviewer messaged the account within the last 24 hours.

    :param recipient_id: the reviewer's Instagram-scoped ID (IGSID), a list of them, or a mapping of
        names to IGSIDs (``{"alice": "6200..."}``). (templated)
    :param instagram_conn_id: the connection that sends the DM. (templated)
    :param persistent_buttons: send the prompt, reminders, an escalation and a prompt kept for later
        (``on_window_closed="wait"``) as a button template instead of quick replies: its postback
        buttons stay tappable after the reviewer writes something else (quick replies vanish). For at
        most 3 options, titles of at most 20 characters (UTF-16 code units) and a text of at most 640
        characters and 1000 UTF-8 bytes; more options fail when the DAG is parsed. The "Reply: ..."
        line stays, for Instagram's desktop and web apps, which show no buttons.
    """

    channel = INSTAGRAM
    template_fields: Collection[str] = (*BaseApprovalOperator.template_fields, "instagram_conn_id")
    operator_extra_links = (InstagramRequestLink(),)

    def __init__(
        self,
        *,
        recipient_id: str | Sequence[str] | Mapping[str, str],
        instagram_conn_id: str = InstagramHook.default_conn_name,
        persistent_buttons: bool = False,
        **kwargs: Any,
    ) -> None:
        if persistent_buttons:
            options = kwargs.get("options", (APPROVE, REJECT))
            if not isinstance(options, str) and len(options) > MAX_BUTTONS:
                raise ValueError(
                    f"persistent_buttons: Instagram's button template holds at most {MAX_BUTTONS} options, "
                    f"got {len(options)}; offer at most {MAX_BUTTONS} options, or leave persistent_buttons "
                    f"off (quick replies hold {MAX_QUICK_REPLIES})"
                )
            # The channel's instance (before the base class checks the options against its styles).
            self.channel = INSTAGRAM_BUTTONS
        self.persistent_buttons = persistent_buttons
        super().__init__(recipient_id=recipient_id, conn_id=instagram_conn_id, **kwargs)
