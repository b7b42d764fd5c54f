"""Tests of gradwise.train.checkpoint: exact resume, atomic writes, safe loading, clear errors.

The central promise: a run killed at any point and resumed from its last checkpoint ends exactly like
the run that was never interrupted - final parameters equal bit for bit and the same losses - with
dropout, shuffling, Adam's state, a learning-rate schedule and early stopping's counters in play.
"""
from __future__ import annotations

import math
import zipfile

import numpy as np
import pytest

import gradwise
import gradwise.nn as nn
from gradwise.data.datasets import load_digits
from gradwise.data.preprocessing import Standardize
from gradwise.train import Callback, CheckpointError, EarlyStopping, fit, load_checkpoint, save_checkpoint
from gradwise.train import checkpoint as ckpt

X, Y = load_digits(flatten=True)
X = Standardize().fit(X[:300]).transform(X)
TRAIN, VAL = (X[:256], Y[:256]), (X[300:380], Y[300:380])


class Killed(Exception):
    pass


class KillAt(Callback):
    """Simulates the process dying in the middle of an epoch."""

    def __init__(self, epoch: int, batch: int):
        self.epoch, self.batch = epoch, batch

    def on_batch_end(self, trainer, batch_index, logs):
        if trainer.epoch == self.epoch and batch_index == self.batch:
            raise Killed(f"killed at epoch {self.epoch}, batch {self.batch}")


def model_with_dropout(seed: int) -> nn.Module:
    gradwise.manual_seed(seed)
    return nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Dropout(0.3), nn.Linear(32, 10))


def run(log_dir, seed_model=0, callbacks=(), resume=None):
    model = model_with_dropout(seed_model)
    history = fit(model, TRAIN, VAL, loss="cross_entropy", optimizer=("adam", {"lr": 5e-3}), epochs=5,
                  batch_size=32, seed=7, log_dir=log_dir, callbacks=list(callbacks), resume=resume,
                  progress=False, babysit=False,
                  scheduler=lambda opt: gradwise.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5),
                  early_stopping=EarlyStopping(patience=10, restore_best_weights=True))
    return model, history


def test_resumed_run_equals_the_uninterrupted_one_bit_for_bit(tmp_path):
    full_model, full = run(tmp_path / "full")
    with pytest.raises(Killed):
        run(tmp_path / "cut", callbacks=[KillAt(epoch=3, batch=3)])
    last = tmp_path / "cut" / "checkpoints" / "last.npz"
    assert load_checkpoint(last)["epoch"] == 2
    # a fresh process would build the model from scratch (here: even different initial weights)
    resumed_model, resumed = run(tmp_path / "cut", seed_model=123, resume=last)
    for (name, a), (_, b) in zip(full_model.state_dict().items(), resumed_model.state_dict().items()):
        assert np.array_equal(a.numpy(), b.numpy()), name
    for key in ("loss", "val_loss", "accuracy", "val_accuracy", "lr"):
        assert resumed[key] == full[key], key
    assert resumed.stop_reason == full.stop_reason
    # the logs of the resumed run hold each step once, as if the run had never stopped
    steps = (tmp_path / "cut" / "steps.csv").read_text().splitlines()
    assert steps[1:] and [line.split(",")[:4] for line in steps] == \
        [line.split(",")[:4] for line in (tmp_path / "full" / "steps.csv").read_text().splitlines()]


def test_resume_at_the_end_does_nothing(tmp_path):
    _, first = run(tmp_path)
    _, again = run(tmp_path, resume=tmp_path / "checkpoints" / "last.npz")
    assert again["loss"] == first["loss"] and again.stop_reason.startswith("nothing to do")


def test_resume_into_a_different_model_is_a_clear_error(tmp_path):
    run(tmp_path)
    gradwise.manual_seed(0)
    other = nn.Sequential(nn.Linear(64, 8), nn.ReLU(), nn.Linear(8, 10))
    with pytest.raises(ValueError, match=r"last\.npz: the checkpoint does not fit this model"):
        fit(other, TRAIN, VAL, loss="cross_entropy", optimizer="adam", epochs=5, progress=False, babysit=False,
            resume=tmp_path / "checkpoints" / "last.npz")


def test_state_encoding_round_trip(tmp_path):
    t = gradwise.tensor([1.0, 2.0], requires_grad=True)
    state = {
        "step": gradwise.tensor(3.0), "by_index": {0: {"exp_avg": np.arange(3, dtype=np.float32)}, 5: None},
        "tuple": (1, "a", (2.5, None)), "inf": math.inf, "big": 2**100, "flag": np.bool_(True),
        "scalar": np.float32(0.25), "t": t, "nested": [np.zeros((0, 2)), {"__weird": 1}],
    }
    path = save_checkpoint(tmp_path / "s.npz", {"state": state})
    back = load_checkpoint(path)["state"]
    assert back["step"].ndim == 0 and back["step"].item() == 3.0
    assert list(back["by_index"]) == [0, 5] and back["by_index"][0]["exp_avg"].dtype == np.float32
    assert back["tuple"] == (1, "a", (2.5, None)) and back["inf"] == math.inf and back["big"] == 2**100
    assert back["flag"] is np.True_ or back["flag"] == True  # noqa: E712 - a NumPy bool
    assert back["scalar"].dtype == np.float32 and back["t"].requires_grad
    assert back["nested"][0].shape == (0, 2) and back["nested"][1] == {"__weird": 1}
    with pytest.raises(TypeError, match="cannot checkpoint a value of type function"):
        save_checkpoint(tmp_path / "f.npz", {"fn": lambda: 0})
    with pytest.raises(TypeError, match="object array"):
        save_checkpoint(tmp_path / "o.npz", {"a": np.array([object()])})


def test_atomic_write_keeps_the_old_checkpoint_when_writing_fails(tmp_path, monkeypatch):
    path = tmp_path / "last.npz"
    save_checkpoint(path, {"epoch": 1, "w": np.ones(1000)})
    before = path.read_bytes()

    def dies_midway(f, arrays):
        f.write(b"PK\x03\x04 half a zip")   # some bytes reach the disk, then the disk is full
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ckpt, "_write_npz", dies_midway)
    with pytest.raises(OSError, match="No space left"):
        save_checkpoint(path, {"epoch": 2, "w": np.zeros(1000)})
    assert path.read_bytes() == before and load_checkpoint(path)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.npz"]   # no temporary file left behind


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_an_interrupt_during_a_checkpoint_write_arrives_once_it_is_written(tmp_path, monkeypatch, sig):
    """Ctrl-C or SIGTERM (raised as KeyboardInterrupt by the CLI) while NumPy writes the zip: the checkpoint is
    finished and then the interrupt arrives - not zipfile's "Can't close the ZIP file while there is an open
    writing handle" (a CI run of test_cli_faults hit that: exit status 1 instead of 143)."""
    import os
    import signal
    import time

    from gradwise.cli.errors import terminate_as_interrupt

    path = tmp_path / "last.npz"
    write = ckpt._write_npz

    def interrupted_midway(f, arrays):
        with zipfile.ZipFile(f, "w") as z, z.open("first.npy", "w") as member:
            member.write(b"x" * 100)
            os.kill(os.getpid(), getattr(signal, sig))
            time.sleep(0.05)   # the handler runs here, in the middle of the zip
        f.seek(0)
        f.truncate()
        write(f, arrays)

    monkeypatch.setattr(ckpt, "_write_npz", interrupted_midway)
    with terminate_as_interrupt(), pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, {"epoch": 2, "w": np.zeros(10)})
    assert load_checkpoint(path)["epoch"] == 2
    assert [p.name for p in tmp_path.iterdir()] == ["last.npz"]


@pytest.mark.parametrize("damage", ["truncate", "garbage", "no_meta", "bad_json", "empty"])
def test_corrupt_checkpoints_name_the_file(tmp_path, damage):
    path = tmp_path / "last.npz"
    save_checkpoint(path, {"epoch": 1, "w": np.arange(5000.0)})
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(b"not a checkpoint at all")
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "no_meta":
        np.savez(path, w=np.ones(3))
    else:
        with zipfile.ZipFile(path, "w") as z:
            with z.open("__meta__.npy", "w") as f:
                np.save(f, np.frombuffer(b"{not json", dtype=np.uint8))
    with pytest.raises(CheckpointError, match=str(path).replace(".", r"\.")):
        load_checkpoint(path)


def test_missing_checkpoint():
    with pytest.raises(FileNotFoundError, match="no such checkpoint file"):
        load_checkpoint("/nonexistent/last.npz")


def test_preserved_restores_weights_modes_optimizer_and_random_streams():
    model = model_with_dropout(0)
    opt = gradwise.optim.Adam(model.parameters(), lr=0.1)
    gen = gradwise.Generator().manual_seed(3)
    weights = [p.detach().numpy().copy() for p in model.parameters()]
    model.eval()
    gradwise.manual_seed(0)
    state, np_state = gradwise.get_rng_state(), np.random.get_state()[1].copy()
    with ckpt.preserved(model, opt, [gen]):
        model.train()
        loss = model(gradwise.randn(4, 64)).sum()
        loss.backward()
        opt.step()
        opt.param_groups[0]["lr"] = 5.0
        gen._rng.random(10)
        np.random.random(3)
    assert all(np.array_equal(w, p.detach().numpy()) for w, p in zip(weights, model.parameters()))
    assert not model.training and not model[2].training
    assert opt.state_dict()["state"] == {} and opt.param_groups[0]["lr"] == 0.1
    assert gradwise.get_rng_state() == state and gen.get_state() == gradwise.Generator().manual_seed(3).get_state()
    assert np.array_equal(np.random.get_state()[1], np_state)
