"""InstagramApprovalOperator: ask a reviewer in an Instagram DM, wait for the tap, go on or skip."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from airflow_provider_instagram_hil.channels.instagram import INSTAGRAM
from airflow_provider_instagram_hil.hooks.instagram import InstagramHook
from airflow_provider_instagram_hil.links.instagram import InstagramRequestLink
from airflow_provider_instagram_hil.operators.approval import BaseApprovalOperator


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
    """

    channel = INSTAGRAM
    template_fields: Collection[str] = (*BaseApprovalOperator.template_fields, "instagram_conn_id")
    operator_extra_links = (InstagramRequestLink(),)

    def __init__(
        self,
        *,
        recipient_id: str | Sequence[str] | Mapping[str, str],
        instagram_conn_id: str = InstagramHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(recipient_id=recipient_id, conn_id=instagram_conn_id, **kwargs)
