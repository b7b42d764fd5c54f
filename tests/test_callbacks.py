"""Tests of gradwise.train.callbacks: the hook order, the trainer's interface, logs, checkpoints, progress.

The hook order is recorded call by call and compared with the documented sequence; the CSV, JSON
Lines and TensorBoard logs are read back with ``gradwise.diagnose.read_history`` (what
``gradwise diagnose`` uses), so the formats stay compatible.
"""
from __future__ import annotations

import io
import json

import numpy as np
import pytest

import gradwise
import gradwise.nn as nn
from gradwise.data.datasets import load_digits
from gradwise.data.preprocessing import Standardize
from gradwise.diagnose import read_history
from gradwise.train import (Callback, Check, CSVLogger, LearningRateScheduler, ModelCheckpoint,
                            ProgressBar, TensorBoardLogger, fit, load_checkpoint)
from conftest import digits_mlp

X, Y = load_digits(flatten=True)
X = Standardize().fit(X[:200]).transform(X)
TRAIN, VAL = (X[:128], Y[:128]), (X[200:260], Y[200:260])


def mlp() -> nn.Module:
    return digits_mlp(16)


def quick(val=VAL, **kw):
    kw = {"loss": "cross_entropy", "optimizer": ("adam", {"lr": 1e-2}), "epochs": 2, "batch_size": 64,
          "progress": False, "babysit": False, "seed": 0, **kw}
    return fit(kw.pop("model", None) or mlp(), TRAIN, val, **kw)


class Recorder(Callback):
    def __init__(self):
        self.calls = []

    def on_train_begin(self, trainer):
        self.calls.append(("train_begin",))

    def on_epoch_begin(self, trainer, epoch):
        self.calls.append(("epoch_begin", epoch))

    def on_batch_begin(self, trainer, batch_index, batch):
        self.calls.append(("batch_begin", trainer.epoch, batch_index))

    def on_after_forward(self, trainer, batch_index, outputs, loss):
        self.calls.append(("after_forward", trainer.epoch, batch_index))

    def on_after_backward(self, trainer, batch_index):
        assert all(p.grad is not None for p in trainer.model.parameters())
        self.calls.append(("after_backward", trainer.epoch, batch_index))

    def on_batch_end(self, trainer, batch_index, logs):
        self.calls.append(("batch_end", trainer.epoch, batch_index))

    def on_validation_end(self, trainer, epoch, logs):
        self.calls.append(("validation_end", epoch))

    def on_epoch_end(self, trainer, epoch, logs):
        self.calls.append(("epoch_end", epoch))

    def on_train_end(self, trainer):
        self.calls.append(("train_end",))

    def on_exception(self, trainer, exception):
        self.calls.append(("exception", type(exception).__name__))


def test_hooks_are_called_in_the_documented_order():
    rec = Recorder()
    quick(callbacks=[rec])
    expected = [("train_begin",)]
    for epoch in (1, 2):
        expected.append(("epoch_begin", epoch))
        for b in (0, 1):
            expected += [("batch_begin", epoch, b), ("after_forward", epoch, b), ("after_backward", epoch, b),
                         ("batch_end", epoch, b)]
        expected += [("validation_end", epoch), ("epoch_end", epoch)]
    expected.append(("train_end",))
    assert rec.calls == expected


def test_exception_hook_replaces_train_end():
    class Fail(Callback):
        def on_batch_end(self, trainer, batch_index, logs):
            raise RuntimeError("boom")

    rec = Recorder()
    with pytest.raises(RuntimeError, match="boom"):
        quick(callbacks=[rec, Fail()])
    assert rec.calls[-1] == ("exception", "RuntimeError") and ("train_end",) not in rec.calls


def test_trainer_interface_seen_by_callbacks():
    seen = {}

    class Probe(Callback):
        def on_train_begin(self, trainer):
            before = [p.detach().numpy().copy() for p in trainer.model.parameters()]
            inputs, target = trainer.split_batch(trainer.first_batch)
            seen.update(classification=trainer.is_classification, classes=trainer.num_classes,
                        batch=(tuple(inputs[0].shape), tuple(target.shape)), epoch=trainer.epoch,
                        step=trainer.global_step, batches=trainer.batches_per_epoch, lr=trainer.lr,
                        names=trainer.metric_names, has=(trainer.scheduler is None, trainer.log_dir is None,
                                                         trainer.val_loader is not None))
            with trainer.preserve_state():   # a probe that trains must leave no trace
                loss = trainer.loss_fn(trainer.model(*inputs), target)
                loss.backward()
                trainer.optimizer.step()
            seen["restored"] = all(np.array_equal(b, p.detach().numpy())
                                   for b, p in zip(before, trainer.model.parameters()))

        def on_batch_end(self, trainer, batch_index, logs):
            seen.setdefault("logs", dict(logs))

        def on_epoch_end(self, trainer, epoch, logs):
            seen["record_is_history"] = logs is trainer.history.records[-1]

    h_probe = quick(callbacks=[Probe()])
    assert seen["classification"] and seen["classes"] == 10
    assert seen["batch"] == ((64, 64), (64,)) and seen["epoch"] == 0 and seen["step"] == 0
    assert seen["batches"] == 2 and seen["lr"] == 1e-2 and seen["has"] == (True, True, True)
    assert seen["names"] == ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds"]
    assert seen["restored"] and seen["record_is_history"]
    assert set(seen["logs"]) == {"epoch", "step", "batch", "loss", "accuracy", "lr", "size"}
    assert seen["logs"]["step"] == 1 and seen["logs"]["size"] == 64
    # the probe (first batch, a training step inside preserve_state) changed nothing about the run
    assert h_probe["loss"] == quick()["loss"]


def test_warn_records_prints_and_logs_checks(tmp_path, capsys):
    class Sitter(Callback):
        def on_epoch_end(self, trainer, epoch, logs):
            trainer.warn(Check("loss_decreasing", "pass", "the loss falls"))
            trainer.warn({"name": "dead_relu", "status": "warn", "message": "40% of layer 0 never fires",
                          "evidence": {"fraction": np.float32(0.4)}})

    h = quick(callbacks=[Sitter()], log_dir=tmp_path)
    out = capsys.readouterr().out
    assert out.count("[warn] dead_relu (epoch") == 2 and "loss_decreasing" not in out
    assert [(c.name, c.epoch, c.step) for c in h.checks] == [("loss_decreasing", 1, 2), ("dead_relu", 1, 2),
                                                             ("loss_decreasing", 2, 4), ("dead_relu", 2, 4)]
    lines = [json.loads(line) for line in (tmp_path / "checks.jsonl").read_text().splitlines()]
    assert lines[1] == {"name": "dead_relu", "status": "warn", "message": "40% of layer 0 never fires",
                        "evidence": {"fraction": pytest.approx(0.4)}, "epoch": 1, "step": 2}
    run = json.loads((tmp_path / "run.json").read_text())
    assert len(run["checks"]) == 4 and run["stop_reason"] == "completed the 2 epochs asked for"
    with pytest.raises(ValueError, match="status 'bad' is not one of pass, warn, fail"):
        Check("x", "bad", "y")


def test_csv_and_jsonl_logs_read_back_with_the_diagnose_reader(tmp_path):
    h = quick(epochs=3, log_dir=tmp_path)
    for name in ("history.csv", "history.jsonl"):
        back = read_history(tmp_path / name)
        assert back["epoch"] == [1, 2, 3]
        assert back["loss"] == h["loss"] and back["val_loss"] == h["val_loss"]
        assert back["val_accuracy"] == h["val_accuracy"]
    assert (tmp_path / "history.csv").read_text().splitlines()[0] == "epoch,loss,val_loss,accuracy,val_accuracy,lr,seconds"
    steps_csv = (tmp_path / "steps.csv").read_text().splitlines()
    assert steps_csv[0] == "epoch,step,batch,loss,accuracy,lr,size" and len(steps_csv) == 1 + 6
    steps = [json.loads(line) for line in (tmp_path / "steps.jsonl").read_text().splitlines()]
    assert [s["step"] for s in steps] == [1, 2, 3, 4, 5, 6] and [s["batch"] for s in steps] == [1, 2] * 3
    assert read_history(tmp_path)["loss"] == h["loss"]          # the directory form finds history.csv


def test_history_without_validation_leaves_empty_cells(tmp_path):
    h = quick(val=None, log_dir=tmp_path, checkpoint_every=None)
    row = (tmp_path / "history.csv").read_text().splitlines()[1].split(",")
    assert row[2] == "" and row[4] == ""
    assert json.loads((tmp_path / "history.jsonl").read_text().splitlines()[0])["val_loss"] is None
    assert read_history(tmp_path / "history.jsonl")["loss"] == h["loss"]
    assert not (tmp_path / "checkpoints").exists()


def test_loggers_need_a_folder():
    with pytest.raises(ValueError, match="CSVLogger needs a folder: pass log_dir= to fit"):
        quick(callbacks=[CSVLogger()])


def test_tensorboard_logger_events_read_back(tmp_path):
    try:
        logger = TensorBoardLogger()
    except ImportError:
        pytest.skip("no TensorBoard SummaryWriter importable")
    pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    h = quick(epochs=3, log_dir=tmp_path, callbacks=[logger], checkpoint_every=None)
    assert list((tmp_path / "tensorboard").glob("*tfevents*"))
    back = read_history(tmp_path / "tensorboard")
    assert back["epoch"] == [1, 2, 3]
    np.testing.assert_allclose(back["loss"], h["loss"], rtol=1e-6)
    np.testing.assert_allclose(back["val_accuracy"], h["val_accuracy"], rtol=1e-6)


def test_model_checkpoint_writes_last_and_best(tmp_path):
    class Worse(Callback):   # make epoch 2's val_loss the best and epoch 3's worse
        def on_validation_end(self, trainer, epoch, logs):
            logs["val_loss"] = {1: 3.0, 2: 1.0, 3: 2.0}[epoch]

    ckpt = ModelCheckpoint(tmp_path / "ck")
    quick(epochs=3, callbacks=[Worse(), ckpt, Recorder()])
    assert ckpt.best_epoch == 2 and ckpt.best == 1.0
    assert load_checkpoint(tmp_path / "ck" / "best.npz")["epoch"] == 2
    assert load_checkpoint(tmp_path / "ck" / "last.npz")["epoch"] == 3
    assert ModelCheckpoint.order > max(cb.order for cb in (ProgressBar(), CSVLogger(), Callback()))


def test_learning_rate_scheduler_reduce_on_plateau(capsys):
    model = mlp()
    opt = gradwise.optim.SGD(model.parameters(), lr=0.1)
    # an "improvement" must beat the best by 10: never after the first epoch, so the rate halves each epoch
    plateau = gradwise.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=0, threshold=10,
                                                            threshold_mode="abs")
    h = quick(model=model, optimizer=opt, epochs=4, callbacks=[LearningRateScheduler(plateau)])
    assert h["lr"] == [0.1, 0.1, 0.05, 0.025]
    assert "ReduceLROnPlateau: val_loss stopped improving; learning rate 0.1 -> 0.05" in capsys.readouterr().out
    with pytest.raises(ValueError, match="ReduceLROnPlateau: 'val_loss' is not logged"):
        quick(val=None, optimizer=opt, callbacks=[LearningRateScheduler(plateau)])


def test_per_step_scheduler():
    model = mlp()
    opt = gradwise.optim.SGD(model.parameters(), lr=0.1)
    onecycle = gradwise.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=4)
    lrs = []

    class Lr(Callback):
        def on_batch_end(self, trainer, batch_index, logs):
            lrs.append(logs["lr"])

    quick(model=model, optimizer=opt, scheduler=onecycle, callbacks=[Lr()])
    assert len(set(lrs)) == 4   # a new rate every step


def test_progress_bar_plain_lines_when_not_a_terminal():
    out = io.StringIO()
    quick(epochs=2, callbacks=[ProgressBar(stream=out)])
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert lines[0].startswith("epoch 1/2  loss ") and "val_accuracy" in lines[0] and lines[0].endswith("s")
    assert lines[2] == "stopped: completed the 2 epochs asked for"


def test_progress_bar_live_line_on_a_terminal(monkeypatch):
    class Tty(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.delenv("CI", raising=False)
    out = Tty()

    class Speak(Callback):
        def on_batch_end(self, trainer, batch_index, logs):
            if trainer.epoch == 1 and batch_index == 0:
                trainer.echo("a warning")

    quick(epochs=2, callbacks=[ProgressBar(stream=out, refresh=1e9), Speak()])
    text = out.getvalue()
    assert "\repoch 1/2  1/2 [" in text and "ETA" in text and "loss" in text
    assert "a warning\n" in text
    # the live line is cleared before each whole line
    assert "\r" + " " * 5 in text


def test_callback_state_is_checkpointed(tmp_path):
    class Counter(Callback):
        def __init__(self):
            self.n = 0

        def on_batch_end(self, trainer, batch_index, logs):
            self.n += 1

        def state_dict(self):
            return {"n": self.n}

        def load_state_dict(self, state):
            self.n = state["n"]

    quick(epochs=2, callbacks=[Counter()], log_dir=tmp_path)
    state = load_checkpoint(tmp_path / "checkpoints" / "last.npz")
    assert state["callbacks"]["Counter"] == {"n": 4}
    assert {"EarlyStopping", "ModelCheckpoint"} & set(state["callbacks"]) == {"ModelCheckpoint"}
    resumed = Counter()
    quick(epochs=3, callbacks=[resumed], log_dir=tmp_path, resume=tmp_path / "checkpoints" / "last.npz")
    assert resumed.n == 6
