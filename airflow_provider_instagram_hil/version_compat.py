"""The one place that imports Airflow's public API; everything else imports from here."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from airflow import __version__ as _AIRFLOW_VERSION
from asgiref.sync import sync_to_async
from packaging.version import Version

AIRFLOW_VERSION = Version(_AIRFLOW_VERSION)
AIRFLOW_V_3_2_PLUS = AIRFLOW_VERSION.release >= (3, 2)
#: Airflow 3.3 calls a trigger's on_kill() when a user clears the task or marks it success or failed.
AIRFLOW_V_3_3_PLUS = AIRFLOW_VERSION.release >= (3, 3)

from airflow.sdk import (  # noqa: E402
    BaseHook,
    BaseNotifier,
    BaseOperator,
    BaseOperatorLink,
    Connection,
)
from airflow.sdk.exceptions import AirflowException  # noqa: E402
from airflow.sdk.execution_time.xcom import XCom  # noqa: E402
from airflow.sdk.log import mask_secret  # noqa: E402
from airflow.triggers.base import BaseTrigger, TaskSuccessEvent, TriggerEvent  # noqa: E402

# Airflow 3.1 keeps these outside the task SDK; from 3.2 the old places are deprecated aliases of the SDK's.
try:
    from airflow.sdk import conf
except ImportError:  # pragma: no cover - Airflow 3.1
    from airflow.configuration import conf  # type: ignore[no-redef,assignment]

try:
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException
except ImportError:  # pragma: no cover - Airflow 3.1
    from airflow.exceptions import (  # type: ignore[no-redef,assignment]
        AirflowFailException,
        AirflowSkipException,
    )

try:  # in the task SDK from Airflow 3.2
    from airflow.sdk import SkipMixin
except ImportError:  # pragma: no cover - Airflow 3.1 ships it in the standard provider (a core dependency)
    from airflow.providers.standard.utils.skipmixin import SkipMixin  # type: ignore[no-redef,assignment]

try:  # the task SDK's copy (Airflow >= 3.2); Airflow matches plugin base classes by name, either works
    from airflow.sdk.plugins_manager import AirflowPlugin
except ImportError:  # pragma: no cover - Airflow 3.1
    from airflow.plugins_manager import AirflowPlugin  # type: ignore[no-redef,assignment]

#: What Airflow 3.1-3.3's API server refuses as a plugin app's url_prefix (by plain ``startswith``).
_API_SERVER_RESERVED_URL_PREFIXES = ("/api/v2", "/ui", "/execution", "/auth", "/pluginsv2")


def api_server_reserved_url_prefixes() -> tuple[str, ...]:
    """The prefixes under which this Airflow's API server refuses to mount a plugin's FastAPI app.

    Read from ``airflow.api_fastapi.app`` (imported only when asked: the API server has it loaded);
    the 3.1-3.3 list where that module cannot be imported.
    """
    try:
        from airflow.api_fastapi.app import RESERVED_URL_PREFIXES
    except Exception:  # pragma: no cover - an API server without the module cannot mount us either
        return _API_SERVER_RESERVED_URL_PREFIXES
    return tuple(str(prefix) for prefix in RESERVED_URL_PREFIXES)


def auth_manager() -> Any:
    """Airflow's auth manager: the API server's own, or one created for this process (same config)."""
    from airflow.api_fastapi.app import create_auth_manager, get_auth_manager

    try:
        return get_auth_manager()
    except RuntimeError:  # not in the API server: this process builds one from the same configuration
        return create_auth_manager()


_T = TypeVar("_T")


async def call_task_sdk(func: Callable[..., _T], /, *args: Any, **kwargs: Any) -> _T:
    """Run a blocking Task SDK call (``XCom.set``, :func:`task_instance_state`) from a trigger.

    Through asgiref's ``sync_to_async``, as Airflow's own triggers do, never a bare thread
    (``asyncio.to_thread``): on Airflow 3.1 the SDK's ``send`` then talks to the supervisor on the
    triggerer's own event loop; from a bare thread it opens a second loop on the same socket, a reply is
    read out of order, and the trigger runner dies, taking the triggerer with it.
    """
    return await sync_to_async(func)(*args, **kwargs)


def task_instance_state(dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> str | None:
    """One task instance's state as Airflow's API server sees it now, asked from a running trigger
    through the triggerer's Task SDK channel (as the standard provider's ``WorkflowTrigger`` does).
    Blocking: call it through :func:`call_task_sdk`, never a bare thread. None when there is no such
    task instance."""
    from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

    states = RuntimeTaskInstance.get_task_states(
        dag_id=dag_id, map_index=map_index, task_ids=[task_id], run_ids=[run_id]
    )
    key = task_id if map_index < 0 else f"{task_id}_{map_index}"
    state = states.get(run_id, {}).get(key)
    return None if state is None else str(getattr(state, "value", state))  # a str or a state enum


if TYPE_CHECKING:
    # Type-only: the task context handed to execute() / execute_complete().
    from airflow.sdk import Context as Context

__all__ = [
    "AIRFLOW_V_3_2_PLUS",
    "AIRFLOW_V_3_3_PLUS",
    "AirflowException",
    "AirflowFailException",
    "AirflowPlugin",
    "AirflowSkipException",
    "BaseHook",
    "BaseNotifier",
    "BaseOperator",
    "BaseOperatorLink",
    "BaseTrigger",
    "Connection",
    "SkipMixin",
    "TaskSuccessEvent",
    "TriggerEvent",
    "XCom",
    "api_server_reserved_url_prefixes",
    "auth_manager",
    "call_task_sdk",
    "conf",
    "mask_secret",
    "task_instance_state",
]
