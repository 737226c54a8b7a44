"""Writes data.npz for examples/own_model: three Gaussian blobs in 2-D (X, y; X_test, y_test).

    .venv/bin/python examples/own_model/make_data.py
"""

from pathlib import Path

import numpy as np

rng = np.random.default_rng(0)
centres = np.array([[-2.0, 0.0], [2.0, 0.0], [0.0, 2.5]])
labels = rng.integers(0, 3, size=300)
X = centres[labels] + rng.normal(scale=0.9, size=(300, 2))
np.savez(Path(__file__).with_name("data.npz"), X=X[:240], y=labels[:240], X_test=X[240:], y_test=labels[240:])
