"""Bring a database to this provider's decision-store schema: create, migrate, or refuse it."""

from __future__ import annotations

import logging

from sqlalchemy import insert, inspect, select, text, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from airflow_provider_instagram_hil.exceptions import SchemaVersionError
from airflow_provider_instagram_hil.store import migrations
from airflow_provider_instagram_hil.store.schema import SCHEMA_VERSION, metadata, requests, schema_version

log = logging.getLogger(__name__)

_SCHEMA_LOCK_KEY = 0x1A61_0001  # PostgreSQL advisory lock held while creating or migrating the tables


def ensure_schema(engine: Engine, display_url: str, *, create: bool) -> None:
    """Create the tables if missing, migrate an older schema, refuse a newer or foreign one.

    Database errors propagate as SQLAlchemy exceptions; the caller decides what they mean.

    :param engine: the store's engine.
    :param display_url: the store URL without its password, for messages and logs.
    :param create: create the tables when missing; when False a database without them is refused.
    :raises SchemaVersionError: for a foreign, empty-versioned or newer schema, or missing tables
        when ``create`` is False.
    """
    names = set(inspect(engine).get_table_names())
    if schema_version.name not in names:
        _refuse_foreign(names, display_url)
        if not create:
            raise SchemaVersionError(f"{display_url} has no decision-store tables")
        _create_schema(engine, display_url)
    with engine.begin() as conn:
        found = _check_version(conn, display_url)
    if found < SCHEMA_VERSION:
        with engine.begin() as conn:
            _lock_schema(conn)
            found = _check_version(conn, display_url)
            if found < SCHEMA_VERSION:
                migrations.upgrade(conn, found, SCHEMA_VERSION)
                conn.execute(
                    update(schema_version).where(schema_version.c.id == 1).values(version=SCHEMA_VERSION)
                )
                log.info(
                    "Migrated decision store %s from schema %s to %s", display_url, found, SCHEMA_VERSION
                )


def _create_schema(engine: Engine, display_url: str) -> None:
    # Tables and version row commit together, under a lock, so a process starting at the same moment
    # (webhook and triggerer on a fresh store) sees either nothing or the whole schema.
    try:
        with engine.begin() as conn:
            _lock_schema(conn)
            names = set(inspect(conn).get_table_names())
            if schema_version.name in names:
                return
            _refuse_foreign(names, display_url)
            metadata.create_all(conn)
            conn.execute(insert(schema_version).values(id=1, version=SCHEMA_VERSION))
        log.info("Created decision store tables (schema %s) in %s", SCHEMA_VERSION, display_url)
    except DBAPIError:
        # A database without a lock we know of raced another creator; the version check decides.
        log.debug("Concurrent schema creation in %s", display_url)


def _refuse_foreign(names: set[str], display_url: str) -> None:
    if requests.name in names and schema_version.name not in names:
        raise SchemaVersionError(
            f"{display_url} has a {requests.name} table but no {schema_version.name}: "
            "it was not created by this provider. Point [instagram_hil] store_url elsewhere."
        )


def _check_version(conn: Connection, display_url: str) -> int:
    found = conn.execute(select(schema_version.c.version).where(schema_version.c.id == 1)).scalar()
    if found is None:
        raise SchemaVersionError(f"{display_url}: {schema_version.name} is empty")
    if found > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"{display_url} holds decision-store schema {found}, newer than this provider's "
            f"{SCHEMA_VERSION}: upgrade airflow-provider-instagram-hil on this host."
        )
    return int(found)


def _lock_schema(conn: Connection) -> None:
    """Serialise schema changes between processes, for the rest of ``conn``'s transaction."""
    if conn.dialect.name == "sqlite":
        # pysqlite has not begun a transaction yet (it only does before DML): take the write lock now.
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    elif conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK_KEY})
