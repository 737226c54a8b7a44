"""Data sets: the heart-disease encoding and split, the seeded synthetic sets, clear errors."""

import numpy as np
import pytest
import torch

from core import datasets
from core.datasets import HEART_CATEGORICAL, HEART_NUMERIC, heart_disease, read_heart, split_indices, synthetic
from core.errors import LabError


def test_heart_encoding_one_hot_and_standardized_with_train_statistics():
    data = heart_disease(test_fraction=0.2, seed=3)
    raw = read_heart()
    assert data.n_train + data.n_test == 303 and data.n_test == round(303 * 0.2)
    assert data.n_features == sum(len(v) for v in HEART_CATEGORICAL.values()) + len(HEART_NUMERIC) == 30
    X = torch.cat([data.X_train, data.X_test])
    col = 0
    train, test = split_indices(303, 0.2, 3)
    order = torch.cat([train, test])
    for name, levels in HEART_CATEGORICAL.items():
        block = X[:, col:col + len(levels)]
        assert torch.all(block.sum(dim=1) == 1), name  # exactly one level set per patient
        codes = torch.as_tensor(np.asarray(levels, dtype=np.float64))[block.argmax(dim=1)]
        assert torch.equal(codes, torch.as_tensor(raw[name])[order]), name
        col += len(levels)
    num = data.X_train[:, col:]
    torch.testing.assert_close(num.mean(dim=0), torch.zeros(5, dtype=torch.float64), atol=1e-12, rtol=0)
    torch.testing.assert_close(num.std(dim=0, unbiased=False), torch.ones(5, dtype=torch.float64))
    # the test split is scaled with the *training* statistics: undoing them gives the raw values back
    raw_test = torch.stack([torch.as_tensor(raw[c]) for c in HEART_NUMERIC], dim=1)[test]
    torch.testing.assert_close(data.X_test[:, col:] * data.stats["std"] + data.stats["mean"], raw_test)
    assert torch.equal(torch.cat([data.y_train, data.y_test]), torch.as_tensor(raw["target"])[order])
    assert data.feature_names[:3] == ["sex=0", "sex=1", "cp=0"] and data.feature_names[-1] == "oldpeak"
    assert torch.equal(data.features, data.X_train) and torch.equal(data.target, data.y_train)


def test_split_is_seeded_disjoint_and_complete():
    a_train, a_test = split_indices(50, 0.3, seed=1)
    b_train, b_test = split_indices(50, 0.3, seed=1)
    c_train, _ = split_indices(50, 0.3, seed=2)
    assert torch.equal(a_train, b_train) and torch.equal(a_test, b_test)
    assert not torch.equal(a_train, c_train)
    assert sorted(torch.cat([a_train, a_test]).tolist()) == list(range(50)) and len(a_test) == 15
    with pytest.raises(LabError, match="test_fraction"):
        split_indices(10, 1.0, 0)


def test_missing_heart_file_is_a_lab_error_naming_the_path(tmp_path):
    missing = tmp_path / "nowhere" / "heart.csv"
    with pytest.raises(LabError, match="nowhere/heart.csv"):
        heart_disease(path=missing)
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(LabError, match="unexpected columns"):
        heart_disease(path=bad)


@pytest.mark.parametrize("name", list(datasets.SYNTHETIC))
def test_synthetic_sets_are_reproducible_and_seeded(name):
    a, b, c = synthetic(name, n=60, seed=5), synthetic(name, n=60, seed=5), synthetic(name, n=60, seed=6)
    assert torch.equal(a.X_train, b.X_train) and torch.equal(a.y_test, b.y_test)
    assert not torch.equal(a.X_train, c.X_train)
    assert a.n_train + a.n_test == 60 and a.X_train.dtype == torch.float64
    if a.task == "binary":
        assert set(torch.cat([a.y_train, a.y_test]).tolist()) == {0.0, 1.0}


def test_synthetic_geometry_without_noise():
    circ = synthetic("circles", n=100, noise=0.0, seed=0, test_fraction=0.0, factor=0.4)
    r = circ.X_train.norm(dim=1)
    torch.testing.assert_close(r, torch.where(circ.y_train > 0.5, 0.4, 1.0).double())
    x = synthetic("xor", n=200, noise=0.0, seed=0)
    assert torch.equal(x.y_train, (x.X_train[:, 0] * x.X_train[:, 1] > 0).double())
    blobs = synthetic("blobs", n=90, noise=0.0, seed=0, centers=3)
    assert blobs.task == "multiclass" and blobs.n_classes == 3 and blobs.y_train.dtype == torch.long
    torch.testing.assert_close(blobs.X_train.norm(dim=1), torch.full((blobs.n_train,), 2.0, dtype=torch.float64))
    reg = synthetic("regression1d", n=40, noise=0.0, seed=0)
    torch.testing.assert_close(reg.y_train, torch.sin(3 * reg.X_train[:, 0]) + 0.5 * reg.X_train[:, 0])


def test_bad_synthetic_requests_are_lab_errors():
    with pytest.raises(LabError, match="did you mean 'moons'"):
        synthetic("moon")
    with pytest.raises(LabError, match="noise"):
        synthetic("moons", noise=-1.0)
    with pytest.raises(LabError, match="n must be"):
        synthetic("moons", n=2)
