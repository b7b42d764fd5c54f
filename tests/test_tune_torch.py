"""gradwise.tune on PyTorch models: a model factory given as a Python function or named in the config
(``[model] factory = "tune_torch_models:build"``); every trial babysat, diagnosed, pruned, saved and
scored on the test split as for gradwise models.

Trials train a tiny torch MLP on 300 digits for 5 epochs (the curve diagnosis needs at least 5).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

optuna = pytest.importorskip("optuna")
torch = pytest.importorskip("torch")

import tune_torch_models  # noqa: E402 - beside this file (pytest puts tests/ on sys.path)

from gradwise.models.weights import load_arrays  # noqa: E402
from gradwise.train import fit  # noqa: E402
from gradwise.train.babysit import CHECK_NAMES  # noqa: E402
from gradwise.train.config import ConfigError  # noqa: E402
from gradwise.tune import Categorical, Float, Int, SearchSpace, load_tune_config, trial_config, tune  # noqa: E402
from gradwise.tune.config import build_tune_data  # noqa: E402
from gradwise.tune.models import build_trial_model, build_trial_optimizer, trial_fit_kwargs  # noqa: E402
from gradwise.tune.pruning import PruningCallback  # noqa: E402

TESTS = Path(__file__).resolve().parent
SRC = TESTS.parent / "src"
BASE = {"data": {"limit": 300}, "optim": {"lr": 0.01}, "train": {"epochs": 5, "batch_size": 64, "seed": 0}}

FACTORY_TOML = """
[data]
limit = 300
[model]
factory = "tune_torch_models:build"
dropout = 0.1
[optim]
lr = 0.01
[schedule]
kind = "cosine"
[train]
epochs = 5
[tune]
n_trials = 3
n_jobs = 2
sampler = "random"
pruner = "none"
seed = 1
[tune.space]
"model.width" = { low = 8, high = 32 }
optim.lr = { low = 3e-3, high = 3e-2, log = true }
optim.name = ["adam", "sgd"]
"""


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Tiny models on a shared 2-core machine: one intra-op thread is faster (restored afterwards)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    """A 4-trial search of a torch factory (a Python function) with a test split, pictures and report."""
    run_dir = tmp_path_factory.mktemp("tune-torch")
    space = SearchSpace({"optim.lr": Float(3e-3, 3e-2, log=True), "model.width": Int(8, 32, log=True)})
    return tune(None, base=BASE, space=space, factory=tune_torch_models.build, run_dir=run_dir, n_trials=4, n_jobs=1,
                sampler="random", pruner="none", seed=0, test_fraction=0.2, progress=False, report=True)


# ============================================================================= a search through the Python API
def test_every_torch_trial_is_trained_babysat_and_diagnosed(searched):
    rows = searched.rows
    assert len(rows) == 4 and all(r.state == "complete" for r in rows), searched.table()
    assert all(r.verdict is not None and r.notes for r in rows)            # 5 epochs: the curves are read
    assert len({r.params["model.width"] for r in rows}) > 1
    for r in rows:
        trial_dir = Path(r.log_dir)
        run = json.loads((trial_dir / "run.json").read_text())
        assert run["engine"] == "torch" and run["model"] == "Sequential" and run["epochs_run"] == 5
        checks = [json.loads(line) for line in (trial_dir / "checks.jsonl").read_text().splitlines()]
        assert {c["name"] for c in checks} == set(CHECK_NAMES)             # all ten checks ran on the torch model
        assert not [c for c in checks if c["status"] == "fail"], checks
        assert "val_accuracy" in (trial_dir / "history.csv").read_text().splitlines()[0]
    assert searched.best is not None and searched.best.val_accuracy > 0.6


def test_the_best_epoch_weights_are_saved_as_a_torch_state_dict(searched):
    best = searched.best
    arrays = load_arrays(Path(best.log_dir) / "model.npz")
    model = tune_torch_models.build((64,), 10, width=best.params["model.width"])
    assert list(arrays) == list(model.state_dict())
    model.load_state_dict({k: torch.from_numpy(v) for k, v in arrays.items()})   # shapes and dtypes fit
    assert arrays["1.weight"].shape == (best.params["model.width"], 64) and arrays["1.weight"].dtype == np.float32


def test_test_split_scores_the_best_torch_trial_once(searched):
    test = searched.test
    assert test["trial"] == searched.best.number and test["samples"] == 60 and 0.5 < test["test_accuracy"] <= 1
    assert json.loads((searched.run_dir / "test.json").read_text()) == test
    assert (searched.run_dir / "report.html").is_file()


def test_pruning_callback_stops_a_torch_run_and_keeps_the_best_weights():
    class PruneAtTwo:
        def __init__(self):
            self.reported = []

        def report(self, value, step):
            self.reported.append((step, value))

        def should_prune(self):
            return len(self.reported) >= 2

    torch.manual_seed(0)
    x = np.random.default_rng(0).standard_normal((128, 8)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    model = tune_torch_models.build((8,), 2, width=8)
    trial = PruneAtTwo()
    pruning = PruningCallback(trial, "val_loss")
    history = fit(model, (x[:96], y[:96]), (x[96:], y[96:]), loss="cross_entropy", optimizer=("adam", {"lr": 1e-2}),
                  epochs=6, callbacks=[pruning], babysit=False, progress=False, seed=0)
    assert pruning.pruned_at == 2 and len(history.records) == 2 and "pruned by Optuna" in history.stop_reason
    assert [s for s, _ in trial.reported] == [1, 2]
    assert pruning.best_epoch in (1, 2) and all(isinstance(v, torch.Tensor) for v in pruning.best_state.values())


def test_median_pruner_prunes_a_hopeless_torch_trial(tmp_path):
    cfg = load_tune_config(None, {"tune": {"pruner_startup_trials": 1, "pruner_warmup_epochs": 0}})
    space = SearchSpace({"optim.name": ["sgd"], "optim.lr": Categorical([0.1, 1e-5])})
    # the grid sampler's seed 1 runs lr 0.1 first, so the hopeless 1e-5 has a trial to be judged against
    result = tune(cfg, base=BASE, space=space, factory="tune_torch_models:build", run_dir=tmp_path, n_trials=4,
                  n_jobs=1, sampler="grid", pruner="median", seed=1, progress=False, report=False)
    states = {r.params["optim.lr"]: r.state for r in result.rows}
    assert states.get(1e-5) == "pruned", result.table()
    pruned = [r for r in result.rows if r.state == "pruned"]
    assert all(r.epochs_run < 5 and any(n.startswith("pruned at epoch") for n in r.notes) for r in pruned)


# ============================================================================= the factory and its arguments
def test_factory_gets_the_arguments_it_declares():
    base = {**BASE, "model": {"factory": "tune_torch_models:build_everything", "channels": 8}}
    cfg, arch = trial_config(base, {"model.width": 24, "optim.lr": 0.05})
    assert arch.kind == "factory" and arch.factory_args == {"channels": 8, "width": 24}
    assert cfg["optim"]["lr"] == 0.05 and cfg["model"]["kind"] == "mlp"     # the training config stays valid
    data, _ = build_tune_data(cfg)
    model, _ = build_trial_model(cfg, arch, data, {"model.width": 24, "optim.lr": 0.05})
    seen = tune_torch_models.build_everything.seen
    assert seen["input_shape"] == (1, 8, 8) and seen["num_outputs"] == seen["num_classes"] == 10
    assert seen["width"] == 24 and seen["channels"] == 8 and seen["params"] == {"model.width": 24, "optim.lr": 0.05}
    optimizer = build_trial_optimizer(cfg, model)
    assert isinstance(optimizer, torch.optim.Adam)                          # the model's framework decides
    cfg["schedule"]["kind"] = "cosine"
    kwargs = trial_fit_kwargs(cfg, data, optimizer, model)
    assert isinstance(kwargs["scheduler"], torch.optim.lr_scheduler.CosineAnnealingLR)
    again, _ = build_trial_model(cfg, arch, data, {})
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))  # seeded


@pytest.mark.parametrize("model, space, expected", [
    ('factory = "no_such_module_xyz:build"', "", "config [model] factory: 'no_such_module_xyz:build': cannot import"),
    ('factory = "tune_torch_models.build"', "", "is not 'module:function'"),
    ('factory = "tune_torch_models:NOT_A_FUNCTION"', "", "is a int, not a function"),
    ('factory = "tune_torch_models:nothing_here"', "", "module 'tune_torch_models' has no 'nothing_here'"),
    ('factory = "tune_torch_models:build_needs_channels"', "", "its argument(s) channels get no value"),
    ('factory = "tune_torch_models:build"', "model.height = [1, 2]",
     "config [tune.space] model.height: the factory tune_torch_models:build has no argument 'height'"),
])
def test_factory_errors_name_the_key(tmp_path, model, space, expected):
    path = tmp_path / "bad.toml"
    path.write_text(f"[model]\n{model}\n[tune.space]\n{space}\n")
    with pytest.raises(ConfigError) as err:
        load_tune_config(path)
    assert expected in str(err.value)


def test_factory_arguments_may_come_from_the_config_or_the_space(tmp_path):
    path = tmp_path / "ok.toml"
    path.write_text('[model]\nfactory = "tune_torch_models:build_needs_channels"\nchannels = 8\n')
    assert load_tune_config(path).base["model"]["channels"] == 8
    path.write_text('[model]\nfactory = "tune_torch_models:build_needs_channels"\n'
                    '[tune.space]\n"model.channels" = [8, 16]\n')
    assert "model.channels" in load_tune_config(path).space


# ============================================================================= the command line with a config file
def test_cli_config_names_a_torch_factory_and_workers_import_it(tmp_path):
    """``gradwise tune search.toml`` in a fresh process, with two worker processes that import the factory by name."""
    path = tmp_path / "search.toml"
    path.write_text(FACTORY_TOML)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), str(SRC), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-m", "gradwise", "tune", str(path), "--out", str(tmp_path / "run"),
                           "--no-progress", "--no-report"], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "best trial" in proc.stdout and "diagnosis" in proc.stdout
    run = tmp_path / "run"
    assert json.loads((run / "search.json").read_text())["base"]["model"]["factory"] == "tune_torch_models:build"
    saved = json.loads((run / "results.json").read_text())
    trials = saved["trials"]
    assert len(trials) == 3 and all(t["state"] == "complete" and t["diagnosis"] for t in trials)
    assert len({t["worker"] for t in trials} - {None}) >= 1
    for t in trials:
        trial_dir = Path(t["log_dir"])
        assert json.loads((trial_dir / "run.json").read_text())["engine"] == "torch"
        lrs = [json.loads(line)["lr"] for line in (trial_dir / "history.jsonl").read_text().splitlines()]
        assert lrs[0] > lrs[-1]                                             # torch's CosineAnnealingLR ran
        assert {json.loads(line)["name"] for line in (trial_dir / "checks.jsonl").read_text().splitlines()} \
            == set(CHECK_NAMES)
