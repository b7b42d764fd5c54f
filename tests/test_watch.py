"""gradwise.train.watch on hand-written loops: the seeded faults, a healthy run, skips, files, exceptions.

The loops are what a PyTorch user writes (forward, loss, zero_grad, backward, step, then ``w.step(loss)``);
the faults come from ``tests/_torch_faults.py``, the table the fit and Lightning tests share.
"""
from __future__ import annotations

import copy
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import _torch_faults as faults  # noqa: E402 - beside this file
from gradwise.cli.main import main as gradwise_cli  # noqa: E402
from gradwise.train import Check, History, watch  # noqa: E402
from gradwise.train.babysit import CHECK_NAMES  # noqa: E402
from gradwise.train.watch import canonical_metrics  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# a check that breaks warns "babysitter: ..." - a failure here; the faults are expected to overflow
pytestmark = [pytest.mark.filterwarnings("error:babysitter:RuntimeWarning"),
              pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning"),
              pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")]


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread: these small models run faster, and alike, on a busy 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def torch_loop(model, data, optimizer, epochs, *, batch_size=32, seed=0, validate=True, during=None, **kw):
    """A plain PyTorch loop babysat with watch; ``during(w, epoch, batch)`` runs after each step."""
    (x, y), (xv, yv) = data
    x, y, xv, yv = (torch.as_tensor(a) for a in (x, y, xv, yv))
    loss_fn = torch.nn.CrossEntropyLoss()
    kw.setdefault("loss_fn", loss_fn)
    kw.setdefault("sample_batch", (data[0][0][:512], data[0][1][:512]))
    kw.setdefault("progress", False)
    order = torch.Generator().manual_seed(seed)
    with watch(model, optimizer, epochs=epochs, **kw) as w:
        for epoch in range(epochs):
            model.train()
            for batch, idx in enumerate(torch.randperm(len(x), generator=order).split(batch_size)):
                loss = loss_fn(model(x[idx]), y[idx])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                w.step(loss)
                if during is not None:
                    during(w, epoch, batch)
                if w.stop_training:
                    break
            if w.stop_training:
                break
            if validate:
                model.eval()
                with torch.no_grad():
                    out = model(xv)
                w.epoch_end(val_loss=loss_fn(out, yv), val_acc=(out.argmax(1) == yv).float().mean())
            else:
                w.epoch_end()
    return w


def run_fault(fault, **kw):
    model = fault.build()
    kw.setdefault("thresholds", fault.thresholds or None)
    return torch_loop(model, faults.digits(fault.data), faults.make_optimizer(fault.optimizer, model), fault.epochs,
                      **kw)


# ============================================================================= the seeded faults
@pytest.mark.parametrize("name", list(faults.FAULTS))
def test_each_seeded_fault_is_flagged_by_the_right_check(name):
    w = run_fault(faults.FAULTS[name])
    faults.assert_flagged(faults.FAULTS[name], w.history.checks)


def test_a_failed_check_stops_the_loop_with_stop_on_fail():
    w = run_fault(faults.FAULTS["learning_rate_far_too_high"], stop_on_fail=True)
    assert w.stop_training and w.history.stop_reason.startswith("babysitter: ")
    assert w.global_step < 44   # the loop broke off in its first epoch


def test_a_nan_loss_is_located_and_stops_the_loop():
    (x, y), val = faults.digits()
    x = x.copy()
    x[:, 5] = np.nan
    w = torch_loop(faults.mlp(), ((x, y), val), torch.optim.SGD(faults.mlp().parameters(), 0.1), 2)
    nan_inf = next(c for c in w.history.checks if c.name == "nan_inf")
    assert nan_inf.status == "fail" and "input data" in nan_inf.message
    assert w.stop_training and "non-finite training loss" in w.history.stop_reason and w.global_step == 1
    assert w.history.records == []


def test_healthy_run_is_flagged_by_none_and_leaves_a_run_directory(tmp_path, capsys):
    run = tmp_path / "run"
    model = faults.HEALTHY.build()
    w = torch_loop(model, faults.digits(), faults.make_optimizer(faults.HEALTHY.optimizer, model), 5, log_dir=run)
    h = w.history
    faults.assert_flagged(faults.HEALTHY, h.checks)
    assert sorted(c.name for c in h.checks) == sorted(CHECK_NAMES)    # every check reported, once
    assert h.diagnosis is not None and h.diagnosis.verdict
    assert [r["epoch"] for r in h.records] == [1, 2, 3, 4, 5]   # the fewest the diagnosis reads
    assert {"loss", "val_loss", "val_accuracy", "lr", "seconds"} <= set(h.records[0])
    for name in ("history.csv", "history.jsonl", "steps.csv", "steps.jsonl", "checks.jsonl", "checks.json",
                 "babysit.json", "run.json", "report.html"):
        assert (run / name).is_file(), name
    summary = json.loads((run / "run.json").read_text())
    assert summary["driver"] == "watch" and summary["engine"] == "torch" and summary["epochs_run"] == 5
    assert summary["loss"] == "CrossEntropyLoss" and summary["diagnosis"]["verdict"] == h.diagnosis.verdict
    steps = (run / "steps.jsonl").read_text().splitlines()
    assert len(steps) == w.global_step == 5 * 44 and json.loads(steps[0])["step"] == 1
    assert [c["name"] for c in json.loads((run / "checks.json").read_text())] == [c.name for c in h.checks]
    # the command line reads the run directory as it reads fit's
    capsys.readouterr()
    assert gradwise_cli(["diagnose", str(run / "history.csv"), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["verdict"] == h.diagnosis.verdict
    (run / "report.html").unlink()
    assert gradwise_cli(["report", str(run)]) == 0
    page = (run / "report.html").read_text()
    assert "Babysitter checks" in page and "dead_relu" in page


def test_watching_does_not_change_the_run():
    def train(watched: bool):
        model = faults.mlp(torch.nn.ReLU, seed=3)
        torch.manual_seed(11)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        (x, y), _ = faults.digits()
        x, y = torch.as_tensor(x), torch.as_tensor(y)
        loss_fn = torch.nn.CrossEntropyLoss()
        w = watch(model, opt, loss_fn=loss_fn, sample_batch=(x[:256], y[:256]), progress=False, babysit=watched)
        with w:
            for idx in torch.randperm(len(x)).split(64):
                loss = loss_fn(torch.nn.functional.dropout(model(x[idx]), 0.1), y[idx])   # draws from torch's RNG
                opt.zero_grad()
                loss.backward()
                opt.step()
                w.step(loss)
            w.epoch_end()
        return model
    a, b = train(True), train(False)
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)   # the probes before training restore weights, optimizer and every RNG


def test_hooks_fire_on_the_sampled_training_forward_and_the_ratio_uses_the_weights_before_the_update(tmp_path):
    model = faults.mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    seen = {}

    def during(w, epoch, batch):
        if epoch == 0 and batch == 0:   # after step 1's update: what the babysitter must have measured
            seen["grad"] = {name: float(model[int(name)].weight.grad.norm()) for name in ("0", "2")}
            seen["after"] = {name: model[int(name)].weight.detach().clone() for name in ("0", "2")}

    before = {name: model[int(name)].weight.detach().clone() for name in ("0", "2")}
    w = torch_loop(model, faults.digits(), opt, 2, log_dir=tmp_path, during=during)
    stats = json.loads((tmp_path / "babysit.json").read_text())
    assert stats["activations"]["steps"][:2] == [0, 1] and 45 in stats["activations"]["steps"]   # epoch 2's first
    assert len(stats["activations"]["steps"]) == len(stats["activations"]["layers"]["1"]["histograms"])
    assert all(h is not None for h in stats["activations"]["layers"]["1"]["histograms"])
    assert stats["gradients"]["steps"][0] == 1 and stats["updates"]["steps"][0] == 1
    for name in ("0", "2"):
        assert stats["gradients"]["norms"][name][0] == pytest.approx(seen["grad"][name], rel=1e-4)
        ratio = float((seen["after"][name] - before[name]).norm() / before[name].norm())
        assert stats["updates"]["ratios"][name][0] == pytest.approx(ratio, rel=1e-4) and ratio > 0
    assert w.global_step == 88 and not model._forward_hooks and not model._forward_pre_hooks
    assert all(not m._forward_hooks for m in model.modules())   # nothing left on the user's model


def test_on_an_accelerator_the_numbers_are_read_back_in_groups(monkeypatch):
    """As fit on CUDA: unsampled steps' losses stay on the device and are read 8 at a time here (forced on the CPU)."""
    from gradwise.engines.torch_engine import TorchEngine

    def run():
        model = faults.mlp()
        return torch_loop(model, faults.digits(), torch.optim.Adam(model.parameters(), 1e-3), 2)

    eager = run()
    reads: list[int] = []
    read_scalars = TorchEngine.read_scalars
    monkeypatch.setattr(TorchEngine, "sync_every", property(lambda self: 8))
    monkeypatch.setattr(TorchEngine, "read_scalars", lambda self, values: reads.append(len(values)) or
                        read_scalars(self, values))
    deferred = run()
    # every loss read once: the 2 sampled steps (1 and 45) at once, the other 86 in groups of at most 8
    assert 0 < max(reads) <= 8 and sum(reads) == 86 and len(reads) < 20
    for a, b in zip(eager.history.records, deferred.history.records):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-12) and a["val_loss"] == b["val_loss"]
    assert [(c.name, c.status, c.message) for c in eager.history.checks] == \
        [(c.name, c.status, c.message) for c in deferred.history.checks]   # the same findings, read later


# ============================================================================= what the loop does not give
def test_without_a_sample_batch_or_a_loss_the_data_checks_skip_with_the_reason():
    fault = faults.FAULTS["dead_relus_from_a_large_negative_bias"]
    w = run_fault(fault, sample_batch=None, loss_fn=None)
    status = {c.name: c for c in w.history.checks}
    for name in ("input_normalization", "initial_loss", "overfit_tiny_batch"):
        assert status[name].status == "skip" and "sample_batch" in status[name].message
    assert status["init_scheme"].status == "pass"          # from the weights alone, in registration order
    faults.assert_flagged(fault, w.history.checks)         # the dead ReLUs are still found while training
    assert status["dead_relu"].epoch == 1 and status["dead_relu"].step == 0


def test_without_a_loss_function_the_loss_checks_skip_and_without_an_optimizer_the_overfit_check():
    model = faults.mlp()
    w = torch_loop(model, faults.digits(), torch.optim.Adam(model.parameters(), 1e-3), 1, loss_fn=None)
    status = {c.name: c for c in w.history.checks}
    assert status["input_normalization"].status == "pass"
    assert status["initial_loss"].status == status["overfit_tiny_batch"].status == "skip"
    assert "loss_fn" in status["initial_loss"].message

    model = faults.mlp()
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    (x, y), _ = faults.digits()
    with watch(model, loss_fn="cross_entropy", sample_batch=(x[:256], y[:256]), progress=False) as w:
        for idx in torch.arange(len(x)).split(64):
            loss = torch.nn.functional.cross_entropy(model(torch.as_tensor(x[idx])), torch.as_tensor(y[idx]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            w.step(loss)
        w.epoch_end()
    status = {c.name: c for c in w.history.checks}
    assert status["initial_loss"].status == "pass" and status["overfit_tiny_batch"].status == "skip"
    assert "optimizer" in status["overfit_tiny_batch"].message
    assert "lr" not in w.history.records[0]   # unknown without the optimizer


def test_skip_is_a_status_everywhere(tmp_path, capsys):
    assert Check("initial_loss", "skip", "skipped: no loss").status == "skip"
    with pytest.raises(ValueError, match="one of pass, warn, fail, skip"):
        Check("initial_loss", "maybe", "?")
    model = faults.mlp()
    torch_loop(model, faults.digits(), torch.optim.Adam(model.parameters(), 1e-3), 1, sample_batch=None,
               log_dir=tmp_path, progress=True)
    out = capsys.readouterr().out
    assert "[skip] input_normalization (before training): skipped:" in out       # shown as it happens
    checks = json.loads((tmp_path / "checks.json").read_text())
    assert sum(c["status"] == "skip" for c in checks) == 3
    assert [json.loads(line)["status"] for line in (tmp_path / "checks.jsonl").read_text().splitlines()].count("skip") == 3
    page = (tmp_path / "report.html").read_text()
    assert "3 skip" in page and ">skip<" in page
    h = History()
    h.load_state_dict({"checks": checks})
    assert [c.status for c in h.checks].count("skip") == 3


# ============================================================================= the loop's side
def test_an_exception_in_the_block_writes_what_there_is_and_propagates(tmp_path):
    model = faults.mlp()

    def boom(w, epoch, batch):
        if epoch == 1 and batch == 3:
            raise KeyError("the data loader broke")

    with pytest.raises(KeyError, match="the data loader broke"):
        torch_loop(model, faults.digits(), torch.optim.Adam(model.parameters(), 1e-3), 3, log_dir=tmp_path,
                   during=boom)
    summary = json.loads((tmp_path / "run.json").read_text())
    assert "KeyError" in summary["stop_reason"] and summary["epochs_run"] == 1
    assert len((tmp_path / "history.csv").read_text().splitlines()) == 2    # header + epoch 1
    assert len((tmp_path / "steps.jsonl").read_text().splitlines()) == 44 + 4
    assert {c["name"] for c in json.loads((tmp_path / "checks.json").read_text())} >= {"init_scheme", "initial_loss"}
    assert (tmp_path / "babysit.json").is_file() and (tmp_path / "report.html").is_file()
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def test_metric_names_are_read_in_the_common_spellings():
    assert canonical_metrics({"train_loss": 1.0, "val_acc": 0.5, "valid_loss": 2.0, "acc": 0.4, "train/f1": 0.3}) == \
        {"loss": 1.0, "val_accuracy": 0.5, "val_loss": 2.0, "accuracy": 0.4, "f1": 0.3}
    # Lightning's on_step + on_epoch metrics: the epoch value counts, the step value is dropped
    assert canonical_metrics({"train_acc": 0.6, "train_acc_step": 0.9, "train_acc_epoch": 0.7,
                              "validation_accuracy": 0.8}) == {"accuracy": 0.7, "val_accuracy": 0.8}
    model = faults.mlp()
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    losses = []
    (x, y), _ = faults.digits()
    with watch(model, opt, progress=False, babysit=False) as w:
        for idx in torch.arange(256).split(64):
            loss = torch.nn.functional.cross_entropy(model(torch.as_tensor(x[idx])), torch.as_tensor(y[idx]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            w.step(loss, acc=0.5)
            losses.append(loss.item())
        record = w.epoch_end(train_acc=torch.tensor(0.25), val_loss=np.float32(1.5), val_acc=0.75)
    assert record["loss"] == pytest.approx(np.mean(losses))    # loss defaults to the mean of the steps' losses
    assert record["accuracy"] == 0.25 and record["val_loss"] == 1.5 and record["val_accuracy"] == 0.75
    assert w.history.diagnosis is None and "1 epoch(s) recorded" in w.history.diagnosis_note


def test_misuse_is_explained():
    model = faults.mlp()
    w = watch(model, torch.optim.SGD(model.parameters(), 0.1), progress=False)
    with pytest.raises(RuntimeError, match="before the watch started"):
        w.step(1.0)
    with w:
        with pytest.raises(ValueError, match="pass loss="):
            w.epoch_end(val_loss=1.0)
    with pytest.raises(RuntimeError, match="after the watch finished"):
        w.step(1.0)
    with pytest.raises(TypeError, match="sample_batch must be"):
        watch(model, sample_batch=np.zeros((4, 64)))


def test_mixed_frameworks_are_refused():
    import gradwise.nn as gnn

    with pytest.raises(TypeError, match="PyTorch"):
        watch(gnn.Linear(4, 2), torch.optim.SGD(faults.mlp().parameters(), 0.1))


def test_copies_and_pickles_of_the_model_are_not_watched():
    model = faults.mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    (x, y), _ = faults.digits()
    with watch(model, opt, progress=False) as w:
        clone = copy.deepcopy(model)
        restored = pickle.loads(pickle.dumps(model))
        for m in (clone, restored):
            m(torch.as_tensor(x[:8]))     # a training-mode forward of a copy is no step of the watch
        assert w.global_step == 0 and not w._in_step
        loss = torch.nn.functional.cross_entropy(model(torch.as_tensor(x[:32])), torch.as_tensor(y[:32]))
        opt.zero_grad()
        loss.backward()
        opt.step()
        w.step(loss)
        w.epoch_end()
    assert w.global_step == 1


# ============================================================================= a gradwise model
def test_watch_babysits_a_gradwise_loop(tmp_path):
    import gradwise
    import gradwise.nn as gnn
    import gradwise.nn.functional as F
    from gradwise import optim

    gradwise.manual_seed(0)
    model = gnn.Sequential(gnn.Linear(64, 64), gnn.ReLU(), gnn.Linear(64, 10))
    gnn.init.by_activation(model)
    gnn.init.constant_(model[0].bias, -10.0)   # the dead-ReLU fault, in gradwise
    opt = optim.Adam(model.parameters(), lr=1e-3)
    (x, y), (xv, yv) = faults.digits()
    with watch(model, opt, loss_fn=F.cross_entropy, sample_batch=(x[:512], y[:512]), log_dir=tmp_path,
               progress=False) as w:
        for epoch in range(2):
            model.train()
            for start in range(0, len(x), 64):
                loss = F.cross_entropy(model(gradwise.tensor(x[start:start + 64])), gradwise.tensor(y[start:start + 64]))
                opt.zero_grad()
                loss.backward()
                opt.step()
                w.step(loss)
            model.eval()
            with gradwise.no_grad():
                val = F.cross_entropy(model(gradwise.tensor(xv)), gradwise.tensor(yv))
            w.epoch_end(val_loss=val)
    assert sorted(c.name for c in w.history.checks) == sorted(CHECK_NAMES)
    dead = next(c for c in w.history.checks if c.name == "dead_relu")
    assert dead.status == "fail" and dead.evidence["layers"] == ["1"] and dead.epoch == 0
    assert json.loads((tmp_path / "run.json").read_text())["engine"] == "gradwise"
    assert (tmp_path / "report.html").is_file() and w.global_step == 2 * 22


# ============================================================================= the example
def test_torch_watch_example_runs_and_leaves_a_readable_run(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "torch_watch.py"), "--epochs", "3", "--out", "run"],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    run = tmp_path / "run"
    assert "validation accuracy" in proc.stdout and (run / "report.html").stat().st_size > 10_000
    checks = {c["name"]: c["status"] for c in json.loads((run / "checks.json").read_text())}
    assert set(checks) == set(CHECK_NAMES) and checks["init_scheme"] == "pass"
    assert json.loads((run / "run.json").read_text())["epochs_run"] == 3
