"""The "Instagram request" button on an approval task: the request's status page, or the Instagram inbox.

How the link travels on Airflow 3: when the task finishes or defers, the worker calls
:meth:`InstagramRequestLink.get_link` (the operator lists the link in ``operator_extra_links``) and
stores the URL in XCom under :attr:`~InstagramRequestLink.xcom_key`. The API server never runs this
code: it rebuilds the link from its name and XCom key and shows the stored URL. So the link needs no
plugin registration, and the public URL is read where the task runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

from airflow_provider_instagram_hil.channels.instagram import INSTAGRAM
from airflow_provider_instagram_hil.config import get_public_url
from airflow_provider_instagram_hil.ids import is_request_id
from airflow_provider_instagram_hil.version_compat import BaseOperatorLink, XCom

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey

#: XCom key under which the approval operator pushes its request id at ``execute``.
REQUEST_ID_XCOM_KEY = "instagram_hil_request_id"
LINK_NAME = "Instagram request"


def request_link_url(
    request_id: str | None, public_url: str | None, inbox_url: str = INSTAGRAM.inbox_url
) -> str:
    """Return the URL the button opens for ``request_id``.

    :param request_id: the approval request's id; None (or anything that is not one) gives ``""``,
        which Airflow shows as a disabled button.
    :param public_url: base URL of the webhook app; None links to ``inbox_url``.
    :param inbox_url: where the channel's conversations are read (default: the Instagram inbox).
    """
    if not is_request_id(request_id):
        return ""
    if public_url is None:
        return inbox_url
    return f"{public_url}/requests/{quote(request_id, safe='')}"


class InstagramRequestLink(BaseOperatorLink):
    """Operator extra link "Instagram request" of the approval operator.

    With ``[instagram_hil] public_url`` set it opens the request's status page in the webhook app (dag,
    run and task ids, status, chosen option, and a link to the conversation); otherwise it opens the
    Instagram inbox. Before a request exists the button is disabled.
    """

    name = LINK_NAME
    #: Where the button leads without ``[instagram_hil] public_url``.
    inbox_url = INSTAGRAM.inbox_url

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        """Build the URL from the request id the operator pushed to XCom.

        :param operator: the task the link belongs to.
        :param ti_key: the task instance to build the link for.
        """
        request_id = XCom.get_value(ti_key=ti_key, key=REQUEST_ID_XCOM_KEY)
        return request_link_url(request_id, get_public_url(), self.inbox_url)
