"""Running the trials: one worker loop, run in this process or in ``n_jobs`` worker processes, with progress.

A worker opens the study in the shared storage and runs trials one at a time until the study holds
``n_trials`` counted trials (see :func:`gradwise.tune.study.trials_counted`) or the time is up.  With
``n_jobs > 1`` the workers are separate *processes* (``multiprocessing`` with the ``spawn`` start
method: NumPy training holds the GIL, so threads would not run trials in parallel), each limited to one
BLAS thread, sharing the study through its database storage - the same way workers on other machines
join it (``gradwise tune config.toml --storage URL --worker``).  The parent process only watches the
storage and draws the progress line: trials done, pruned, failed, running, and the best value so far.

**No worker outlives the search.**  A worker process stops with its parent however the parent ends:

* killed outright (SIGKILL, the OOM killer, a crash): on Linux the kernel sends the worker SIGTERM
  (``prctl(PR_SET_PDEATHSIG)``, set as the worker starts); elsewhere, and as a second line of defence, a
  watchdog thread in the worker sees its parent change and sends the worker SIGTERM itself;
* SIGTERM or Ctrl-C: the parent forwards SIGTERM to its workers and waits for them (a terminal's Ctrl-C
  reaches the whole process group anyway).

A worker that dies while the search goes on (the OOM killer, ``kill -9``) has its trial re-queued by the
parent at once and is replaced, so that the search still finishes its trials.

A worker turns its first SIGTERM/SIGINT into ``KeyboardInterrupt``: the trial it was running is marked
failed and queued again with the same parameters (:func:`gradwise.tune.study.requeue`), then the worker
exits 143/130; repeated signals are ignored while it does so.  A signal that arrives while the process is
inside the storage's code (SQLAlchemy, Optuna's storages) is held back until it is out
(:func:`storage_safe_interrupts`): a transaction broken off half-way could keep SQLite locked for every
other worker.  A worker that cannot finish within
:data:`STOP_GRACE` seconds ends itself hard (its trial is then reclaimed on the next start by
:func:`gradwise.tune.study.reclaim_interrupted`).
"""
from __future__ import annotations

import contextlib
import ctypes
import math
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

from gradwise.tune.config import TuneConfig
from gradwise.tune.objective import Objective, worker_id
from gradwise.tune.study import (TrialState, counted_trials, is_surplus, make_storage, open_study, quiet_optuna,
                                 reclaim_interrupted, requeue, trials_counted)

__all__ = ["run_worker", "run_workers", "Progress", "grid_size", "STOP_GRACE", "storage_safe_interrupts", "stop_workers",
           "map_in_workers"]

#: Seconds a worker has, after its first SIGTERM/SIGINT, to mark its trial and exit before it ends itself hard;
#: the parent waits a little longer than this for its workers before killing them.
STOP_GRACE = 10.0
PR_SET_PDEATHSIG = 1   # <linux/prctl.h>

_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
                "NUMEXPR_NUM_THREADS")


def grid_size(config: TuneConfig) -> int | None:
    """Number of grid points for the grid sampler (None for the other samplers)."""
    if config.settings.sampler != "grid":
        return None
    size = 1
    for values in config.space.grid().values():
        size *= len(values)
    return size


def _budget(config: TuneConfig, n_trials: int) -> int:
    size = grid_size(config)
    return min(n_trials, size) if size is not None else n_trials


class SurplusTrial(RuntimeError):
    """Raised for a trial started when the study already held its ``n_trials``."""


def run_worker(config: TuneConfig, run_dir: str | Path | None, storage: Any, n_trials: int,
               deadline: float | None = None, on_trial: Callable[[Any], None] | None = None) -> int:
    """Run trials of the study until it holds ``n_trials`` counted trials or ``deadline`` (``time.time()``)
    passes; returns how many trials this worker ran.  ``storage`` is a URL or an Optuna storage object."""
    quiet_optuna()
    store = make_storage(storage) if isinstance(storage, str) or storage is None else storage
    study = open_study(config, store)
    objective = Objective(config, run_dir)
    budget = _budget(config, n_trials)
    ran = 0
    me = worker_id()
    def within_budget(trial: Any) -> float:
        # Trial numbers are handed out atomically by the storage, so the trials numbered before this one
        # decide whether it still fits in the budget when several workers checked the count at once.
        earlier = [t for t in counted_trials(study.get_trials(deepcopy=False)) if t.number < trial.number]
        if len(earlier) >= budget:
            trial.set_user_attr("surplus", True)
            raise SurplusTrial(f"trial {trial.number}: the study already holds its {budget} trials")
        return objective(trial)

    while trials_counted(study) < budget and (deadline is None or time.time() < deadline):
        try:
            study.optimize(within_budget, n_trials=1, catch=(Exception,), gc_after_trial=False)
        except KeyboardInterrupt:
            # Optuna marked the trial this process was running FAIL (or, interrupted outside the objective, left it
            # RUNNING); queue it again with its parameters so that a resumed study runs it (unlike a trial whose
            # code failed, it carries no ``error`` attribute).
            trials = study.get_trials(deepcopy=False)
            retried = {n for t in trials for n in (t.system_attrs.get("retry_history") or [])}
            for t in trials:
                if t.user_attrs.get("worker") != me or t.number in retried or "error" in t.user_attrs:
                    continue
                if t.state == TrialState.RUNNING:
                    study._storage.set_trial_state_values(t._trial_id, state=TrialState.FAIL)
                    t = study._storage.get_trial(t._trial_id)
                if t.state == TrialState.FAIL:
                    requeue(study, t)
            raise
        ran += 1
        if on_trial is not None:
            on_trial(study)
    return ran


def _set_parent_death_signal(sig: int = signal.SIGTERM) -> bool:
    """Linux: have the kernel send ``sig`` to this process when its parent dies (``prctl(PR_SET_PDEATHSIG)``).

    Returns False where that is not available (other systems; the watchdog covers them)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent_pid: int, interval: float = 1.0) -> None:
    """Watchdog thread: once the parent is gone (this process was re-parented), SIGTERM this process."""
    while os.getppid() == parent_pid:
        time.sleep(interval)
    os.kill(os.getpid(), signal.SIGTERM)


_STORAGE_CODE = tuple(os.sep + part + os.sep for part in ("sqlalchemy", os.path.join("optuna", "storages"), "sqlite3",
                                                           "psycopg2"))


def in_storage_code(frame: Any) -> bool:
    """Whether ``frame`` (a signal handler's) is inside database or storage code - a transaction that an
    exception must not break off half-way."""
    while frame is not None:
        if any(part in frame.f_code.co_filename for part in _STORAGE_CODE):
            return True
        frame = frame.f_back
    return False


def _deliver_later(signum: int, delay: float = 0.05) -> None:
    """Send ``signum`` to this process again in ``delay`` seconds (from a timer thread)."""
    timer = threading.Timer(delay, os.kill, (os.getpid(), signum))
    timer.daemon = True
    timer.start()


@contextlib.contextmanager
def storage_safe_interrupts() -> Iterator[None]:
    """While inside: Ctrl-C and SIGTERM act as the handlers installed before (``KeyboardInterrupt``, or the
    default), except that one arriving while this process is inside the storage's code is delivered again a
    moment later, once it is out, so that no database transaction is broken off half-way (an interrupted
    SQLite commit can leave the file locked for every worker).  Only in the main thread; elsewhere a no-op."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def handler(signum: int, frame: Any) -> None:
        if in_storage_code(frame):
            _deliver_later(signum)
            return
        prev = previous[signum]
        if callable(prev):
            prev(signum, frame)
        elif prev != signal.SIG_IGN:   # the default action (SIGTERM: end the process), now
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)

    for sig in previous:
        signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, prev in previous.items():
            signal.signal(sig, prev if prev is not None else signal.SIG_DFL)


class _StopOnSignal:
    """A worker's SIGTERM/SIGINT handler: the first signal arms a hard exit after :data:`STOP_GRACE` seconds
    and raises ``KeyboardInterrupt`` (the running trial is re-queued on the way out) - held back while the
    worker is inside the storage's code; later signals are ignored, so that the clean-up is not itself
    interrupted (Ctrl-C in a terminal and the parent's forwarded SIGTERM both arrive)."""

    def __init__(self) -> None:
        self.received: int | None = None
        self.raised = False

    def install(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self)

    @property
    def exit_status(self) -> int:
        return 128 + int(self.received or signal.SIGINT)

    def __call__(self, signum: int, frame: Any) -> None:
        if self.raised:
            return
        if self.received is None:
            self.received = signum
            timer = threading.Timer(STOP_GRACE, os._exit, (128 + signum,))
            timer.daemon = True
            timer.start()
        if in_storage_code(frame):
            _deliver_later(signum)
            return
        self.raised = True
        raise KeyboardInterrupt(f"worker received {signal.Signals(self.received).name}")


def _worker_main(config: TuneConfig, run_dir: str | None, storage: str, n_trials: int,
                 deadline: float | None, parent_pid: int | None = None) -> None:
    """Entry point of a worker process: stop with the parent (see the module docstring), then run trials."""
    stop = _StopOnSignal()
    stop.install()
    try:
        if parent_pid is not None:
            _set_parent_death_signal()
            threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True, name="parent-watchdog").start()
            if os.getppid() != parent_pid:          # the parent died before the death signal was set
                raise KeyboardInterrupt("the parent process is gone")
        run_worker(config, run_dir, storage, n_trials, deadline)
    except KeyboardInterrupt:
        sys.exit(stop.exit_status)


def _pool_init(parent_pid: int) -> None:
    """Start of a :func:`map_in_workers` process: stop with the parent, as a trial worker does."""
    _set_parent_death_signal()
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True, name="parent-watchdog").start()
    if os.getppid() != parent_pid:
        os._exit(143)


def map_in_workers(fn: Callable[[Any], Any], items: list[Any], n_jobs: int) -> Iterator[tuple[int, Any]]:
    """``(index, fn(item))`` for every item, as each finishes: in ``n_jobs`` worker processes (one BLAS thread
    each, stopping with this process like the trial workers), or here when ``n_jobs`` is 1 or there is one item.
    ``fn`` must be importable by name (it is sent to the workers by reference)."""
    if n_jobs <= 1 or len(items) <= 1:
        for i, item in enumerate(items):
            yield i, fn(item)
        return
    ctx = multiprocessing.get_context("spawn")
    with _one_thread_children():
        pool = ctx.Pool(min(n_jobs, len(items)), initializer=_pool_init, initargs=(os.getpid(),))
    with pool:   # leaving it (also by Ctrl-C/SIGTERM) terminates the workers
        yield from pool.imap_unordered(_indexed, [(fn, i, item) for i, item in enumerate(items)])


@contextlib.contextmanager
def _one_thread_children() -> Iterator[None]:
    """Processes started inside inherit one BLAS/OpenMP thread each; this process's environment is put back."""
    saved = {k: os.environ.get(k) for k in _THREAD_VARS}
    try:
        os.environ.update({k: "1" for k in _THREAD_VARS})
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _indexed(task: tuple[Callable[[Any], Any], int, Any]) -> tuple[int, Any]:
    fn, i, item = task
    return i, fn(item)


def stop_workers(procs: list[Any], grace: float = STOP_GRACE + 5.0) -> None:
    """Forward SIGTERM to the live worker processes, wait up to ``grace`` seconds, then kill what is left.

    A second Ctrl-C while waiting kills the remaining workers at once."""
    for p in procs:
        if p.is_alive():
            try:
                os.kill(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    end = time.monotonic() + grace
    try:
        for p in procs:
            p.join(timeout=max(0.0, end - time.monotonic()))
    except KeyboardInterrupt:
        pass
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
                p.join(timeout=5)


def run_workers(config: TuneConfig, run_dir: str | Path | None, storage_url: str, n_jobs: int, n_trials: int,
                deadline: float | None = None, progress: "Progress | None" = None, poll: float = 1.0) -> None:
    """Run ``n_jobs`` worker processes on the study and wait for them, drawing ``progress`` meanwhile.

    Each worker gets one BLAS/OpenMP thread (``OMP_NUM_THREADS=1`` etc.), so ``n_jobs`` workers use
    ``n_jobs`` cores.  Ctrl-C (or SIGTERM turned into ``KeyboardInterrupt``, as ``gradwise tune`` does) stops
    the workers - SIGTERM forwarded, waited for - and their running trials are re-queued for a resume; the
    ``KeyboardInterrupt`` is then re-raised.  Workers die with this process if it is killed outright.
    """
    ctx = multiprocessing.get_context("spawn")
    args = (config, str(run_dir) if run_dir else None, storage_url, n_trials, deadline, os.getpid())

    def start_worker() -> Any:
        with _one_thread_children():
            p = ctx.Process(target=_worker_main, args=args, daemon=False)
            p.start()
        return p

    procs: list[Any] = []
    watcher = None

    def study_view() -> Any:
        nonlocal watcher
        if watcher is None:
            quiet_optuna()
            watcher = open_study(config, make_storage(storage_url))
        return watcher

    replacements = n_jobs          # a worker that keeps dying (out of memory ...) is not replaced forever
    reaped: set[int] = set()
    try:
        for _ in range(n_jobs):
            procs.append(start_worker())
        while True:
            died = [p for p in procs if p.exitcode not in (0, None) and p.pid not in reaped]
            if died:
                # A worker that died (OOM killer, kill -9) left its trial RUNNING: queue it again now and start a
                # replacement, so that the search finishes without waiting for the heartbeat's grace period.
                reaped.update(p.pid for p in died)
                view = study_view()
                reclaim_interrupted(view)
                for _ in died:
                    if (replacements > 0 and trials_counted(view) < _budget(config, n_trials)
                            and (deadline is None or time.time() < deadline)):
                        replacements -= 1
                        procs.append(start_worker())
            if not any(p.is_alive() for p in procs):
                break
            if progress is not None:
                progress.update(study_view())
            for p in procs:
                p.join(timeout=poll / max(len(procs), 1))
    except KeyboardInterrupt:
        stop_workers(procs)
        try:
            reclaim_interrupted(study_view())
        except Exception:   # noqa: BLE001 - the storage may be what failed; the next start reclaims them
            pass
        raise
    failed = [p.exitcode for p in procs if p.exitcode not in (0, None)]
    if progress is not None and watcher is not None:
        progress.update(watcher)
    if failed and len(failed) == len(procs):
        raise RuntimeError(f"every worker process failed (exit codes {failed}); run with n_jobs = 1 to see the error")


class Progress:
    """The progress display: ``trials 7/30 | pruned 2 | failed 0 | running 2 | best val_loss 0.0912 (#5) | 1m12s``.

    On a terminal the line is redrawn in place; otherwise a line is printed whenever a trial finishes.
    """

    def __init__(self, n_trials: int, metric: str, stream: TextIO | None = None, enabled: bool = True) -> None:
        self.n_trials = n_trials
        self.metric = metric
        self.stream = stream if stream is not None else sys.stdout
        self.enabled = enabled
        self.start = time.perf_counter()
        self._last: tuple | None = None
        self._live = self.enabled and hasattr(self.stream, "isatty") and self.stream.isatty()

    def counts(self, study: Any) -> dict[str, Any]:
        trials = [t for t in study.get_trials(deepcopy=False) if not is_surplus(t)]
        retried = set()
        for t in trials:
            retried.update(t.system_attrs.get("retry_history") or [])
        done = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)
                or (t.state == TrialState.FAIL and t.number not in retried)]
        complete = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None
                    and math.isfinite(t.value)]
        best = None
        if complete:
            pick = min if study.direction.name.lower() == "minimize" else max
            best = pick(complete, key=lambda t: t.value)
        return {"done": len(done), "pruned": sum(t.state == TrialState.PRUNED for t in trials),
                "failed": sum(t.state == TrialState.FAIL and t.number not in retried for t in trials),
                "running": sum(t.state == TrialState.RUNNING for t in trials),
                "best": (best.value, best.number) if best else None}

    def line(self, c: dict[str, Any]) -> str:
        elapsed = time.perf_counter() - self.start
        best = f"best {self.metric} {c['best'][0]:.4g} (trial {c['best'][1]})" if c["best"] else "best -"
        return (f"trials {c['done']}/{self.n_trials} | pruned {c['pruned']} | failed {c['failed']} | "
                f"running {c['running']} | {best} | {int(elapsed // 60)}m{int(elapsed % 60):02d}s")

    def update(self, study: Any) -> None:
        if not self.enabled:
            return
        c = self.counts(study)
        key = (c["done"], c["pruned"], c["failed"], c["running"], c["best"])
        if self._live:
            self.stream.write("\r\033[K" + self.line(c))
            self.stream.flush()
        elif key[:3] != (self._last or (None,) * 5)[:3]:
            self.stream.write(self.line(c) + "\n")
            self.stream.flush()
        self._last = key

    def close(self) -> None:
        if self.enabled and self._live:
            self.stream.write("\n")
            self.stream.flush()
