"""The seeded-fault bar: each seeded fault is flagged by the right check, a healthy run by none.

Every run is the real ``gradwise.train.fit`` on the embedded digits (MLP 64-64-10), 2-3 epochs: the
babysitter must report what the lecture's "Babysitting the Training" would find by hand.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

import gradwise
import gradwise.nn as nn
from gradwise.data import train_val_split
from gradwise.data.datasets import load_digits
from gradwise.data.preprocessing import Standardize
from gradwise.train import fit
from gradwise.train.babysit import CHECK_NAMES, Babysitter

# a check that breaks warns "babysitter: the ... check could not run": make that a test failure here;
# NumPy's overflow warnings are what the seeded faults are expected to cause
pytestmark = [pytest.mark.filterwarnings("error:babysitter:RuntimeWarning"),
              pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning"),
              pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")]

@pytest.fixture(scope="module")
def digits():
    images, labels = load_digits(flatten=True)
    (xt, yt), (xv, yv) = train_val_split((images, labels), val_fraction=0.2, stratify=labels, seed=0)
    scaler = Standardize().fit(xt)
    return {"raw": ((xt, yt), (xv, yv)), "standard": ((scaler.transform(xt), yt), (scaler.transform(xv), yv))}


def mlp(act=nn.ReLU):
    gradwise.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 64), act(), nn.Linear(64, 10))
    nn.init.by_activation(model)   # He before ReLU, Xavier before sigmoid/tanh
    return model


def train(model, data, optimizer=("adam", {"lr": 1e-3}), epochs=2, **kw):
    (train_set, val_set) = data
    return fit(model, train_set, val_set, loss="cross_entropy", optimizer=optimizer, epochs=epochs, batch_size=32,
               seed=0, progress=False, **kw)


def flagged(history) -> dict[str, str]:
    """check name -> worst status among the checks that did not pass."""
    out: dict[str, str] = {}
    for c in history.checks:
        if c.status != "pass" and (out.get(c.name) != "fail"):
            out[c.name] = c.status
    return out


def test_healthy_run_raises_no_warning(digits, tmp_path):
    history = train(mlp(), digits["standard"], epochs=3, log_dir=tmp_path)
    assert flagged(history) == {}
    assert {c.name for c in history.checks} == set(CHECK_NAMES)   # every check reported, once
    assert len(history.checks) == len(CHECK_NAMES)
    stats = json.loads((tmp_path / "babysit.json").read_text())
    assert stats["activations"]["layers"]["1"]["kind"] == "relu"
    assert len(stats["activations"]["steps"]) == len(stats["activations"]["layers"]["1"]["histograms"]) >= 4
    assert set(stats["gradients"]["norms"]) == set(stats["updates"]["ratios"]) == {"0", "2"}
    checks = json.loads((tmp_path / "checks.json").read_text())
    assert [c["name"] for c in checks] == [c.name for c in history.checks]


def test_babysitting_does_not_change_the_run(digits):
    with_sitter = train(mlp(), digits["standard"], epochs=2)
    without = train(mlp(), digits["standard"], epochs=2, babysit=False)
    assert with_sitter["loss"] == without["loss"] and with_sitter["val_loss"] == without["val_loss"]


def test_unnormalized_inputs(digits):
    history = train(mlp(), digits["raw"])
    assert flagged(history)["input_normalization"] == "warn"


def test_learning_rate_far_too_high(digits):
    history = train(mlp(), digits["standard"], optimizer=("sgd", {"lr": 10.0}))
    found = flagged(history)
    assert found.get("learning_rate") == "fail" or found.get("nan_inf") == "fail"
    divergence = next(c for c in history.checks if c.name == "learning_rate" and c.status != "pass")
    assert divergence.evidence["symptom"] == "divergence" and divergence.epoch == 1   # seen while training
    assert "non-finite" in history.stop_reason


def test_learning_rate_far_too_low(digits):
    history = train(mlp(), digits["standard"], optimizer=("sgd", {"lr": 1e-7}), epochs=2)
    found = flagged(history)
    assert found.get("learning_rate") == "warn" or found.get("loss_decreasing") == "warn"
    ratio = next(c for c in history.checks if c.name == "learning_rate" and c.status != "pass")
    assert ratio.evidence["symptom"] == "update_ratio_low"


def test_dead_relus_from_a_large_negative_bias(digits):
    model = mlp()
    nn.init.constant_(model[0].bias, -10.0)
    history = train(model, digits["standard"])
    dead = next(c for c in history.checks if c.name == "dead_relu")
    assert dead.status == "fail" and dead.evidence["layers"] == ["1"]     # the ReLU after the biased Linear
    assert "'1' (ReLU after Linear '0')" in dead.message and dead.epoch == 0   # found before the first update


def test_saturated_sigmoids_from_a_large_init(digits):
    model = mlp(nn.Sigmoid)
    for layer in (model[0], model[2]):
        nn.init.normal_(layer.weight, 0.0, 10.0)
    history = train(model, digits["standard"])
    saturation = next(c for c in history.checks if c.name == "saturation")
    assert saturation.status == "warn" and saturation.evidence["layers"] == ["1"]


def test_all_zero_init(digits):
    model = mlp()
    for layer in (model[0], model[2]):
        nn.init.zeros_(layer.weight)
        nn.init.zeros_(layer.bias)
    history = train(model, digits["standard"])
    init = next(c for c in history.checks if c.name == "init_scheme")
    assert init.status == "fail" and "identical" in init.message


def test_nan_inputs_are_named(digits):
    (xt, yt), val = digits["standard"]
    broken = xt.copy()
    broken[:, 5] = np.nan
    history = train(mlp(), ((broken, yt), val), epochs=1)
    nan_inf = next(c for c in history.checks if c.name == "nan_inf")
    assert nan_inf.status == "fail" and "input data" in nan_inf.message


def test_warnings_are_printed_while_training(digits, capsys):
    model = mlp()
    nn.init.constant_(model[0].bias, -10.0)
    fit(model, *digits["standard"], loss="cross_entropy", optimizer="adam", epochs=1, batch_size=32, seed=0,
        progress=True, callbacks=[Babysitter({"overfit_max_steps": 5})], babysit=True)
    out = capsys.readouterr().out
    assert out.index("[fail] dead_relu") < out.index("epoch")   # before the first epoch line


def test_resume_keeps_the_babysitter_state(digits, tmp_path):
    train(mlp(), digits["standard"], epochs=2, log_dir=tmp_path)
    history = train(mlp(), digits["standard"], epochs=3, log_dir=tmp_path,
                    resume=tmp_path / "checkpoints" / "last.npz")
    names = [c.name for c in history.checks]
    assert sorted(names) == sorted(CHECK_NAMES)                    # pre-training checks not repeated
    stats = json.loads((tmp_path / "babysit.json").read_text())
    assert stats["activations"]["steps"][0] == 0 and stats["activations"]["steps"][-1] > 90   # one series


def test_resume_continues_the_sharpness_series(digits, tmp_path):
    """The curvature check's sharpness estimates go on after a resume (a fresh probe of as many training
    samples), and resuming with them gives the same training as one uninterrupted run."""
    def run(log_dir, epochs, **kw):
        return train(mlp(), digits["standard"], optimizer=("sgd", {"lr": 0.05}), epochs=epochs, log_dir=log_dir,
                     callbacks=[Babysitter({"curvature_budget": 0.9})], **kw)   # generous: not timing-bound

    run(tmp_path, 2)
    first = json.loads((tmp_path / "babysit.json").read_text())["curvature"]
    assert first["steps"] and max(first["epochs"]) <= 2
    resumed = run(tmp_path, 6, resume=tmp_path / "checkpoints" / "last.npz")
    series = json.loads((tmp_path / "babysit.json").read_text())["curvature"]
    assert series["steps"][: len(first["steps"])] == first["steps"]              # one series, continued ...
    assert max(series["epochs"]) > 2 and all(v > 0 for v in series["sharpness"])  # ... after the resume
    straight = run(tmp_path / "straight", 6)
    assert resumed["loss"] == straight["loss"] and resumed["val_loss"] == straight["val_loss"]


@pytest.mark.filterwarnings("default:babysitter:RuntimeWarning")
def test_an_internal_error_never_stops_training(digits, monkeypatch):
    import gradwise.train.babysit.babysitter as module

    def broken(*args, **kwargs):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(module, "check_dead_relu", broken)
    with pytest.warns(RuntimeWarning, match="babysitter: stopped watching.*boom"):
        history = train(mlp(), digits["standard"], epochs=1)
    assert len(history.records) == 1
