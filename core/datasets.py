"""Data sets for the neural problems: the lecture's heart-disease data and seeded synthetic sets.

Everything is a :class:`Dataset`: float64 feature matrices and targets for a train and a test split,
built on the CPU with an explicit ``torch.Generator`` (no scikit-learn), so a seed gives the same
data bit for bit. Targets are float ``{0, 1}`` for binary tasks, integer class ids (``long``) for
multi-class tasks and float values for regression.

The Cleveland heart-disease data (``core/data/heart_cleveland.csv``, package data of ``core`` read
through ``importlib.resources``, so an installed copy finds it too; attribution in
``core/data/README.md``) is the lecture's case study: the categoricals are one-hot encoded over
their documented levels and the numerics standardized with the *training* split's statistics, so
nothing about the test patients leaks into the inputs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from importlib import resources
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from core.errors import LabError

#: the heart-disease table, package data of ``core`` (``[tool.setuptools.package-data]`` in pyproject.toml)
HEART_RESOURCE = ("data", "heart_cleveland.csv")
#: the largest data file read (through :func:`core.files.read_text_bounded`: regular files only)
MAX_DATA_BYTES = 64 * 1024 * 1024
HEART_NUMERIC = ("age", "trestbps", "chol", "thalach", "oldpeak")
#: categorical columns and their levels (the codes of the 303-row version; see core/data/README.md)
HEART_CATEGORICAL: dict[str, tuple[int, ...]] = {
    "sex": (0, 1), "cp": (0, 1, 2, 3), "fbs": (0, 1), "restecg": (0, 1, 2), "exang": (0, 1),
    "slope": (0, 1, 2), "ca": (0, 1, 2, 3, 4), "thal": (0, 1, 2, 3),
}
HEART_COLUMNS = ("age", "sex", "cp", "trestbps", "chol", "fbs", "restecg", "thalach", "exang",
                 "oldpeak", "slope", "ca", "thal", "target")


@dataclass
class Dataset:
    """A supervised data set split into train and test.

    ``task`` is ``"binary"`` (targets 0/1, float), ``"multiclass"`` (class ids, long, ``n_classes``
    of them) or ``"regression"`` (float targets). ``encoding`` says in words how the features were
    built (shown in the GUI and docs); ``stats`` keeps what standardization used."""

    name: str
    task: str
    X_train: Tensor
    y_train: Tensor
    X_test: Tensor
    y_test: Tensor
    feature_names: list[str]
    n_classes: int = 2
    encoding: str = ""
    stats: dict[str, Tensor] = field(default_factory=dict)

    @property
    def n_features(self) -> int:
        return int(self.X_train.shape[1])

    @property
    def n_train(self) -> int:
        return int(self.X_train.shape[0])

    @property
    def n_test(self) -> int:
        return int(self.X_test.shape[0])

    @property
    def features(self) -> Tensor:
        """The training features ``[n, p]`` (the linear-model helper's entry point)."""
        return self.X_train

    @property
    def target(self) -> Tensor:
        """The training targets ``[n]``."""
        return self.y_train


def split_indices(n: int, test_fraction: float, seed: int) -> tuple[Tensor, Tensor]:
    """A seeded shuffle of ``range(n)`` cut into (train, test); ``round(n * test_fraction)`` test
    samples. ``test_fraction = 0`` gives an empty test split."""
    if not 0.0 <= float(test_fraction) < 1.0:
        raise LabError(f"test_fraction must be in [0, 1), got {test_fraction!r}", "test_fraction")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(int(seed)))
    n_test = int(round(n * float(test_fraction)))
    return perm[n_test:], perm[:n_test]


def read_heart(path: str | Path | None = None) -> dict[str, np.ndarray]:
    """The raw heart-disease table as ``{column: values}``; a missing or malformed file is a LabError."""
    import io

    from core.files import read_text_bounded

    if path is None:  # the shipped table, wherever the package is (a real file while it is read)
        with resources.as_file(resources.files("core") / HEART_RESOURCE[0] / HEART_RESOURCE[1]) as shipped:
            return read_heart(shipped)
    path = Path(path)
    try:
        text = read_text_bounded(path, MAX_DATA_BYTES, "heart-disease data file")
    except LabError as exc:
        hint = " (it ships with the project in core/data/)" if "no such" in exc.message else ""
        raise LabError(exc.message + hint, "data", str(path)) from None
    try:
        table = np.genfromtxt(io.StringIO(text), delimiter=",", names=True, dtype=np.float64)
    except (OSError, ValueError, IndexError) as exc:
        raise LabError(f"cannot read the heart-disease data: {exc}", "data", str(path)) from None
    names = tuple(table.dtype.names or ())
    if names != HEART_COLUMNS:
        raise LabError(f"unexpected columns {names}; expected {HEART_COLUMNS}", "data", str(path))
    cols = {c: np.atleast_1d(table[c]) for c in names}
    if any(np.isnan(v).any() for v in cols.values()):
        raise LabError("the heart-disease data has missing values", "data", str(path))
    return cols


def heart_disease(test_fraction: float = 0.2, seed: int = 0, path: str | Path | None = None) -> Dataset:
    """The lecture's Cleveland heart-disease data (303 patients), encoded for a net.

    Encoding (30 inputs): for each categorical column in the order sex, cp, fbs, restecg, exang,
    slope, ca, thal, one 0/1 column per documented level (``sex=0, sex=1, cp=0, ..., thal=3``: 25
    columns), then the numerics age, trestbps, chol, thalach, oldpeak, standardized as
    ``(x - mean_train) / std_train`` (population std of the training split). The split is a seeded
    shuffle; the target is 1 when heart disease was diagnosed. (The lecture's Keras version has 29
    inputs: its ``thal`` column had one level fewer.)"""
    cols = read_heart(path)
    n = len(cols["target"])
    train, test = split_indices(n, test_fraction, seed)
    blocks, names = [], []
    for col, levels in HEART_CATEGORICAL.items():
        values = torch.as_tensor(cols[col])
        unknown = set(values.tolist()) - set(levels)
        if unknown:
            raise LabError(f"column {col!r} has codes {sorted(unknown)} outside {levels}", "data", str(path or HEART_PATH))
        blocks.append(torch.stack([(values == lv).to(torch.float64) for lv in levels], dim=1))
        names += [f"{col}={lv}" for lv in levels]
    numeric = torch.stack([torch.as_tensor(cols[c]) for c in HEART_NUMERIC], dim=1)
    mean = numeric[train].mean(dim=0)
    std = numeric[train].std(dim=0, unbiased=False)
    blocks.append((numeric - mean) / std)
    names += list(HEART_NUMERIC)
    X = torch.cat(blocks, dim=1)
    y = torch.as_tensor(cols["target"], dtype=torch.float64)
    return Dataset(
        name="heart", task="binary", X_train=X[train], y_train=y[train], X_test=X[test], y_test=y[test],
        feature_names=names, n_classes=2,
        encoding=("one-hot: " + ", ".join(f"{c} ({len(lv)} levels)" for c, lv in HEART_CATEGORICAL.items())
                  + "; standardized with train mean/std: " + ", ".join(HEART_NUMERIC)),
        stats={"mean": mean, "std": std},
    )


# -- seeded synthetic sets ----------------------------------------------------------------------

def _noise(g: torch.Generator, n: int, dim: int, scale: float) -> Tensor:
    return scale * torch.randn(n, dim, generator=g, dtype=torch.float64)


def moons(n: int, noise: float, g: torch.Generator) -> tuple[Tensor, Tensor]:
    """Two interleaving half circles (label 0 upper, 1 lower), as scikit-learn's ``make_moons``."""
    n0 = n // 2
    t0 = math.pi * torch.rand(n0, generator=g, dtype=torch.float64)
    t1 = math.pi * torch.rand(n - n0, generator=g, dtype=torch.float64)
    upper = torch.stack([torch.cos(t0), torch.sin(t0)], dim=1)
    lower = torch.stack([1.0 - torch.cos(t1), 0.5 - torch.sin(t1)], dim=1)
    X = torch.cat([upper, lower]) + _noise(g, n, 2, noise)
    return X, torch.cat([torch.zeros(n0), torch.ones(n - n0)]).double()


def circles(n: int, noise: float, g: torch.Generator, factor: float = 0.5) -> tuple[Tensor, Tensor]:
    """A disc of radius ``factor`` (label 1) inside a ring of radius 1 (label 0)."""
    n0 = n // 2
    t = 2 * math.pi * torch.rand(n, generator=g, dtype=torch.float64)
    r = torch.cat([torch.ones(n0), torch.full((n - n0,), float(factor))]).double()
    X = torch.stack([r * torch.cos(t), r * torch.sin(t)], dim=1) + _noise(g, n, 2, noise)
    return X, torch.cat([torch.zeros(n0), torch.ones(n - n0)]).double()


def spirals(n: int, noise: float, g: torch.Generator, turns: float = 1.5) -> tuple[Tensor, Tensor]:
    """Two interleaved Archimedean spirals (TensorFlow Playground's hardest set)."""
    n0 = n // 2
    s = torch.rand(n, generator=g, dtype=torch.float64)
    angle = 2 * math.pi * turns * s + torch.cat([torch.zeros(n0), torch.full((n - n0,), math.pi)]).double()
    X = torch.stack([s * torch.cos(angle), s * torch.sin(angle)], dim=1) + _noise(g, n, 2, noise)
    return X, torch.cat([torch.zeros(n0), torch.ones(n - n0)]).double()


def xor(n: int, noise: float, g: torch.Generator) -> tuple[Tensor, Tensor]:
    """Uniform points in ``[-1, 1]^2``; label 1 where ``x1 * x2 > 0`` (a linear model cannot)."""
    X = 2 * torch.rand(n, 2, generator=g, dtype=torch.float64) - 1
    y = (X[:, 0] * X[:, 1] > 0).double()
    return X + _noise(g, n, 2, noise), y


def blobs(n: int, noise: float, g: torch.Generator, centers: int = 3) -> tuple[Tensor, Tensor]:
    """``centers`` Gaussian blobs (std ``noise``) on a circle of radius 2; multi-class labels."""
    if centers < 2:
        raise LabError(f"centers must be at least 2, got {centers!r}", "centers")
    y = torch.arange(n) % centers
    angle = 2 * math.pi * y.double() / centers
    X = 2.0 * torch.stack([torch.cos(angle), torch.sin(angle)], dim=1) + _noise(g, n, 2, noise)
    return X, y


def regression1d(n: int, noise: float, g: torch.Generator) -> tuple[Tensor, Tensor]:
    """``y = sin(3 x) + x / 2 + noise`` on ``x ~ U[-2, 2]``: a 1-D curve to fit with an MLP and MSE."""
    x = 4 * torch.rand(n, 1, generator=g, dtype=torch.float64) - 2
    y = torch.sin(3 * x[:, 0]) + 0.5 * x[:, 0] + noise * torch.randn(n, generator=g, dtype=torch.float64)
    return x, y


SYNTHETIC: dict[str, tuple[Callable[..., tuple[Tensor, Tensor]], str]] = {
    "moons": (moons, "binary"), "circles": (circles, "binary"), "spirals": (spirals, "binary"),
    "xor": (xor, "binary"), "blobs": (blobs, "multiclass"), "regression1d": (regression1d, "regression"),
}
DATASETS = ("heart", *SYNTHETIC)


def synthetic(name: str, n: int = 200, noise: float = 0.1, seed: int = 0, test_fraction: float = 0.2,
              **extra: float) -> Dataset:
    """A seeded synthetic set: ``n`` samples drawn from ``torch.Generator().manual_seed(seed)``,
    then split into train and test by :func:`split_indices` (same seed). ``extra`` goes to the
    generator (``factor`` for circles, ``turns`` for spirals, ``centers`` for blobs)."""
    if name not in SYNTHETIC:
        from core.errors import suggest

        raise LabError(f"unknown data set {name!r}{suggest(name, DATASETS)}; allowed: {', '.join(DATASETS)}", "dataset")
    if isinstance(n, bool) or not isinstance(n, int) or n < 4:
        raise LabError(f"n must be an integer >= 4, got {n!r}", "n")
    if not (isinstance(noise, (int, float)) and math.isfinite(noise) and noise >= 0):
        raise LabError(f"noise must be a number >= 0, got {noise!r}", "noise")
    fn, task = SYNTHETIC[name]
    g = torch.Generator().manual_seed(int(seed))
    X, y = fn(n, float(noise), g, **extra)
    train, test = split_indices(n, test_fraction, seed)
    n_classes = int(y.max()) + 1 if task == "multiclass" else (2 if task == "binary" else 0)
    return Dataset(name=name, task=task, X_train=X[train], y_train=y[train], X_test=X[test], y_test=y[test],
                   feature_names=[f"x{i + 1}" for i in range(X.shape[1])], n_classes=n_classes,
                   encoding=f"{name}: {n} seeded samples, noise {noise:g}")


def load_dataset(name: str, n: int = 200, noise: float = 0.1, seed: int = 0, test_fraction: float = 0.2,
                 **extra: float) -> Dataset:
    """Any data set by name: ``"heart"`` (``n`` and ``noise`` do not apply) or a synthetic one."""
    if name == "heart":
        if extra:
            raise LabError(f"unknown option(s) {sorted(extra)} for the heart data", "dataset")
        return heart_disease(test_fraction=test_fraction, seed=seed)
    return synthetic(name, n=n, noise=noise, seed=seed, test_fraction=test_fraction, **extra)
