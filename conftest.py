"""Test plugins for the whole suite (pytest only honours pytest_plugins at the root)."""

import os

# The sandbox's simulated agents (Local/<n>@sim-agents/n) may be queue members in tests, as in
# the demo; a site leaves sandbox.simulated_agents unset and only seats can be members.
os.environ.setdefault("IVR_SANDBOX__SIMULATED_AGENTS", "sim-agents")

pytest_plugins = [
    "tests.log_scan",
    "tests.integration.db_fixtures",
    "tests.integration.asterisk_fixtures",
]
