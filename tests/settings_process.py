"""Settings for processes that tests start (privileges, faults, soak).

The test run's database (server, name, and the role to connect as) comes from
the environment variable ``AUDIT_TEST_DATABASE`` (JSON), which
``tests.processes.process_env`` sets.
"""

import json
import os

from tests.settings import *  # noqa: F403

DATABASES = {
    "default": {
        **DATABASES["default"],  # noqa: F405
        **json.loads(os.environ["AUDIT_TEST_DATABASE"]),
    }
}

# Extra settings for this process, e.g. '{"AUDIT_LOCK_TIMEOUT_MS": 60000}'.
globals().update(json.loads(os.environ.get("AUDIT_TEST_SETTINGS", "{}")))
