"""Tests of `gradwise train`, `gradwise report` and `gradwise lr-find`, and of the TOML config they read.

Small configs (a few hundred digits, a handful of epochs) keep each run under a second or two.
Config errors must name the section, the key and the allowed values and exit with status 2.
"""
from __future__ import annotations

import json
import sys
import types

import numpy as np
import pytest

import gradwise
from gradwise.cli.main import main
from gradwise.diagnose import read_history
from gradwise.train.config import DEFAULT_CONFIG, ConfigError, load_config

SMALL = """
[data]
limit = 400
[model]
hidden = [16]
[optim]
lr = 0.01
[train]
epochs = 5
batch_size = 64
"""


def write(tmp_path, text, name="run.toml"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in ("train", "report", "lr-find", "diagnose"):
        assert command in out


def test_train_a_config(tmp_path, capsys):
    out_dir = tmp_path / "run"
    assert main(["train", write(tmp_path, SMALL), "--out", str(out_dir), "--no-report", "--no-babysit"]) == 0
    out = capsys.readouterr().out
    assert "data: the embedded 8x8 digits: 320 training and 80 validation samples of shape (1, 8, 8), 10 classes" in out
    assert "inputs standardized (per feature) with statistics of the training split only" in out
    assert "init " in out and "epoch 5/5" in out and "trained 5 epoch(s)" in out
    assert "learning-curve diagnosis:" in out and "verdict:" in out
    for name in ("history.csv", "history.jsonl", "steps.csv", "run.json", "config.json", "checkpoints/last.npz"):
        assert (out_dir / name).exists(), name
    assert read_history(out_dir / "history.csv")["epoch"] == [1, 2, 3, 4, 5]
    assert json.loads((out_dir / "config.json").read_text())["model"]["hidden"] == [16]
    assert json.loads((out_dir / "run.json").read_text())["diagnosis"]["verdict"]


def test_embedded_run_with_overrides_and_resume(tmp_path, capsys):
    out_dir = tmp_path / "digits"
    assert main(["train", "--out", str(out_dir), "--epochs", "1", "--no-report", "--no-babysit"]) == 0
    assert "config: the embedded digits config" in capsys.readouterr().out
    assert main(["train", "--out", str(out_dir), "--epochs", "2", "--no-report", "--no-babysit",
                 "--resume", str(out_dir / "checkpoints" / "last.npz")]) == 0
    assert "resumed from" in capsys.readouterr().out
    assert read_history(out_dir / "history.csv")["epoch"] == [1, 2]


def test_lenet5_on_an_npz_of_images(tmp_path, capsys):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, size=90)
    x = (rng.normal(size=(90, 1, 12, 12)) + y[:, None, None, None]).astype(np.float32)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    text = (f'[data]\nsource = "npz"\npath = "{tmp_path / "d.npz"}"\nnormalize = "per_channel"\n'
            '[model]\nkind = "lenet5"\nactivation = "tanh"\n[train]\nepochs = 1\n')
    assert main(["train", write(tmp_path, text), "--out", str(tmp_path / "a"), "--no-report", "--no-babysit"]) == 0
    out = capsys.readouterr().out
    assert "npz file" in out and "72 training and 18 validation samples of shape (1, 12, 12), 3 classes" in out
    assert "Conv2d" in out and "per channel" in out
    digits_lenet = '[model]\nkind = "lenet5"'
    assert main(["train", write(tmp_path, digits_lenet), "--out", str(tmp_path / "b"), "--no-report"]) == 2
    assert "'lenet5' needs images of at least 12x12 pixels" in capsys.readouterr().err


@pytest.mark.parametrize("text, message", [
    ('[optim]\nname = "adamm"', "config [optim] name: 'adamm' is not one of adam, sgd, adamw, rmsprop"),
    ('[optim]\nmomentum = 0.9', "config [optim] momentum: adam has no momentum (its arguments: lr, betas"),
    ("[train]\nepochz = 3", "config [train] epochz: unknown key (did you mean 'epochs'?); allowed keys: epochs, batch_size"),
    ('[train]\nepochs = "ten"', "config [train] epochs: expected an integer, got 'ten'"),
    ("[train]\nepochs = 0", "config [train] epochs: 0 must be at least 1"),
    ('[model]\nkind = "resnet"', "config [model] kind: 'resnet' is not one of mlp, lenet5, linear"),
    ('[data]\nsource = "npz"', "config [data] path: required when source = 'npz'"),
    ("[data]\nval_fraction = 1.5", "config [data] val_fraction: 1.5 must lie in [0, 1)"),
    ("[optimizer]\nname = 'sgd'", "config: unknown section [optimizer] (did you mean 'optim'?); the sections are [data], [model]"),
    ('[schedule]\nkind = "warmup"', "config [schedule] kind: 'warmup' is not one of none, step, exponential"),
    ("[train]\ntarget = { val_f1 = 0.9 }", "config [train] target: 'val_f1' is not one of loss, accuracy"),
    ("[data\n", "is not valid TOML"),
])
def test_config_errors_name_the_key_and_the_allowed_values(tmp_path, capsys, text, message):
    assert main(["train", write(tmp_path, text), "--out", str(tmp_path / "r"), "--no-report"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gradwise train: error: ") and message in err
    with pytest.raises(ConfigError):
        load_config(write(tmp_path, text, "again.toml"))


def test_config_errors_found_while_building(tmp_path, capsys):
    csv_path = tmp_path / "t.csv"
    csv_path.write_text("a,b,label\n" + "".join(f"{i},{i * 2},{i % 2}\n" for i in range(20)))
    text = f'[data]\nsource = "csv"\npath = "{csv_path}"\n[model]\nkind = "lenet5"\n'
    assert main(["train", write(tmp_path, text), "--out", str(tmp_path / "r"), "--no-report"]) == 2
    assert "config [model] kind: 'lenet5' needs image data (C, H, W)" in capsys.readouterr().err
    assert main(["train", str(tmp_path / "missing.toml")]) == 2
    assert "no such config file" in capsys.readouterr().err


def test_print_config_is_the_valid_default(capsys):
    assert main(["train", "--print-config"]) == 0
    assert capsys.readouterr().out == DEFAULT_CONFIG
    cfg = load_config()
    assert cfg["optim"] == {"name": "adam", "lr": 0.001, "weight_decay": None, "momentum": None, "nesterov": None}
    assert cfg["train"]["patience"] == 6 and cfg["data"]["source"] == "digits"


def fake_report(monkeypatch, calls):
    def render(run_dir):
        calls.append(run_dir)
        (run_dir / "report.html").write_text("<html></html>")
        return run_dir / "report.html"

    module = types.ModuleType("gradwise.report")
    module.render = render
    monkeypatch.setitem(sys.modules, "gradwise.report", module)
    monkeypatch.setattr(gradwise, "report", module, raising=False)


def test_train_renders_the_report_when_available(tmp_path, capsys, monkeypatch):
    calls = []
    fake_report(monkeypatch, calls)
    out_dir = tmp_path / "run"
    text = SMALL.replace("epochs = 5", "epochs = 1")
    assert main(["train", write(tmp_path, text), "--out", str(out_dir), "--no-babysit"]) == 0
    assert calls == [out_dir] and f"report: {out_dir / 'report.html'}" in capsys.readouterr().out


def test_report_command(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "gradwise.report", types.ModuleType("gradwise.report"))
    monkeypatch.setattr(gradwise, "report", sys.modules["gradwise.report"], raising=False)
    assert main(["report", str(tmp_path)]) == 2
    assert "gradwise.report.render) is not available" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "nope")]) == 2
    assert "no such run directory" in capsys.readouterr().err
    calls = []
    fake_report(monkeypatch, calls)
    assert main(["report", str(tmp_path)]) == 0
    assert calls == [tmp_path] and capsys.readouterr().out.strip() == str(tmp_path / "report.html")


def test_lr_find_command(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    png = tmp_path / "lr.png"
    assert main(["lr-find", write(tmp_path, SMALL), "--num-steps", "30", "--out", str(png)]) == 0
    out = capsys.readouterr().out
    assert "suggested lr" in out and "minimum/10" in out and f"plot: {png}" in out and png.exists()
    assert main(["lr-find", write(tmp_path, '[optim]\nname = "x"')]) == 2
