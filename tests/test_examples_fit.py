"""The PyTorch examples of examples/ run as a user runs them (CPU, a few epochs) and leave a readable run."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[1]


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=300, cwd=cwd, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return proc


def test_torch_fit_example(tmp_path):
    proc = _run([str(ROOT / "examples" / "torch_fit.py"), "--epochs", "4", "--device", "cpu", "--out", "run"], tmp_path)
    assert "validation accuracy" in proc.stdout
    run = tmp_path / "run"
    summary = json.loads((run / "run.json").read_text())
    assert summary["engine"] == "torch" and summary["epochs_run"] == 4
    assert (run / "report.html").stat().st_size > 10_000
    checks = {c["name"]: c["status"] for c in json.loads((run / "checks.json").read_text())}
    assert checks["init_scheme"] == "pass"   # He before ReLU, Xavier on the logits


def test_torchrun_example_in_one_and_in_two_processes(tmp_path):
    one = _run([str(ROOT / "examples" / "torchrun_fit.py"), "--epochs", "2", "--out", "one"], tmp_path)
    assert "1 process(es)" in one.stdout
    two = _run(["-m", "torch.distributed.run", "--nproc_per_node=2", "--rdzv-backend=c10d",
                "--rdzv-endpoint=localhost:0", str(ROOT / "examples" / "torchrun_fit.py"), "--epochs", "2", "--out",
                "two"], tmp_path)
    assert "2 process(es)" in two.stdout
    assert json.loads((tmp_path / "two" / "run.json").read_text())["processes"] == 2
