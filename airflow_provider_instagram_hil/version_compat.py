"""The one place that imports Airflow's public API; everything else imports from here."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow import __version__ as _AIRFLOW_VERSION
from packaging.version import Version

AIRFLOW_VERSION = Version(_AIRFLOW_VERSION)
AIRFLOW_V_3_2_PLUS = AIRFLOW_VERSION.release >= (3, 2)

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
from airflow.triggers.base import BaseTrigger, TriggerEvent  # noqa: E402

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

if TYPE_CHECKING:
    # Type-only: the task context handed to execute() / execute_complete().
    from airflow.sdk import Context as Context

__all__ = [
    "AIRFLOW_V_3_2_PLUS",
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
    "TriggerEvent",
    "XCom",
    "conf",
    "mask_secret",
]
