"""`gradwise train` when things go wrong: one short message, the right exit status, and an intact run folder.

Each case runs the real command in a subprocess (``python -m gradwise train ...``) on a few hundred of the
embedded digits for a few epochs, and checks what a script or a person sees: the exit status (2 for a
usage/config error, 1 for a failed run, 130/143 when interrupted), no Python traceback, the message, and -
where a resume is refused - that every file of the run folder is byte-for-byte what it was.

Where a subprocess cannot produce the fault, the test says so and makes it in-process: a full disk after
the first checkpoint (``_write_npz`` raising ``ENOSPC``; a real one comes from ``/dev/full`` before the first
checkpoint), a read-only file system or a refused permission while training (tests run as root here, and
root writes through ``chmod``; a real read-only folder is tested when not root).
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import numpy as np
import pytest

from gradwise.cli.main import main
from gradwise.diagnose import read_history
from gradwise.train.config import DEFAULT_CONFIG, SCHEMA, fit_kwargs, load_config, parse_config

SMALL = """\
[data]
limit = 300
[model]
hidden = [16]
[train]
epochs = 2
batch_size = 64
"""
TIMEOUT = 120


def cli(*args: str, cwd: Path, env: dict | None = None, timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
    """``python -m gradwise ARGS`` in ``cwd``; stdout/stderr captured as text."""
    environ = {k: v for k, v in os.environ.items() if k != "GRADWISE_DEBUG"}
    environ.update(env or {})
    return subprocess.run([sys.executable, "-m", "gradwise", *args], cwd=cwd, env=environ, capture_output=True,
                          text=True, timeout=timeout)


def tree(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (relative path -> SHA-256 of its bytes): equal trees are byte-for-byte equal."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def assert_clean_error(proc: subprocess.CompletedProcess, status: int, *needles: str) -> str:
    """Exit ``status``, no traceback anywhere, and one ``gradwise train: error:`` line holding every needle."""
    assert proc.returncode == status, (proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("gradwise train: error: ")]
    assert len(lines) == 1, proc.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def write(folder: Path, text: str, name: str = "run.toml") -> str:
    (folder / name).write_text(text)
    return name


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    """A 2-epoch run of SMALL (config.json, logs, checkpoints/last.npz and best.npz), made once."""
    folder = tmp_path_factory.mktemp("base")
    (folder / "run.toml").write_text(SMALL)
    proc = cli("train", "run.toml", "--out", "run", "--no-report", "--no-progress", cwd=folder)
    assert proc.returncode == 0, proc.stderr
    return folder / "run"


@pytest.fixture
def run_copy(tmp_path, finished_run) -> Path:
    """A private copy of the finished run in ``tmp_path/run`` (and SMALL in ``tmp_path/run.toml``)."""
    shutil.copytree(finished_run, tmp_path / "run")
    write(tmp_path, SMALL)
    return tmp_path / "run"


# ============================================================================= config and usage errors: exit 2
@pytest.mark.parametrize("text, needle", [
    ('[optim]\nname = "sgd"\nmomentum = 1.5', "config [optim] momentum: Invalid momentum value: 1.5 (momentum must be in [0, 1))"),
    ("[optim]\nlr = inf", "config [optim] lr: inf must be a finite number > 0"),
    ("[optim]\nlr = -0.1", "config [optim] lr: -0.1 must be a finite number > 0"),
    ('[optim]\nname = "sgd"\nweight_decay = -1', "config [optim] weight_decay: Invalid weight_decay value: -1.0"),
    ('[train]\nmonitor = "val_acc"', "config [train] monitor: 'val_acc' is not logged by this run; it logs loss, "
                                     "accuracy, val_loss, val_accuracy"),
    ("[data]\nval_fraction = 0.0\n[train]\npatience = 3", "early stopping on 'val_loss' needs validation data"),
    ("[train]\ntarget = { val_accuracy = 0.9 }\npatience = 0\n[data]\nval_fraction = 0.0\n",
     "config [train] target: 'val_accuracy' is not logged by this run; it logs loss, accuracy"),
    ("[train]\nepochs = 0", "config [train] epochs: 0 must be at least 1"),
])
def test_bad_config_values_exit_2_before_anything_is_written(tmp_path, text, needle):
    proc = cli("train", write(tmp_path, text), "--out", "run", "--no-report", cwd=tmp_path)
    assert_clean_error(proc, 2, needle)
    assert not (tmp_path / "run").exists()


def test_output_path_under_a_regular_file(tmp_path):
    (tmp_path / "afile").write_text("not a folder")
    proc = cli("train", write(tmp_path, SMALL), "--out", "afile/run", "--no-report", cwd=tmp_path)
    assert_clean_error(proc, 2, "--out afile/run: afile is a regular file", "choose another --out")
    proc = cli("train", "run.toml", "--out", "afile", "--no-report", cwd=tmp_path)
    assert_clean_error(proc, 2, "--out afile: is a regular file, not a directory")
    assert (tmp_path / "afile").read_text() == "not a folder"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through chmod; the in-process tests below cover it")
def test_read_only_output_folder(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        proc = cli("train", write(tmp_path, SMALL), "--out", "locked/run", "--no-report", cwd=tmp_path)
    finally:
        locked.chmod(0o755)
    assert_clean_error(proc, 2, "is not writable", "choose another --out")


def test_missing_config_file_and_bad_option(tmp_path):
    assert_clean_error(cli("train", "nope.toml", cwd=tmp_path), 2, "nope.toml: no such config file")
    proc = cli("train", "--epochs", "ten", cwd=tmp_path)      # argparse's own usage error
    assert proc.returncode == 2 and "invalid int value: 'ten'" in proc.stderr and "Traceback" not in proc.stderr


# ============================================================================= resume refused: exit 2, run untouched
def resume(tmp_path: Path, checkpoint: str, config: str = "run.toml", *extra: str) -> subprocess.CompletedProcess:
    return cli("train", config, "--resume", checkpoint, "--no-report", "--no-progress", *extra, cwd=tmp_path)


def test_truncated_checkpoint(tmp_path, run_copy):
    last = run_copy / "checkpoints" / "last.npz"
    last.write_bytes(last.read_bytes()[:1000])
    before = tree(run_copy)
    proc = resume(tmp_path, "run/checkpoints/last.npz", "run.toml", "--epochs", "4")
    assert_clean_error(proc, 2, "run/checkpoints/last.npz: cannot read checkpoint", "truncated or corrupt")
    assert tree(run_copy) == before


def test_not_a_checkpoint_and_a_missing_one(tmp_path, run_copy):
    np.savez(run_copy / "checkpoints" / "other.npz", x=np.zeros(3))
    before = tree(run_copy)
    proc = resume(tmp_path, "run/checkpoints/other.npz", "run.toml", "--epochs", "4")
    assert_clean_error(proc, 2, "not a gradwise checkpoint")
    proc = resume(tmp_path, "run/checkpoints/gone.npz", "run.toml", "--epochs", "4")
    assert_clean_error(proc, 2, "--resume run/checkpoints/gone.npz: no such checkpoint file")
    assert tree(run_copy) == before


def test_architecture_differs(tmp_path, run_copy):
    write(tmp_path, SMALL.replace("[16]", "[32]"), "wide.toml")
    before = tree(run_copy)
    proc = resume(tmp_path, "run/checkpoints/last.npz", "wide.toml", "--epochs", "4")
    assert_clean_error(proc, 2, "differs from the run's own (run/config.json)", "[model] hidden: [16] -> [32]",
                       "--out NEW_DIR")
    assert tree(run_copy) == before and not (tmp_path / "new").exists()
    # the checkpoint copied out of its run (no config.json beside it): the weights themselves are checked
    shutil.copy(run_copy / "checkpoints" / "last.npz", tmp_path / "loose.npz")
    proc = resume(tmp_path, "loose.npz", "wide.toml", "--epochs", "4", "--out", "new")
    assert_clean_error(proc, 2, "the checkpoint's weights do not fit the model of this config",
                       "size mismatch for 1.0.weight")
    assert tree(run_copy) == before


def test_optimizer_differs(tmp_path, run_copy):
    write(tmp_path, SMALL + '[optim]\nname = "sgd"\nmomentum = 0.9\n', "sgd.toml")
    before = tree(run_copy)
    proc = resume(tmp_path, "run/checkpoints/last.npz", "sgd.toml", "--epochs", "4")
    assert_clean_error(proc, 2, "[optim] name: 'adam' -> 'sgd'", "[optim] momentum: None -> 0.9")
    shutil.copy(run_copy / "checkpoints" / "last.npz", tmp_path / "loose.npz")
    proc = resume(tmp_path, "loose.npz", "sgd.toml", "--epochs", "4", "--out", "new")
    assert_clean_error(proc, 2, "the checkpoint was written by Adam, this config trains with SGD",
                       "[optim] name = 'adam'")
    assert tree(run_copy) == before


def test_settings_a_resume_must_keep(tmp_path, run_copy):
    write(tmp_path, SMALL.replace("[train]", "[optim]\nlr = 0.01\n[train]"), "lr.toml")
    before = tree(run_copy)
    assert_clean_error(resume(tmp_path, "run/checkpoints/last.npz", "lr.toml", "--epochs", "4"), 2,
                       "[optim] lr: 0.001 -> 0.01")
    assert_clean_error(resume(tmp_path, "run/checkpoints/last.npz", "run.toml", "--epochs", "4", "--seed", "3"), 2,
                       "[train] seed: 0 -> 3")
    assert tree(run_copy) == before


def test_resume_with_nothing_left_to_do_writes_nothing(tmp_path, run_copy):
    before = tree(run_copy)
    proc = resume(tmp_path, "run/checkpoints/last.npz")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr
    assert "nothing to do: run/checkpoints/last.npz already holds 2 of the 2 epochs" in proc.stdout
    assert tree(run_copy) == before


def test_a_good_resume_continues_in_the_run_folder(tmp_path, run_copy):
    proc = resume(tmp_path, "run/checkpoints/last.npz", "run.toml", "--epochs", "3")
    assert proc.returncode == 0, proc.stderr
    assert read_history(run_copy / "history.csv")["epoch"] == [1, 2, 3]
    assert json.loads((run_copy / "config.json").read_text())["train"]["epochs"] == 3


def test_debug_shows_the_traceback(tmp_path, run_copy):
    last = run_copy / "checkpoints" / "last.npz"
    last.write_bytes(last.read_bytes()[:1000])
    for proc in (resume(tmp_path, "run/checkpoints/last.npz", "run.toml", "--epochs", "4", "--debug"),
                 cli("--debug", "train", "run.toml", "--resume", "run/checkpoints/last.npz", "--epochs", "4",
                     cwd=tmp_path),
                 cli("train", "run.toml", "--resume", "run/checkpoints/last.npz", "--epochs", "4", cwd=tmp_path,
                     env={"GRADWISE_DEBUG": "1"})):
        assert proc.returncode == 2
        assert "Traceback" in proc.stderr and "CheckpointError" in proc.stderr
        assert "gradwise train: error: run/checkpoints/last.npz: cannot read checkpoint" in proc.stderr


# ============================================================================= the run fails: exit 1
def test_a_diverged_run_exits_1_with_the_epoch_and_batch(tmp_path):
    text = SMALL.replace("[train]", '[optim]\nname = "sgd"\nlr = 1e12\n[train]')
    proc = cli("train", write(tmp_path, text), "--out", "run", "--no-report", "--no-progress", cwd=tmp_path)
    line = assert_clean_error(proc, 1, "the run diverged - non-finite training loss", "lower the learning rate",
                              "its logs are in run/")
    assert re.search(r"at epoch \d+, batch \d+/\d+ \(step \d+\)", line), line
    assert json.loads((tmp_path / "run" / "run.json").read_text())["stop_reason"].startswith("non-finite")


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full to fill a disk")
def test_a_full_disk_before_the_first_checkpoint(tmp_path):
    """A real ENOSPC: the per-step log is a link to /dev/full, where every write fails with 'No space left'."""
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "steps.csv").symlink_to("/dev/full")
    proc = cli("train", write(tmp_path, SMALL), "--out", "run", "--no-report", "--no-progress", cwd=tmp_path)
    assert_clean_error(proc, 1, "no space left on the device (writing the run in run/)",
                       "no checkpoint was written yet", "start again with: gradwise train run.toml --out run")


class FailingWrites:
    """Stands in for the checkpoint writer: the first ``ok`` calls write, then every call raises ``errno``."""

    def __init__(self, real, code: int, ok: int) -> None:
        self.real, self.code, self.ok, self.calls = real, code, ok, 0

    def __call__(self, f, arrays):
        self.calls += 1
        if self.calls > self.ok:
            raise OSError(self.code, os.strerror(self.code))
        return self.real(f, arrays)


@pytest.mark.parametrize("code, needle", [
    (errno.ENOSPC, "no space left on the device"),
    (errno.EROFS, "read-only file system"),
    (errno.EACCES, "permission denied"),
])
def test_a_write_that_fails_after_a_checkpoint(tmp_path, capsys, monkeypatch, code, needle):
    """In-process (a subprocess cannot be made to fail a write at the second checkpoint): exit 1, the message,
    the command that resumes; the checkpoint of epoch 1 is intact, and resuming from it finishes the run."""
    from gradwise.train import checkpoint

    write(tmp_path, SMALL.replace("epochs = 2", "epochs = 3"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(checkpoint, "_write_npz", FailingWrites(checkpoint._write_npz, code, ok=1))
    assert main(["train", "run.toml", "--out", "run", "--no-report", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    line = next(line for line in err.splitlines() if line.startswith("gradwise train: error: "))
    assert needle in line and "the checkpoint of epoch 1 is intact" in line
    command = line.split("resume with: ", 1)[1]
    assert command == "gradwise train run.toml --resume run/checkpoints/last.npz"
    assert checkpoint.load_checkpoint(tmp_path / "run" / "checkpoints" / "last.npz")["epoch"] == 1
    assert not [p for p in (tmp_path / "run" / "checkpoints").iterdir() if p.name.endswith(".tmp")]
    monkeypatch.undo()
    monkeypatch.chdir(tmp_path)
    assert main(shlex.split(command)[1:] + ["--no-report", "--no-progress"]) == 0
    assert read_history(tmp_path / "run" / "history.csv")["epoch"] == [1, 2, 3]


# ============================================================================= Ctrl-C and SIGTERM
def wait_for_epochs(history: Path, proc: subprocess.Popen, n: int = 1, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the run ended before it could be interrupted"
        if history.is_file() and len(history.read_text().splitlines()) > n:
            return
        time.sleep(0.02)
    raise AssertionError("no epoch logged in time")


@pytest.mark.parametrize("sig, status, flags", [
    (signal.SIGINT, 130, []),
    (signal.SIGTERM, 143, ["--epochs", "80", "--no-babysit"]),     # the flags that shape the run come back too
])
def test_interrupt_then_resume_with_the_printed_command(tmp_path, sig, status, flags):
    epochs = 80
    write(tmp_path, SMALL.replace("epochs = 2", f"epochs = {epochs}\npatience = 0").replace("limit = 300", "limit = 200"))
    proc = subprocess.Popen([sys.executable, "-m", "gradwise", "train", "run.toml", *flags, "--out", "run",
                             "--no-report", "--no-progress"], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # not ignored, as in a shell
    try:
        wait_for_epochs(tmp_path / "run" / "history.csv", proc, n=2)   # epoch 1's checkpoint is written by now
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == status, err
    assert "Traceback" not in err and "Traceback" not in out
    line = next(line for line in err.splitlines() if line.startswith("interrupted at epoch "))
    epoch = int(line.split()[3].rstrip(";"))
    assert line.endswith("; resume with: " + shlex.join(["gradwise", "train", "run.toml", *flags, "--resume",
                                                         "run/checkpoints/last.npz"]))
    summary = json.loads((tmp_path / "run" / "run.json").read_text())
    assert summary["stop_reason"].startswith(f"interrupted in epoch {epoch}")
    command = shlex.split(line.split("resume with: ", 1)[1])
    again = cli(*command[1:], "--no-report", "--no-progress", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert read_history(tmp_path / "run" / "history.csv")["epoch"] == list(range(1, epochs + 1))
    assert json.loads((tmp_path / "run" / "run.json").read_text())["stop_reason"] == \
        f"completed the {epochs} epochs asked for"


def test_interrupt_before_training_begins(tmp_path, monkeypatch, capsys):
    import gradwise.train.config as config

    def interrupted(cfg):
        raise KeyboardInterrupt

    monkeypatch.setattr(config, "build_data", interrupted)
    monkeypatch.chdir(tmp_path)
    assert main(["train", write(tmp_path, SMALL), "--out", "run"]) == 130
    err = capsys.readouterr().err
    assert "interrupted before training began; nothing was written" in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_an_unexpected_error_is_one_line_with_a_hint(tmp_path, monkeypatch, capsys):
    import gradwise.train.config as config

    def broken(cfg):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(config, "build_data", broken)
    monkeypatch.chdir(tmp_path)
    assert main(["train", write(tmp_path, SMALL), "--out", "run"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == ("gradwise train: error: unexpected ZeroDivisionError: division by zero (this may be a bug "
                           "in gradwise: rerun with --debug to see where, and report it)")
    assert main(["--debug", "train", "run.toml", "--out", "run"]) == 1
    assert "Traceback" in capsys.readouterr().err


def test_other_commands_share_the_boundary(tmp_path):
    (tmp_path / "afile").write_text("")
    proc = cli("lr-find", "--num-steps", "5", "--out", "afile/lr.png", cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "gradwise lr-find: error: a file is in the way (afile)" in proc.stderr


# ============================================================================= one source of defaults
def print_config(capsys) -> dict:
    assert main(["train", "--print-config"]) == 0
    return parse_config(tomllib.loads(capsys.readouterr().out))


def test_a_partial_config_is_print_config_with_one_change(tmp_path, capsys):
    shown = print_config(capsys)
    effective = load_config(tmp_path / write(tmp_path, "[optim]\nlr = 0.002\n"))
    expected = {s: dict(v) for s, v in shown.items()}
    expected["optim"]["lr"] = 0.002
    assert effective == expected
    assert effective["train"]["epochs"] == 30 and effective["train"]["patience"] == 6
    assert load_config() == shown == parse_config({})
    for section, keys in tomllib.loads(DEFAULT_CONFIG).items():   # the schema's defaults are read from the text
        for key, value in keys.items():                            # that --print-config prints
            assert SCHEMA[section][key].default == value


def test_patience_0_turns_early_stopping_off(tmp_path):
    from gradwise.train.config import build_data

    cfg = load_config(tmp_path / write(tmp_path, "[data]\nlimit = 100\n[train]\npatience = 0\n"))
    assert fit_kwargs(cfg, build_data(cfg), optimizer=None)["early_stopping"] is None
