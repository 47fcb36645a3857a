"""Schema migrations of the decision store, one function per version step."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.engine import Connection

from airflow_provider_instagram_hil.exceptions import SchemaVersionError

#: ``MIGRATIONS[n]`` upgrades a schema from version ``n`` to ``n + 1`` inside the caller's transaction.
MIGRATIONS: dict[int, Callable[[Connection], None]] = {}


def upgrade(conn: Connection, found: int, target: int) -> None:
    """Run every step from ``found`` to ``target``, or refuse when one is missing."""
    for version in range(found, target):
        step = MIGRATIONS.get(version)
        if step is None:
            raise SchemaVersionError(
                f"No migration from decision-store schema {version} to {version + 1}; "
                "this store was written by an unsupported version of the provider."
            )
        step(conn)
