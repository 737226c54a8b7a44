"""Shared test set-up: offscreen Qt, float64 by default for known answers."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# Hypothesis: deterministic in CI ("ci": derandomized, fixed example counts, no example database,
# so a run explores the same inputs on every machine); LAB_FUZZ=deep explores far more, at random.
from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile("ci", derandomize=True, database=None, max_examples=150, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
settings.register_profile("deep", max_examples=5000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
settings.load_profile("deep" if os.environ.get("LAB_FUZZ") == "deep" else "ci")


import pytest  # noqa: E402

import lab.panels.names  # noqa: E402,F401  (registers the panel names the scenario schema validates, as main.py does)


@pytest.fixture
def window(qtbot):
    """The real main window at 1200 x 800, closed without the unsaved-changes prompt afterwards.
    (Test modules with their own window set-up define their own fixture of this name.)"""
    from tests.windows import main_window

    with main_window(1200, 800) as w:
        yield w
