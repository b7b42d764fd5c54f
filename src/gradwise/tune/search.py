"""``tune()``: run a whole search and leave its results, pictures and report in the run directory.

The lecture's second babysitting stage - "optimize your hyper parameters ... and observe training vs
validation losses/accuracies" - as one call::

    from gradwise.tune import tune, SearchSpace, Float, Int, Categorical

    result = tune(space=SearchSpace({"optim.lr": Float(1e-4, 1e-1, log=True), "model.width": Int(32, 256, log=True)}),
                  n_trials=30, n_jobs=2, run_dir="runs/tune-digits")
    print(result.table())          # every trial with its diagnosis
    result.best.params             # chosen on validation data only

A run directory holds ``study.db`` (the Optuna storage, SQLite by default), ``results.csv`` and
``results.json`` (one row per trial), ``objective_vs_params.png``, ``top_trials_curves.png``,
``param_importance.png``, ``optimization_history.png``, ``report.html``, ``test.json`` (when a test split
was asked for: the best trial's score on it, measured once) and ``trials/trial-NNNN/`` (each trial's
run directory).  Calling ``tune`` again with the same run directory (or storage and study name)
resumes the search: finished trials are kept, interrupted ones are run again, and the study is
completed to ``n_trials``.
"""
from __future__ import annotations

import json
import math
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from gradwise.tune.config import TuneConfig, build_tune_data, check_space, load_tune_config, trial_config
from gradwise.tune.results import TrialRow, collect_rows, format_table, write_results
from gradwise.tune.runner import Progress, map_in_workers, run_worker, run_workers, storage_safe_interrupts
from gradwise.tune.space import SearchSpace
from gradwise.tune.study import (check_settings, make_storage, open_study, optuna, quiet_optuna, reclaim_interrupted,
                                 settings_changes, storage_url)

__all__ = ["tune", "TuneResult", "run_configuration", "evaluate_on_test", "importance_scores", "default_run_dir",
           "retrain"]


@dataclass
class TuneResult:
    """What a search left: the Optuna study, a row per trial, the best trial and where the files are."""

    study: Any
    config: TuneConfig
    rows: list[TrialRow]
    best: TrialRow | None
    run_dir: Path | None
    importance: dict[str, float] | None = None
    importance_note: str | None = None
    test: dict[str, Any] | None = None
    files: list[Path] = field(default_factory=list)
    seconds: float = 0.0
    reclaimed: list[int] = field(default_factory=list)
    #: Settings changes forced into the study (``force=True``), oldest first: ``{"from_trial", "changed"}``.
    settings_changes: list[dict[str, Any]] = field(default_factory=list)
    #: How sure it is that ``best`` beats the runner-up (:class:`gradwise.tune.scoring.Ranking`).
    ranking: Any = None
    #: A flagged trial that scored better than ``best`` but not by more than its noise, and why it lost.
    passed_over: TrialRow | None = None
    choice_note: str | None = None
    #: The best single-run trial, when the confirmation runs crowned another.
    single_best: TrialRow | None = None
    #: The base configuration trained with the same seeds (``[tune] baseline``), as a row numbered -1.
    baseline: TrialRow | None = None
    #: The crowned trial against it (:class:`gradwise.tune.scoring.Comparison`).
    versus_default: Any = None

    @property
    def best_params(self) -> dict[str, Any]:
        return dict(self.best.params) if self.best else {}

    @property
    def best_value(self) -> float | None:
        return self.best.value if self.best else None

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.rows:
            out[r.state] = out.get(r.state, 0) + 1
        return out

    def epochs(self) -> int:
        """Epochs trained over all trials (the cost a pruner saves)."""
        return sum(int(r.epochs_run or 0) for r in self.rows)

    def table(self, width: int = 200) -> str:
        """The results table (best first), each row with its diagnosis."""
        s = self.config.settings
        return format_table(self.rows, s.metric, s.direction, self.best.number if self.best else None, width=width)

    def __repr__(self) -> str:
        best = f"best trial {self.best.number} {self.config.settings.metric}={self.best.value:.4g}" if self.best \
            else "no complete trial"
        return f"TuneResult({len(self.rows)} trials {self.counts()}, {best}, run_dir={self.run_dir})"


def default_run_dir() -> Path:
    """``runs/tune-<timestamp>`` (a fresh one)."""
    base = Path("runs") / datetime.now().strftime("tune-%Y%m%d-%H%M%S")
    path, n = base, 2
    while path.exists():
        path, n = base.with_name(f"{base.name}-{n}"), n + 1
    return path


def _as_config(config: TuneConfig | str | Path | None, space: SearchSpace | Mapping[str, Any] | None,
               base: Mapping[str, Any] | None, overrides: Mapping[str, Any], factory: Any = None) -> TuneConfig:
    if isinstance(config, TuneConfig):
        cfg = TuneConfig(base=dict(config.base), settings=config.settings, space=config.space, source=config.source)
        cfg.settings = type(config.settings)(**config.settings.to_dict())
    else:
        cfg = load_tune_config(config)
    if base is not None:
        cfg.base = {k: dict(v) for k, v in base.items()}
    if factory is not None:
        cfg.base = {**cfg.base, "model": {**dict(cfg.base.get("model") or {}), "factory": factory}}
    if space is not None:
        cfg.space = space if isinstance(space, SearchSpace) else SearchSpace(space)
    from gradwise.tune.config import parse_settings

    given = {k: v for k, v in overrides.items() if v is not None}
    if given:
        merged = parse_settings(given)
        for k in given:
            setattr(cfg.settings, k, getattr(merged, k))
    check_space(cfg)
    return cfg


def tune(config: TuneConfig | str | Path | None = None, *, space: SearchSpace | Mapping[str, Any] | None = None,
         base: Mapping[str, Any] | None = None, run_dir: str | Path | None = "auto", n_trials: int | None = None,
         n_jobs: int | None = None, sampler: str | None = None, pruner: str | None = None, seed: int | None | str = "config",
         metric: str | None = None, storage: str | None = None, study_name: str | None = None,
         timeout: float | None = None, test_fraction: float | None = None, progress: bool | TextIO = True,
         report: bool = True, factory: str | Callable[..., Any] | None = None, device: str | None = None,
         force: bool = False, confirm_top: int | None = None, confirm_seeds: int | None = None,
         baseline: bool | None = None) -> TuneResult:
    """Search hyper-parameters with Optuna, every trial babysat and diagnosed; return a :class:`TuneResult`.

    Args:
        config: a :class:`TuneConfig`, a TOML path, or None for the embedded digits search.
        space: a :class:`SearchSpace` (or ``{"optim.lr": Float(...), ...}``) replacing the config's.
        base: the training config sections (``{"data": {...}, "train": {...}}``) replacing the config's.
        run_dir: where the storage, results, pictures and trial directories go ("auto":
            ``runs/tune-<timestamp>``; None: nothing on disk, in-memory storage, ``n_jobs`` must be 1).
            Passing an existing run directory resumes its search.
        n_trials, n_jobs, sampler, pruner, metric, storage, study_name, timeout, test_fraction:
            override the ``[tune]`` settings (see :mod:`gradwise.tune.config`); ``seed`` too (None: unseeded).
        progress: draw the progress line (True: on stdout; or a stream; False: silent).
        report: write the pictures and ``report.html`` at the end.
        factory: your own model builder, gradwise or PyTorch: ``"module:function"`` or an importable
            function (the ``[model] factory`` of the config; see :mod:`gradwise.tune.factory` for the
            keyword arguments it gets).  With ``n_jobs > 1`` a function must be importable by name
            (defined at module level), since the worker processes receive it by reference.
        device: where PyTorch models train (``"cpu"``, ``"cuda"``, ``"cuda:N"``; the ``[tune] device``).
        confirm_top, confirm_seeds: at the end, re-train the ``confirm_top`` best trials with ``confirm_seeds``
            more training seeds each and crown the best mean (``[tune]`` defaults 3 and 2; 0 turns it off).
        baseline: also train the base configuration with those seeds and judge the best trial against it
            (``result.versus_default``; default True).
        force: add trials to an existing study even though its stored settings (seed, sampler, pruner,
            epochs, data, space ...) differ from these; without it such a search raises
            :class:`~gradwise.tune.study.SettingsMismatch` naming the differences.
    """
    start = time.perf_counter()
    overrides = dict(n_trials=n_trials, n_jobs=n_jobs, sampler=sampler, pruner=pruner, metric=metric,
                     storage=storage, study_name=study_name, timeout=timeout, test_fraction=test_fraction, device=device,
                     confirm_top=confirm_top, confirm_seeds=confirm_seeds, baseline=baseline)
    cfg = _as_config(config, space, base, overrides, factory)
    if seed != "config":
        cfg.settings.seed = seed if seed is None else int(seed)
    s = cfg.settings
    if run_dir == "auto":
        run_dir = default_run_dir()
    run_path = Path(run_dir) if run_dir is not None else None
    if run_path is not None:
        run_path.mkdir(parents=True, exist_ok=True)
    url = storage_url(cfg, run_path)
    if url is None and s.n_jobs > 1:
        raise ValueError("n_jobs > 1 needs a storage the worker processes share: give a run_dir (SQLite) or a "
                         "storage URL")
    quiet_optuna()
    store = make_storage(url)
    study = open_study(cfg, store)
    check_settings(study, cfg, force=force, where=_where(url))
    reclaimed = reclaim_interrupted(study)
    if run_path is not None:
        _write_search_file(cfg, run_path, url)
    stream = progress if hasattr(progress, "write") else sys.stdout
    bar = Progress(s.n_trials, s.metric, stream=stream, enabled=bool(progress))
    deadline = time.time() + s.timeout if s.timeout else None
    try:
        with storage_safe_interrupts():   # Ctrl-C/SIGTERM never break off a storage transaction half-way
            if s.n_jobs == 1:
                bar.update(study)
                run_worker(cfg, run_path, store, s.n_trials, deadline, on_trial=bar.update)
            else:
                run_workers(cfg, run_path, url, s.n_jobs, s.n_trials, deadline, progress=bar)
    finally:
        bar.close()
    return summarize(study, cfg, run_path, report=report, seconds=time.perf_counter() - start, reclaimed=reclaimed,
                     stream=stream if progress else None)


def _where(url: str | None) -> str:
    from gradwise.tune.study import describe_storage

    return f" in {describe_storage(url)}" if url else ""


CONFIRM_ATTR = "gradwise.confirmations"
BASELINE_ATTR = "gradwise.baseline"
#: Confirmation runs use ``[train] seed + CONFIRM_SEED_OFFSET + j``: seeds no trial and no ``retrain`` of
#: small seeds (``bench/tune_robust.py`` re-trains with 1, 2, ...) uses.
CONFIRM_SEED_OFFSET = 10_000


def confirm_top_trials(study: Any, cfg: TuneConfig, rows: list[TrialRow], stream: TextIO | None = None) -> None:
    """Re-train the ``[tune] confirm_top`` best trials with ``confirm_seeds`` more training seeds each and attach
    the scores to their rows (``row.confirmed``); the crown then goes to the best mean (see
    :mod:`gradwise.tune.scoring`).  The runs go to the ``[tune] n_jobs`` worker processes and are kept in the
    study (user attribute ``gradwise.confirmations``) as each finishes, so a later summary does not train them
    again.  Flagged trials are not candidates,
    unless the single-run choice crowned one (clearly better) or every trial is flagged."""
    from gradwise.tune.scoring import choose_single

    s = cfg.settings
    if s.confirm_top <= 0 or s.confirm_seeds <= 0:
        return
    single = choose_single(rows, s.direction)
    if single is None:
        return
    complete = [r for r in rows if r.state == "complete" and r.value is not None and math.isfinite(r.value)]
    sign = 1 if s.direction == "minimize" else -1
    pool = [r for r in complete if not r.flags] or complete
    candidates = sorted(pool, key=lambda r: (sign * r.value, r.number))[:s.confirm_top]
    if single.best not in candidates:
        candidates = [single.best, *candidates[:-1]] if len(candidates) >= s.confirm_top else [single.best, *candidates]
    if len(candidates) < 2:
        return
    stored: dict[str, list[dict[str, Any]]] = dict(study.user_attrs.get(CONFIRM_ATTR) or {})
    base_seed = int(trial_config(cfg.base, {})[0]["train"]["seed"])
    todo = sum(max(0, s.confirm_seeds - len(stored.get(str(r.number), []))) for r in candidates)
    if todo and stream is not None:
        stream.write(f"confirming the {len(candidates)} best trials with {s.confirm_seeds} more seed(s) each "
                     f"({todo} runs)\n")
        stream.flush()
    tasks = [(r, base_seed + CONFIRM_SEED_OFFSET + j) for r in candidates
             for j in range(len(stored.get(str(r.number), [])), s.confirm_seeds)]
    for i, run in map_in_workers(_retrain_task, [(cfg, r.params, seed) for r, seed in tasks], s.n_jobs):
        r, seed = tasks[i]
        value = run["value"]
        stored.setdefault(str(r.number), []).append(
            {"seed": seed, "value": value if value is not None and math.isfinite(value) else None})
        study.set_user_attr(CONFIRM_ATTR, stored)     # kept after every run: an interruption loses one at most
    for r in rows:
        runs_ = sorted(stored.get(str(r.number)) or [], key=lambda x: x["seed"])
        if runs_ and r in candidates:
            r.confirmed = [x["value"] if x["value"] is not None else math.inf * sign for x in runs_[:s.confirm_seeds]]
            r.confirmed_seeds = [x["seed"] for x in runs_[:s.confirm_seeds]]
            r.notes = [f"re-trained with {len(r.confirmed)} more seeds: mean {_mean_text(r, s.direction)}", *r.notes]


def train_baseline(study: Any, cfg: TuneConfig, stream: TextIO | None = None) -> TrialRow | None:
    """Train the base configuration (no search parameter) with the trials' seed and the confirmation seeds, once
    per study (kept as the study attribute ``gradwise.baseline``); returns it as a row numbered -1."""
    s = cfg.settings
    if not s.baseline:
        return None
    base_seed = int(trial_config(cfg.base, {})[0]["train"]["seed"])
    seeds = [base_seed] + [base_seed + CONFIRM_SEED_OFFSET + j for j in range(s.confirm_seeds if s.confirm_top else 0)]
    stored = list(study.user_attrs.get(BASELINE_ATTR) or [])
    todo = [seed for seed in seeds if seed not in {x["seed"] for x in stored}]
    if todo and stream is not None:
        stream.write(f"training the default configuration with {len(todo)} seed(s) for comparison\n")
        stream.flush()
    for i, run in map_in_workers(_retrain_task, [(cfg, {}, seed) for seed in todo], s.n_jobs):
        seed = todo[i]
        value = run["value"]
        stored.append({"seed": seed, "value": value if value is not None and math.isfinite(value) else None,
                       "val_examples": run.get("val_examples") if seed == base_seed else None})
        study.set_user_attr(BASELINE_ATTR, stored)
    by_seed = {x["seed"]: x for x in stored}
    worst = math.inf if s.direction == "minimize" else -math.inf
    values = [by_seed[seed]["value"] if by_seed[seed]["value"] is not None else worst for seed in seeds]
    mean = _mean_text(TrialRow(number=-1, state="complete", value=values[0], params={}, confirmed=values[1:]),
                      s.direction)
    return TrialRow(number=-1, state="complete", value=values[0], params={}, confirmed=values[1:],
                    confirmed_seeds=seeds[1:], val_examples=by_seed[base_seed].get("val_examples"),
                    notes=[f"the base configuration: {mean}"])


def _retrain_task(task: tuple[TuneConfig, Mapping[str, Any], int]) -> dict[str, Any]:
    """One confirmation or baseline run (a worker process's task): never touches the test split."""
    cfg, params, seed = task
    return retrain(cfg, params, [seed], test=False)[0]


def _mean_text(row: TrialRow, direction: str) -> str:
    from gradwise.tune.scoring import runs, seed_mean, seed_se

    mean, se = seed_mean(row, direction), seed_se(row)
    if not math.isfinite(mean):
        return "diverged in a run"
    return f"{mean:.4g}" + (f" ± {se:.2g}" if se is not None else "") + f" over {len(runs(row))} runs"


def summarize(study: Any, cfg: TuneConfig, run_dir: Path | None, *, report: bool = True, seconds: float = 0.0,
              reclaimed: list[int] | None = None, stream: TextIO | None = None) -> TuneResult:
    """Build the :class:`TuneResult` of a study - rows, confirmation runs of the best trials, best trial,
    ranking, importance, test score - and write its files."""
    from gradwise.tune.scoring import choose_best, ranking

    s = cfg.settings
    rows = collect_rows(study, cfg.space)
    confirm_top_trials(study, cfg, rows, stream)
    baseline = train_baseline(study, cfg, stream) if any(r.state == "complete" for r in rows) else None
    choice = choose_best(rows, s.direction)     # the best score; a flagged run only when better beyond its noise
    best = choice.best if choice else None
    result = TuneResult(study=study, config=cfg, rows=rows, best=best, run_dir=run_dir, seconds=seconds,
                        reclaimed=list(reclaimed or []), settings_changes=settings_changes(study),
                        ranking=ranking(rows, choice, s.direction), passed_over=choice.passed_over if choice else None,
                        choice_note=choice.reason if choice else None,
                        single_best=choice.single if choice and choice.single is not choice.best else None,
                        baseline=baseline)
    if baseline is not None and best is not None:
        from gradwise.tune.scoring import versus_default

        n = sum(1 for r in rows if r.state == "complete")
        result.versus_default = versus_default(best, baseline, n, s.direction)
    result.importance, result.importance_note = importance_scores(study, s.importance, s.seed)
    if best is not None and s.test_fraction > 0:
        result.test = evaluate_on_test(cfg, best, run_dir)
    if run_dir is not None:
        extra = {"study_name": s.study_name, "metric": s.metric, "direction": s.direction,
                 "best_trial": best.number if best else None, "ranking": result.ranking.to_dict() if result.ranking
                 else None, "choice_note": result.choice_note, "versus_default": result.versus_default.to_dict()
                 if result.versus_default else None, "importance": result.importance, "test": result.test}
        result.files += write_results(rows, run_dir, extra)
        if report:
            result.files += _write_pictures_and_report(result)
    return result


def importance_scores(study: Any, evaluator: str = "ped_anova", seed: int | None = 0
                      ) -> tuple[dict[str, float] | None, str | None]:
    """Optuna's parameter importances over the complete trials with a finite value, or ``(None, why not)``."""
    from optuna.trial import TrialState

    trials = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
              if t.value is not None and math.isfinite(t.value)]
    if len(trials) < 3:
        return None, f"importance needs at least 3 complete trials ({len(trials)} so far)"
    if evaluator == "fanova":
        ev = optuna.importance.FanovaImportanceEvaluator(seed=seed)
    elif evaluator == "mean_decrease_impurity":
        ev = optuna.importance.MeanDecreaseImpurityImportanceEvaluator(seed=seed)
    else:
        ev = optuna.importance.PedAnovaImportanceEvaluator()
    finite = optuna.create_study(direction=study.direction)
    finite.add_trials(trials)
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scores = optuna.importance.get_param_importances(finite, evaluator=ev)
    except Exception as err:   # too few trials for the evaluator, a missing scikit-learn, ...
        return None, f"importance not computed: {type(err).__name__}: {err}"
    return {k: float(v) for k, v in scores.items()}, None


def run_configuration(config: TuneConfig, params: Mapping[str, Any] | None = None,
                      run_dir: str | Path | None = None, number: int = 0) -> dict[str, Any]:
    """Train one configuration (the base config with ``params`` applied; ``{}``: the base itself) exactly as a
    trial would be trained, outside any study; returns its record (value, curves, diagnosis, notes ...).

    This is how the search is compared with the default configuration on the same validation data.
    """
    from gradwise.tune.objective import Objective

    trial = optuna.trial.FixedTrial(dict(params or {}), number=number)
    value = Objective(config, run_dir).evaluate(trial, dict(params or {}))
    return {"value": value, **trial.user_attrs}


def retrain(config: TuneConfig, params: Mapping[str, Any] | None, seeds: Sequence[int], *,
            test: bool = True) -> list[dict[str, Any]]:
    """Train the configuration ``params`` (``{}``: the base) again with each ``[train] seed`` in ``seeds`` -
    other initial weights, shuffling and dropout, the same data split - and score each run as a trial is
    scored (validation score, noise) and, with ``[tune] test_fraction > 0``, on the held-out test split.

    A search's winner should still win when re-trained with other seeds; this is how to check it (and how
    ``bench/tune_robust.py`` compares the chosen configuration with the default one).  Returns one dict per
    seed: ``seed``, ``value`` (the score), ``noise``, ``score_se``, ``best_epoch``, ``best_val_loss``,
    ``best_val_accuracy``, ``val_examples`` (per-example validation values) and the ``test_*`` metrics
    (``test=False``: the test split is not touched)."""
    out = []
    for seed in seeds:
        base = {k: dict(v) if isinstance(v, Mapping) else v for k, v in config.base.items()}
        base["train"] = {**dict(base.get("train") or {}), "seed": int(seed)}
        cfg = TuneConfig(base=base, settings=config.settings, space=config.space, source=config.source)
        with tempfile.TemporaryDirectory() as tmp:
            record = run_configuration(cfg, params, run_dir=tmp)
            row = TrialRow(number=0, state="complete", value=record["value"], params=dict(params or {}),
                           best_epoch=record.get("best_epoch"), log_dir=str(Path(tmp) / "trials" / "trial-0000"))
            scores = evaluate_on_test(cfg, row, None) if test and cfg.settings.test_fraction > 0 else {}
        out.append({"seed": int(seed), **{k: record.get(k) for k in ("value", "noise", "score_se", "best_epoch",
                                                                      "best_val_loss", "best_val_accuracy", "flags",
                                                                      "val_examples")},
                    **{k: v for k, v in scores.items() if k.startswith("test_")}})
    return out


def evaluate_on_test(cfg: TuneConfig, best: TrialRow, run_dir: Path | None) -> dict[str, Any]:
    """The best trial's model scored on the held-out test split - once per best trial (kept in ``test.json``).

    The model is the trial's saved ``model.npz`` (its best epoch's weights; a gradwise or PyTorch model);
    when the trial's directory is on another machine, the trial is trained again here (deterministic under
    its seed) to get it.  Scored by :func:`gradwise.train.evaluate.evaluate`, as validation is in training.
    """
    from gradwise.engines import engine_for
    from gradwise.models.weights import load_arrays
    from gradwise.train.config import loss_name
    from gradwise.train.evaluate import evaluate
    from gradwise.train.fit import resolve_loss
    from gradwise.train.trainer import accuracy_for, classification_kind
    from gradwise.tune.models import build_trial_model

    cache = run_dir / "test.json" if run_dir is not None else None
    if cache is not None and cache.is_file():
        saved = json.loads(cache.read_text(encoding="utf-8"))
        if saved.get("trial") == best.number:
            return saved
    train_cfg, arch = trial_config(cfg.base, best.params)
    data, test = build_tune_data(train_cfg, cfg.settings.test_fraction)
    model, _ = build_trial_model(train_cfg, arch, data, best.params)
    engine = engine_for(model, cfg.settings.device or None)
    model = engine.to_device(model)
    weights = Path(best.log_dir) / "model.npz" if best.log_dir else None
    with tempfile.TemporaryDirectory() as tmp:
        if weights is None or not weights.is_file():
            run_configuration(cfg, best.params, run_dir=tmp, number=best.number)
            weights = Path(tmp) / "trials" / f"trial-{best.number:04d}" / "model.npz"
        engine.load_state_arrays(model, load_arrays(weights))
    loss_fn = resolve_loss(loss_name(train_cfg, data), engine)
    kind = classification_kind(loss_fn)
    metrics = {"accuracy": accuracy_for(kind)} if kind else {}
    dtype = engine.float_dtype(model)   # the test inputs in the model's dtype, as fit casts training data
    test_x = test[0].astype(dtype) if test[0].dtype.kind == "f" and test[0].dtype != dtype else test[0]
    scores = evaluate(model, (test_x, test[1]), loss_fn, metrics, engine=engine, prefix="test_", batch_size=256)
    out = {"trial": best.number, **scores, "samples": int(len(test[0]))}
    if cache is not None:
        cache.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    return out


def _write_search_file(cfg: TuneConfig, run_dir: Path, url: str | None) -> None:
    """``search.json``: what this search is (settings, space, base config, storage) - for the record."""
    info = {"source": cfg.source, "storage": url, "settings": cfg.settings.to_dict(), "space": cfg.space.describe(),
            "base": cfg.base}
    from gradwise.tune.factory import factory_name

    text = json.dumps(info, indent=1, default=lambda o: factory_name(o) if callable(o) else str(o))
    (run_dir / "search.json").write_text(text + "\n", encoding="utf-8")


def _write_pictures_and_report(result: TuneResult) -> list[Path]:
    from gradwise.tune import plots
    from gradwise.tune.report import write_report

    cfg, s, run_dir = result.config, result.config.settings, result.run_dir
    assert run_dir is not None
    best = result.best.number if result.best else None
    pictures = [plots.objective_vs_params(result.rows, cfg.space, s.metric, best),
                plots.top_curves(result.rows, s.direction, s.top_k),
                plots.importance(result.importance, s.importance, result.importance_note),
                plots.history(result.rows, s.direction, s.metric)]
    if result.best is not None:
        runner = result.ranking.runner_up if result.ranking else None
        runner_row = next((r for r in result.rows if r.number == runner), None)
        pictures.insert(0, plots.best_curve(result.best, s.metric, runner_row))
    files = [pic.save(run_dir) for pic in pictures]
    counts = result.counts()
    summary = {
        "study": f"{s.study_name} ({s.sampler} sampler, {s.pruner} pruner, seed {s.seed}, {s.n_jobs} worker(s))",
        "objective": f"{s.metric} ({s.direction}) on validation data only: each trial's smoothed validation curve read "
                     "at its kept epoch (lowest raw validation loss), with the curve's noise",
        "ranking": result.ranking.sentence(s.metric) if result.ranking else None,
        "why this trial": result.choice_note,
        "against the default": result.versus_default.sentence(s.metric) if result.versus_default else None,
        "confirmation": (f"the {s.confirm_top} best trials re-trained with {s.confirm_seeds} more seeds each; the best mean "
                         "crowned" if s.confirm_top and s.confirm_seeds else "off"),
        "trials": ", ".join(f"{n} {k}" for k, n in counts.items()),
        "epochs trained": f"{result.epochs()} over all trials",
        "data / base config": cfg.source,
        "storage": str((run_dir / "study.db") if not s.storage else s.storage),
        "time": f"{result.seconds:.0f} s" if result.seconds else None,
        "test": (", ".join(f"{k} {v:.4g}" for k, v in result.test.items() if k.startswith("test_"))
                 if result.test else None),
    }
    files.append(write_report(run_dir / "report.html", title=f"Hyper-parameter search - {run_dir.resolve().name}",
                              run_dir=run_dir, summary=summary, rows=sorted(result.rows, key=lambda r: _order(r, s)),
                              best=result.best, metric=s.metric, pictures=pictures, space_lines=cfg.space.describe(),
                              importance=result.importance, test=result.test, ranking=result.ranking,
                              choice_note=result.choice_note, versus_default=result.versus_default))
    return files


def _order(r: TrialRow, s: Any) -> tuple:
    rank = {"complete": 0, "pruned": 1, "running": 2, "fail": 3}
    v = r.value if r.value is not None and math.isfinite(r.value) else None
    if v is None and r.intermediate:
        v = r.intermediate[max(r.intermediate)]
    sign = 1 if s.direction == "minimize" else -1
    return (rank.get(r.state, 4), sign * v if v is not None else math.inf, r.number)

