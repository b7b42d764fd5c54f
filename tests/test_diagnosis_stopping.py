"""fit(early_stopping="diagnosis"): stops an overfitting run no later than patience 6 and keeps the best epoch."""
from __future__ import annotations

import numpy as np
import pytest

import gradwise
import gradwise.nn as nn
from gradwise.diagnose import best_epoch
from gradwise.train import EarlyStopping, fit


def _overfitting_run(early_stopping, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(60, 20)).astype(np.float32)
    y = (x[:, 0] + 0.8 * rng.normal(size=60) > 0).astype(np.int64)        # few noisy samples: overfits quickly
    xv = rng.normal(size=(400, 20)).astype(np.float32)
    yv = (xv[:, 0] + 0.8 * rng.normal(size=400) > 0).astype(np.int64)
    gradwise.manual_seed(seed)
    model = nn.Sequential(nn.Linear(20, 256), nn.ReLU(), nn.Linear(256, 2))
    history = fit(model, (x, y), (xv, yv), loss="cross_entropy", optimizer=("adam", {"lr": 3e-3}), epochs=120,
                  batch_size=16, seed=seed, babysit=False, progress=False, early_stopping=early_stopping)
    return model, history


def test_stops_no_later_than_patience_and_restores_the_best_epoch():
    _, by_diagnosis = _overfitting_run("diagnosis")
    _, by_patience = _overfitting_run(EarlyStopping(patience=6))
    assert "diagnosis" in by_diagnosis.stop_reason
    assert len(by_diagnosis.records) <= len(by_patience.records) < 120
    assert by_diagnosis.best_epoch == best_epoch(by_diagnosis.records)
    assert by_diagnosis.best_epoch == by_patience.best_epoch   # the same epoch's weights are kept


def test_restored_weights_are_those_of_the_best_epoch():
    model, history = _overfitting_run("diagnosis")
    from gradwise.train.evaluate import evaluate

    rng = np.random.default_rng(0)
    rng.normal(size=(60, 20)), rng.normal(size=60)
    best = min(r["val_loss"] for r in history.records)
    assert history.records[-1]["val_loss"] > best               # the run went past its best epoch
    xv = rng.normal(size=(400, 20)).astype(np.float32)
    yv = (xv[:, 0] + 0.8 * rng.normal(size=400) > 0).astype(np.int64)
    assert evaluate(model, (xv, yv), nn.CrossEntropyLoss())["loss"] == pytest.approx(best, rel=1e-5)


def test_needs_validation_data():
    with pytest.raises(ValueError, match="diagnosis"):
        fit(nn.Linear(2, 2), (np.zeros((4, 2), np.float32), np.zeros(4, np.int64)), loss="cross_entropy",
            optimizer="sgd", epochs=1, early_stopping="diagnosis")
