"""Tuning on several machines through a real PostgreSQL server (issue 11, item 7).

The server is the one the ``pgserver`` package ships (a real PostgreSQL 16, started here in a temporary
directory; as root it runs the server as its own system user).  Two "machines" - two working directories,
each with its own copy of the config and its own run directory - share the study through the same
``postgresql://`` URL: machine A runs the search (``gradwise tune ... --storage URL``), machine B joins it
(``--worker``).  B is SIGKILLed in the middle of a trial, which leaves that trial RUNNING in the database
(nothing in B could react); B is started again, finds the trial of its dead process, fails it and queues it
again with the same parameters.  At the end every trial is accounted for exactly once: ``n_trials``
finished trials, the killed one FAIL, re-run once with its parameters, nothing left running or waiting.

Needs ``pgserver`` and ``psycopg2-binary`` (the test extra); skipped, with the reason, only when they are
missing or the server cannot start here.  About 30 s.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

optuna = pytest.importorskip("optuna")
pgserver = pytest.importorskip("pgserver", reason="PostgreSQL test needs pgserver: pip install pgserver psycopg2-binary")
pytest.importorskip("psycopg2", reason="PostgreSQL test needs psycopg2: pip install psycopg2-binary")

SRC = Path(__file__).resolve().parents[1] / "src"
STUDY = "two-machines"
N_TRIALS = 6
CONFIG = f"""
[data]
limit = 400
[model]
hidden = [32]
[train]
epochs = 200
patience = 0
[tune]
n_trials = {N_TRIALS}
sampler = "random"
pruner = "none"
seed = 0
n_jobs = 1
[tune.space]
optim.lr = {{ low = 1e-3, high = 3e-2, log = true }}
"""


@pytest.fixture(scope="module")
def postgres_url():
    """A fresh PostgreSQL server and an empty database; the server is stopped and its files deleted after."""
    data = Path(tempfile.mkdtemp(prefix="gw-pg-"))      # short: the server's socket path must be short
    try:
        server = pgserver.get_server(data / "pgdata", cleanup_mode="delete")
        server.psql("CREATE DATABASE gradwise_tune;")
    except Exception as err:   # noqa: BLE001 - whatever stops the server from starting: say it, skip
        shutil.rmtree(data, ignore_errors=True)
        pytest.skip(f"PostgreSQL (pgserver) could not start here: {type(err).__name__}: {err}")
    yield server.get_uri("gradwise_tune")
    server.cleanup()
    shutil.rmtree(data, ignore_errors=True)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")])
    return env


def machine(tmp_path: Path, name: str) -> Path:
    """A "machine": its own working directory with its own copy of the config."""
    home = tmp_path / name
    home.mkdir()
    (home / "search.toml").write_text(CONFIG)
    return home


def gradwise_tune(home: Path, url: str, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "gradwise", "tune", "search.toml", "--storage", url,
                             "--study-name", STUDY, "--out", "run", "--no-progress", "--no-report", *extra],
                            cwd=home, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def load(url: str):
    from gradwise.tune.study import with_installed_driver

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    return optuna.load_study(study_name=STUDY, storage=with_installed_driver(url))


def wait_for(condition, seconds: float, what: str, procs=()):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        for p in procs:
            if p.poll() is not None and p.returncode != 0:
                pytest.fail(f"{what}: a process exited {p.returncode}:\n{p.communicate()}")
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def running_trial_of(url: str, pid: int):
    try:
        trials = load(url).get_trials(deepcopy=False)
    except KeyError:          # the study does not exist yet
        return None
    mine = [t for t in trials if t.state.name == "RUNNING" and str(t.user_attrs.get("worker", "")).endswith(f":{pid}")]
    return mine[0] if mine else None


def test_two_machines_share_a_postgres_study_and_a_killed_trial_is_rerun_once(postgres_url, tmp_path):
    a_home, b_home = machine(tmp_path, "machine-a"), machine(tmp_path, "machine-b")
    a = gradwise_tune(a_home, postgres_url)
    wait_for(lambda: running_trial_of(postgres_url, a.pid), 90, "machine A's first trial", [a])
    b = gradwise_tune(b_home, postgres_url, "--worker")
    # a trial that has drawn its parameters (a trial killed before that has none to re-run)
    killed = wait_for(lambda: (t := running_trial_of(postgres_url, b.pid)) is not None and t.params and t, 90,
                      "a trial on machine B", [a, b])
    time.sleep(0.5)                                               # in the middle of it
    os.kill(b.pid, signal.SIGKILL)
    b.communicate(timeout=30)
    killed = load(postgres_url).trials[killed.number]
    assert load(postgres_url).trials[killed.number].state.name == "RUNNING"    # nothing in B could say otherwise

    b_again = gradwise_tune(b_home, postgres_url, "--worker")     # the same command, on the same machine
    b_out, b_err = b_again.communicate(timeout=300)
    a_out, a_err = a.communicate(timeout=300)
    assert b_again.returncode == 0, b_out + b_err
    assert a.returncode == 0, a_out + a_err
    assert f"re-queued interrupted trial(s) {killed.number}" in b_out

    trials = load(postgres_url).get_trials()
    states = [t.state.name for t in trials]
    assert "RUNNING" not in states and "WAITING" not in states, states
    assert [t.number for t in trials] == list(range(len(trials)))             # each trial once, numbered once
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    assert len(complete) == N_TRIALS, states
    # a trial that a racing worker started after the budget was full is discarded untrained ("surplus", FAIL):
    # neither a failure nor a rerun (under load both workers may check the count at once)
    trials = [t for t in trials if not t.user_attrs.get("surplus")]
    failed = [t for t in trials if t.state.name == "FAIL"]
    assert [t.number for t in failed] == [killed.number], (states, [(t.number, t.user_attrs.get("error"),
                                                                     t.system_attrs) for t in failed])
    reruns = [t for t in trials if (t.system_attrs.get("retry_history") or [None])[0] == killed.number]
    assert len(reruns) == 1 and reruns[0].state.name == "COMPLETE" and reruns[0].params == killed.params
    pids = {int(str(t.user_attrs.get("worker")).rsplit(":", 1)[1]) for t in trials}
    assert a.pid in pids and b.pid in pids and pids <= {a.pid, b.pid, b_again.pid}   # both machines ran trials
    # each machine keeps the directories of the trials it ran; machine A's table lists them all
    ran_on_a = {t.number for t in trials if str(t.user_attrs.get("worker")).endswith(f":{a.pid}")}
    assert {int(p.name.split("-")[1]) for p in (a_home / "run" / "trials").iterdir()} == ran_on_a
    assert "best trial" in a_out
