"""Test plugins for the whole suite (pytest only honours pytest_plugins at the root)."""

pytest_plugins = [
    "tests.log_scan",
    "tests.integration.db_fixtures",
    "tests.integration.asterisk_fixtures",
]
