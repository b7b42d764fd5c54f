"""fit(resume=...) refuses a checkpoint of another solver or schedule before touching anything."""
from __future__ import annotations

import numpy as np
import pytest

import gradwise
import gradwise.nn as nn
from gradwise.optim.lr_scheduler import StepLR
from gradwise.train import fit


def _run(tmp_path, optimizer, epochs, resume=None, scheduler=None):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    gradwise.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    return fit(model, (x, y), loss="cross_entropy", optimizer=optimizer, epochs=epochs, log_dir=tmp_path,
               resume=resume, scheduler=scheduler, babysit=False, progress=False)


def test_another_solver_is_named(tmp_path):
    _run(tmp_path, "adam", 1)
    with pytest.raises(ValueError, match="written by Adam, this run trains with SGD"):
        _run(tmp_path, ("sgd", {"lr": 0.1, "momentum": 0.9}), 2, resume=tmp_path / "checkpoints" / "last.npz")


def test_another_schedule_is_named(tmp_path):
    _run(tmp_path, "sgd", 1, scheduler=lambda opt: StepLR(opt, 1))
    with pytest.raises(ValueError, match="1 learning-rate scheduler"):
        _run(tmp_path, "sgd", 2, resume=tmp_path / "checkpoints" / "last.npz")
    resumed = _run(tmp_path, "sgd", 2, resume=tmp_path / "checkpoints" / "last.npz",
                   scheduler=lambda opt: StepLR(opt, 1, gamma=0.5))
    assert len(resumed.records) == 2
