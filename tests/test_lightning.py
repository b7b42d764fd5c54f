"""gradwise.integrations.lightning.Babysitter on PyTorch Lightning's Trainer.fit: faults, healthy run, files.

The faults come from ``tests/_torch_faults.py`` (the table the fit and watch tests share); the MLP sits in
a LightningModule as ``self.net``, so its layers are ``net.0``, ``net.1``, ``net.2``.
"""
from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pl = pytest.importorskip("pytorch_lightning")

import _torch_faults as faults  # noqa: E402 - beside this file
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from gradwise.cli.main import main as gradwise_cli  # noqa: E402
from gradwise.integrations.lightning import Babysitter  # noqa: E402
from gradwise.train.babysit import CHECK_NAMES  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.filterwarnings("error:babysitter:RuntimeWarning"),
              pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning"),
              pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning"),
              pytest.mark.filterwarnings("ignore::UserWarning"),          # Lightning's hints (workers, logging)
              pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.filterwarnings("ignore:.*treespec")]                 # Lightning 2.6 on torch 2.13


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class LitClassifier(pl.LightningModule):
    """The way Lightning users write a classifier: the network in ``self.net``, the loss in ``self.loss_fn``."""

    def __init__(self, net, optimizer=("adam", {"lr": 1e-3}), fail_at=None):
        super().__init__()
        self.net = net
        self.loss_fn = torch.nn.CrossEntropyLoss()
        self.optimizer_spec = optimizer
        self.fail_at = fail_at

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        if self.fail_at == (self.current_epoch, batch_idx):
            raise RuntimeError("training_step broke")
        x, y = batch
        out = self(x)
        loss = self.loss_fn(out, y)
        self.log("train_loss", loss, on_step=False, on_epoch=True)
        self.log("train_acc", (out.argmax(1) == y).float().mean(), on_step=True, on_epoch=True)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        out = self(x)
        self.log("val_loss", self.loss_fn(out, y))
        self.log("val_acc", (out.argmax(1) == y).float().mean())

    def configure_optimizers(self):
        return faults.make_optimizer(self.optimizer_spec, self.net)


def loaders(kind="standard", batch_size=32, seed=0):
    (x, y), (xv, yv) = faults.digits(kind)
    train = DataLoader(TensorDataset(torch.as_tensor(x), torch.as_tensor(y)), batch_size=batch_size, shuffle=True,
                       generator=torch.Generator().manual_seed(seed))
    val = DataLoader(TensorDataset(torch.as_tensor(xv), torch.as_tensor(yv)), batch_size=256)
    return train, val


def lightning_fit(module, sitter, epochs, kind="standard", **trainer_kw):
    trainer = pl.Trainer(max_epochs=epochs, accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, callbacks=[sitter],
                         num_sanity_val_steps=0, **trainer_kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        trainer.fit(module, *loaders(kind))
    return trainer


def run_fault(fault, **kw):
    sitter = Babysitter(thresholds=fault.thresholds or None, **kw)
    lightning_fit(LitClassifier(fault.build(), fault.optimizer), sitter, fault.epochs, fault.data)
    return sitter


# ============================================================================= the seeded faults
@pytest.mark.parametrize("name", list(faults.FAULTS))
def test_each_seeded_fault_is_flagged_by_the_right_check(name):
    sitter = run_fault(faults.FAULTS[name])
    faults.assert_flagged(faults.FAULTS[name], sitter.history.checks, prefix="net.")


def test_healthy_run_is_flagged_by_none_and_leaves_a_run_directory(tmp_path, capsys):
    run = tmp_path / "run"
    sitter = Babysitter(log_dir=run)
    lightning_fit(LitClassifier(faults.HEALTHY.build()), sitter, 5)
    h = sitter.history
    faults.assert_flagged(faults.HEALTHY, h.checks)
    assert sorted(c.name for c in h.checks) == sorted(CHECK_NAMES)
    assert [r["epoch"] for r in h.records] == [1, 2, 3, 4, 5]
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds"} <= set(h.records[0])
    assert not any(k.endswith(("_step", "_epoch")) or k.startswith("train_") for k in h.keys())
    assert h.diagnosis is not None and h.best_epoch is not None
    for name in ("history.csv", "history.jsonl", "steps.csv", "checks.json", "babysit.json", "run.json",
                 "report.html"):
        assert (run / name).is_file(), name
    summary = json.loads((run / "run.json").read_text())
    assert summary["driver"] == "lightning" and summary["max_epochs"] == 5 and summary["loss"] == "CrossEntropyLoss"
    stats = json.loads((run / "babysit.json").read_text())
    assert set(stats["gradients"]["norms"]) == set(stats["updates"]["ratios"]) == {"net.0", "net.2"}
    assert all(r > 0 for r in stats["updates"]["ratios"]["net.0"])   # weights copied before each update
    capsys.readouterr()
    assert gradwise_cli(["diagnose", str(run / "history.csv"), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["verdict"] == h.diagnosis.verdict
    (run / "report.html").unlink()
    assert gradwise_cli(["report", str(run)]) == 0 and "Babysitter checks" in (run / "report.html").read_text()


def test_babysitting_does_not_change_the_lightning_run():
    def train(callbacks):
        pl.seed_everything(5, verbose=False)
        module = LitClassifier(faults.mlp(seed=2))
        trainer = pl.Trainer(max_epochs=1, accelerator="cpu", logger=False, enable_checkpointing=False,
                             enable_progress_bar=False, enable_model_summary=False, callbacks=callbacks,
                             num_sanity_val_steps=0, limit_train_batches=20)
        (x, y), _ = faults.digits()
        data = DataLoader(TensorDataset(torch.as_tensor(x), torch.as_tensor(y)), batch_size=32, shuffle=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            trainer.fit(module, data)   # the shuffling draws from torch's global generator
        return module
    a, b = train([Babysitter()]), train([])
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)


def test_a_module_without_a_usable_forward_or_loss_gets_skips_with_reasons():
    class NoForward(LitClassifier):
        def forward(self, x):
            raise NotImplementedError("use training_step")

        def training_step(self, batch, batch_idx):
            x, y = batch
            return torch.nn.functional.cross_entropy(self.net(x), y)

        def validation_step(self, batch, batch_idx):
            x, y = batch
            self.log("val_loss", torch.nn.functional.cross_entropy(self.net(x), y))

    module = NoForward(faults.FAULTS["dead_relus_from_a_large_negative_bias"].build())
    del module.loss_fn
    sitter = Babysitter()
    lightning_fit(module, sitter, 1)
    status = {c.name: c for c in sitter.history.checks}
    assert "forward" in sitter.sample_note
    for name in ("input_normalization", "initial_loss", "overfit_tiny_batch"):
        assert status[name].status == "skip"
    assert status["init_scheme"].status == "pass" and status["dead_relu"].status == "fail"
    assert [r["epoch"] for r in sitter.history.records] == [1] and "accuracy" not in sitter.history.records[0]


def test_stop_on_fail_stops_the_fit():
    sitter = run_fault(faults.FAULTS["learning_rate_far_too_high"], stop_on_fail=True)
    assert sitter.history.stop_reason.startswith("babysitter: ")
    assert any(c.status == "fail" for c in sitter.history.checks) and len(sitter.history.records) <= 1


def test_an_exception_in_the_fit_writes_what_there_is(tmp_path):
    sitter = Babysitter(log_dir=tmp_path)
    with pytest.raises(RuntimeError, match="training_step broke"):
        lightning_fit(LitClassifier(faults.mlp(), fail_at=(1, 5)), sitter, 3)
    summary = json.loads((tmp_path / "run.json").read_text())
    assert "RuntimeError" in summary["stop_reason"] and summary["epochs_run"] == 1
    assert (tmp_path / "checks.json").is_file() and (tmp_path / "report.html").is_file()
    assert all(not m._forward_hooks for m in sitter._watch.model.modules())


# ============================================================================= packaging
def test_missing_lightning_names_the_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "pytorch_lightning", None)
    monkeypatch.setitem(sys.modules, "lightning", None)
    monkeypatch.delitem(sys.modules, "gradwise.integrations.lightning")
    with pytest.raises(ImportError, match="pip install pytorch-lightning"):
        importlib.import_module("gradwise.integrations.lightning")


def test_importing_gradwise_imports_neither_torch_nor_lightning():
    code = ("import sys, gradwise, gradwise.train, gradwise.integrations; "
            "print(sorted(m for m in ('torch', 'pytorch_lightning', 'lightning') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stdout + out.stderr


def test_lightning_example_runs_and_leaves_a_readable_run(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "lightning_babysitter.py"), "--epochs", "3",
                           "--out", "run"], capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    run = tmp_path / "run"
    assert "validation accuracy" in proc.stdout and (run / "report.html").stat().st_size > 10_000
    checks = {c["name"]: c["status"] for c in json.loads((run / "checks.json").read_text())}
    assert set(checks) == set(CHECK_NAMES) and checks["init_scheme"] == "pass"
    assert np.isfinite(json.loads((run / "run.json").read_text())["final"]["val_loss"])
