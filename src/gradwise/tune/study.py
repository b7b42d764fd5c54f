"""Optuna's pieces for a search: sampler, pruner, storage and the study, with resume and reproducibility.

Everything algorithmic is Optuna's - ``TPESampler``, ``RandomSampler``, ``GridSampler``, ``MedianPruner``,
``SuccessiveHalvingPruner``, ``HyperbandPruner``, ``RDBStorage`` (SQLite, PostgreSQL, MySQL) and its
heartbeat with ``RetryHeartbeatStaleTrialCallback``.  This module chooses them from names, and adds the three
things a training library needs around them:

* **Reproducibility under a seed, also across a resume.**  A seeded Optuna sampler draws from one random
  stream, so a study interrupted and resumed (a fresh stream) would not draw what the uninterrupted one
  did.  :class:`TrialSeededSampler` gives each trial its own stream, seeded by ``(seed, k)`` where ``k``
  counts the trials before it that were not interrupted; a resumed study therefore finishes with the
  same trials, parameter for parameter, as one that ran straight through (with ``n_jobs = 1``; with
  several workers the order in which results arrive, and so TPE's choices, depend on timing - as in
  Optuna itself).
* **Resume without losing finished trials.**  Finished trials live in the storage.  A trial left
  ``RUNNING`` by a killed process is found by :func:`reclaim_interrupted` (its ``worker`` attribute
  names this host and a process that no longer exists), marked failed and re-queued with the same
  parameters by Optuna's ``RetryHeartbeatStaleTrialCallback``.  Trials of other machines are left alone; if such
  a machine dies, Optuna's heartbeat fails and re-queues its trial after the grace period.
* **A trial budget shared by all workers**: ``n_trials`` counts the study's finished and running trials
  (not the interrupted ones that were re-queued), whichever process or machine ran them.
* **One study, one set of settings.**  The settings a study's trials depend on (seed, sampler, pruner, metric,
  epochs, data, model, space ...) are stored with the study (:func:`check_settings`); adding trials with
  other settings is refused, naming what differs, unless forced.
"""
from __future__ import annotations

import os
import socket
import warnings
from pathlib import Path
from typing import Any

import numpy as np

try:
    import optuna
    from optuna.samplers import BaseSampler
    from optuna.trial import TrialState
except ImportError as _err:   # the optional extra
    raise ImportError("gradwise.tune needs Optuna: pip install 'gradwise[tune]' (or pip install optuna)") from _err

from gradwise.train.config import ConfigError
from gradwise.tune.config import TuneConfig

__all__ = ["make_sampler", "make_pruner", "storage_url", "make_storage", "open_study", "TrialSeededSampler",
           "reclaim_interrupted", "trials_counted", "quiet_optuna", "requeue", "HEARTBEAT_INTERVAL", "GRACE_PERIOD",
           "study_settings", "check_settings", "settings_changes", "SettingsMismatch", "journal_path",
           "describe_storage"]

#: Seconds between a running trial's heartbeats in a database storage, and the silence after which another
#: worker declares it dead (and re-queues it).  Long trials only need the heartbeat to keep coming.
HEARTBEAT_INTERVAL = 10
GRACE_PERIOD = 60


def quiet_optuna() -> None:
    """Keep Optuna's per-trial log lines and failed-trial tracebacks off the terminal: the progress display
    and the results table say the same, and a trial's error is kept in its ``error``/``traceback`` attributes."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)


def make_sampler(config: TuneConfig, seed: int | None = None) -> Any:
    """Optuna's sampler named by ``[tune] sampler`` (seeded with ``seed``)."""
    name = config.settings.sampler
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "grid":
        return optuna.samplers.GridSampler(config.space.grid(), seed=seed)
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=config.settings.tpe_startup_trials)


def make_pruner(config: TuneConfig) -> Any:
    """Optuna's pruner named by ``[tune] pruner``, counting epochs as its steps.

    ``median``: stop a trial whose best value so far is worse than the median of earlier trials at the
    same epoch (after ``pruner_startup_trials`` trials and ``pruner_warmup_epochs`` epochs).  ``halving``:
    asynchronous successive halving - at epochs ``m, m*4, m*16, ...`` keep only the top quarter.
    ``hyperband``: several successive-halving brackets.  ``none``: never prune.
    """
    s = config.settings
    epochs = int(config.base.get("train", {}).get("epochs", 20))
    if s.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=s.pruner_startup_trials,
                                           n_warmup_steps=s.pruner_warmup_epochs)
    if s.pruner == "halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=max(1, s.pruner_warmup_epochs), reduction_factor=3)
    if s.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=max(1, s.pruner_warmup_epochs), max_resource=epochs,
                                              reduction_factor=3)
    return optuna.pruners.NopPruner()


def storage_url(config: TuneConfig, run_dir: str | Path | None) -> str | None:
    """``[tune] storage`` if set, else SQLite in the run directory (None: in memory, one process only).

    A relative journal path is made absolute, so that worker processes find the same file."""
    if config.settings.storage:
        url = config.settings.storage
        path = journal_path(url)
        if path is not None:
            return JOURNAL_PREFIX + str(Path(path).expanduser().resolve())
        return url
    if run_dir is None:
        return None
    path = Path(run_dir).resolve() / "study.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


JOURNAL_PREFIX = "journal:"
JOURNAL_SUFFIXES = (".journal", ".log")


def journal_path(url: str) -> str | None:
    """The file of a journal storage URL - ``journal:PATH``, or a plain path ending ``.journal``/``.log`` -
    or None for any other URL."""
    if url.startswith(JOURNAL_PREFIX):
        path = url[len(JOURNAL_PREFIX):]
        return path[2:] if path.startswith("//") else path
    if "://" not in url and url.endswith(JOURNAL_SUFFIXES):
        return url
    return None


def describe_storage(url: str | None) -> str:
    """The storage for messages: the journal or SQLite file, or the URL with its password hidden."""
    if url is None:
        return "memory"
    path = journal_path(url)
    if path is not None:
        return f"the journal file {path}"
    if url.startswith("sqlite:///"):
        return url[len("sqlite:///"):]
    head, sep, tail = url.partition("@")
    if sep and ":" in head.split("//", 1)[-1]:
        scheme, _, cred = head.partition("//")
        head = f"{scheme}//{cred.split(':', 1)[0]}:***"
    return head + sep + tail


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def with_installed_driver(url: str) -> str:
    """A ``postgresql://`` (or ``postgres://``) URL naming the PostgreSQL driver that is installed.

    SQLAlchemy picks a default driver by its version (psycopg2 up to 2.0, psycopg 3 from 2.1) and fails when
    that one is missing even if the other is there; ``pip install psycopg2-binary`` (the ``postgres`` extra)
    or ``pip install 'psycopg[binary]'`` should both just work.  A URL that names its driver
    (``postgresql+psycopg2://``) is left alone; without any driver the URL is returned as it is, and the error
    then comes from :func:`make_storage` with what to install."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in ("postgresql", "postgres"):
        return url
    for module, driver in (("psycopg", "psycopg"), ("psycopg2", "psycopg2")):
        if _importable(module):
            return f"postgresql+{driver}://{rest}"
    return url


def make_storage(url: str | None) -> Any:
    """An Optuna storage for ``url``.

    * a database URL (``sqlite:///...``, ``postgresql://...``, ``mysql://...``): ``RDBStorage`` with a
      heartbeat and retry of dead trials (SQLite gets a 60 s lock timeout so that parallel workers wait
      rather than fail) - for several machines, a PostgreSQL or MySQL server they all reach;
    * ``journal:PATH`` or a path ending ``.journal``/``.log``: Optuna's ``JournalStorage`` on a
      ``JournalFileBackend`` - an append-only file with file locks, for several processes on one machine or
      on a network file system (NFS) where SQLite's locking is unreliable.  It has no heartbeat: a trial of a
      killed process is re-queued when ``gradwise tune`` next starts on that machine;
    * an Optuna storage object: used as it is; None: in memory (one process).
    """
    if url is None:
        return optuna.storages.InMemoryStorage()
    if not isinstance(url, str):
        return url
    path = journal_path(url)
    if path is not None:
        from optuna.storages.journal import JournalFileBackend

        Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
        return optuna.storages.JournalStorage(JournalFileBackend(str(Path(path).expanduser())))
    url = with_installed_driver(url)
    engine_kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        engine_kwargs = {"connect_args": {"timeout": 60}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        try:
            return optuna.storages.RDBStorage(
                url, engine_kwargs=engine_kwargs, heartbeat_interval=HEARTBEAT_INTERVAL, grace_period=GRACE_PERIOD,
                heartbeat_stale_trial_callback=retry_callback())
        except ImportError as err:
            if url.startswith("postgres"):
                raise ImportError(f"the storage {describe_storage(url)} needs a PostgreSQL driver: pip install "
                                  "'gradwise[postgres]' (psycopg2-binary) or 'psycopg[binary]'") from err
            raise ImportError(f"the storage {describe_storage(url)} needs its database driver (SQLAlchemy could not "
                              f"import it: {err.__cause__ or err})") from err


def retry_callback() -> Any:
    """Optuna's callback that re-queues a dead trial with the same parameters (at most twice)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=2)


def requeue(study: Any, trial: Any) -> None:
    """Queue a copy of an interrupted ``trial`` (same parameters) that the next free worker runs first."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        retry_callback()(study, trial)


class TrialSeededSampler(BaseSampler):
    """A seeded Optuna sampler whose random stream restarts for every trial, from ``(seed, k)``.

    ``k`` is the number of earlier trials of the study that were not interrupted, so trial ``k`` draws the
    same values whether the study ran straight through or was resumed.  (The grid sampler keeps one seed
    for the whole study: its shuffled grid must stay the same from trial to trial.)  Every decision is still made by
    the wrapped Optuna sampler (built by ``factory(seed)`` for the trial); this class only chooses its seed.
    """

    def __init__(self, factory: Any, seed: int) -> None:
        self.factory = factory
        self.seed = int(seed)
        self._inner = factory(self.seed)
        self._inner_for: int | None = None

    def _seed_for(self, study: Any, trial: Any) -> int:
        trials = study._storage.get_all_trials(study._study_id, deepcopy=False)
        retried = _retried_numbers(trials)
        k = sum(1 for t in trials if t.number < trial.number
                and not (t.state == TrialState.FAIL and t.number in retried))
        return int(np.random.SeedSequence([self.seed, k]).generate_state(1)[0])

    def _for(self, study: Any, trial: Any) -> Any:
        if isinstance(self._inner, optuna.samplers.GridSampler):
            # The grid sampler shuffles its grid once by its seed and gives trial k grid point k: one sampler for
            # the whole study (a new seed per trial would reshuffle the grid and repeat points); it is already
            # reproducible across resumes, since its choices depend only on the trial numbers.
            return self._inner
        if self._inner_for != trial.number:
            self._inner = self.factory(self._seed_for(study, trial))
            self._inner_for = trial.number
        return self._inner

    # ---- Optuna's BaseSampler interface, delegated
    def infer_relative_search_space(self, study: Any, trial: Any) -> dict[str, Any]:
        return self._for(study, trial).infer_relative_search_space(study, trial)

    def sample_relative(self, study: Any, trial: Any, search_space: dict[str, Any]) -> dict[str, Any]:
        return self._for(study, trial).sample_relative(study, trial, search_space)

    def sample_independent(self, study: Any, trial: Any, param_name: str, param_distribution: Any) -> Any:
        return self._for(study, trial).sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: Any, trial: Any) -> None:
        self._for(study, trial).before_trial(study, trial)

    def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
        self._for(study, trial).after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self._inner.reseed_rng()


class _SamplerFactory:
    """``factory(seed) -> sampler`` for :class:`TrialSeededSampler` (a class, not a lambda, so it pickles)."""

    def __init__(self, config: TuneConfig) -> None:
        self.config = config

    def __call__(self, seed: int | None) -> Any:
        return make_sampler(self.config, seed)


def open_study(config: TuneConfig, storage: Any, *, create: bool = True) -> Any:
    """Create the study in ``storage`` or load it (``load_if_exists``): a resume, or another worker joining."""
    s = config.settings
    if s.seed is None:
        sampler = make_sampler(config, None)
    else:
        sampler = TrialSeededSampler(_SamplerFactory(config), s.seed)
    if create:
        study = optuna.create_study(study_name=s.study_name, storage=storage, sampler=sampler,
                                    pruner=make_pruner(config), direction=s.direction, load_if_exists=True)
    else:
        study = optuna.load_study(study_name=s.study_name, storage=storage, sampler=sampler,
                                  pruner=make_pruner(config))
    if study.direction.name.lower() != s.direction:
        raise ValueError(f"study {s.study_name!r} in this storage was created to {study.direction.name.lower()}; "
                         f"[tune] metric = {s.metric!r} needs {s.direction} - use another study_name or storage")
    return study


def _retried_numbers(trials: list[Any]) -> set[int]:
    """Numbers of failed trials that were re-queued (Optuna's retry callback marks the copy)."""
    out: set[int] = set()
    for t in trials:
        history = t.system_attrs.get("retry_history")
        if history:
            out.update(int(n) for n in history)
    return out


def is_surplus(trial: Any) -> bool:
    """A trial a worker started after the study already held its ``n_trials`` (two workers checked
    the count at the same moment); it is failed before it samples or trains anything, and ignored."""
    return bool(trial.user_attrs.get("surplus"))


def counted_trials(trials: list[Any]) -> list[Any]:
    """The trials that count towards ``n_trials``: all but waiting ones, re-queued interrupted ones and
    surplus ones."""
    retried = _retried_numbers(trials)
    return [t for t in trials if t.state != TrialState.WAITING and not is_surplus(t)
            and not (t.state == TrialState.FAIL and t.number in retried)]


def trials_counted(study: Any) -> int:
    """How many trials of ``study`` count towards ``n_trials`` (see :func:`counted_trials`)."""
    return len(counted_trials(study.get_trials(deepcopy=False)))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reclaim_interrupted(study: Any) -> list[int]:
    """Fail and re-queue the trials a dead process of this machine left ``RUNNING``; returns their numbers.

    A trial records ``worker = "host:pid"`` when it starts.  One that is still ``RUNNING`` while its
    process is gone was interrupted (Ctrl-C, a kill, a crash): it is marked ``FAIL`` and Optuna's
    ``RetryHeartbeatStaleTrialCallback`` queues a copy with the same parameters, which the next worker runs first.
    """
    host = socket.gethostname()
    reclaimed = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = str(t.user_attrs.get("worker", ""))
        name, _, pid = worker.rpartition(":")
        if name != host or not pid.isdigit() or _pid_alive(int(pid)):
            continue
        study._storage.set_trial_state_values(t._trial_id, state=TrialState.FAIL)
        frozen = study._storage.get_trial(t._trial_id)
        requeue(study, frozen)
        reclaimed.append(t.number)
    return reclaimed


# ============================================================================= the study's settings
#: Study user attribute holding the settings the study's trials were run with (see :func:`study_settings`).
SETTINGS_ATTR = "gradwise.settings"
#: Study user attribute listing settings changes forced into the study (``--force``), oldest first.
CHANGES_ATTR = "gradwise.settings_changes"
#: ``[tune]`` keys that decide what a trial is; the others (n_trials, n_jobs, storage, timeout, device, ...)
#: only say how many trials run, where and how fast, and may change between runs of one study.
TRIAL_SETTINGS = ("sampler", "pruner", "metric", "seed", "test_fraction", "tpe_startup_trials",
                  "pruner_startup_trials", "pruner_warmup_epochs")
#: Training keys that change nothing a trial measures (a trial is never checkpointed; logs are extra output).
_HARMLESS = {"train.checkpoint_every", "train.tensorboard"}


class SettingsMismatch(ConfigError):
    """Raised when a study's stored settings differ from the search about to add trials to it."""


def _plain(value: Any) -> Any:
    """``value`` as its JSON round trip (tuples become lists, functions their ``module:name``), so that
    settings compare equal whether they come from this process or from the storage."""
    import json

    from gradwise.tune.factory import factory_name

    if callable(value):
        value = factory_name(value)
    return json.loads(json.dumps(value, default=str))


def study_settings(config: TuneConfig) -> dict[str, Any]:
    """Everything a study's trials depend on, flat: ``tune.seed``, ``tune.sampler``, ``train.epochs``,
    ``data.source``, ``model.hidden``, ``space.optim.lr`` (its description) ... - the effective values, so
    that a partial config and the full one with the same values agree."""
    from gradwise.tune.config import trial_config

    cfg, arch = trial_config(config.base, {})
    out: dict[str, Any] = {f"tune.{k}": _plain(getattr(config.settings, k)) for k in TRIAL_SETTINGS}
    for section, table in cfg.items():
        if section == "model" and arch.factory is not None:
            continue
        for key, value in dict(table).items():
            if f"{section}.{key}" not in _HARMLESS:
                out[f"{section}.{key}"] = _plain(value)
    if arch.factory is not None:
        out["model.factory"] = _plain(arch.factory)
        out.update({f"model.{k}": _plain(v) for k, v in arch.factory_args.items()})
    elif arch.kind == "cnn":
        out.update({"model.kind": "cnn", "model.filters": arch.filters, "model.depth": arch.depth})
    for line in config.space.describe():
        name, _, text = line.partition(": ")
        out[f"space.{name}"] = text
    return out


def settings_differences(stored: dict[str, Any], now: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """``{key: (stored value, value now)}`` for every setting that differs (``None``-valued side: absent)."""
    missing = "(not set)"
    return {k: (stored.get(k, missing), now.get(k, missing)) for k in sorted(set(stored) | set(now))
            if stored.get(k, missing) != now.get(k, missing)}


def describe_differences(diff: dict[str, tuple[Any, Any]], limit: int = 6) -> str:
    """``train.epochs 30 in the study, 10 now; tune.seed 0 in the study, 1 now`` (the first ``limit``)."""
    def show(v: Any) -> str:
        return v if isinstance(v, str) and v.startswith("(") else repr(v) if isinstance(v, str) else str(v)

    parts = [f"{k} {show(old)} in the study, {show(new)} now" for k, (old, new) in list(diff.items())[:limit]]
    if len(diff) > limit:
        parts.append(f"and {len(diff) - limit} more")
    return "; ".join(parts)


def check_settings(study: Any, config: TuneConfig, *, force: bool = False, where: str = "") -> dict[str, Any] | None:
    """Refuse to add trials to a study whose trials were run with other settings; store them otherwise.

    The first search of a study stores :func:`study_settings` as a study user attribute.  A later one - a
    resume, another machine's ``--worker`` - must bring the same: a study whose trials used another seed,
    sampler, pruner, number of epochs, data, monitor or space would mix incomparable trials, and its best
    trial would mean nothing.  With ``force`` the search goes ahead; the change is recorded (study attribute
    ``gradwise.settings_changes``: from which trial, what changed) and returned; the new settings are stored.
    Raises :class:`SettingsMismatch` naming the differing settings and what to do.
    """
    now = study_settings(config)
    stored = study.user_attrs.get(SETTINGS_ATTR)
    trials = study.get_trials(deepcopy=False)
    if stored is None or not trials:
        study.set_user_attr(SETTINGS_ATTR, now)
        return None
    diff = settings_differences(stored, now)
    if not diff:
        return None
    name = config.settings.study_name
    if not force:
        raise SettingsMismatch(
            f"study {name!r}{where} holds {len(trials)} trial(s) run with other settings: {describe_differences(diff)}. "
            "Adding trials would mix them in one study: run with the study's settings, start a new study "
            "(another --study-name, or a new --out), or pass --force to add them anyway")
    change = {"from_trial": max(t.number for t in trials) + 1,
              "changed": {k: [old, new] for k, (old, new) in diff.items()}}
    study.set_user_attr(CHANGES_ATTR, [*(study.user_attrs.get(CHANGES_ATTR) or []), change])
    study.set_user_attr(SETTINGS_ATTR, now)
    return change


def settings_changes(study: Any) -> list[dict[str, Any]]:
    """The settings changes forced into ``study`` (``--force``), oldest first."""
    return list(study.user_attrs.get(CHANGES_ATTR) or [])
