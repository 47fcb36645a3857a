"""What every notifier of this package shares: Airflow's keyword arguments and an async path."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from airflow_provider_instagram_hil.version_compat import BaseNotifier

if TYPE_CHECKING:
    from airflow_provider_instagram_hil.version_compat import Context


class ChannelNotifier(BaseNotifier):
    """A notifier that sends through a (blocking) Graph API hook, called or awaited.

    Called (``notifier(context)``, as DAG and task callbacks and HITL operators do) it runs :meth:`notify`;
    awaited (``await notifier``, as the triggerer runs Deadline Alerts) it runs :meth:`async_notify`,
    which sends the same messages from a worker thread so the event loop never waits on Meta. Keyword
    arguments (``context``) go on to ``BaseNotifier``.
    """

    async def async_notify(self, context: Context) -> None:
        """Send what :meth:`notify` sends, without blocking the event loop."""
        await asyncio.to_thread(self.notify, context)
