"""Status page of one approval request: where the task's "Instagram request" link points.

``GET /requests/<request_id>`` shows the request's dag, run and task ids, its status, the chosen option
and when it was answered, with a link to the Instagram inbox. It shows no field values (the store holds
none) and no reviewer ids. Request ids are 128 random bits, so the URL is the capability: whoever has
the link (from Airflow's task page) can see this much, and nobody can guess another one. The page is
never cached and sends no ``Referer`` onwards.

Register it in the app factory with ``app.register_blueprint(status_blueprint)``.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, render_template_string

from airflow_provider_instagram_hil.channels.instagram import INSTAGRAM
from airflow_provider_instagram_hil.exceptions import DecisionStoreError
from airflow_provider_instagram_hil.ids import is_request_id
from airflow_provider_instagram_hil.store import ApprovalRequest, DecisionStore
from airflow_provider_instagram_hil.webhook.resources import CONFIG_PREFIX, EXTENSION_NAME

log = logging.getLogger(__name__)

STORE_URL_CONFIG_KEY = CONFIG_PREFIX + "STORE_URL"
_SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
}

# Flask autoescapes every value rendered from a template string.
_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>Approval request {{ status }}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 40rem; padding: 0 1rem; }
th { text-align: left; padding-right: 1rem; } td, th { padding-bottom: .3rem; vertical-align: top; }
</style>
</head>
<body>
<h1>Approval request</h1>
<table>
<tr><th>DAG</th><td>{{ req.dag_id }}</td></tr>
<tr><th>Run</th><td>{{ req.run_id }}</td></tr>
<tr><th>Task</th><td>{{ req.task_id }}{% if req.map_index >= 0 %} [{{ req.map_index }}]{% endif %}</td></tr>
<tr><th>Try</th><td>{{ req.try_number }}</td></tr>
<tr><th>Status</th><td id="status">{{ status }}</td></tr>
<tr><th>Chosen option</th><td id="chosen-option">{{ req.chosen_option or "-" }}</td></tr>
<tr><th>Responded at</th><td id="responded-at">{{ responded_at or "-" }}</td></tr>
<tr><th>Expires at</th><td>{{ req.expires_at.isoformat() }}</td></tr>
</table>
<p><a href="{{ inbox_url }}" rel="noopener noreferrer">Open Instagram conversation</a></p>
</body>
</html>
"""

status_blueprint = Blueprint("instagram_hil_status", __name__)


def _store() -> DecisionStore | None:
    """The app's decision store: ``app.extensions["instagram_hil"]`` first, then the configured URL."""
    extension = current_app.extensions.get(EXTENSION_NAME)
    candidates = (
        extension,
        getattr(extension, "store", None),
        extension.get("store") if isinstance(extension, dict) else None,
    )
    for candidate in candidates:
        if isinstance(candidate, DecisionStore):
            return candidate
    url = current_app.config.get(STORE_URL_CONFIG_KEY)
    return DecisionStore.for_url(url) if url else None


def _text(status: int, message: str) -> Response:
    response = Response(message + "\n", status=status, mimetype="text/plain")
    response.headers.update(_SECURITY_HEADERS)
    return response


def _status_label(request: ApprovalRequest) -> str:
    if request.timed_out and request.chosen_option:
        return "timed out (default option applied)"
    return request.status.value


@status_blueprint.get("/requests/<request_id>")
def request_status(request_id: str) -> Response:
    """Render the status page of one request; 404 for an id that does not exist."""
    if not is_request_id(request_id):
        return _text(404, "No such approval request.")
    store = _store()
    if store is None:
        log.error(
            "Status page has no decision store: set %s or app.extensions[%r]",
            STORE_URL_CONFIG_KEY,
            EXTENSION_NAME,
        )
        return _text(503, "The decision store is not configured.")
    try:
        request = store.get_request(request_id)
    except DecisionStoreError as exc:
        log.warning("Status page could not read the decision store: %s", type(exc).__name__)
        return _text(503, "The decision store is unavailable; try again shortly.")
    if request is None:
        return _text(404, "No such approval request.")
    body = render_template_string(
        _PAGE,
        req=request,
        status=_status_label(request),
        responded_at=request.responded_at.isoformat() if request.responded_at else None,
        inbox_url=INSTAGRAM.inbox_url,
    )
    response = Response(body, status=200, mimetype="text/html")
    response.headers.update(_SECURITY_HEADERS)
    return response
