"""MessengerApprovalOperator: ask a reviewer in a Facebook Page's Messenger conversation, wait for the tap."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from airflow_provider_instagram_hil.channels.messenger import MESSENGER
from airflow_provider_instagram_hil.hooks.messenger import MessengerHook
from airflow_provider_instagram_hil.links.messenger import MessengerRequestLink
from airflow_provider_instagram_hil.operators.approval import BaseApprovalOperator


class MessengerApprovalOperator(BaseApprovalOperator):
    """Send an approval prompt in Messenger, as a Facebook Page, and wait (deferred) for the answer.

    Up to 3 options are postback buttons of a button template (text at most 640 characters; the buttons
    stay tappable later); 4 to 13 are quick replies under a text of at most 2,000 characters. Every other
    parameter is :class:`~airflow_provider_instagram_hil.operators.approval.BaseApprovalOperator`'s, as
    for ``InstagramApprovalOperator``.

    Meta only delivers the prompt if the reviewer messaged the Page within the last 24 hours.

    :param recipient_id: the reviewer's Page-scoped ID (PSID), a list of them, or a mapping of names to
        PSIDs. (templated)
    :param messenger_conn_id: the connection (type ``messenger``) with the Page access token. (templated)
    """

    channel = MESSENGER
    template_fields: Collection[str] = (*BaseApprovalOperator.template_fields, "messenger_conn_id")
    operator_extra_links = (MessengerRequestLink(),)
    ui_color = "#e5f0ff"

    def __init__(
        self,
        *,
        recipient_id: str | Sequence[str] | Mapping[str, str],
        messenger_conn_id: str = MessengerHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(recipient_id=recipient_id, conn_id=messenger_conn_id, **kwargs)
