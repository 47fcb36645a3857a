"""Constants and helpers shared by the decision-store tests (imported by name: no package here)."""

from __future__ import annotations

from datetime import datetime, timezone

REVIEWER = "17841400000000001"
OTHER_REVIEWER = "17841400000000002"
STRANGER = "17841499999999999"
OPTIONS = ("approve", "reject")

#: A fixed instant for tests that pass ``now=`` explicitly.
T0 = datetime(2026, 11, 1, 12, 0, 0, tzinfo=timezone.utc)
