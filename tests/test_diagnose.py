"""Tests of gradwise.diagnose (learning-curve reading) and `gradwise diagnose`.

* each verdict of the lecture's "Training Graphs" on clear synthetic curves;
* the readers on files written in each supported format (Keras CSVLogger, Lightning metrics.csv with
  step rows and empty cells, gradwise history.csv/.jsonl, TensorBoard events written here);
* clear errors for short, broken or unrecognised histories;
* the command line (text and JSON, exit status 2 on errors);
* accuracy on the real training runs of tests/data/curve_runs (the tuning set), curve_runs_heldout,
  curve_runs_final (new seeds and recipes; both studied to improve the method) and curve_runs_fresh
  (made by tests/data/make_curve_runs.py --set ...), and on the generated corpus of bench/diagnose_corpus
  (development families, and fresh families measured once after the freeze: regression guards);
* confidence and runner-up, one best epoch (the raw validation minimum) and the stop epoch, raw numbers in the
  evidence taken from the file, the live diagnosis against a patience-6 stopper;
* directories of runs read as a table, plain CSV column spellings, NaN-padded Lightning files, add_scalars.
"""
from __future__ import annotations

import csv
import importlib.util
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gradwise.cli.main import main as cli_main
from gradwise.diagnose import VERDICTS, Diagnosis, Thresholds, curves, read_history

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / "tests" / "data" / "curve_runs"


# ----------------------------------------------------------------------------- synthetic curves
def _noise(n: int, scale: float, seed: int) -> np.ndarray:
    return scale * np.random.default_rng(seed).standard_normal(n)


def _decay(n: int, start: float, floor: float, tau: float) -> np.ndarray:
    e = np.arange(n)
    return floor + (start - floor) * np.exp(-e / tau)


def synthetic(case: str, n: int = 60, seed: int = 0) -> dict[str, list[float]]:
    """Clear textbook curves for each case (epochs numbered from 1)."""
    e = np.arange(n)
    if case == "underfit_flat":            # flat line at a high loss
        t = 0.69 + _noise(n, 0.004, seed)
        v = 0.70 + _noise(n, 0.004, seed + 1)
    elif case == "underfit_early":         # still falling at the end
        t = _decay(n, 2.3, 0.1, 40) + _noise(n, 0.005, seed)
        v = _decay(n, 2.3, 0.15, 40) + _noise(n, 0.005, seed + 1)
    elif case == "overfit":                # validation turns up after epoch ~20
        t = _decay(n, 2.0, 0.02, 8) + _noise(n, 0.005, seed)
        v = _decay(n, 2.0, 0.5, 6) + 0.012 * np.clip(e - 20, 0, None) + _noise(n, 0.01, seed + 1)
    elif case == "unrepresentative_train":  # both improve, a large gap remains
        t = _decay(n, 2.0, 0.1, 8) + _noise(n, 0.005, seed)
        v = _decay(n, 2.1, 0.9, 8) + _noise(n, 0.005, seed + 1)
    elif case == "unrepresentative_validation_noisy":
        t = _decay(n, 2.0, 0.3, 8) + _noise(n, 0.005, seed)
        v = t + np.abs(_noise(n, 0.25, seed + 1)) - 0.1
    elif case == "unrepresentative_validation_lower":
        t = _decay(n, 2.0, 0.6, 8) + _noise(n, 0.005, seed)
        v = 0.6 * t + _noise(n, 0.005, seed + 1)
    elif case == "good_fit":
        t = _decay(n, 2.0, 0.10, 6) + _noise(n, 0.004, seed)
        v = _decay(n, 2.0, 0.13, 6) + _noise(n, 0.004, seed + 1)
    else:
        raise KeyError(case)
    return {"epoch": list(range(1, n + 1)), "loss": t.tolist(), "val_loss": v.tolist()}


@pytest.mark.parametrize("case, verdict", [
    ("underfit_flat", "underfit"),
    ("underfit_early", "underfit"),
    ("overfit", "overfit"),
    ("unrepresentative_train", "unrepresentative_train"),
    ("unrepresentative_validation_noisy", "unrepresentative_validation"),
    ("unrepresentative_validation_lower", "unrepresentative_validation"),
    ("good_fit", "good_fit"),
])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_verdict_on_clear_synthetic_curves(case: str, verdict: str, seed: int) -> None:
    d = curves(synthetic(case, seed=seed))
    assert d.verdict == verdict, (d.verdict, d.evidence)
    assert d.evidence and all(isinstance(s, str) and s for s in d.evidence)
    assert d.advice and all(isinstance(s, str) and s for s in d.advice)


def test_overfit_best_epoch_is_the_validation_minimum() -> None:
    h = synthetic("overfit")
    d = curves(h)
    assert d.verdict == "overfit"
    true_min = int(np.argmin(_decay(60, 2.0, 0.5, 6) + 0.012 * np.clip(np.arange(60) - 20, 0, None))) + 1
    assert abs(d.best_epoch - true_min) <= 4
    assert d.best_epoch in h["epoch"]
    assert any(f"epoch {d.best_epoch}" in a for a in d.advice)


def test_stop_epoch_resists_a_single_noise_dip_and_best_epoch_keeps_the_raw_minimum() -> None:
    """One absurdly low validation value late in the run: the stop epoch (the smoothed trend's bottom) ignores it;
    the best epoch - the weights to keep - is the raw minimum, as a best-only checkpoint keeps it."""
    h = synthetic("overfit")
    h["val_loss"][45] = 0.05
    d = curves(h)
    assert d.verdict == "overfit" and d.stop_epoch < 35
    assert d.best_epoch == 46 == h["epoch"][45]


def test_stop_epoch_of_a_sharp_early_minimum_is_exact() -> None:
    """A V that bottoms out at epoch 3 of 120 and climbs steeply: no wide window may blur it."""
    e = np.arange(120)
    t = _decay(120, 1.5, 0.01, 5)
    v = 0.6 + 0.5 * np.abs(e - 2) ** 0.8 / 10 + _noise(120, 0.003, 3)
    d = curves({"epoch": list(range(1, 121)), "loss": t.tolist(), "val_loss": v.tolist()})
    assert d.verdict == "overfit" and abs(d.stop_epoch - 3) <= 1 and abs(d.best_epoch - 3) <= 1


def test_stop_epoch_of_a_noisy_curve_follows_the_trend_not_a_noise_dip() -> None:
    """A shallow parabola with noise 10x its epoch-to-epoch change: the smoothed minimum is near the
    trend's (epoch 40), where the fixed 3-epoch median picked whichever dip was deepest."""
    n = 150
    e = np.arange(n)
    t = _decay(n, 1.0, 0.05, 10)
    misses = []
    for seed in range(5):
        v = 0.5 + 0.4 * ((e - 39) / n) ** 2 + _noise(n, 0.02, 10 + seed)
        d = curves({"epoch": list(range(1, n + 1)), "loss": t.tolist(), "val_loss": v.tolist()})
        misses.append(abs(d.stop_epoch - 40))
        assert d.best_epoch == int(np.argmin(v)) + 1       # the kept weights: the raw minimum
    assert np.median(misses) <= 12, misses


def test_cv_smooth_adapts_its_width_to_the_noise() -> None:
    from gradwise.diagnose.curves import cv_smooth
    e = np.arange(100)
    clean = 1 + ((e - 50) / 50) ** 2
    _, narrow = cv_smooth(clean + _noise(100, 0.001, 0))
    _, wide = cv_smooth(clean + _noise(100, 0.2, 0))
    assert narrow < wide


def test_strong_rise_through_a_noisy_validation_curve_is_overfitting() -> None:
    """Noise alone (rule 3) must not hide a rise of many standard errors: it is overfitting."""
    n = 120
    e = np.arange(n)
    t = _decay(n, 0.7, 0.05, 20) + _noise(n, 0.005, 0)
    v = 0.6 + 0.8 * np.clip(e - 20, 0, None) / 100 + _noise(n, 0.1, 1)
    d = curves({"epoch": list(range(1, n + 1)), "loss": t.tolist(), "val_loss": v.tolist()})
    assert d.verdict == "overfit", (d.evidence, d.scores["val_rise_z"])
    assert any("jumps around" in x for x in d.evidence)        # the noise is still reported
    assert 10 <= d.best_epoch <= 32


def test_tiny_validation_set_near_zero_loss_is_noisy_even_in_a_tall_plot() -> None:
    """A big first-epoch drop makes the loss range tall, and a tiny validation set's jumps then look small
    against it (< noisy_validation of the range) - but they are as large as the validation loss itself
    (noisy_validation_level): "noisy movements around the training loss"."""
    n = 40
    for seed in range(4):
        t = _decay(n, 2.0, 0.03, 2) + _noise(n, 0.002, seed)
        rng = np.random.default_rng(5 + seed)      # a few validation examples: most epochs ~0, some much higher
        v = _decay(n, 2.0, 0.03, 2) + 0.12 * rng.exponential(1.0, n) * (rng.random(n) < 0.5)
        d = curves({"epoch": list(range(1, n + 1)), "loss": t.tolist(), "val_loss": v.tolist()})
        assert d.scores["val_noise"] < Thresholds().noisy_validation, d.scores["val_noise"]
        assert d.verdict == "unrepresentative_validation", (seed, d.verdict, d.evidence)


def test_a_gap_small_for_the_loss_level_is_not_an_unrepresentative_training_set() -> None:
    """Both curves still falling, 20 % below their start: the gap is a quarter of this small plot's range
    but only a few percent of the loss - the run was stopped early (underfit), not short of data."""
    n = 15
    t = 0.50 - 0.012 * np.arange(n) + _noise(n, 0.002, 0)
    v = t + 0.035 + _noise(n, 0.002, 1)
    d = curves({"epoch": list(range(1, n + 1)), "loss": t.tolist(), "val_loss": v.tolist()})
    assert d.scores["gap"] >= Thresholds().large_gap and d.scores["gap_relative"] < Thresholds().large_gap_relative
    assert d.verdict == "underfit", (d.verdict, d.evidence)


def test_stop_epoch_of_a_noisy_curve_that_bottoms_out_at_once_is_at_the_bend() -> None:
    """Validation drops for three epochs (trend minimum at epoch ~3), then climbs by less than the noise over
    the next 20 and stays up (tests/data/curve_runs_final var_overfit_5): the wide window cross-validation
    picks there, extrapolated to the first epoch, put the minimum at epoch 0, before the bend."""
    n = 200
    e = np.arange(n)
    t = _decay(n, 2.0, 0.0, 3)
    hits = []
    for seed in range(8):
        v = 1.6 + 0.4 * np.exp(-e / 0.7) + 0.16 * (1 - np.exp(-e / 10)) + _noise(n, 0.05, 20 + seed)
        d = curves({"epoch": list(range(n)), "loss": t.tolist(), "val_loss": v.tolist()})
        hits.append(d.stop_epoch)
    assert min(hits) >= 2 and np.median(hits) <= 8, hits

def test_best_and_stop_epochs_use_the_files_numbering() -> None:
    h = synthetic("overfit")
    shifted = dict(h, epoch=[e + 99 for e in h["epoch"]])
    assert curves(shifted).best_epoch == curves(h).best_epoch + 99
    assert curves(shifted).stop_epoch == curves(h).stop_epoch + 99


def test_without_validation_underfit_is_still_diagnosed() -> None:
    for case in ("underfit_flat", "underfit_early"):
        h = synthetic(case)
        del h["val_loss"]
        d = curves(h)
        assert d.verdict == "underfit" and d.best_epoch is None
        assert any("no validation loss" in e for e in d.evidence)


def test_without_validation_other_verdicts_need_it() -> None:
    h = synthetic("good_fit")
    del h["val_loss"]
    with pytest.raises(ValueError, match="no validation loss"):
        curves(h)


def test_thresholds_are_overridable() -> None:
    h = synthetic("unrepresentative_train")
    assert curves(h).verdict == "unrepresentative_train"
    assert curves(h, thresholds=Thresholds(large_gap=0.9)).verdict == "good_fit"
    assert curves(h, thresholds={"large_gap": 0.9}).verdict == "good_fit"
    with pytest.raises(ValueError, match="unknown threshold"):
        curves(h, thresholds={"big_gap": 0.9})
    with pytest.raises(ValueError, match="positive"):
        Thresholds(large_gap=-1)


def test_accepts_records_objects_and_keras_history() -> None:
    h = synthetic("good_fit")

    class Records:        # the shape of gradwise's future History
        records = [{"epoch": e, "loss": t, "val_loss": v} for e, t, v in zip(h["epoch"], h["loss"], h["val_loss"])]

    class KerasHistory:
        history = {"loss": h["loss"], "val_loss": h["val_loss"]}
        epoch = list(range(len(h["loss"])))

    assert curves(Records()).verdict == "good_fit"
    d = curves(KerasHistory())
    assert d.verdict == "good_fit" and d.best_epoch == curves(h).best_epoch - 1   # Keras counts from 0


def test_diagnosis_to_dict_is_the_api_json_shape() -> None:
    d = curves(synthetic("overfit"))
    out = json.loads(json.dumps(d.to_dict(), allow_nan=False))
    assert out["verdict"] in VERDICTS
    assert isinstance(out["best_epoch"], int)
    assert all(isinstance(s, str) for s in out["evidence"] + out["advice"])
    assert isinstance(d, Diagnosis) and "verdict:" in str(d)


# ----------------------------------------------------------------------------- readers
def _write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def test_read_gradwise_csv_and_jsonl(tmp_path: Path) -> None:
    h = synthetic("overfit", n=30)
    rows = [[e, t, v, "", "", 0.01, 0.5] for e, t, v in zip(h["epoch"], h["loss"], h["val_loss"])]
    p = _write_csv(tmp_path / "history.csv", ["epoch", "loss", "val_loss", "accuracy", "val_accuracy", "lr", "seconds"],
                   rows)
    got = read_history(p)
    assert got["epoch"] == h["epoch"] and np.allclose(got["loss"], h["loss"]) and "accuracy" not in got
    jl = tmp_path / "history.jsonl"
    jl.write_text("".join(json.dumps({"epoch": e, "loss": t, "val_loss": v, "accuracy": 0.5, "val_accuracy": None,
                                      "lr": 0.01, "seconds": 0.2}) + "\n"
                          for e, t, v in zip(h["epoch"], h["loss"], h["val_loss"])))
    got = read_history(jl)
    assert np.allclose(got["val_loss"], h["val_loss"]) and got["accuracy"] == [0.5] * 30
    assert curves(jl).best_epoch == curves(p).best_epoch == curves(h).best_epoch


def test_read_keras_csvlogger(tmp_path: Path) -> None:
    h = synthetic("overfit", n=40)
    rows = [[e - 1, 0.5, t, 1e-3, 0.4, v] for e, t, v in zip(h["epoch"], h["loss"], h["val_loss"])]
    p = _write_csv(tmp_path / "training.log", ["epoch", "accuracy", "loss", "learning_rate", "val_accuracy", "val_loss"],
                   rows)
    got = read_history(p)                # CSVLogger's default file name
    assert got["epoch"][0] == 0 and got.columns["val_loss"] == "val_loss" and got["accuracy"] == [0.5] * 40
    assert read_history(tmp_path)["loss"] == got["loss"]
    d = curves(p.rename(tmp_path / "keras.csv"))
    assert d.verdict == "overfit" and d.best_epoch == curves(h).best_epoch - 1


def test_read_lightning_metrics_csv_merges_rows_by_epoch(tmp_path: Path) -> None:
    h = synthetic("overfit", n=30)
    header = ["epoch", "step", "train_loss_epoch", "train_loss_step", "val_acc", "val_loss"]
    rows, step = [], 0
    for i, (t, v) in enumerate(zip(h["loss"], h["val_loss"])):
        for _ in range(3):            # step rows: only train_loss_step filled
            step += 1
            rows.append([i, step - 1, "", t * 1.5, "", ""])
        rows.append([i, step - 1, "", "", 0.9, v])        # validation row
        rows.append([i, step - 1, t, "", "", ""])         # epoch-level training row
    d = tmp_path / "lightning_logs" / "version_0"
    d.mkdir(parents=True)
    _write_csv(d / "metrics.csv", header, rows)
    got = read_history(tmp_path / "lightning_logs")
    assert got.columns == {"loss": "train_loss_epoch", "val_loss": "val_loss", "val_accuracy": "val_acc"}
    assert got["epoch"] == list(range(30))
    assert np.allclose(got["loss"], h["loss"]) and np.allclose(got["val_loss"], h["val_loss"])
    assert curves(d / "metrics.csv").verdict == "overfit"


def test_lightning_step_level_loss_is_averaged_per_epoch(tmp_path: Path) -> None:
    rows = []
    for i in range(6):
        rows += [[i, 2 * i, 1.0 / (i + 1), ""], [i, 2 * i + 1, 3.0 / (i + 1), ""], [i, 2 * i + 1, "", 2.5 / (i + 1)]]
    p = _write_csv(tmp_path / "metrics.csv", ["epoch", "step", "train_loss", "val_loss"], rows)
    got = read_history(p)
    assert np.allclose(got["loss"], [2.0 / (i + 1) for i in range(6)])
    assert np.allclose(got["val_loss"], [2.5 / (i + 1) for i in range(6)])


def test_read_tensorboard_summarywriter(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    from torch.utils.tensorboard import SummaryWriter

    h = synthetic("overfit", n=40)
    w = SummaryWriter(str(tmp_path / "runs"))
    for e, t, v in zip(h["epoch"], h["loss"], h["val_loss"]):
        w.add_scalar("Loss/train", t, e)
        w.add_scalar("Loss/val", v, e)
    w.close()
    got = read_history(tmp_path / "runs")
    assert got.columns == {"loss": "Loss/train", "val_loss": "Loss/val"}
    assert got["epoch"] == h["epoch"] and np.allclose(got["val_loss"], h["val_loss"], atol=1e-6)
    assert curves(tmp_path / "runs").best_epoch == curves(h).best_epoch


def test_read_tensorboard_keras_layout_with_tensor_scalars(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    import time

    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.compat.proto.summary_pb2 import Summary, SummaryMetadata
    from tensorboard.summary.writer.event_file_writer import EventFileWriter
    from tensorboard.util import tensor_util

    h = synthetic("good_fit", n=20)
    meta = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name="scalars"))
    for run, values in (("train", h["loss"]), ("validation", h["val_loss"])):
        w = EventFileWriter(str(tmp_path / "logs" / run))
        for epoch, value in enumerate(values):    # what tf.summary.scalar / keras.callbacks.TensorBoard write
            s = Summary(value=[Summary.Value(tag="epoch_loss", metadata=meta,
                                             tensor=tensor_util.make_tensor_proto(np.float32(value)))])
            w.add_event(Event(wall_time=time.time(), step=epoch, summary=s))
        w.close()
    got = read_history(tmp_path / "logs")
    assert got.columns == {"loss": "train/epoch_loss", "val_loss": "validation/epoch_loss"}
    assert got["epoch"] == list(range(20)) and np.allclose(got["loss"], h["loss"], atol=1e-6)


def test_read_tensorboard_lightning_layout_maps_steps_to_epochs(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    from torch.utils.tensorboard import SummaryWriter

    h = synthetic("good_fit", n=12)
    w = SummaryWriter(str(tmp_path))
    for i, (t, v) in enumerate(zip(h["loss"], h["val_loss"])):
        step = 10 * i + 9                  # Lightning logs at global steps, plus an "epoch" scalar
        w.add_scalar("train_loss_step", t * 2, step - 5)
        w.add_scalar("epoch", i, step - 5)
        w.add_scalar("val_loss", v, step)
        w.add_scalar("train_loss_epoch", t, step)
        w.add_scalar("epoch", i, step)
    w.close()
    got = read_history(tmp_path)
    assert got["epoch"] == list(range(12)) and np.allclose(got["loss"], h["loss"], atol=1e-6)


def test_read_tensorboard_per_step_training_loss_is_grouped_by_validation(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    from torch.utils.tensorboard import SummaryWriter

    h = synthetic("overfit", n=20)
    w = SummaryWriter(str(tmp_path))
    for i, (t, v) in enumerate(zip(h["loss"], h["val_loss"])):
        for k in range(5):                   # a PyTorch loop logging every iteration...
            w.add_scalar("train_loss", t + (k - 2) * 0.01, 5 * i + k)
        w.add_scalar("val_loss", v, 5 * i + 4)   # ...and validating at the end of each epoch
    w.add_scalar("train_loss", 9.9, 100)     # a step after the last validation is left out
    w.close()
    events = next(tmp_path.glob("*tfevents*"))
    got = read_history(events)               # a single event file works too
    assert got["epoch"] == [5 * i + 4 for i in range(20)]
    assert np.allclose(got["loss"], h["loss"], atol=1e-5) and np.allclose(got["val_loss"], h["val_loss"], atol=1e-6)


def test_tensorboard_missing_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "events.out.tfevents.1.host").write_bytes(b"")
    monkeypatch.setitem(sys.modules, "tensorboard.backend.event_processing.event_accumulator", None)
    with pytest.raises(ImportError, match=r"pip install .*tensorboard"):
        read_history(tmp_path)


# ----------------------------------------------------------------------------- errors
def test_too_short_history_is_an_error(tmp_path: Path) -> None:
    p = _write_csv(tmp_path / "h.csv", ["epoch", "loss", "val_loss"], [[i, 1.0 / (i + 1), 1.1] for i in range(4)])
    with pytest.raises(ValueError, match=r"h\.csv.*only 4 epoch"):
        curves(p)


def test_nan_loss_is_an_error_naming_file_and_epoch(tmp_path: Path) -> None:
    rows = [[i, 1.0 / (i + 1), 1.1] for i in range(10)]
    rows[6][1] = "nan"
    p = _write_csv(tmp_path / "h.csv", ["epoch", "loss", "val_loss"], rows)
    with pytest.raises(ValueError, match=r"h\.csv.*'loss' is nan at epoch 6"):
        read_history(p)
    with pytest.raises(ValueError, match="epoch 3"):
        curves({"loss": [1, 0.9, float("nan"), 0.7, 0.6, 0.5], "val_loss": [1] * 6})


def test_unknown_columns_list_what_was_found_and_expected(tmp_path: Path) -> None:
    p = _write_csv(tmp_path / "h.csv", ["epoch", "objective", "holdout"], [[i, 1.0, 1.0] for i in range(10)])
    with pytest.raises(ValueError) as err:
        read_history(p)
    msg = str(err.value)
    assert "h.csv" in msg and "objective, holdout" in msg and "train_loss_epoch" in msg and "val_loss" in msg


def test_missing_epoch_column_and_malformed_files(tmp_path: Path) -> None:
    p = _write_csv(tmp_path / "h.csv", ["loss", "val_loss"], [[1.0, 1.0]] * 6)
    with pytest.raises(ValueError, match="no epoch column.*loss, val_loss"):
        read_history(p)
    bad = tmp_path / "bad.csv"
    bad.write_text("epoch,loss,val_loss\n0,1.0\n")
    with pytest.raises(ValueError, match=r"bad\.csv, line 2"):
        read_history(bad)
    txt = _write_csv(tmp_path / "t.csv", ["epoch", "loss"], [[i, "high"] for i in range(6)])
    with pytest.raises(ValueError, match="non-numeric"):
        read_history(txt)
    jl = tmp_path / "h.jsonl"
    jl.write_text('{"epoch": 1, "loss": 1.0}\n{oops\n')
    with pytest.raises(ValueError, match=r"h\.jsonl, line 2"):
        read_history(jl)
    with pytest.raises(ValueError, match="unknown history format"):
        read_history(_write_csv(tmp_path / "h.txt", ["a"], []))
    with pytest.raises(FileNotFoundError):
        read_history(tmp_path / "nope.csv")
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(ValueError, match="no history found"):
        read_history(tmp_path / "empty_dir")
    with pytest.raises(ValueError, match="negative"):
        curves({"loss": [-1.0] * 6, "val_loss": [1.0] * 6})


# ----------------------------------------------------------------------------- command line
def _history_file(tmp_path: Path, case: str) -> Path:
    h = synthetic(case)
    return _write_csv(tmp_path / f"{case}.csv", ["epoch", "loss", "val_loss"],
                      [[e, t, v] for e, t, v in zip(h["epoch"], h["loss"], h["val_loss"])])


def test_cli_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = _history_file(tmp_path, "overfit")
    assert cli_main(["diagnose", str(p), "--format", "json"]) == 0
    out = capsys.readouterr().out
    obj = json.loads(out)                       # exactly one JSON object
    assert {"verdict", "best_epoch", "evidence", "advice"} <= set(obj)
    assert obj["verdict"] == "overfit" and isinstance(obj["best_epoch"], int)


def test_cli_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["diagnose", str(_history_file(tmp_path, "good_fit"))]) == 0
    out = capsys.readouterr().out
    assert "verdict:    good_fit" in out and "evidence:" in out and "advice:" in out


def test_cli_errors_exit_2_without_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["diagnose", str(tmp_path / "missing.csv")]) == 2
    err = capsys.readouterr().err
    assert "missing.csv" in err and "Traceback" not in err
    short = _write_csv(tmp_path / "s.csv", ["epoch", "loss", "val_loss"], [[0, 1, 1], [1, 0.5, 0.6]])
    proc = subprocess.run([sys.executable, "-m", "gradwise", "diagnose", str(short), "--format", "json"],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2 and proc.stdout == ""
    assert "only 2 epoch" in proc.stderr and "Traceback" not in proc.stderr


# ----------------------------------------------------------------------------- real runs
def _bench():
    spec = importlib.util.spec_from_file_location("diagnose_accuracy", ROOT / "bench" / "diagnose_accuracy.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod          # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def test_accuracy_on_real_training_runs() -> None:
    """>= 90 % of verdicts and >= 90 % of overfit stop epochs right on the tuning set of real PyTorch runs."""
    bench = _bench()
    results = bench.evaluate(RUNS)
    labels = {r.label for r in results}
    assert labels == set(VERDICTS) and len(results) >= 60
    s = bench.summary(results)
    table = bench.confusion_table(results)
    assert s["verdict_accuracy"] >= 0.9, table
    assert s["best_epoch_accuracy"] >= 0.9, table
    assert all(r.error is None for r in results), [r.error for r in results if r.error]
    assert not math.isnan(s["best_epoch_accuracy"])


def _held_out(name: str) -> tuple[list, dict, str]:
    bench = _bench()
    results = bench.evaluate(bench.SETS[name])
    assert {r.label for r in results} == set(VERDICTS) and len(results) >= 100
    assert all(r.error is None for r in results), [r.error for r in results if r.error]
    s = bench.summary(results)
    assert s["overfit_runs"] >= 25 and all(r.true_loss is not None for r in results if r.best_range)
    return results, s, bench.confusion_table(results)


def test_accuracy_on_held_out_real_training_runs() -> None:
    """The bar on runs the thresholds were not chosen on (tests/data/curve_runs_heldout): new seeds plus
    new models, datasets, schedules and batch sizes.  Scored against every run's built-in cause (no run
    left out), stop epochs inside the band of the hidden true curve.  (This set's failures were studied
    to improve the stop-epoch locator, so it is no longer untouched: see the final set below.)"""
    _, s, table = _held_out("heldout")
    assert s["verdict_accuracy"] >= 0.9, table
    assert s["best_epoch_accuracy"] >= 0.9, table
    for verdict, (right, total) in s["recall"].items():     # no class may be sacrificed for the others
        assert right / total >= 0.75, (verdict, right, total, table)


def test_accuracy_on_final_real_training_runs() -> None:
    """tests/data/curve_runs_final: measured once after the first freeze (89.7 % of verdicts, 90.0 % of stop
    epochs), then its failures were studied to improve the method (noise relative to the validation loss's
    level, a gap relative to the loss, the overfit rise thresholds, the bottom-region stop epoch).  Seen now,
    so it gets the bar like the tuning and held-out sets."""
    _, s, table = _held_out("final")
    assert s["verdict_accuracy"] >= 0.9, table
    assert s["best_epoch_accuracy"] >= 0.9, table
    for verdict, (right, total) in s["recall"].items():
        assert right / total >= 0.75, (verdict, right, total, table)


def test_accuracy_on_fresh_untouched_runs_does_not_regress() -> None:
    """tests/data/curve_runs_fresh was made (seed offset 30000) after the second round of changes and never
    used to change the method.  Measured once, unchanged: 90.5 % of verdicts (105 of 116; underfit 22/23,
    overfit 26/30, good fit 21/22, unrepresentative training 16/20, unrepresentative validation 20/21) and
    93.3 % of stop epochs (28 of 30) - the honest figure then.  (The method before the second round scored
    89.7 % and 86.7 % on it.)  Since issue 12 the scorer (gradwise/diagnose/scorer.json) is fitted on all four
    older sets, so this set is seen too (94.8 % now); the untouched figures are those of
    bench/diagnose_corpus/fresh* (test_fresh_families_measured_once_do_not_regress and the tests after it)."""
    _, s, table = _held_out("fresh")
    assert s["verdict_accuracy"] >= 0.88, table
    assert s["best_epoch_accuracy"] >= 0.9, table
    for verdict, (right, total) in s["recall"].items():
        assert right / total >= 0.75, (verdict, right, total, table)


def test_bench_scores_a_stop_epoch_by_the_band_not_the_span() -> None:
    """A true curve that dips twice: the epochs between the dips are in the labelled span but far above
    the minimum, and stopping there is not right."""
    bench = _bench()
    true = [1.0, 0.6, 0.5, 0.6, 0.9, 0.9, 0.6, 0.5, 0.6, 1.0, 1.2, 1.4]
    r = bench.Result("x", "overfit", [2, 7], None, true_loss=true, first_epoch=0)
    assert r._stop_ok(2) and r._stop_ok(7) and not r._stop_ok(5)
    assert r.regret(2) == pytest.approx(0.0, abs=0.02) and r.regret(5) > 0.3


# ----------------------------------------------------------------------------- confidence, best epoch, evidence
RAW_QUOTE = re.compile(r"(-?\d+(?:\.\d+)?(?:e[-+]?\d+)?) \(epoch (-?\d+)\)")


def _raw_quotes_are_in_the_history(d: Diagnosis, h) -> int:
    """Every ``<value> (epoch <E>)`` of the evidence is a value of the history at epoch E (as printed, 4 digits)."""
    count = 0
    for sentence in d.evidence:
        for num, ep in RAW_QUOTE.findall(sentence):
            i = list(h["epoch"]).index(int(ep))
            values = [h[k][i] for k in ("loss", "val_loss") if k in h]
            assert any(f"{v:.4g}" == num for v in values), (num, ep, values, sentence)
            count += 1
    return count


def test_every_raw_number_in_the_evidence_is_in_the_file() -> None:
    """Issue 12's "training loss fell from 0.8112" when epoch 1 was 1.881: raw values are quoted as raw, with
    their epoch, and are the file's own numbers; every other level is called smoothed."""
    quoted = 0
    for lab in list(json.loads((RUNS / "labels.json").read_text()).values())[::3]:
        h = read_history(RUNS / lab["file"])
        d = curves(RUNS / lab["file"])
        quoted += _raw_quotes_are_in_the_history(d, h)
        for sentence in d.evidence:
            for word in ("trend", "end level", "minimum"):
                if word in sentence and "smoothed" not in sentence:
                    pytest.fail(f"a fitted {word} quoted without saying it is smoothed: {sentence}")
    assert quoted > 30


def test_evidence_never_denies_a_rise_it_quotes() -> None:
    """tests/data/curve_runs_final/var_overfit_6, read as an unrepresentative training set by the scorer where the
    rules saw overfitting: its validation loss ends 5 % above its minimum, and the evidence said it "did not turn up
    (smoothed end 5% above ...)".  A rise at least ``overfit_rise_relative`` is called a rise."""
    d = curves(ROOT / "tests" / "data" / "curve_runs_final" / "var_overfit_6.history.csv")
    rise = d.scores["val_rise"]
    assert d.verdict == "unrepresentative_train" and rise >= Thresholds().overfit_rise_relative, (d.verdict, rise)
    line = next(e for e in d.evidence if e.startswith("validation loss improved"))
    assert "did not turn up" not in line and f"{rise:.0%} above its smoothed minimum" in line, line


def test_evidence_says_fell_only_where_the_quoted_numbers_fall() -> None:
    """"validation loss improved from 1.435 (epoch 1) to 1.581 (epoch 60)" (fresh7/decay_conv1d_unrep_tr_7, a lucky
    first evaluation): a direction word must agree with the two raw numbers it quotes."""
    pattern = re.compile(r"(fell|improved|rose) from ([0-9.e+-]+) \(epoch \d+\) to ([0-9.e+-]+)")
    checked = 0
    for name in ("dev", "fresh7"):
        for lab in json.loads((CORPUS / name / "labels.json").read_text()).values():
            try:
                d = curves(CORPUS / name / lab["file"])
            except ValueError:
                continue
            for m in (m for e in d.evidence for m in pattern.finditer(e)):
                a, b = float(m.group(2)), float(m.group(3))
                assert (b < a) if m.group(1) != "rose" else (b > a), m.group(0)
                checked += 1
    assert checked > 150
    h = synthetic("good_fit")
    h["loss"][0] = min(h["loss"]) / 2        # a lucky first epoch: the training loss ends above it
    line = next(e for e in curves(h).evidence if e.startswith("training loss"))
    assert line.startswith(f"training loss went from {h['loss'][0]:.4g} (epoch 1)"), line


def test_training_loss_quoted_from_its_first_epoch() -> None:
    h = synthetic("good_fit")
    h["loss"][0] = 1.881
    d = curves(h)
    assert any("1.881 (epoch 1)" in e for e in d.evidence), d.evidence


def test_confidence_and_alternative_in_the_json() -> None:
    for case in ("overfit", "good_fit", "underfit_flat", "unrepresentative_train"):
        d = curves(synthetic(case))
        out = json.loads(json.dumps(d.to_dict(), allow_nan=False))
        assert 0.0 <= out["confidence"] <= 1.0
        assert out["alternative"] is None or (out["alternative"] in VERDICTS and out["alternative"] != out["verdict"])
        assert set(out["probabilities"]) == set(VERDICTS) and abs(sum(out["probabilities"].values()) - 1) < 1e-3
        assert {"best_epoch", "stop_epoch"} <= set(out)
    assert curves(synthetic("overfit")).confidence >= 0.9      # a textbook overfit is read with confidence


def test_best_epoch_is_the_lowest_raw_validation_loss_everywhere() -> None:
    """One definition: the weights kept - what EarlyStopping(restore_best_weights) and History.best_epoch keep."""
    from gradwise.diagnose import best_epoch

    h = synthetic("overfit", seed=4)
    records = [{"epoch": e, "loss": t, "val_loss": v} for e, t, v in zip(h["epoch"], h["loss"], h["val_loss"])]
    raw = h["epoch"][int(np.argmin(h["val_loss"]))]
    assert best_epoch(records) == best_epoch(h) == curves(h).best_epoch == raw
    acc = [{"epoch": 1, "val_accuracy": 0.5}, {"epoch": 2, "val_accuracy": 0.9}, {"epoch": 3, "val_accuracy": 0.9}]
    assert best_epoch(acc, monitor="val_accuracy", mode="max") == 2      # first on ties
    assert best_epoch([{"epoch": 1, "loss": 1.0}]) is None
    with pytest.raises(ValueError, match="mode"):
        best_epoch(records, mode="lowest")


def test_features_are_a_frozen_dataclass() -> None:
    import dataclasses

    from gradwise.diagnose import Features, measure
    from gradwise.diagnose.history_io import history_from_object

    f = measure(history_from_object(synthetic("good_fit")))
    assert isinstance(f, Features) and dataclasses.is_dataclass(f)
    with pytest.raises(dataclasses.FrozenInstanceError):
        f.gap = 1.0     # type: ignore[misc]
    assert set(curves(synthetic("good_fit")).scores) == set(Features.names())


def test_accuracy_columns_are_measured_in_fractions_and_quoted(tmp_path: Path) -> None:
    """Where a file has training and validation accuracy, the features carry the tail means' gap and the
    validation accuracy given back (percent read as fractions), and the evidence quotes them; without both
    columns the features are NaN and nothing is quoted."""
    from gradwise.diagnose import measure
    from gradwise.diagnose.history_io import history_from_object

    h = synthetic("overfit")
    n = len(h["loss"])
    acc = np.linspace(0.5, 1.0, n)
    val_acc = np.concatenate([np.linspace(0.5, 0.8, n // 2), np.linspace(0.8, 0.7, n - n // 2)])
    f = measure(history_from_object(dict(h, accuracy=list(acc), val_accuracy=list(val_acc))))
    m = f.tail_epochs
    assert f.has_accuracy
    assert f.train_accuracy_end == pytest.approx(acc[-m:].mean())
    assert f.accuracy_gap == pytest.approx(acc[-m:].mean() - val_acc[-m:].mean())
    assert f.val_accuracy_drop == pytest.approx(np.convolve(np.pad(val_acc, 1, mode="edge"), np.ones(3) / 3,
                                                            mode="valid").max() - val_acc[-m:].mean())
    percent = measure(history_from_object(dict(h, accuracy=list(100 * acc), val_accuracy=list(100 * val_acc))))
    assert percent.accuracy_gap == pytest.approx(f.accuracy_gap)
    path = tmp_path / "log.csv"
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["epoch", "loss", "val_loss", "accuracy", "val_accuracy"])
        w.writerows(zip(h["epoch"], h["loss"], h["val_loss"], acc, val_acc))
    d = curves(path)
    line = [e for e in d.evidence if e.startswith("accuracy")]
    assert len(line) == 1 and f"training {f.train_accuracy_end:.3f}" in line[0], d.evidence
    only_val = measure(history_from_object(dict(h, val_accuracy=list(val_acc))))
    assert not only_val.has_accuracy and math.isnan(only_val.accuracy_gap)
    assert not any(e.startswith("accuracy") for e in curves(synthetic("overfit")).evidence)


def test_custom_thresholds_let_the_rules_decide() -> None:
    """The scorer was fitted on the default cascade: with other thresholds the rules decide (and it only scores)."""
    h = synthetic("overfit")
    d = curves(h, thresholds={"overfit_rise_z": 1e6, "overfit_rise": 1e6})
    assert d.verdict != "overfit" and d.rule != "scorer"


# ----------------------------------------------------------------------------- live diagnosis
def test_diagnose_so_far_is_none_until_readable() -> None:
    from gradwise.diagnose import diagnose_so_far

    h = synthetic("overfit")
    recs = [{"epoch": e, "loss": t, "val_loss": v} for e, t, v in zip(h["epoch"], h["loss"], h["val_loss"])]
    assert diagnose_so_far(recs[:3]) is None
    assert diagnose_so_far([{"epoch": r["epoch"], "loss": r["loss"]} for r in recs]) is None
    assert diagnose_so_far(recs).verdict == "overfit"


def test_should_stop_never_later_than_patience_and_restores_the_best_epoch() -> None:
    from gradwise.diagnose import LiveDiagnosis

    for seed in range(3):
        h = synthetic("overfit", n=120, seed=seed)
        live = LiveDiagnosis()
        stopped = None
        for i, e in enumerate(h["epoch"]):
            stop, reason, restore = live.update({"epoch": e, "loss": h["loss"][i], "val_loss": h["val_loss"][i]})
            if stop:
                stopped = i
                break
        v = h["val_loss"]
        best, wait, patience_stop = math.inf, 0, len(v) - 1
        for i, x in enumerate(v):
            best, wait = (x, 0) if x < best else (best, wait + 1)
            if wait >= 6:
                patience_stop = i
                break
        assert stopped is not None and stopped <= patience_stop and reason
        assert restore == h["epoch"][int(np.argmin(v[: stopped + 1]))]


def test_should_stop_waits_out_an_early_bump_that_never_fell_first() -> None:
    """A validation loss that rises for the first epochs while training barely moves (tests/data/curve_runs_final/
    var_overfit_0: the diagnosis of the first 6 epochs reads overfit with confidence 0.92) has not overfitted:
    it never fell.  Stopping there restored epoch 0, 163 % worse on the true test loss than patience's choice."""
    from gradwise.diagnose import Diagnosis, diagnose_so_far, should_stop

    train = [2.295, 2.252, 2.211, 2.17, 2.151, 2.105, 2.056]
    val = [2.298, 2.313, 2.334, 2.365, 2.39, 2.333, 2.278]
    recs = [{"epoch": e, "loss": t, "val_loss": v} for e, (t, v) in enumerate(zip(train, val))]
    sure = Diagnosis("overfit", 0, [], [], confidence=0.99)
    assert not should_stop(sure, recs)[0]                      # the kept epoch would be the first
    for i in range(5, len(recs) + 1):
        assert not should_stop(diagnose_so_far(recs[:i]), recs[:i])[0], i
    fell = [dict(r, val_loss=v) for r, v in zip(recs, [2.3, 2.2, 2.1, 2.2, 2.3, 2.4, 2.5])]
    assert should_stop(Diagnosis("overfit", 2, [], [], confidence=0.99, scores={"val_rise_z": 5.0}), fell,
                       min_epochs=0)[0]


def test_should_stop_leaves_the_first_epochs_to_patience() -> None:
    """bench/diagnose_corpus/fresh7/decay_conv1d_overf_0: a first dip at epoch 1 and a clear rise after it read
    as overfit by epoch 5 - but a later dip went lower (patience restored epoch 7, true loss 4.5 % better).
    Before ``live.MIN_EPOCHS`` epochs only patience stops."""
    from gradwise.diagnose import Diagnosis, should_stop
    from gradwise.diagnose.live import MIN_EPOCHS

    val = [2.0, 1.5, 1.6, 1.7, 1.8, 1.9, 1.7, 1.4, 1.5, 1.6, 1.7, 1.8, 1.9, 2.0]
    recs = [{"epoch": e, "loss": 2.0 - 0.1 * e, "val_loss": v} for e, v in enumerate(val)]
    sure = Diagnosis("overfit", 1, [], [], confidence=0.99, scores={"val_rise_z": 5.0})
    assert MIN_EPOCHS >= 12
    assert not should_stop(sure, recs[:6])[0]                       # epoch 5: too early to tell
    stop, _, restore = should_stop(sure, recs[:6], min_epochs=0)
    assert stop and restore == 1                                    # what it did before: the first dip
    stop, _, restore = should_stop(sure, recs[:MIN_EPOCHS])
    assert stop and restore == 7


def test_should_stop_waits_for_a_rise_beyond_the_noise() -> None:
    """The first 13 epochs of an erratic RMSprop run (bench/diagnose_corpus/fresh/swissroll_reg_overf_3): the
    validation trend has risen by less than one standard error of its noise; its real minimum came at epoch 23.
    Stopping live there restored weights 115 % worse.  Round 7's scorer read overfit with confidence >= 0.9
    there (rounds 10 and 11 read overfit at 0.61 and 0.72): whatever the scorer says, a rise within the noise
    never stops."""
    from gradwise.diagnose import Diagnosis, diagnose_so_far, should_stop

    train = [0.59208, 0.2972, 0.2203, 0.2271, 0.76958, 0.55235, 0.21515, 0.46342, 0.44521, 0.47801, 0.20173,
             0.14082, 0.19545]
    val = [0.84231, 0.74098, 0.62713, 0.47255, 0.29844, 0.27448, 0.33434, 0.27593, 0.23436, 0.27973, 0.24086,
           0.25875, 0.28638]
    recs = [{"epoch": e, "loss": t, "val_loss": v} for e, (t, v) in enumerate(zip(train, val), start=1)]
    d = diagnose_so_far(recs)
    assert d.scores["val_rise_z"] < 3
    for i in range(5, len(recs) + 1):
        assert not should_stop(diagnose_so_far(recs[:i]), recs[:i])[0], i
    confident = Diagnosis("overfit", d.best_epoch, [], [], confidence=0.99, scores=dict(d.scores))
    assert not should_stop(confident, recs)[0]   # a sure scorer, the same rise within the noise
    sure = Diagnosis("overfit", 9, [], [], confidence=0.99, scores={"val_rise_z": 3.5})
    assert should_stop(sure, recs)[0]


def test_should_stop_does_not_stop_a_good_fit_early() -> None:
    from gradwise.diagnose import diagnose_so_far, should_stop

    h = synthetic("good_fit", n=40)
    recs = [{"epoch": e, "loss": t, "val_loss": v} for e, t, v in zip(h["epoch"], h["loss"], h["val_loss"])]
    for i in range(5, 20):
        stop, _, _ = should_stop(diagnose_so_far(recs[:i]), recs[:i])
        assert not stop, i


# ----------------------------------------------------------------------------- more formats and tables
@pytest.mark.parametrize("train, val", [("train_loss", "val_loss"), ("loss", "valid_loss"),
                                        ("train_loss", "validation_loss"), ("Loss/train", "Loss/val"),
                                        ("loss/train", "loss/val"), ("Train Loss", "Val Loss"),
                                        ("training_loss", "loss/valid")])
def test_plain_csv_column_spellings(tmp_path: Path, train: str, val: str) -> None:
    h = synthetic("overfit", n=30)
    p = _write_csv(tmp_path / "h.csv", ["epoch", train, val],
                   [[e - 1, t, v] for e, t, v in zip(h["epoch"], h["loss"], h["val_loss"])])
    got = read_history(p)
    assert got.columns["loss"] == train and got.columns["val_loss"] == val and got["epoch"][0] == 0


def test_lightning_nan_padding_and_missing_validation_epochs(tmp_path: Path) -> None:
    """metrics.csv re-saved with NaN padding, validated every second epoch; a row of only NaN is a diverged run."""
    h = synthetic("overfit", n=30)
    rows = []
    for i, (t, v) in enumerate(zip(h["loss"], h["val_loss"])):
        rows.append([i, 10 * i, "nan", t * 1.2, "nan"])
        if i % 2:
            rows.append([i, 10 * i + 9, "nan", "nan", v])
        rows.append([i, 10 * i + 9, t, "nan", "nan"])
    p = _write_csv(tmp_path / "metrics.csv", ["epoch", "step", "train_loss_epoch", "train_loss_step", "val_loss"], rows)
    got = read_history(p)
    assert got["epoch"] == list(range(1, 30, 2)) and np.allclose(got["val_loss"], h["val_loss"][1::2])
    assert curves(p).verdict == "overfit"
    rows.append([30, 309, "nan", "nan", "nan"])
    p = _write_csv(tmp_path / "metrics.csv", ["epoch", "step", "train_loss_epoch", "train_loss_step", "val_loss"], rows)
    with pytest.raises(ValueError, match="epoch 30.*NaN"):
        read_history(p)


def test_tensorboard_add_scalars_layout(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    from torch.utils.tensorboard import SummaryWriter

    h = synthetic("overfit", n=25)
    w = SummaryWriter(str(tmp_path / "exp"))
    for e, t, v in zip(h["epoch"], h["loss"], h["val_loss"]):
        w.add_scalars("Loss", {"train": t, "val": v}, e)
    w.close()
    got = read_history(tmp_path / "exp")
    assert got.columns == {"loss": "Loss/train", "val_loss": "Loss/val"}
    assert got["epoch"] == h["epoch"] and np.allclose(got["val_loss"], h["val_loss"], atol=1e-6)


def _runs_directory(tmp_path: Path) -> Path:
    from torch.utils.tensorboard import SummaryWriter

    root = tmp_path / "runs"
    (root / "keras").mkdir(parents=True)
    for name, case in (("keras/a.csv", "overfit"), ("keras/training.log", "good_fit")):
        h = synthetic(case)
        _write_csv(root / name, ["epoch", "loss", "val_loss"],
                   [[e - 1, t, v] for e, t, v in zip(h["epoch"], h["loss"], h["val_loss"])])
    lit = root / "lightning_logs" / "version_0"
    lit.mkdir(parents=True)
    h = synthetic("unrepresentative_train")
    _write_csv(lit / "metrics.csv", ["epoch", "step", "train_loss_epoch", "val_loss"],
               [r for i, (t, v) in enumerate(zip(h["loss"], h["val_loss"])) for r in ([i, i, "", v], [i, i, t, ""])])
    (lit / "hparams.yaml").write_text("lr: 0.001\n")
    gw = root / "gradwise_run"
    gw.mkdir()
    h = synthetic("underfit_early")
    _write_csv(gw / "history.csv", ["epoch", "loss", "val_loss"], [[e, t, v] for e, t, v in zip(h["epoch"], h["loss"], h["val_loss"])])
    _write_csv(gw / "steps.csv", ["step", "loss"], [[1, 2.0]])
    w = SummaryWriter(str(root / "tb" / "exp1"))
    h = synthetic("good_fit")
    for e, t, v in zip(h["epoch"], h["loss"], h["val_loss"]):
        w.add_scalar("Loss/train", t, e)
        w.add_scalar("Loss/val", v, e)
    w.close()
    _write_csv(root / "broken.csv", ["epoch", "objective"], [[0, 1.0]])
    return root


def test_a_directory_of_runs_reads_as_a_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("tensorboard")
    from gradwise.diagnose import read_histories

    root = _runs_directory(tmp_path)
    runs = dict(read_histories(root, errors="keep"))
    assert set(runs) == {"broken.csv", "gradwise_run", "keras/a.csv", "keras/training.log",
                         "lightning_logs/version_0", "tb/exp1"}
    assert isinstance(runs["broken.csv"], ValueError)
    with pytest.raises(ValueError, match="several runs"):
        read_history(root)
    assert read_history(root / "tb").columns["loss"] == "Loss/train"     # one run under it: read as that run
    assert cli_main(["diagnose", str(root)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:3] == ["run", "verdict", "conf"] and len(out) == 7
    assert any(line.startswith("broken.csv") and "error" in line for line in out)
    assert cli_main(["diagnose", str(root), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    by = {r["run"]: r for r in rows}
    assert by["keras/a.csv"]["verdict"] == "overfit" and by["gradwise_run"]["verdict"] == "underfit"
    assert "error" in by["broken.csv"] and 0 <= by["tb/exp1"]["confidence"] <= 1


# ----------------------------------------------------------------------------- the generated corpus
CORPUS = ROOT / "bench" / "diagnose_corpus"


def test_corpus_runs_read_and_diagnose_without_error() -> None:
    """Every run of the development corpus (every format: Keras/Lightning CSV, TensorBoard in both layouts,
    gradwise files, plain CSVs; epochs from 0 or 1; missing epochs) reads, and the shipped method reads the
    verified ones as the measured figures say (a regression guard a little under them)."""
    bench = _bench()
    results = bench.evaluate(CORPUS / "dev")
    errors = [r for r in results if r.error]
    assert len(errors) <= 1, [r.error for r in errors]         # one 3-epoch run: too short by design
    s = bench.summary(results)
    assert s["shown_verdict_accuracy"] >= 0.85, bench.confusion_table(results)


def _read_corpus_set(name: str) -> dict:
    sys.path.insert(0, str(CORPUS))
    from report import summarise

    labels = json.loads((CORPUS / name / "labels.json").read_text())
    rows = []
    for run, lab in labels.items():
        try:
            d = curves(CORPUS / name / lab["file"])
            verdict, confidence, alternative = d.verdict, d.confidence, d.alternative
        except ValueError:      # too short to read (a 5-epoch run logged by Lightning with epochs missing)
            verdict, confidence, alternative = "error", 0.0, None
        rows.append({"run": run, "family": lab["family"], "label": lab["verdict"], "verified": lab["verified"],
                     "verdict": verdict, "confidence": confidence, "alternative": alternative,
                     "variant": lab["variant"]})
    return summarise(rows)


#: fresh sets read once, each after its round's method was committed (set, verified runs, a guard a little under
#: the right ones then): fresh3 59/64 (92.2 %; 52 of 54 verdicts with confidence >= 0.9 right), fresh7 104/121
#: (86.0 %; 84/86; development data since round 8), fresh8 114/125 (91.2 %; 99/101; development data since round 9),
#: fresh9 121/131 (92.4 %; 99/99; development data since round 10), fresh10 121/134 (90.3 %; 106/107; development
#: data since round 11), fresh11 140/148 (94.6 %; 118/118; development data since round 12), fresh12 142/160 (88.8 %;
#: 122/129; development data since round 13), fresh13 140/150 (93.3 %; 114/117; development data since round 14),
#: fresh14 125/140 (89.3 %; 106/108; development data since round 15), fresh15 135/144 (93.8 %; 111/112)
MEASURED_ONCE = [("fresh3", 64, 57), ("fresh7", 121, 102), ("fresh8", 125, 112), ("fresh9", 131, 119),
                 ("fresh10", 134, 119), ("fresh11", 148, 136), ("fresh12", 160, 138),
                 ("fresh13", 150, 137), ("fresh14", 140, 122), ("fresh15", 144, 131)]


@pytest.mark.parametrize("name, total, at_least", MEASURED_ONCE)
def test_fresh_families_measured_once_do_not_regress(name: str, total: int, at_least: int) -> None:
    """bench/diagnose_corpus/<name> was generated from four families never used in development and read once
    after its round's method was frozen.  Tuning on it would make those figures meaningless; this only guards
    against regressions, a little under them, and keeps confidence >= 0.9 right at least 90 % of the time."""
    s = _read_corpus_set(name)
    right, verified = s["verified"]
    assert verified == total and right >= at_least, s
    sure_right, sure = s["confident"]
    assert sure_right >= 0.9 * sure, s


def test_second_fresh_families_now_in_development_do_not_regress() -> None:
    """bench/diagnose_corpus/fresh2 was read once with the round-2 method (62 of 75 verified runs right), then
    joined development in round 3.  In-sample now: a regression guard only."""
    s = _read_corpus_set("fresh2")
    right, total = s["verified"]
    assert total == 75 and right >= 62, s


def test_first_fresh_families_now_in_development_do_not_regress() -> None:
    """bench/diagnose_corpus/fresh was measured once with the first method (56 of 69 verified runs right), then
    joined development (verification tightened: 65 verified).  In-sample now: a regression guard only."""
    s = _read_corpus_set("fresh")
    right, total = s["verified"]
    assert total == 65 and right >= 56, s


# ----------------------------------------------------------------------------- regularised runs
def _below_history(n: int = 40) -> dict:
    """Both curves fall and level off; validation lies a third below training throughout (dropout's picture)."""
    rng = np.random.default_rng(4)
    e = np.arange(1, n + 1)
    val = 0.3 + 1.7 * np.exp(-e / 5) + 0.004 * rng.standard_normal(n)
    return {"epoch": e.tolist(), "loss": (val * 1.5).tolist(), "val_loss": val.tolist()}


def test_validation_below_training_is_read_as_unrepresentative_without_context() -> None:
    d = curves(_below_history())
    assert d.verdict == "unrepresentative_validation" and d.rule == "1"


def test_regularized_run_reads_past_validation_below_training() -> None:
    """With dropout named, validation below training is expected: the rest of the picture decides (here a good
    fit), the evidence says why the first reading was set aside, and it stays the named alternative."""
    h = _below_history()
    d = curves(h, regularized=["dropout 0.5"])
    assert d.verdict == "good_fit", d
    assert d.alternative == "unrepresentative_validation"
    assert "expected with the run's dropout 0.5" in d.evidence[0]
    assert d.probabilities["unrepresentative_validation"] == 0.0
    assert abs(sum(d.probabilities.values()) - 1) < 1e-9
    assert 0 < d.confidence <= 1
    assert any("eval mode" in a for a in d.advice)
    # noisy validation (rule 3) is not what regularisation explains: the context changes nothing there
    rng = np.random.default_rng(0)
    e = np.arange(1, 41)
    tr = 0.3 + 1.7 * np.exp(-e / 5)
    noisy = {"epoch": e.tolist(), "loss": tr.tolist(), "val_loss": (tr * (1 + 0.5 * rng.random(40)) + 0.05).tolist()}
    assert curves(noisy, regularized=["dropout 0.5"]).verdict == curves(noisy).verdict


def test_fit_with_dropout_passes_its_regularisation_to_the_diagnosis() -> None:
    """fit() tells the diagnosis what the babysitter knows: the model's dropout (the evidence names it when
    validation lies below training)."""
    import gradwise
    from gradwise import nn
    from gradwise.train import fit

    gradwise.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((256, 8)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.int64)
    model = nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Dropout(0.6), nn.Linear(64, 2))
    h = fit(model, (x[:192], y[:192]), (x[192:], y[192:]), loss="cross_entropy", optimizer=("adam", {"lr": 3e-3}),
            epochs=25, batch_size=32, seed=0, babysit=False, progress=False)
    d = h.diagnosis
    assert d is not None and d.scores["val_below_fraction"] >= 0.8     # the picture is there ...
    assert d.verdict != "unrepresentative_validation", d                 # ... and explained by the dropout
    assert d.alternative == "unrepresentative_validation"
    assert "dropout 0.6" in d.evidence[0], d.evidence


def test_run_directory_diagnosis_reads_the_recorded_regularisation(tmp_path) -> None:
    """`gradwise diagnose RUN_DIR` (one run or a directory of runs) and the report read the same context fit()
    had: babysit.json's dropout."""
    import contextlib
    import io
    import json as _json

    from gradwise.cli.main import main
    from gradwise.diagnose.history_io import recorded_regularization

    run = tmp_path / "run"
    run.mkdir()
    h = _below_history()
    with (run / "history.csv").open("w") as fh:
        fh.write("epoch,loss,val_loss\n")
        for e, tr, va in zip(h["epoch"], h["loss"], h["val_loss"]):
            fh.write(f"{e},{tr},{va}\n")
    assert curves(run).verdict == "unrepresentative_validation"
    (run / "babysit.json").write_text(_json.dumps({"context": {"regularization": ["dropout 0.5"]}}))
    assert recorded_regularization(run / "history.csv") == ["dropout 0.5"]
    for target in (run, run / "history.csv"):
        d = curves(target)
        assert d.verdict == "good_fit" and "dropout 0.5" in d.evidence[0]
    (run / "babysit.json").write_text("{not json")
    assert recorded_regularization(run) == []
    # a directory of runs (gradwise diagnose's table) reads each run's own context
    (run / "babysit.json").write_text(_json.dumps({"context": {"regularization": ["dropout 0.5"]}}))
    other = tmp_path / "other"
    other.mkdir()
    (other / "history.csv").write_text((run / "history.csv").read_text())
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["diagnose", str(tmp_path), "--format", "json"]) == 0
    rows = {r["run"]: r for r in _json.loads(out.getvalue())}
    assert len(rows) == 2
    verdicts = sorted(r["verdict"] for r in rows.values())
    assert verdicts == ["good_fit", "unrepresentative_validation"], rows


def test_the_scorers_trees_score_as_scikit_learn_fitted_them() -> None:
    """The scorer's gradient-boosted trees are fitted by scikit-learn at development time and read at run time by
    scorer.boosted_scores from plain lists: the probabilities must be scikit-learn's own (to the 6 decimals the
    leaf values are stored with), and a split sends a value equal to its threshold left, as scikit-learn does."""
    pytest.importorskip("sklearn")
    from sklearn.ensemble import HistGradientBoostingClassifier

    from gradwise.diagnose import scorer

    sys.path.insert(0, str(CORPUS))
    from select_method import TREES, fit_trees

    rng = np.random.default_rng(3)
    x = rng.normal(size=(500, 6))
    y = np.clip((x[:, 0] > 0).astype(int) + 2 * (x[:, 1] > 0.3) + (x[:, 2] * x[:, 3] > 0.5), 0, 4)
    exported = fit_trees(x, y)
    want = HistGradientBoostingClassifier(**TREES, early_stopping=False, random_state=0).fit(x, y).predict_proba(x)
    got = np.array([scorer._softmax(scorer.boosted_scores(row, exported)) for row in x])
    np.testing.assert_allclose(got, want, atol=1e-5)
    tree = {"feature": [1, -1, -1], "threshold": [0.5, 0.0, 0.0], "left": [1, -1, -1], "right": [2, -1, -1],
            "value": [0.0, -1.0, 2.0]}
    stump = {"baseline": [0.0, 0.0], "rounds": [[tree, tree]]}   # one round, the same stump for both verdicts
    assert scorer.boosted_scores(np.array([9.0, 0.5]), stump).tolist() == [-1.0, -1.0]
    assert scorer.boosted_scores(np.array([9.0, 0.6]), stump).tolist() == [2.0, 2.0]


def test_the_same_shape_gets_the_same_verdict_at_any_length() -> None:
    """bench/diagnose_corpus/textbook.py draws the lecture's pictures at 15-250 epochs with the time scale
    proportional to the length: the shipped method must read them at least as well as the rules alone do
    (round 3's selection guard), and every overfitting and good-fit curve right at every length."""
    sys.path.insert(0, str(CORPUS))
    from textbook import CASES, suite

    wrong = [(case, n, seed, curves(h).verdict) for case, n, seed, want, h in suite() if curves(h).verdict != want]
    assert len(wrong) <= 0.04 * len(CASES) * 40, wrong
    assert not [w for w in wrong if w[0] in ("overfit", "good_fit")], wrong


def test_a_csv_log_holding_two_runs_keeps_the_later_rows(tmp_path: Path) -> None:
    """Keras' CSVLogger(append=True) after a restart writes a second run below the first (epochs from 0 again);
    after a resume from epoch 5 it rewrites epochs 5.. .  The later rows win from where they start - never an
    average of two runs - and a warning says the file held more than one."""
    restart = tmp_path / "restart.csv"
    restart.write_text("epoch,loss,val_loss\n" + "".join(f"{e},{9 - e},{10 - e}\n" for e in range(6))
                       + "".join(f"{e},{1 + 0.1 * e},{2 + 0.1 * e}\n" for e in range(8)))
    with pytest.warns(UserWarning, match="more than one run"):
        h = read_history(restart)
    assert h["epoch"] == list(range(8)) and h["loss"][0] == 1 and h["val_loss"][7] == pytest.approx(2.7)
    resume = tmp_path / "resume.csv"
    resume.write_text("epoch,loss,val_loss\n" + "".join(f"{e},{9 - e},{10 - e}\n" for e in range(8))
                      + "".join(f"{e},{0.5},{1.5}\n" for e in range(5, 10)))
    with pytest.warns(UserWarning, match="go back 1 time"):
        h = read_history(resume)
    assert h["epoch"] == list(range(10)) and h["loss"][:5] == [9, 8, 7, 6, 5] and h["loss"][5:] == [0.5] * 5


def test_evidence_never_quotes_minus_zero_percent() -> None:
    """Curves that end a hair apart, validation just below training (bench/diagnose_corpus/fresh9/moons4_cls_good_1:
    smoothed 0.3974 against 0.3979), quote a gap of "0%", not "-0%"."""
    d = curves(CORPUS / "fresh9" / "moons4_cls_good_1.keras.csv")
    gap = [line for line in d.evidence if "small gap" in line]
    assert gap and "-0%" not in " ".join(d.evidence), d.evidence
