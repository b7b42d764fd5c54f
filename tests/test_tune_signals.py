"""Killing `gradwise tune` never leaves a worker process training with no parent (issue 11, items 3 and 4 of tune).

Real processes: ``python -m gradwise tune CONFIG --n-jobs 2`` is started, the test waits until both worker
processes are running trials, then kills the parent - SIGKILL (the workers get SIGTERM from the kernel:
``prctl(PR_SET_PDEATHSIG)``), SIGTERM (the parent forwards it and waits: exit 143, one line saying how to
resume, no traceback) or Ctrl-C to the process group (exit 130).  In every case no worker may be alive a few
seconds later, and the trials they were running must be re-queued with their parameters; the printed
resume command then finishes the search with every trial accounted for once.

Trials train a 32-unit MLP on 400 digits for 40 epochs (about 1-2 s each); each test takes 10-20 s.
"""
from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

optuna = pytest.importorskip("optuna")

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process checks read /proc (Linux)")

SRC = Path(__file__).resolve().parents[1] / "src"
CONFIG = """
[data]
limit = 400
[model]
hidden = [32]
[train]
epochs = 200
patience = 0
[tune]
n_trials = 4
sampler = "random"
pruner = "none"
seed = 0
[tune.space]
optim.lr = { low = 1e-3, high = 3e-2, log = true }
"""


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")])
    env.pop("GRADWISE_DEBUG", None)
    return env


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children, grandchildren ...), from /proc."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [], [pid]
    while frontier:
        kids = [p for p, pp in parents.items() if pp in frontier]
        found += kids
        frontier = kids
    return found


def alive(pid: int) -> bool:
    """Running (a zombie - dead, waiting for a parent to reap it - counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def wait_gone(pids: list[int], seconds: float) -> list[int]:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        left = [p for p in pids if alive(p)]
        if not left:
            return []
        time.sleep(0.1)
    return [p for p in pids if alive(p)]


def study(run: Path):
    """The search's study: SQLite in the run directory, or the journal file beside it (``study.journal``)."""
    from gradwise.tune.study import make_storage

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    journal = run.parent / "study.journal"
    url = f"journal:{journal}" if journal.exists() else f"sqlite:///{run / 'study.db'}"
    return optuna.load_study(study_name="gradwise-tune", storage=make_storage(url))


def start_search(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen, list[int], Path]:
    """Start a 2-worker search; return it once both workers are running a trial, with the workers' pids."""
    (tmp_path / "search.toml").write_text(CONFIG)
    run = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "gradwise", "tune", "search.toml", "--n-jobs", "2", "--out", "run",
                             "--no-report", "--no-progress", *extra], cwd=tmp_path, env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    end = time.monotonic() + 90
    workers: list[int] = []
    while time.monotonic() < end and proc.poll() is None:
        trials = list((run / "trials").glob("trial-*")) if (run / "trials").is_dir() else []
        workers = [p for p in descendants(proc.pid) if "multiprocessing-fork" in _cmdline(p)]
        if len(trials) >= 2 and len(workers) == 2:
            time.sleep(0.5)                      # well inside the trials
            return proc, workers, run
        time.sleep(0.1)
    proc.kill()
    out, err = proc.communicate()
    pytest.fail(f"the search did not get two trials running (exit {proc.returncode}):\n{out}\n{err}")


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def assert_running_trials_requeued(run: Path) -> list[int]:
    """No trial is left RUNNING; each interrupted one is FAIL with a WAITING copy of its parameters."""
    trials = study(run).get_trials()
    assert not [t.number for t in trials if t.state.name == "RUNNING"], [(t.number, t.state.name) for t in trials]
    interrupted = [t for t in trials if t.state.name == "FAIL"]
    assert interrupted, "the workers' running trials should have been interrupted"
    for t in interrupted:
        copies = [c for c in trials if (c.system_attrs.get("retry_history") or [None])[0] == t.number]
        assert len(copies) == 1 and copies[0].params == t.params and copies[0].state.name == "WAITING"
    return [t.number for t in interrupted]


def resume(command: str, tmp_path: Path) -> subprocess.CompletedProcess:
    words = shlex.split(command)
    assert words[:2] == ["gradwise", "tune"]
    return subprocess.run([sys.executable, "-m", "gradwise", *words[1:]], cwd=tmp_path, env=_env(),
                          capture_output=True, text=True, timeout=300)


def assert_every_trial_once(run: Path, n_trials: int = 4) -> None:
    """After the resume: n_trials finished trials; each interrupted trial re-run exactly once, same parameters."""
    trials = study(run).get_trials()
    states = [t.state.name for t in trials]
    assert "RUNNING" not in states and "WAITING" not in states, states
    # a trial a racing worker started after the budget was full is discarded untrained ("surplus"): not a rerun
    failed = [t for t in trials if t.state.name == "FAIL" and not t.user_attrs.get("surplus")]
    finished = [t for t in trials if t.state.name == "COMPLETE"]
    assert len(finished) == n_trials, states
    for t in failed:
        reruns = [c for c in trials if (c.system_attrs.get("retry_history") or [None])[0] == t.number]
        assert len(reruns) == 1 and reruns[0].state.name == "COMPLETE" and reruns[0].params == t.params


def test_sigkill_of_the_parent_stops_every_worker(tmp_path):
    proc, workers, run = start_search(tmp_path)
    everyone = descendants(proc.pid)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    assert wait_gone(everyone, 10) == [], "worker processes outlived their parent"
    assert_running_trials_requeued(run)


def test_sigterm_stops_workers_exits_143_and_says_how_to_resume(tmp_path):
    proc, workers, run = start_search(tmp_path)
    everyone = descendants(proc.pid)
    os.kill(proc.pid, signal.SIGTERM)                # the parent alone: it must forward the signal
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, (out, err)
    assert "Traceback" not in err and "Traceback" not in out
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "interrupted (SIGTERM)" in lines[0] and "resume with: gradwise tune" in lines[0], err
    assert wait_gone(everyone, 5) == []
    interrupted = assert_running_trials_requeued(run)
    assert len(interrupted) == 2
    done = resume(lines[0].split("resume with: ", 1)[1], tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "best trial" in done.stdout and "re-queued" not in done.stdout   # the workers had re-queued them already
    assert_every_trial_once(run)


def test_ctrl_c_to_the_process_group_exits_130(tmp_path):
    proc, workers, run = start_search(tmp_path)
    everyone = descendants(proc.pid)
    os.killpg(proc.pid, signal.SIGINT)               # what a terminal's Ctrl-C does: every process of the group
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out, err)
    assert "Traceback" not in err
    assert [line for line in err.splitlines() if line.strip()][-1].startswith("interrupted (Ctrl-C)")
    assert wait_gone(everyone, 5) == []
    assert_running_trials_requeued(run)


@pytest.mark.parametrize("storage", [(), ("--storage", "study.journal")], ids=["sqlite", "journal-file"])
def test_a_worker_killed_mid_search_has_its_trial_run_by_another(tmp_path, storage):
    """SIGKILL one worker: the parent re-queues its trial at once and the search still finishes every trial -
    with the default SQLite storage and with Optuna's JournalStorage file (``--storage study.journal``, the
    option for several processes on one machine or on NFS)."""
    proc, workers, run = start_search(tmp_path, *storage)
    os.kill(workers[0], signal.SIGKILL)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, out + err
    trials = study(run).get_trials()
    killed = [t for t in trials if t.user_attrs.get("worker", "").endswith(f":{workers[0]}") and t.state.name == "FAIL"]
    assert len(killed) == 1, [(t.number, t.state.name, t.user_attrs.get("worker")) for t in trials]
    assert_every_trial_once(run)
    if storage:
        assert (tmp_path / "study.journal").stat().st_size > 0 and not (run / "study.db").exists()
