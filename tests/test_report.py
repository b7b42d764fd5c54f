"""``gradwise.report.render``: a self-contained report.html from a run directory, checked in headless Chromium."""
from __future__ import annotations

import csv
import json
import math
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

import gradwise
import gradwise.nn as nn
from gradwise.report import render

SECTIONS = ("Diagnosis of the learning curves", "Training vs validation", "Babysitter checks",
            "Activations per layer over time", "Gradient norms by layer", "Update-to-weight ratios", "Learning rate")


def write_history(run: Path, epochs: int = 14) -> None:
    """An overfitting run: validation loss bottoms out at epoch 6 and rises again."""
    e = np.arange(1, epochs + 1)
    loss = 2.0 * np.exp(-e / 3) + 0.05
    val = 2.0 * np.exp(-e / 3) + 0.25 + 0.02 * np.maximum(0, e - 6) ** 1.5
    with (run / "history.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["epoch", "loss", "val_loss", "accuracy", "val_accuracy", "lr", "seconds"])
        for i in range(epochs):
            w.writerow([e[i], loss[i], val[i], 1 - loss[i] / 3, 1 - val[i] / 3, 1e-3 * 0.9 ** i, 0.1])


def write_babysitter_files(run: Path) -> None:
    steps = [0, 1, 50, 100, 150]
    edges = list(np.linspace(0, 3, 31))
    relu_hist = [[600] + [10] * 29 for _ in steps]
    sig_edges = list(np.linspace(0, 1, 31))
    sig_hist = [[300] + [2] * 28 + [300] for _ in steps]
    stats = {
        "version": 1, "thresholds": {"update_ratio_target": 1e-3, "update_ratio_low": 1e-5, "update_ratio_high": 1.0},
        "labels": {"0": "Linear", "2": "Linear"},
        "activations": {"steps": steps, "epochs": [0, 1, 2, 3, 4], "layers": {
            "1": {"kind": "relu", "label": "ReLU after Linear '0'", "edges": edges, "histograms": relu_hist,
                  "dead_fraction": [0.1, 0.2, 0.6, 0.9, 1.0], "saturated_fraction": [None] * 5},
            "3": {"kind": "sigmoid", "label": "Sigmoid after Linear '2'", "edges": sig_edges,
                  "histograms": sig_hist, "dead_fraction": [None] * 5, "saturated_fraction": [0.9] * 5}}},
        "gradients": {"steps": steps[1:], "epochs": [1, 2, 3, 4], "norms": {"0": [1.0, 0.5, 0.1, 1e-3],
                                                                          "2": [2.0, 1.0, 0.8, 0.5]}},
        "updates": {"steps": steps[1:], "epochs": [1, 2, 3, 4], "ratios": {"0": [5e-3, 2e-3, 1e-3, None],
                                                                         "2": [6e-3, 3e-3, 1e-3, 5e-4]},
                    "lr": [1e-3] * 4},
    }
    (run / "babysit.json").write_text(json.dumps(stats))
    checks = [{"name": "input_normalization", "status": "pass", "message": "inputs look normalized", "evidence": {},
               "epoch": 0, "step": 0},
              {"name": "dead_relu", "status": "fail", "message": "dying ReLU - '1': 100% <dead> & gone",
               "evidence": {}, "epoch": 2, "step": 100},
              {"name": "saturation", "status": "warn", "message": "saturated units", "evidence": {}, "epoch": 1,
               "step": 50}]
    (run / "checks.json").write_text(json.dumps(checks))


@pytest.fixture(scope="module")
def full_run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("run")
    write_history(run)
    write_babysitter_files(run)
    return run


def images(page: str) -> list[str]:
    return re.findall(r'<img [^>]*src="([^"]+)"', page)


def test_render_writes_a_self_contained_page(full_run: Path):
    path = render(full_run)
    assert path == full_run / "report.html"
    page = path.read_text()
    for section in SECTIONS:
        assert section in page
    srcs = images(page)
    # loss, accuracy, 2 activation heatmaps, gradient norms, update ratios, learning rate
    assert len(srcs) == page.count("<img") == 7
    assert all(s.startswith("data:image/png;base64,") for s in srcs)
    assert not re.search(r'(src|href)="(https?:|//|file:)', page)        # no external asset
    assert "overfit" in page and "best epoch" in page                    # the diagnosis and the marked best epoch
    assert page.count('class="status"') == 3 and "#c5221f" in page and "#b06000" in page   # colored by status
    assert "&lt;dead&gt; &amp; gone" in page                               # messages are escaped


def test_render_with_only_a_history_says_what_is_missing(tmp_path: Path):
    write_history(tmp_path)
    page = render(tmp_path, out=tmp_path / "only.html").read_text()
    assert len(images(page)) == 3                                        # loss, accuracy, learning rate per epoch
    assert page.count("babysit.json is missing") == 3 and "No checks.json" in page


def test_render_refuses_an_empty_directory(tmp_path: Path):
    with pytest.raises(ValueError, match="nothing to report"):
        render(tmp_path)
    with pytest.raises(ValueError, match="no such run directory"):
        render(tmp_path / "absent")


def test_gradwise_report_command(tmp_path: Path, capsys):
    from gradwise.cli.main import main

    write_history(tmp_path)
    assert main(["report", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip().endswith("report.html") and (tmp_path / "report.html").is_file()


CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary")
def test_report_of_a_real_run_renders_in_headless_chromium(tmp_path: Path):
    from gradwise.data import train_val_split
    from gradwise.data.datasets import load_digits
    from gradwise.data.preprocessing import Standardize
    from gradwise.train import fit

    x, y = load_digits(flatten=True)
    (xt, yt), (xv, yv) = train_val_split((x, y), val_fraction=0.2, stratify=y, seed=0)
    scaler = Standardize().fit(xt)
    gradwise.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    nn.init.by_activation(model)
    run = tmp_path / "run"
    fit(model, (scaler.transform(xt), yt), (scaler.transform(xv), yv), loss="cross_entropy", optimizer="adam",
        epochs=5, batch_size=64, seed=0, progress=False, log_dir=run)
    page_path = render(run)
    page = page_path.read_text()
    assert len(images(page)) == 6 and "babysit.json is missing" not in page and "No checks.json" not in page

    shot = tmp_path / "shot.png"
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                        "--disable-background-networking", "--disable-component-update", "--disable-sync",
                        f"--user-data-dir={profile}", f"--screenshot={shot}", "--window-size=1280,3000",
                        page_path.resolve().as_uri()], check=True, capture_output=True, timeout=120)
    import matplotlib.image as mpimg

    pixels = mpimg.imread(shot)
    assert pixels.shape[:2] == (3000, 1280)
    rows = pixels[..., :3].std(axis=(1, 2))
    drawn = np.flatnonzero(rows > 0.02)              # rows where something other than background is drawn
    assert drawn.size > 1000 and drawn.max() > 2000  # text and plots down the page, not a blank or broken page
    assert not math.isnan(float(pixels.mean()))
