"""The Meta credentials of the suite's test connections (``instagram_conn_env``, ``channel_conn_env``).

Imported by ``conftest.py`` for those fixtures and by the tests that talk to the sandbox Graph API with
the same token: a plain module, so nothing imports ``conftest``.
"""

from __future__ import annotations

TEST_APP_SECRET = "test-app-secret-3f9a"
TEST_TOKEN = "EAAtesttoken-9c1d7e"
TEST_VERIFY_TOKEN = "verify-me-51ab"
TEST_PHONE_NUMBER_ID = "106540352242922"
