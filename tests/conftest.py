"""Shared test set-up: offscreen Qt, float64 by default for known answers."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
