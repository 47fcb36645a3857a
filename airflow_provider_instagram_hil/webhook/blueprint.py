"""The webhook's routes: Meta's subscription handshake and the delivery of events.

Nothing here logs or echoes headers or bodies (behind Airflow's API server, headers may carry an admin
token): logs name event ids, request ids and outcomes only.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify, request
from flask.typing import ResponseReturnValue

from airflow_provider_instagram_hil.exceptions import AirflowApiUnavailableError, DecisionStoreError
from airflow_provider_instagram_hil.hitl.bridge import elsewhere_check
from airflow_provider_instagram_hil.store import ApprovalRequest, Delivery, OutboxMessage, Outcome
from airflow_provider_instagram_hil.webhook.event_log import log_ignored, log_tap_outcome
from airflow_provider_instagram_hil.webhook.events import (
    Ignored,
    PayloadError,
    Tap,
    TextMessage,
    decode_body,
    parse_body,
)
from airflow_provider_instagram_hil.webhook.replies import reply_factory
from airflow_provider_instagram_hil.webhook.resources import WebhookResources, get_resources
from airflow_provider_instagram_hil.webhook.signature import (
    SIGNATURE_HEADER,
    any_verify_token_matches,
    signature_matches,
)
from airflow_provider_instagram_hil.webhook.statuses import StatusUpdate, status_updates
from airflow_provider_instagram_hil.webhook.typed import TypedChoice, read_typed

log = logging.getLogger("airflow_provider_instagram_hil.webhook")

WEBHOOK_PATH = "/webhooks/instagram"
MAX_CHALLENGE_CHARS = 1024
_READ_CHUNK = 64 * 1024

webhook_blueprint = Blueprint("instagram_hil", __name__)


@webhook_blueprint.after_request
def _no_sniffing(response: Response) -> Response:
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    return response


@webhook_blueprint.get(WEBHOOK_PATH)
def verify_subscription() -> ResponseReturnValue:
    """Answer Meta's ``hub.mode=subscribe`` handshake with ``hub.challenge`` as plain text."""
    resources = get_resources()
    mode = request.args.get("hub.mode")
    token = request.args.get("hub.verify_token")
    if mode != "subscribe" or not any_verify_token_matches(token, resources.verify_tokens):
        reason = (
            "no verify token is configured"
            if not resources.verify_token
            else "wrong hub.mode or verify token"
        )
        log.warning("Refused a webhook verification: %s", reason)
        return _error(403, "verification failed")
    challenge = request.args.get("hub.challenge", "")
    if not challenge or len(challenge) > MAX_CHALLENGE_CHARS:
        return _error(400, "missing or oversized hub.challenge")
    log.info("Answered Meta's webhook verification")
    return Response(challenge, status=200, mimetype="text/plain")


@webhook_blueprint.post(WEBHOOK_PATH)
def receive_events() -> ResponseReturnValue:
    """Check size and signature, then record every tap and WhatsApp status in the delivery before
    answering 200.

    A store failure answers 503 so that Meta delivers again; decisions recorded before it stay, and
    their redelivery is recognised by ``mid`` (a status recorded twice changes nothing).
    """
    resources = get_resources()
    body = _read_body(resources.max_body_bytes)
    if body is None:
        log.warning("Refused a webhook delivery over %d bytes", resources.max_body_bytes)
        return _error(413, "body too large")
    header = request.headers.get(SIGNATURE_HEADER)
    if not signature_matches(body, header, resources.app_secrets):
        log.warning("Refused a webhook delivery: %s signature", "missing" if header is None else "invalid")
        return _error(403, "invalid signature")
    try:
        events = parse_body(body)
        # Only WhatsApp deliveries carry statuses: the body is decoded a second time for those alone.
        updates = status_updates(decode_body(body)) if b'"statuses"' in body else []
    except PayloadError as exc:
        log.warning("Refused a signed webhook delivery: %s", exc)
        return _error(400, str(exc))

    recorded = taps = 0
    elsewhere = elsewhere_check(resources.airflow_hitl)
    for event in events:
        if isinstance(event, Ignored):
            log_ignored(event)
            continue
        try:
            tap = _typed_tap(resources, event) if isinstance(event, TextMessage) else event
            if tap is None:
                taps += isinstance(event, TextMessage)  # a reply may be queued
                continue
            result = resources.store.record_decision(
                tap.request_id,
                option=tap.option,
                responder_id=tap.sender_id,
                channel=tap.channel,
                mid=tap.mid,
                reason=tap.reason,
                messages=reply_factory(tap, resources.reply_channels)
                if resources.sender is not None
                else None,
                elsewhere=elsewhere,
            )
        except DecisionStoreError as exc:
            log.error(
                "Could not record the %s %s, answering 503 so Meta delivers again: %s",
                "message" if isinstance(event, TextMessage) else "tap",
                event.mid,
                exc,
            )
            return _error(503, "decision store unavailable")
        except AirflowApiUnavailableError as exc:
            log.error(
                "Could not answer Airflow for the tap %s, answering 503 so Meta delivers again: %s",
                event.mid,
                exc,
            )
            return _error(503, "airflow unavailable")
        log_tap_outcome(tap, result.outcome)
        recorded += result.outcome is Outcome.RECORDED
        taps += 1
    if taps and resources.sender is not None:
        resources.sender.wake()  # the replies just committed go out now, not at the next poll
    if not _record_statuses(resources, updates):
        return _error(503, "decision store unavailable")
    counts = {"statuses": len(updates)} if updates else {}
    return jsonify(status="ok", events=len(events), recorded=recorded, **counts)


def _typed_tap(resources: WebhookResources, message: TextMessage) -> Tap | None:
    """The answer a typed message gives as a tap, or None: from someone with no pending request (ignored
    as before), or a message that answers nothing clearly (its sender is told what to write).

    :raises DecisionStoreError: the store could not be read or the reply queued.
    """
    pending = resources.store.pending_for_sender(message.channel, message.sender_id)
    if not pending:
        log_ignored(Ignored("text", message.mid, message.sender_id))
        return None
    kept = [request.request_id for request in pending if _prompt_kept_for(request, message)]
    if kept:
        # Writing opened Meta's window: the prompts kept for this reviewer go out now. The message
        # itself answers none of them (they have not seen them yet).
        released = resources.store.release_prompts(message.channel, message.sender_id, kept)
        log.info("Sender %s wrote: sending the %d prompt(s) kept for them", message.sender_id, released)
        if resources.sender is not None:
            resources.sender.wake()
        pending = [request for request in pending if request.request_id not in kept]
        if not pending:
            return None
    read = read_typed(message.text, pending)
    if isinstance(read, TypedChoice):
        return Tap(
            message.channel,
            message.sender_id,
            read.request_id,
            read.option,
            message.mid,
            "typed",
            reason=read.reason,
        )
    log.info(
        "Message %s from sender %s answers nothing clearly: told what to write",
        message.mid,
        message.sender_id,
    )
    if resources.sender is not None and message.channel in resources.reply_channels:
        reply = OutboxMessage(message.channel, message.sender_id, read, event_key=message.mid)
        resources.store.outbox.add([reply])  # queued once per event: Meta may deliver it again
    return None


def _prompt_kept_for(request: ApprovalRequest, message: TextMessage) -> bool:
    """Whether ``request``'s prompt to the sender of ``message`` waits for them to write."""
    return any(
        recipient.delivery is Delivery.WAITING
        and recipient.channel == message.channel
        and recipient.recipient_id == message.sender_id
        for recipient in request.recipients
    )


def _record_statuses(resources: WebhookResources, updates: list[StatusUpdate]) -> bool:
    """Record each status on the prompt it is about; False when the store failed (answer 503)."""
    for update in updates:
        try:
            changed = resources.store.set_delivery(
                "whatsapp", update.message_id, update.delivery, update.error
            )
        except DecisionStoreError as exc:
            log.error(
                "Could not record the %s status of message %s, answering 503 so Meta delivers again: %s",
                update.delivery.value,
                update.message_id,
                exc,
            )
            return False
        if changed:
            level = logging.WARNING if update.error else logging.INFO
            log.log(
                level,
                "WhatsApp prompt %s to %s: %s%s",
                update.message_id,
                update.recipient_id,
                update.delivery.value,
                f" ({update.error})" if update.error else "",
            )
        else:  # a reply, or a message of another app on the same number
            log.debug("Status %s of message %s matches no prompt", update.delivery.value, update.message_id)
    return True


def _read_body(limit: int) -> bytes | None:
    """The raw body, or None when it is over ``limit`` bytes; reads at most ``limit + 1`` bytes.

    A declared Content-Length over the limit is refused unread; a chunked body (no length) is read in
    pieces until it ends or passes the limit.
    """
    declared = request.content_length
    if declared is not None and declared > limit:
        return None
    stream = request.stream
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = stream.read(min(_READ_CHUNK, limit + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return None if size > limit else b"".join(chunks)


def _error(status: int, message: str) -> ResponseReturnValue:
    return jsonify(error=message), status
