"""Tests that need an outside service (redis-server, PostgreSQL, Chromium, Node) run for real in
CI: where the service is missing they fail when CI=true and skip only on a developer's machine."""
import os

import pytest


def required(available: bool, reason: str) -> None:
    if available:
        return
    in_ci = os.environ.get("CI") == "true"
    outcome = pytest.fail if in_ci else pytest.skip  # never a silent skip in CI
    outcome(f"{reason} (required in CI)" if in_ci else reason)
