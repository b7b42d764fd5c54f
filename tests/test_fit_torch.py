"""fit() on PyTorch models: the same loop, logs, checkpoints and checks as for gradwise models.

The reference is a hand-written PyTorch loop: with the same seed, data order and model, fit gives the
same per-epoch losses.  Data-parallel training runs under a real ``torchrun`` with two gloo processes.
"""
from __future__ import annotations

import copy
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from gradwise.data.datasets import load_digits  # noqa: E402
from gradwise.train import Callback, EarlyStopping, fit, lr_find  # noqa: E402
from gradwise.train.evaluate import evaluate  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture(scope="module")
def digits():
    x, y = load_digits(flatten=True, normalize=True)
    return (x[:1200], y[:1200]), (x[1200:1500], y[1200:1500])


def mlp(seed: int = 1, hidden: int = 32, dropout: float = 0.0) -> "torch.nn.Module":
    torch.manual_seed(seed)
    layers = [torch.nn.Linear(64, hidden), torch.nn.ReLU()]
    if dropout:
        layers.append(torch.nn.Dropout(dropout))
    return torch.nn.Sequential(*layers, torch.nn.Linear(hidden, 10))


def reference_loop(model, train, val, *, seed, epochs, batch_size, lr):
    """A careful hand-written PyTorch loop: per-epoch permutation seeded with seed + epoch (DistributedSampler's rule)."""
    torch.manual_seed(seed)
    x, y = torch.from_numpy(train[0]).float(), torch.from_numpy(train[1]).long()
    xv, yv = torch.from_numpy(val[0]).float(), torch.from_numpy(val[1]).long()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    losses, val_losses = [], []
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed + epoch))
        total = 0.0
        for start in range(0, len(x), batch_size):
            idx = order[start:start + batch_size]
            loss = loss_fn(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        losses.append(total / len(x))
        model.eval()
        with torch.no_grad():
            val_losses.append(loss_fn(model(xv), yv).item())
    return losses, val_losses


@pytest.mark.parametrize("babysit", [False, True])
def test_fit_matches_a_hand_written_torch_loop(digits, babysit):
    train, val = digits
    model = mlp(dropout=0.2)
    reference = copy.deepcopy(model)
    history = fit(model, train, val, loss="cross_entropy", optimizer=("adam", {"lr": 3e-3}), epochs=3, batch_size=64,
                  seed=7, babysit=babysit, progress=False)
    losses, val_losses = reference_loop(reference, train, val, seed=7, epochs=3, batch_size=64, lr=3e-3)
    np.testing.assert_allclose(history.history["loss"], losses, rtol=1e-6)
    np.testing.assert_allclose(history.history["val_loss"], val_losses, rtol=1e-5)
    for a, b in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(a, b)   # babysitting never changes the run


def test_fit_returns_checks_diagnosis_and_files(digits, tmp_path):
    train, val = digits
    history = fit(mlp(), train, val, loss="cross_entropy", optimizer="adam", epochs=6, seed=0, log_dir=tmp_path,
                  progress=False)
    names = {c.name for c in history.checks}
    assert {"input_normalization", "init_scheme", "initial_loss", "overfit_tiny_batch", "loss_decreasing", "nan_inf",
            "dead_relu", "saturation", "gradient_flow", "learning_rate"} <= names
    assert all(c.status in ("pass", "warn", "fail", "skip") for c in history.checks)
    assert history.diagnosis is not None and history.diagnosis.verdict
    assert history.history["val_accuracy"][-1] > 0.85
    for name in ("history.csv", "steps.csv", "checks.jsonl", "run.json", "babysit.json", "checkpoints/last.npz"):
        assert (tmp_path / name).exists(), name
    summary = json.loads((tmp_path / "run.json").read_text())
    assert summary["engine"] == "torch" and summary["model"] == "Sequential"


def test_torch_dataset_dataloader_and_tensors(digits):
    from torch.utils.data import DataLoader, TensorDataset

    (x, y), (xv, yv) = digits
    ds = TensorDataset(torch.from_numpy(x).float(), torch.from_numpy(y).long())
    val_ds = TensorDataset(torch.from_numpy(xv).float(), torch.from_numpy(yv).long())
    for train, val in ((ds, val_ds), (DataLoader(ds, batch_size=32, shuffle=True), DataLoader(val_ds, batch_size=128)),
                       ((torch.from_numpy(x), torch.from_numpy(y)), (torch.from_numpy(xv), torch.from_numpy(yv)))):
        history = fit(mlp(), train, val, loss=torch.nn.CrossEntropyLoss(), optimizer="sgd", epochs=2, seed=0,
                      babysit=False, progress=False)
        assert len(history.records) == 2 and math.isfinite(history.history["val_loss"][-1])


def test_float64_arrays_are_cast_to_the_model_dtype(digits):
    (x, y), val = digits
    history = fit(mlp(), (x.astype(np.float64), y), val, loss="cross_entropy", optimizer="adam", epochs=1,
                  babysit=False, progress=False)
    assert math.isfinite(history.history["loss"][0])


def test_mixed_engines_name_both_frameworks(digits):
    import gradwise.nn as gnn
    import gradwise.optim as goptim

    train, _ = digits
    torch_model = mlp()
    gw_model = gnn.Sequential(gnn.Linear(64, 10))
    with pytest.raises(TypeError, match=r"PyTorch model .* optimizer is a gradwise"):
        fit(torch_model, train, loss="cross_entropy", optimizer=goptim.SGD(gw_model.parameters(), lr=0.1), epochs=1)
    with pytest.raises(TypeError, match=r"gradwise model .* optimizer is a PyTorch"):
        fit(gw_model, train, loss="cross_entropy", optimizer=torch.optim.SGD(torch_model.parameters(), lr=0.1),
            epochs=1)
    with pytest.raises(TypeError, match=r"PyTorch model .* loss is a gradwise"):
        fit(torch_model, train, loss=gnn.CrossEntropyLoss(), optimizer="sgd", epochs=1)


def test_cuda_device_without_a_gpu_is_a_clear_error(digits):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(ValueError, match="no CUDA GPU"):
        fit(mlp(), digits[0], loss="cross_entropy", optimizer="sgd", epochs=1, device="cuda")


def test_early_stopping_restores_the_best_torch_weights(digits):
    train, val = digits

    class Remember(Callback):
        weights = {}

        def on_epoch_end(self, trainer, epoch, logs):
            self.weights[epoch] = {k: v.clone() for k, v in trainer.model.state_dict().items()}

    remember = Remember()
    model = mlp()
    stopper = EarlyStopping(patience=2, restore_best_weights=True)
    history = fit(model, train, val, loss="cross_entropy", optimizer=("adam", {"lr": 0.05}), epochs=12, seed=0,
                  early_stopping=stopper, callbacks=[remember], babysit=False, progress=False)
    best = stopper.best_epoch
    assert best is not None
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, remember.weights[best][k])
    assert history.history["val_loss"][best - 1] == min(history.history["val_loss"])


KILL_AFTER = """
import os, signal, sys
import numpy as np, torch
from gradwise.data.datasets import load_digits
from gradwise.train import Callback, fit
sys.path.insert(0, {tests!r})
from test_fit_torch import mlp
x, y = load_digits(flatten=True, normalize=True)
class Kill(Callback):
    order = 1000   # after the checkpoint of the epoch is written
    def on_epoch_end(self, trainer, epoch, logs):
        if epoch == 2:
            os.kill(os.getpid(), signal.SIGKILL)
fit(mlp(dropout=0.3), (x[:1200], y[:1200]), (x[1200:1500], y[1200:1500]), loss="cross_entropy",
    optimizer=("adam", {{"lr": 3e-3}}), epochs=4, seed=3, log_dir={run!r}, progress=False, callbacks=[Kill()],
    scheduler=lambda opt: torch.optim.lr_scheduler.StepLR(opt, 1, gamma=0.7))
"""


def test_exact_resume_after_a_kill(digits, tmp_path):
    train, val = digits
    common = dict(loss="cross_entropy", optimizer=("adam", {"lr": 3e-3}), epochs=4, seed=3, progress=False,
                  scheduler=lambda opt: torch.optim.lr_scheduler.StepLR(opt, 1, gamma=0.7))
    straight = mlp(dropout=0.3)
    expected = fit(straight, train, val, log_dir=tmp_path / "straight", **common)
    run = tmp_path / "killed"
    proc = subprocess.run([sys.executable, "-c", KILL_AFTER.format(tests=str(ROOT / "tests"), run=str(run))],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == -9, proc.stderr
    resumed_model = mlp(dropout=0.3)
    resumed = fit(resumed_model, train, val, log_dir=run, resume=run / "checkpoints" / "last.npz", **common)
    assert resumed.history["loss"] == expected.history["loss"]
    assert resumed.history["val_loss"] == expected.history["val_loss"]
    for a, b in zip(resumed_model.parameters(), straight.parameters()):
        assert torch.equal(a, b)


def test_a_gradwise_checkpoint_does_not_resume_a_torch_run(digits, tmp_path):
    import gradwise.nn as gnn

    train, val = digits
    fit(gnn.Sequential(gnn.Linear(64, 10)), train, val, loss="cross_entropy", optimizer="sgd", epochs=1,
        log_dir=tmp_path, babysit=False, progress=False)
    with pytest.raises(ValueError, match="gradwise model"):
        fit(mlp(), train, val, loss="cross_entropy", optimizer="sgd", epochs=2, progress=False,
            resume=tmp_path / "checkpoints" / "last.npz")


def test_lr_find_on_a_torch_model_leaves_it_untouched(digits):
    train, _ = digits
    model = mlp()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = lr_find(model, train, "cross_entropy", "sgd", num_steps=40, seed=0)
    assert len(result.lrs) > 10 and result.suggestion is not None
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])


def test_evaluate_serves_torch_and_gradwise_models(digits):
    import gradwise.nn as gnn
    from gradwise.train.trainer import accuracy_for

    _, (xv, yv) = digits
    acc = {"accuracy": accuracy_for("multiclass")}
    scores = evaluate(mlp(), (xv, yv), torch.nn.CrossEntropyLoss(), acc, prefix="test_")
    assert set(scores) == {"test_loss", "test_accuracy"} and 0 <= scores["test_accuracy"] <= 1
    gw = evaluate(gnn.Sequential(gnn.Linear(64, 10)), (xv, yv), gnn.CrossEntropyLoss(), acc)
    assert math.isfinite(gw["loss"])


# ----------------------------------------------------------------------------- torchrun
def _torchrun(tmp_path: Path, run: Path, epochs: int, resume: Path | None = None, nan_at: int = 0) -> list[dict]:
    """``torchrun --nproc_per_node=2 tests/scripts/torchrun_fit.py RUN EPOCHS [RESUME]`` (as a module: the same);
    ``nan_at``: the process of rank 1 gets a NaN loss at that training step."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--rdzv-backend=c10d",
           "--rdzv-endpoint=localhost:0", str(ROOT / "tests" / "scripts" / "torchrun_fit.py"), str(run), str(epochs)]
    cmd += [str(resume)] if resume else []
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GRADWISE_TEST_NAN_AT": str(nan_at)}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return [json.loads((run.parent / f"rank{r}.json").read_text()) for r in (0, 1)]


def test_torchrun_trains_data_parallel(tmp_path, digits):
    run = tmp_path / "run"
    ranks = _torchrun(tmp_path, run, epochs=3)
    assert ranks[0]["params"] == ranks[1]["params"]                      # gradients averaged: one model
    assert ranks[0]["steps"] == ranks[1]["steps"] == 3 * math.ceil(700 / 32)   # each rank saw half the steps
    assert _without_seconds(ranks[0]["records"]) == _without_seconds(ranks[1]["records"])   # reduced over processes
    assert (run / "history.csv").exists() and (run / "run.json").exists()
    assert len((run / "history.csv").read_text().strip().splitlines()) == 4
    assert sorted(p.name for p in run.parent.iterdir()) == ["rank0.json", "rank1.json", "run"]   # rank 0 alone wrote
    summary = json.loads((run / "run.json").read_text())
    assert summary["processes"] == 2
    # validation numbers are those of one process over all the validation data
    x, y = load_digits(flatten=True, normalize=True)
    model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))
    model.load_state_dict({k: torch.tensor(v) for k, v in ranks[0]["params"].items()})
    from gradwise.train.trainer import accuracy_for

    one = evaluate(model, (x[1400:], y[1400:]), torch.nn.CrossEntropyLoss(), {"accuracy": accuracy_for("multiclass")})
    assert one["accuracy"] == pytest.approx(ranks[0]["records"][-1]["val_accuracy"], abs=1e-12)
    assert one["loss"] == pytest.approx(ranks[0]["records"][-1]["val_loss"], rel=1e-5)


def test_a_torchrun_checkpoint_resumes_under_torchrun(tmp_path):
    first = _torchrun(tmp_path, tmp_path / "run", epochs=2)
    resumed = _torchrun(tmp_path, tmp_path / "run", epochs=4, resume=tmp_path / "run" / "checkpoints" / "last.npz")
    assert [r["epoch"] for r in resumed[0]["records"]] == [1, 2, 3, 4]
    assert _without_seconds(resumed[0]["records"][:2]) == _without_seconds(first[0]["records"])
    assert resumed[0]["steps"] == resumed[1]["steps"] == 2 * math.ceil(700 / 32)
    assert resumed[0]["params"] == resumed[1]["params"]


def test_torchrun_stops_every_process_before_a_non_finite_update(tmp_path):
    """A NaN loss on one process stops both at that step, before the update: the averaged gradients never carry
    the NaN into the weights, and the processes leave the collective calls together."""
    ranks = _torchrun(tmp_path, tmp_path / "run", epochs=3, nan_at=30)   # step 30: in the second epoch (22 a rank)
    assert ranks[0]["params"] == ranks[1]["params"]
    assert all(math.isfinite(v) for p in ranks[0]["params"].values() for v in np.ravel(p))
    assert [r["epoch"] for r in ranks[0]["records"]] == [1]             # the stopped epoch is not recorded
    done = ranks[0]["steps"]                                             # the steps finished before it: the same
    assert ranks[1]["steps"] == done and 22 < done < 44                   # on both, inside epoch 2
    assert f"non-finite training loss (nan) at epoch 2, batch {done - 22 + 1}/22" in ranks[1]["stop_reason"]
    assert "before that update on every process" in ranks[0]["stop_reason"]
    assert "on another process" in ranks[0]["stop_reason"]
    assert "epoch 2" in json.loads((tmp_path / "run" / "run.json").read_text())["stop_reason"]


def _without_seconds(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "seconds"} for r in records]


# ----------------------------------------------------------------------------- CUDA (skipped without a GPU)
@CUDA
def test_fit_on_cuda_matches_cpu_closely(digits):
    train, val = digits
    cpu = fit(mlp(), train, val, loss="cross_entropy", optimizer="adam", epochs=2, seed=0, progress=False)
    gpu_model = mlp()
    gpu = fit(gpu_model, train, val, loss="cross_entropy", optimizer="adam", epochs=2, seed=0, progress=False,
              device="cuda")
    assert next(gpu_model.parameters()).is_cuda
    np.testing.assert_allclose(gpu.history["loss"], cpu.history["loss"], rtol=1e-3)
    assert {c.name for c in gpu.checks} == {c.name for c in cpu.checks}


@CUDA
def test_cuda_checkpoint_resumes(digits, tmp_path):
    train, val = digits
    fit(mlp(), train, val, loss="cross_entropy", optimizer="adam", epochs=2, seed=0, progress=False, device="cuda",
        log_dir=tmp_path)
    resumed = fit(mlp(), train, val, loss="cross_entropy", optimizer="adam", epochs=3, seed=0, progress=False,
                  device="cuda:0", log_dir=tmp_path, resume=tmp_path / "checkpoints" / "last.npz")
    assert len(resumed.records) == 3


def test_deferred_read_back_gives_the_same_run(digits, monkeypatch):
    """On CUDA the step losses are read back 32 at a time; forced on the CPU, the run must not change."""
    from gradwise.engines.torch_engine import TorchEngine

    train, val = digits
    straight_model, deferred_model = mlp(), mlp()
    straight = fit(straight_model, train, val, loss="cross_entropy", optimizer="adam", epochs=2, seed=0,
                   progress=False)
    monkeypatch.setattr(TorchEngine, "sync_every", property(lambda self: 8))
    deferred = fit(deferred_model, train, val, loss="cross_entropy", optimizer="adam", epochs=2, seed=0,
                   progress=False)
    assert deferred.history["loss"] == pytest.approx(straight.history["loss"], rel=1e-12)
    assert deferred.history["accuracy"] == straight.history["accuracy"]
    assert [(c.name, c.status) for c in deferred.checks] == [(c.name, c.status) for c in straight.checks]
    for a, b in zip(straight_model.parameters(), deferred_model.parameters()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("kind", ["onecycle", "plateau", "step"])
def test_torch_schedulers_step_where_torch_users_expect(digits, kind):
    train, val = digits
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    steps_per_epoch = math.ceil(len(train[0]) / 64)
    sched = {"onecycle": lambda: torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=3 * steps_per_epoch),
             "plateau": lambda: torch.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=0, factor=0.5, threshold=10.0),
             "step": lambda: torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)}[kind]()
    history = fit(model, train, val, loss="cross_entropy", optimizer=opt, scheduler=sched, epochs=3, batch_size=64,
                  babysit=False, progress=False)
    lrs = history.history["lr"]   # the rate each epoch started with
    if kind == "onecycle":
        assert sched.last_epoch == 3 * steps_per_epoch   # stepped once per optimizer step
    else:
        assert lrs == pytest.approx([0.05, 0.025, 0.0125])


def test_target_time_budget_and_tensorboard_with_a_torch_model(digits, tmp_path):
    pytest.importorskip("tensorboard")
    from gradwise.diagnose import read_history
    from gradwise.train import TensorBoardLogger

    train, val = digits
    history = fit(mlp(), train, val, loss="cross_entropy", optimizer="adam", epochs=50, seed=0, babysit=False,
                  progress=False, target={"val_accuracy": 0.8}, log_dir=tmp_path, callbacks=[TensorBoardLogger()])
    assert len(history.records) < 50 and "val_accuracy" in history.stop_reason
    assert len(read_history(tmp_path / "tensorboard")["val_loss"]) == len(history.records)
    budget = fit(mlp(), train, val, loss="cross_entropy", optimizer="adam", epochs=10_000, babysit=False,
                 progress=False, time_budget=0.5)
    assert "budget" in budget.stop_reason
