"""ModelCheckpoint with Lightning's save_top_k / filename and Keras's save_best_only / filepath."""
from __future__ import annotations

import os

import numpy as np
import pytest

import gradwise
import gradwise.nn as nn
from gradwise.data.datasets import load_digits
from gradwise.data.preprocessing import Standardize
from gradwise.train import Callback, ModelCheckpoint, fit, load_checkpoint
from gradwise.train import callbacks as callbacks_module

X, Y = load_digits(flatten=True)
X = Standardize().fit(X[:200]).transform(X)
TRAIN, VAL = (X[:128], Y[:128]), (X[200:260], Y[200:260])
LOSSES = {1: 3.0, 2: 1.0, 3: 2.0, 4: 0.5, 5: 2.5, 6: 0.75}


class Scripted(Callback):
    """Makes each epoch's val_loss (and val_accuracy) a known number."""

    def on_validation_end(self, trainer, epoch, logs):
        logs["val_loss"] = LOSSES[epoch]
        logs["val_accuracy"] = 1.0 - LOSSES[epoch] / 4


def run(ckpt, epochs=5, resume=None, log_dir=None):
    gradwise.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10))
    return fit(model, TRAIN, VAL, loss="cross_entropy", optimizer=("adam", {"lr": 1e-2}), epochs=epochs,
               batch_size=64, progress=False, babysit=False, seed=0, callbacks=[Scripted(), ckpt], resume=resume,
               log_dir=log_dir)


def files(folder):
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def test_save_top_k_keeps_the_k_best_and_last(tmp_path):
    ckpt = ModelCheckpoint(tmp_path, filename="{epoch}-{val_loss:.2f}", save_top_k=2)
    run(ckpt)
    assert files(tmp_path) == ["epoch=2-val_loss=1.00.npz", "epoch=4-val_loss=0.50.npz", "last.npz"]
    assert ckpt.best_model_path == str(tmp_path / "epoch=4-val_loss=0.50.npz") and ckpt.best_model_score == 0.5
    assert ckpt.best_k_models == {str(tmp_path / "epoch=4-val_loss=0.50.npz"): 0.5,
                                  str(tmp_path / "epoch=2-val_loss=1.00.npz"): 1.0}
    assert ckpt.kth_best_model_path == str(tmp_path / "epoch=2-val_loss=1.00.npz")
    assert load_checkpoint(tmp_path / "epoch=4-val_loss=0.50.npz")["epoch"] == 4
    assert load_checkpoint(tmp_path / "epoch=2-val_loss=1.00.npz")["epoch"] == 2
    assert load_checkpoint(tmp_path / "last.npz")["epoch"] == 5
    assert ckpt.last_model_path == str(tmp_path / "last.npz")


def test_keras_filepath_and_save_best_only(tmp_path):
    best = ModelCheckpoint(str(tmp_path / "best" / "epoch{epoch:03d}-{val_loss:.4f}.npz"), save_best_only=True)
    run(best)
    assert files(tmp_path / "best") == ["epoch004-0.5000.npz", "last.npz"]
    every = ModelCheckpoint(filepath=tmp_path / "all" / "weights.{epoch:02d}-{val_loss:.2f}", save_best_only=False)
    run(every)
    assert files(tmp_path / "all") == ["last.npz"] + [f"weights.0{e}-{LOSSES[e]:.2f}.npz" for e in range(1, 6)]
    plain = ModelCheckpoint(tmp_path / "plain", save_best_only=True)     # no template: best.npz as before
    run(plain)
    assert files(tmp_path / "plain") == ["best.npz", "last.npz"]
    assert load_checkpoint(tmp_path / "plain" / "best.npz")["epoch"] == 4
    fixed = ModelCheckpoint(str(tmp_path / "fixed" / "model.npz"), save_best_only=True)   # one name, overwritten
    run(fixed)
    assert files(tmp_path / "fixed") == ["last.npz", "model.npz"]
    assert load_checkpoint(tmp_path / "fixed" / "model.npz")["epoch"] == 4


def test_top_k_by_a_maximised_metric_all_and_none(tmp_path):
    acc = ModelCheckpoint(tmp_path / "acc", monitor="val_accuracy", save_top_k=1)
    run(acc)
    assert files(tmp_path / "acc") == ["epoch=4-val_accuracy=0.8750.npz", "last.npz"] and acc.mode == "max"
    every = ModelCheckpoint(tmp_path / "all", save_top_k=-1, filename="e{epoch}")
    run(every, epochs=3)
    assert files(tmp_path / "all") == ["e1.npz", "e2.npz", "e3.npz", "last.npz"]
    assert every.best_model_path.endswith("e2.npz")
    none = ModelCheckpoint(tmp_path / "none", save_top_k=0)
    run(none, epochs=2)
    assert files(tmp_path / "none") == ["last.npz"]


def test_repeated_names_get_a_version_and_a_dropped_file_of_that_name_is_overwritten(tmp_path):
    ckpt = ModelCheckpoint(tmp_path, filename="best", save_top_k=2, auto_insert_metric_name=False)
    run(ckpt, epochs=4)
    assert files(tmp_path) == ["best-v1.npz", "best.npz", "last.npz"]
    assert sorted(load_checkpoint(tmp_path / n)["epoch"] for n in ("best.npz", "best-v1.npz")) == [2, 4]


def test_the_replacement_is_on_disk_before_the_dropped_file_is_deleted(tmp_path, monkeypatch):
    deleted = []
    real_unlink = os.unlink

    def unlink(path):
        deleted.append((os.path.basename(path), all(os.path.exists(e["path"]) for e in ckpt.top_k)))
        real_unlink(path)

    monkeypatch.setattr(callbacks_module.os, "unlink", unlink)
    ckpt = ModelCheckpoint(tmp_path, save_top_k=1)
    run(ckpt)
    assert deleted == [("epoch=1-val_loss=3.0000.npz", True), ("epoch=2-val_loss=1.0000.npz", True)]
    # every kept file's own copy of the callback's state names the top k of its moment
    state = load_checkpoint(tmp_path / "epoch=4-val_loss=0.5000.npz")["callbacks"]["ModelCheckpoint"]
    assert [e[2] for e in state["top_k"]] == [4]


def test_resume_gives_the_same_files_and_ranking(tmp_path):
    straight = ModelCheckpoint(tmp_path / "a", save_top_k=2)
    run(straight, epochs=6)
    first = ModelCheckpoint(tmp_path / "b", save_top_k=2)
    run(first, epochs=3)
    again = ModelCheckpoint(tmp_path / "b", save_top_k=2)
    run(again, epochs=6, resume=tmp_path / "b" / "last.npz")
    assert files(tmp_path / "a") == files(tmp_path / "b") == ["epoch=4-val_loss=0.5000.npz",
                                                              "epoch=6-val_loss=0.7500.npz", "last.npz"]
    assert [(os.path.basename(e["path"]), e["score"], e["epoch"]) for e in again.top_k] == \
        [(os.path.basename(e["path"]), e["score"], e["epoch"]) for e in straight.top_k]
    a = load_checkpoint(tmp_path / "a" / "epoch=6-val_loss=0.7500.npz")["model"]
    b = load_checkpoint(tmp_path / "b" / "epoch=6-val_loss=0.7500.npz")["model"]
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])


def test_default_fit_checkpoint_and_old_state_still_work(tmp_path):
    h = run(ModelCheckpoint(tmp_path), epochs=3)
    assert files(tmp_path) == ["best.npz", "last.npz"] and h.records[-1]["epoch"] == 3
    old = ModelCheckpoint(tmp_path)
    old.load_state_dict({"best": 1.0, "best_epoch": 2})          # a checkpoint from before save_top_k
    assert old.top_k == [] and old.best == 1.0


def test_errors_name_the_problem(tmp_path):
    with pytest.raises(ValueError, match="save_top_k .* or save_best_only .*not both"):
        ModelCheckpoint(tmp_path, save_top_k=2, save_best_only=True)
    with pytest.raises(ValueError, match="save_top_k must be an int >= -1"):
        ModelCheckpoint(tmp_path, save_top_k=-2)
    with pytest.raises(ValueError, match="filepath= .* or dirpath= and filename="):
        ModelCheckpoint(filepath=tmp_path / "a{epoch}", filename="b")
    with pytest.raises(ValueError, match=r"ModelCheckpoint\(filename='\{epoch\}-\{val_los:.2f\}'\): 'val_los' is "
                                         r"not logged"):
        run(ModelCheckpoint(tmp_path, filename="{epoch}-{val_los:.2f}"), epochs=1)
    assert ModelCheckpoint(tmp_path, filename="{epoch:03d}").format_checkpoint_name({"epoch": 5}) == "epoch=005.npz"
