"""Running the trials: one worker loop, run in this process or in ``n_jobs`` worker processes, with progress.

A worker opens the study in the shared storage and runs trials one at a time until the study holds
``n_trials`` counted trials (see :func:`gradwise.tune.study.trials_counted`) or the time is up.  With
``n_jobs > 1`` the workers are separate *processes* (``multiprocessing`` with the ``spawn`` start
method: NumPy training holds the GIL, so threads would not run trials in parallel), each limited to one
BLAS thread, sharing the study through its database storage - the same way workers on other machines
join it (``gradwise tune config.toml --storage URL --worker``).  The parent process only watches the
storage and draws the progress line: trials done, pruned, failed, running, and the best value so far.
"""
from __future__ import annotations

import math
import multiprocessing
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from gradwise.tune.config import TuneConfig
from gradwise.tune.objective import Objective, worker_id
from gradwise.tune.study import (TrialState, counted_trials, is_surplus, make_storage, open_study, quiet_optuna,
                                 requeue, trials_counted)

__all__ = ["run_worker", "run_workers", "Progress", "grid_size"]

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
            # Optuna marked the trial this process was running FAIL; queue it again with its parameters so that
            # a resumed study runs it (unlike a trial whose code failed, it carries no ``error`` attribute).
            trials = study.get_trials(deepcopy=False)
            retried = {n for t in trials for n in (t.system_attrs.get("retry_history") or [])}
            for t in trials:
                if (t.state == TrialState.FAIL and t.user_attrs.get("worker") == me and "error" not in t.user_attrs
                        and t.number not in retried):
                    requeue(study, t)
            raise
        ran += 1
        if on_trial is not None:
            on_trial(study)
    return ran


def _worker_main(config: TuneConfig, run_dir: str | None, storage: str, n_trials: int,
                 deadline: float | None) -> None:
    """Entry point of a worker process."""
    try:
        run_worker(config, run_dir, storage, n_trials, deadline)
    except KeyboardInterrupt:
        sys.exit(130)


def run_workers(config: TuneConfig, run_dir: str | Path | None, storage_url: str, n_jobs: int, n_trials: int,
                deadline: float | None = None, progress: "Progress | None" = None, poll: float = 1.0) -> None:
    """Run ``n_jobs`` worker processes on the study and wait for them, drawing ``progress`` meanwhile.

    Each worker gets one BLAS/OpenMP thread (``OMP_NUM_THREADS=1`` etc.), so ``n_jobs`` workers use
    ``n_jobs`` cores.  Ctrl-C stops the workers; their running trials are re-queued for a resume.
    """
    ctx = multiprocessing.get_context("spawn")
    saved = {k: os.environ.get(k) for k in _THREAD_VARS}
    procs = []
    try:
        os.environ.update({k: "1" for k in _THREAD_VARS})
        for _ in range(n_jobs):
            p = ctx.Process(target=_worker_main, args=(config, str(run_dir) if run_dir else None, storage_url,
                                                       n_trials, deadline), daemon=False)
            p.start()
            procs.append(p)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    watcher = None
    try:
        while any(p.is_alive() for p in procs):
            if progress is not None:
                if watcher is None:
                    quiet_optuna()
                    watcher = open_study(config, make_storage(storage_url))
                progress.update(watcher)
            for p in procs:
                p.join(timeout=poll / max(len(procs), 1))
    except KeyboardInterrupt:
        for p in procs:
            p.join(timeout=10)
        for p in procs:
            if p.is_alive():
                p.terminate()
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
