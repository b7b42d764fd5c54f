"""Per-step logs survive a crash during a resume: rows are appended, never truncated and rewritten later."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest

import gradwise.nn as nn
from gradwise.train import Callback, fit


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    return x, y


def _model():
    import gradwise

    gradwise.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))


class Crash(Callback):
    order = 1000

    def __init__(self, at: str, epoch: int = 0) -> None:
        self.at, self.epoch = at, epoch

    def on_train_begin(self, trainer) -> None:
        if self.at == "begin":
            raise RuntimeError("crash while resuming")

    def on_batch_end(self, trainer, batch_index, logs) -> None:
        if self.at == "batch" and trainer.epoch == self.epoch and batch_index == 1:
            raise RuntimeError("crash mid-epoch")


def _steps(run) -> tuple[list[int], list[int]]:
    with (run / "steps.csv").open(newline="") as f:
        csv_steps = [int(r["step"]) for r in csv.DictReader(f)]
    jsonl_steps = [json.loads(line)["step"] for line in (run / "steps.jsonl").read_text().splitlines()]
    return csv_steps, jsonl_steps


def test_a_crash_while_resuming_keeps_every_logged_row(tmp_path):
    x, y = _data()
    common = dict(loss="cross_entropy", optimizer="sgd", batch_size=16, seed=0, progress=False, babysit=False)
    with pytest.raises(RuntimeError, match="mid-epoch"):
        fit(_model(), (x, y), epochs=4, log_dir=tmp_path, callbacks=[Crash("batch", epoch=3)], **common)
    before = _steps(tmp_path)
    assert before[0] == before[1] == list(range(1, 13)) + [13, 14]   # 2 epochs of 6 steps, then 2 of epoch 3
    with pytest.raises(RuntimeError, match="while resuming"):
        fit(_model(), (x, y), epochs=4, log_dir=tmp_path, resume=tmp_path / "checkpoints" / "last.npz",
            callbacks=[Crash("begin")], **common)
    after = _steps(tmp_path)
    assert after[0] == after[1] == list(range(1, 13))   # the steps past the checkpoint dropped, the rest kept
    history = fit(_model(), (x, y), epochs=4, log_dir=tmp_path, resume=tmp_path / "checkpoints" / "last.npz",
                  **common)
    assert len(history.records) == 4
    final = _steps(tmp_path)
    assert final[0] == final[1] == list(range(1, 25))
    header = (tmp_path / "steps.csv").read_text().splitlines()[0]
    assert (tmp_path / "steps.csv").read_text().count(header) == 1
