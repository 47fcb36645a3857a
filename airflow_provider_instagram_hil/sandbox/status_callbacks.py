"""WhatsApp status callbacks from the sandbox: signed ``statuses[]`` deliveries posted to a webhook URL.

The Cloud API tells the business what became of each message it accepted by posting statuses (sent,
delivered, read, or failed with ``errors[]``) to the subscribed webhook, signed like every delivery. The
sandbox does the same, on one background thread so that statuses of a message arrive in order, a moment
after the send was answered, as Meta's do.
"""

from __future__ import annotations

import json
import queue
import threading
import time
import urllib.error
import urllib.request
from typing import Any

from airflow_provider_instagram_hil.webhook.signature import sign_body

#: Meta's error for a free-form or interactive message outside the customer-service window.
REENGAGEMENT_ERROR = {
    "code": 131047,
    "title": "Re-engagement message",
    "message": "Re-engagement message",
    "error_data": {
        "details": "Message failed to send because more than 24 hours have passed since the customer last "
        "replied to this number."
    },
    "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
}
WABA_ID = "102290129340398"
DISPLAY_PHONE_NUMBER = "15550783881"


def status_item(message_id: str, status: str, recipient_id: str, errors: list[dict] | None = None) -> dict:
    """One ``statuses[]`` item as the Cloud API writes it."""
    item: dict[str, Any] = {
        "id": message_id,
        "status": status,
        "timestamp": str(int(time.time())),
        "recipient_id": recipient_id,
    }
    if status in ("sent", "delivered"):
        item["conversation"] = {"id": "sbxconv_" + recipient_id, "origin": {"type": "service"}}
        item["pricing"] = {"billable": True, "pricing_model": "PMP", "category": "service"}
    if errors:
        item["errors"] = errors
    return item


def status_body(items: list[dict], phone_number_id: str) -> bytes:
    """A whole webhook delivery carrying ``items``."""
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": DISPLAY_PHONE_NUMBER, "phone_number_id": phone_number_id},
        "statuses": items,
    }
    body = {
        "object": "whatsapp_business_account",
        "entry": [{"id": WABA_ID, "changes": [{"value": value, "field": "messages"}]}],
    }
    return json.dumps(body, separators=(",", ":")).encode()


class StatusPoster:
    """Posts status deliveries to a webhook, signed with an app secret, one after the other.

    :param phone_number_id: the sending number's ID, named in each delivery's metadata.
    :param delay: seconds between a send's answer and its first status.
    """

    def __init__(self, phone_number_id: str, delay: float = 0.2) -> None:
        self.phone_number_id = phone_number_id
        self.delay = delay
        self.url: str | None = None
        self._secret: str | None = None
        self._queue: queue.Queue[tuple[float, list[dict]] | None] = queue.Queue()
        self._lock = threading.Lock()
        self.results: list[dict[str, Any]] = []
        self._thread: threading.Thread | None = None

    def configure(self, url: str | None, app_secret: str | None) -> None:
        """Where statuses go and the secret that signs them; None stops posting."""
        with self._lock:
            self.url, self._secret = url, app_secret
        if url and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="sandbox-status-callbacks", daemon=True)
            self._thread.start()

    @property
    def configured(self) -> bool:
        return bool(self.url and self._secret)

    def post_later(self, items: list[dict]) -> None:
        """Post ``items`` (one delivery) ``delay`` seconds from now, after anything queued before."""
        if self.configured:
            self._queue.put((time.monotonic() + self.delay, items))

    def post_now(self, items: list[dict]) -> int:
        """Post ``items`` at once; return the webhook's HTTP status (0 when it could not be reached)."""
        with self._lock:
            url, secret = self.url, self._secret
        if not url or not secret:
            return 0
        body = status_body(items, self.phone_number_id)
        signature = sign_body(body, secret)
        request = urllib.request.Request(  # noqa: S310 - a loopback URL the test or demo configured
            url, data=body, headers={"Content-Type": "application/json", "X-Hub-Signature-256": signature}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
                status = int(answer.status)
        except urllib.error.HTTPError as exc:
            status = exc.code
        except OSError:
            status = 0
        with self._lock:
            self.results.append(
                {
                    "statuses": [(i["id"], i["status"]) for i in items],
                    "http_status": status,
                    "at": time.time(),
                }
            )
        return status

    def stop(self) -> None:
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            entry = self._queue.get()
            if entry is None:
                return
            due, items = entry
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            self.post_now(items)
