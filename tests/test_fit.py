"""Tests of gradwise.train.fit: the lecture's loop on every input form, and every stopping condition.

Tiny runs on a subset of the embedded digits (a few hundred samples, a 64-16-10 MLP, a few epochs),
babysitting off unless the test is about it, so that each test takes a fraction of a second.
"""
from __future__ import annotations

import sys
import types

import numpy as np
import pytest

import gradwise
import gradwise.nn as nn
from gradwise.data import DataLoader, TensorDataset
from gradwise.data.datasets import load_digits
from gradwise.data.preprocessing import Standardize
from gradwise.train import Callback, Check, EarlyStopping, History, fit
from conftest import digits_mlp


def digits(n: int = 300, n_val: int = 100):
    x, y = load_digits(flatten=True)
    x = Standardize().fit(x[:n]).transform(x)
    return (x[:n], y[:n]), (x[n:n + n_val], y[n:n + n_val])


def mlp(seed: int = 0) -> nn.Module:
    return digits_mlp(16, seed, init=True)


def quick(model, train, val=None, **kw):
    kw = {"loss": "cross_entropy", "optimizer": ("adam", {"lr": 1e-2}), "epochs": 3, "batch_size": 64,
          "progress": False, "babysit": False, "seed": 0, **kw}
    return fit(model, train, val, **kw)


TRAIN, VAL = digits()


# ----------------------------------------------------------------------------- input forms
@pytest.mark.parametrize("form", ["arrays", "tensors", "dataset", "loader"])
def test_every_input_form_trains(form):
    def convert(xy):
        x, y = xy
        if form == "arrays":
            return x, y
        if form == "tensors":
            return gradwise.from_numpy(x), gradwise.from_numpy(y)
        ds = TensorDataset(gradwise.from_numpy(x), gradwise.from_numpy(y))
        return ds if form == "dataset" else DataLoader(ds, batch_size=64, shuffle=form == "loader")

    h = quick(mlp(), convert(TRAIN), convert(VAL))
    assert isinstance(h, History) and len(h) == 3
    assert h.epoch == [1, 2, 3]
    assert h["loss"][-1] < h["loss"][0]
    assert set(h.records[0]) == {"epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds"}
    assert all(0 <= a <= 1 for a in h["val_accuracy"])


def test_same_seed_same_run_and_float64_inputs_are_cast():
    a = quick(mlp(), TRAIN, VAL)
    b = quick(mlp(), (TRAIN[0].astype(np.float64), TRAIN[1]), VAL)
    assert a["loss"] == b["loss"] and a["val_loss"] == b["val_loss"]


def test_val_fraction_holds_out_a_stratified_split():
    seen = {}

    class Sizes(Callback):
        def on_train_begin(self, trainer):
            seen["train"], seen["val"] = len(trainer.train_loader.dataset), len(trainer.val_loader.dataset)

    h = quick(mlp(), TRAIN, 0.25, epochs=1, callbacks=[Sizes()])
    assert seen == {"train": 225, "val": 75} and "val_loss" in h


def test_history_views_and_without_validation():
    h = quick(mlp(), TRAIN, epochs=2)
    assert "val_loss" not in h and h.best_epoch is None
    assert h.history["loss"] == h["loss"] and list(h.history) == ["epoch", "loss", "accuracy", "lr", "seconds"]
    with pytest.raises(KeyError, match="val_loss.*logged keys: epoch, loss"):
        h["val_loss"]
    assert h.diagnosis is None and "no validation" in h.diagnosis_note
    assert "2 epoch(s)" in h.summary()


def test_regression_has_no_accuracy():
    x, _ = TRAIN
    target = x[:, :2].sum(axis=1, keepdims=True).astype(np.float32)
    gradwise.manual_seed(0)
    h = quick(nn.Sequential(nn.Linear(64, 8), nn.Tanh(), nn.Linear(8, 1)), (x, target), loss="mse", epochs=2)
    assert "accuracy" not in h and h["loss"][1] < h["loss"][0]


def test_names_and_objects_for_loss_and_optimizer():
    model = mlp()
    opt = gradwise.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    h = quick(model, TRAIN, loss=nn.CrossEntropyLoss(), optimizer=opt, epochs=2)
    assert h["lr"] == [0.1, 0.1]
    with pytest.raises(ValueError, match="loss 'hinge' is not one of cross_entropy, nll, mse"):
        quick(mlp(), TRAIN, loss="hinge")
    with pytest.raises(ValueError, match="optimizer 'adamm' is not one of .*adam"):
        quick(mlp(), TRAIN, optimizer="adamm")
    with pytest.raises(TypeError, match="train data must be a DataLoader, a Dataset or a tuple"):
        quick(mlp(), "digits.csv")
    with pytest.raises(ValueError, match="CPU"):
        quick(mlp(), TRAIN, device="cuda")


def test_lbfgs_gets_a_closure():
    model = mlp()
    h = quick(model, TRAIN, optimizer=("lbfgs", {"lr": 0.5, "max_iter": 3}), epochs=2, batch_size=150)
    assert h["loss"][1] < h["loss"][0]


# ----------------------------------------------------------------------------- stopping conditions
def test_max_epochs():
    h = quick(mlp(), TRAIN, VAL, epochs=2)
    assert len(h) == 2 and h.stop_reason == "completed the 2 epochs asked for" and h.stopped_epoch == 2


def test_early_stopping_stops_and_restores_the_best_weights():
    weights = {}

    class Snapshot(Callback):
        def on_epoch_end(self, trainer, epoch, logs):
            weights[epoch] = trainer.model[0].weight.detach().numpy().copy()

    model = mlp()
    # min_delta is so large that no epoch after the first counts as an improvement
    stopper = EarlyStopping(monitor="val_loss", min_delta=100.0, patience=2, restore_best_weights=True)
    h = quick(model, TRAIN, VAL, epochs=10, early_stopping=stopper, callbacks=[Snapshot()])
    assert len(h) == 3
    assert h.stop_reason.startswith("early stopping: val_loss did not improve by more than 100 for 2 epoch(s)")
    assert stopper.best_epoch == 1
    np.testing.assert_array_equal(model[0].weight.detach().numpy(), weights[1])


def test_early_stopping_patience_shorthand_and_max_mode():
    h = quick(mlp(), TRAIN, VAL, epochs=4, early_stopping={"monitor": "val_accuracy", "patience": 1,
                                                           "min_delta": 1.0})
    assert len(h) == 2 and "val_accuracy" in h.stop_reason


def test_early_stopping_on_missing_metric_is_a_clear_error():
    with pytest.raises(ValueError, match=r"EarlyStopping: 'val_loss' is not logged by this run \(val_\* keys need "
                                         r"validation data: pass val= to fit\(\)\)"):
        quick(mlp(), TRAIN, early_stopping=EarlyStopping(monitor="val_loss"))


def test_target_metric():
    h = quick(mlp(), TRAIN, VAL, epochs=20, target={"val_accuracy": 0.6})
    assert len(h) < 20 and h.records[-1]["val_accuracy"] >= 0.6
    assert all(r["val_accuracy"] < 0.6 for r in h.records[:-1])
    assert h.stop_reason.startswith(f"target reached at epoch {len(h)}: val_accuracy")
    with pytest.raises(ValueError, match="target: 'val_f1' is not logged"):
        quick(mlp(), TRAIN, VAL, target={"val_f1": 0.9})


def test_time_budget_ends_the_epoch_after_the_batch_that_crossed_it():
    steps = []

    class Steps(Callback):
        def on_batch_end(self, trainer, batch_index, logs):
            steps.append(logs["step"])

    h = quick(mlp(), TRAIN, VAL, epochs=5, time_budget=1e-9, callbacks=[Steps()])
    assert steps == [1] and len(h) == 1 and "val_loss" in h.records[0]
    assert h.stop_reason.startswith("time budget of 1e-09s used up at epoch 1, batch 1/5")


def test_non_finite_loss_stops_before_the_update():
    calls = {"n": 0}
    ce = nn.CrossEntropyLoss()

    def exploding_loss(outputs, target):
        calls["n"] += 1
        loss = ce(outputs, target)
        return loss * float("nan") if calls["n"] == 5 + 3 else loss   # epoch 2, batch 3 (5 batches/epoch)

    model = mlp()
    h = quick(model, TRAIN, epochs=4, loss=exploding_loss)
    assert len(h) == 1   # the diverged epoch is not recorded
    assert h.stop_reason.startswith("non-finite training loss (nan) at epoch 2, batch 3/5 (step 8)")
    assert all(np.isfinite(p.detach().numpy()).all() for p in model.parameters())


def test_stop_from_a_callback_mid_epoch():
    class StopAt(Callback):
        def on_batch_end(self, trainer, batch_index, logs):
            if trainer.epoch == 2 and batch_index == 1:
                trainer.stop("enough")
                trainer.stop("a later reason is not recorded")

    h = quick(mlp(), TRAIN, VAL, epochs=5, callbacks=[StopAt()])
    assert len(h) == 2 and h.stop_reason == "enough" and h.stopped_epoch == 2


# ----------------------------------------------------------------------------- diagnosis, schedulers, babysitter
def test_diagnosis_with_enough_validated_epochs():
    short = quick(mlp(), TRAIN, VAL, epochs=2)
    assert short.diagnosis is None and "at least" in short.diagnosis_note
    long = quick(mlp(), TRAIN, VAL, epochs=6)
    assert long.diagnosis is not None and long.diagnosis.verdict in (
        "underfit", "overfit", "good_fit", "unrepresentative_train", "unrepresentative_validation")
    assert long.best_epoch == int(np.argmin(long["val_loss"])) + 1


def test_scheduler_as_a_function_of_the_optimizer():
    h = quick(mlp(), TRAIN, epochs=3, optimizer=("sgd", {"lr": 0.1}),
              scheduler=lambda opt: gradwise.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5))
    assert h["lr"] == [0.1, 0.05, 0.025]


def test_babysitter_is_added_when_its_module_exists(monkeypatch, capsys):
    class Babysitter(Callback):
        def on_train_begin(self, trainer):
            trainer.warn(Check("initial_loss", "warn", "first loss far from ln(10)", {"loss": 9.0}))

    monkeypatch.setitem(sys.modules, "gradwise.train.babysit", types.SimpleNamespace(Babysitter=Babysitter))
    h = quick(mlp(), TRAIN, epochs=1, babysit=True)
    assert [c.name for c in h.checks] == ["initial_loss"] and h.checks[0].epoch == 0
    assert "[warn] initial_loss (before training): first loss far from ln(10)" in capsys.readouterr().out
    assert quick(mlp(), TRAIN, epochs=1, babysit=False).checks == []


def test_missing_babysitter_module_is_skipped(monkeypatch):
    monkeypatch.setitem(sys.modules, "gradwise.train.babysit", None)   # import raises ModuleNotFoundError
    from gradwise.train.fit import _babysitter

    with pytest.raises(ImportError):
        import gradwise.train.babysit  # noqa: F401
    assert _babysitter() is None


def test_broken_babysitter_module_warns_and_training_goes_on(monkeypatch):
    broken = types.ModuleType("gradwise.train.babysit")   # exists, but has no Babysitter
    monkeypatch.setitem(sys.modules, "gradwise.train.babysit", broken)
    with pytest.warns(RuntimeWarning, match="babysitting is off: gradwise.train.babysit failed to import"):
        h = quick(mlp(), TRAIN, epochs=1, babysit=True)
    assert len(h) == 1
