"""Augmentation under fit: seeded, resumable exactly, and never changed by babysitting (issue 11, seeding)."""
from __future__ import annotations

import numpy as np

import gradwise
import gradwise.nn as nn
from gradwise.augment import Compose
from gradwise.augment.vision import GaussianNoise, RandomHorizontalFlip
from gradwise.data import DataLoader, TensorDataset
from gradwise.data.datasets import load_digits
from gradwise.tensor.random import Generator
from gradwise.train import fit


def _setup(seed_own: int = 11):
    x, y = load_digits(normalize=True)            # (N, 1, 8, 8) images
    x = x.reshape(len(x), 1, 8, 8).astype(np.float32)[:400]
    y = y[:400]
    transform = Compose([RandomHorizontalFlip(), GaussianNoise(sigma=0.1, seed=seed_own)])   # one global, one own
    train = DataLoader(TensorDataset(x[:320], y[:320]), batch_size=32, shuffle=True,
                       generator=Generator().manual_seed(5), transform=transform)
    val = (x[320:], y[320:])
    gradwise.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Dropout(0.2), nn.Linear(32, 10))
    return model, train, val


def _run(babysit: bool, **kw):
    model, train, val = _setup()
    history = fit(model, train, val, loss="cross_entropy", optimizer="adam", epochs=kw.pop("epochs", 3), seed=1,
                  progress=False, babysit=babysit, **kw)
    return model, history


def test_same_seed_same_run_and_babysitting_changes_nothing():
    a_model, a = _run(babysit=False)
    b_model, b = _run(babysit=False)
    c_model, c = _run(babysit=True)
    assert a.history["loss"] == b.history["loss"] == c.history["loss"]
    for p, q in zip(a_model.parameters(), c_model.parameters()):
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())


def test_resume_with_augmentation_is_exact(tmp_path):
    _, straight = _run(babysit=True, epochs=4)
    _run(babysit=True, epochs=2, log_dir=tmp_path)
    model, train, val = _setup()
    resumed = fit(model, train, val, loss="cross_entropy", optimizer="adam", epochs=4, seed=1, progress=False,
                  log_dir=tmp_path, resume=tmp_path / "checkpoints" / "last.npz")
    assert resumed.history["loss"] == straight.history["loss"]
    assert resumed.history["val_loss"] == straight.history["val_loss"]
