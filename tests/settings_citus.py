"""Test settings of the Citus suite (tests/citus/): the tenant models of tests/swapapp,
distributed by tenant (its migration 0003) on a coordinator started by tests/citus/conftest.py."""

from tests.settings_swapped import *  # noqa: F403
