"""Store URLs: the default one, and the secrets they may carry: where to refuse them, how to show them.

A SQLAlchemy URL can hold a password in two places: the user info (``postgresql://u:PASSWORD@h/db``) and
the query, whose parameters go to the driver as keywords (``?password=``, ``?sslpassword=``). Both are
secrets. :func:`display_url` masks both wherever a URL is shown; :func:`refuse_secrets_in_url` refuses
both where a URL would be stored in plain sight (operator arguments, trigger kwargs).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import URL, make_url

#: The embedded SQLite store's file, in AIRFLOW_HOME, when no store URL is set.
STORE_FILE_NAME = "instagram_hil.db"
MASK = "***"
#: A query parameter whose name contains one of these words holds a secret (``sslpassword`` too;
#: ``passfile`` and ``sslkey`` name files and are not secrets).
SECRET_QUERY_WORDS = ("password", "passwd", "pwd", "secret", "token", "credential", "apikey", "api_key")
UNPARSABLE = "<unparsable store URL>"
_PLACEHOLDER = "ighilmasked7c1e"


def default_store_url(airflow_home: Path) -> str:
    """The URL of the embedded SQLite store under ``airflow_home``: the store when none is configured."""
    return f"sqlite:///{airflow_home / STORE_FILE_NAME}"


def is_secret_query_key(key: str) -> bool:
    """Whether a URL query parameter named ``key`` carries a secret."""
    lowered = key.lower()
    return any(word in lowered for word in SECRET_QUERY_WORDS)


def secret_url_parts(url: str | URL) -> list[str]:
    """Where ``url`` carries a secret: ``"password"`` for the user info, ``"?<name>"`` per query parameter.

    :raises ValueError: ``url`` cannot be parsed (the message never quotes it).
    """
    parsed = _parse(url)
    parts = ["password"] if parsed.password else []
    parts.extend(f"?{key}" for key in parsed.query if is_secret_query_key(key))
    return parts


def refuse_secrets_in_url(url: str | URL, *, setting: str = "store_url") -> None:
    """Refuse a URL that would store a secret in plain sight (operator arguments, trigger kwargs).

    :param url: the store URL.
    :param setting: the argument's name, for the message.
    :raises ValueError: naming where the secret is and what to do instead, never quoting the URL.
    """
    parts = secret_url_parts(url)
    if parts:
        raise ValueError(
            f"{setting} must not contain a password (found in: {', '.join(parts)}): it is stored with the "
            "task and the trigger. Leave it empty and set [instagram_hil] store_url (e.g. "
            "AIRFLOW__INSTAGRAM_HIL__STORE_URL or a secrets backend), or use a password file (passfile=) "
            "or client certificates."
        )


def display_url(url: str | URL) -> str:
    """Render ``url`` for logs and messages: the password and every secret query value masked."""
    try:
        parsed = _parse(url)
    except ValueError:
        return UNPARSABLE
    # SQLAlchemy renders the query (its escaping kept); the placeholder then becomes a readable mask.
    query = {
        key: (_PLACEHOLDER if is_secret_query_key(key) else value) for key, value in parsed.query.items()
    }
    return parsed.set(query=query).render_as_string(hide_password=True).replace(_PLACEHOLDER, MASK)


def _parse(url: str | URL) -> URL:
    if isinstance(url, URL):
        return url
    try:
        return make_url(url)
    except Exception:
        raise ValueError("the store URL cannot be parsed as a SQLAlchemy URL") from None
