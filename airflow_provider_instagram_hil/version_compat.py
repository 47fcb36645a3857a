"""The one place that imports Airflow's public API; everything else imports from here."""

from __future__ import annotations

from packaging.version import Version

from airflow import __version__ as _AIRFLOW_VERSION

AIRFLOW_VERSION = Version(_AIRFLOW_VERSION)
AIRFLOW_V_3_2_PLUS = AIRFLOW_VERSION.release >= (3, 2)

from airflow.sdk import (  # noqa: E402
    BaseHook,
    BaseNotifier,
    BaseOperator,
    BaseOperatorLink,
    Connection,
    SkipMixin,
    conf,
)
from airflow.sdk.exceptions import (  # noqa: E402
    AirflowException,
    AirflowFailException,
    AirflowSkipException,
)
from airflow.sdk.log import mask_secret  # noqa: E402
from airflow.triggers.base import BaseTrigger, TriggerEvent  # noqa: E402

__all__ = [
    "AIRFLOW_V_3_2_PLUS",
    "AirflowException",
    "AirflowFailException",
    "AirflowSkipException",
    "BaseHook",
    "BaseNotifier",
    "BaseOperator",
    "BaseOperatorLink",
    "BaseTrigger",
    "Connection",
    "SkipMixin",
    "TriggerEvent",
    "conf",
    "mask_secret",
]
