"""The objective: one Optuna trial = one babysat ``fit`` of the configuration the trial draws.

For each trial, :class:`Objective` draws the parameters from the :class:`~gradwise.tune.space.SearchSpace`,
applies them to the base training config, builds data, model (initialised for its activations, or
built by the ``[model] factory`` - a gradwise or a PyTorch model),
optimizer and learning-rate schedule exactly as ``gradwise train`` would, and trains with
:func:`gradwise.train.fit` with the babysitter on and a :class:`~gradwise.tune.pruning.PruningCallback`
reporting the validation metric after each epoch.  Its value is the trial's noise-proof score
(:mod:`gradwise.tune.scoring`): the *smoothed* validation curve read at the epoch whose weights are kept
(the lowest raw validation loss - the diagnosis's best epoch), so that a lucky one-epoch dip of a noisy
curve does not win the search; the model is chosen on validation data only.

Whatever happens - a good run, a pruned one, a diverging one - the trial keeps its learning curves,
babysitter checks and diagnosis in the Optuna storage (``trial.user_attrs``, see
:func:`gradwise.tune.diagnosis.trial_record`), and with ``keep_trial_logs`` its run directory
``<run dir>/trials/trial-NNNN/`` (history, checks, ``output.log``, ``model.npz``) that ``gradwise report``
can render.  The objective is a plain picklable object so that worker processes can run it.
"""
from __future__ import annotations

import contextlib
import io
import math
import os
import socket
import time
import traceback
from pathlib import Path
from typing import Any

from gradwise.tune.config import TuneConfig, build_tune_data, trial_config
from gradwise.tune.diagnosis import trial_record
from gradwise.tune.models import build_trial_model, build_trial_optimizer, parameter_count, trial_fit_kwargs
from gradwise.tune.pruning import PruningCallback

__all__ = ["Objective", "worker_id", "BABYSIT_THRESHOLDS"]

#: The babysitter's thresholds in a search: the tiny-batch overfitting probe gets 3 s instead of 10 s, so
#: that the pre-training checks do not dominate short trials (it reports "inconclusive" when time runs out).
BABYSIT_THRESHOLDS = {"overfit_max_seconds": 3.0}


def worker_id() -> str:
    """``host:pid`` of this process; stored with each trial so that a resumed study can tell its own dead
    trials (process gone) from trials another machine is still running."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Objective:
    """``objective(trial) -> float``: train the trial's configuration and return its score (the smoothed
    validation metric at the kept epoch, see :mod:`gradwise.tune.scoring`).

    Args:
        config: the search (base config, settings, space).
        run_dir: where trial directories go (None: keep nothing on disk besides the storage).
    """

    def __init__(self, config: TuneConfig, run_dir: str | Path | None = None) -> None:
        self.config = config
        self.run_dir = Path(run_dir) if run_dir is not None else None

    @property
    def metric(self) -> str:
        return self.config.settings.metric

    def trial_dir(self, number: int) -> Path | None:
        if self.run_dir is None or not self.config.settings.keep_trial_logs:
            return None
        return self.run_dir / "trials" / f"trial-{number:04d}"

    def __call__(self, trial: Any) -> float:
        trial.set_user_attr("worker", worker_id())
        return self.evaluate(trial, self.config.space.sample(trial))

    def evaluate(self, trial: Any, params: dict[str, Any]) -> float:
        """Train the configuration ``params`` (``"section.key" -> value`` over the base config) as ``trial``.

        ``__call__`` draws ``params`` from the space first; calling this directly with an
        ``optuna.trial.FixedTrial`` trains any configuration the same way (the base config: ``{}``).
        """
        import optuna

        start = time.perf_counter()
        try:
            result = self._train(trial, params)
        except optuna.TrialPruned:
            raise
        except Exception as err:
            trial.set_user_attr("error", f"{type(err).__name__}: {err}")
            trial.set_user_attr("notes", [f"error: {type(err).__name__}: {str(err)[:160]}"])
            trial.set_user_attr("traceback", traceback.format_exc()[-4000:])
            raise
        finally:
            trial.set_user_attr("seconds", round(time.perf_counter() - start, 3))
        return result

    def _add_validation_noise(self, record: dict[str, Any], model: Any, kept: Any, val: Any, device: Any) -> None:
        """Measure the validation set's sampling noise at the kept weights (``val_se``) and fold it into the
        score's standard error (``score_se``; the curve's own part stays in ``curve_se``)."""
        from gradwise.engines import engine_for
        from gradwise.tune.scoring import total_se, validation_spread

        engine = engine_for(model, device)
        engine.restore_weights(model, kept)
        spread = validation_spread(model, val, self.metric, engine)
        record["curve_se"] = record.get("score_se")
        record["val_n"] = spread["n"] if spread else None
        record["val_se"] = spread["se"] if spread else None
        record["val_examples"] = spread["values"] if spread else None
        record["score_se"] = total_se(record["curve_se"], record["val_se"])

    def _train(self, trial: Any, params: dict[str, Any]) -> float:
        import optuna

        from gradwise.models import save
        from gradwise.train import fit
        from gradwise.train.babysit import Babysitter

        settings = self.config.settings
        cfg, arch = trial_config(self.config.base, params)
        data, _ = build_tune_data(cfg, settings.test_fraction)
        if data.val is None:
            raise ValueError("a search needs validation data: set [data] val_fraction > 0")
        model, _ = build_trial_model(cfg, arch, data, params)   # seeded: the same initial stream for every trial
        optimizer = build_trial_optimizer(cfg, model)
        kwargs = trial_fit_kwargs(cfg, data, optimizer, model)
        kwargs["checkpoint_every"] = 0                       # a trial is re-run, not resumed
        pruning = PruningCallback(trial, self.metric)
        callbacks: list[Any] = [pruning]
        if kwargs.pop("babysit"):
            callbacks.append(Babysitter(thresholds=BABYSIT_THRESHOLDS))
        log_dir = self.trial_dir(trial.number)
        trial.set_user_attr("parameters", parameter_count(model))
        if log_dir is not None:
            log_dir.mkdir(parents=True, exist_ok=True)
            trial.set_user_attr("log_dir", str(log_dir))
        # The babysitter prints its warnings while training; in a search they go to the trial's output.log
        # (or nowhere) so that the progress display stays readable - the table shows them condensed.
        sink: Any = (log_dir / "output.log").open("w", encoding="utf-8") if log_dir is not None else io.StringIO()
        with sink, contextlib.redirect_stdout(sink):
            history = fit(model, data.train, data.val, callbacks=callbacks, babysit=False, progress=False,
                          log_dir=log_dir, device=settings.device or None, **kwargs)
        record = trial_record(history, self.metric, pruned_at=pruning.pruned_at)
        if pruning.pruned_at is None and pruning.best_state is not None:
            self._add_validation_noise(record, model, pruning.best_state, data.val, settings.device or None)
        for key, value in record.items():
            trial.set_user_attr(key, value)
        if log_dir is not None and pruning.best_state is not None:
            save(pruning.best_state, log_dir / "model.npz")
        if pruning.pruned_at is not None:
            raise optuna.TrialPruned(history.stop_reason)
        best = record.get("score")
        if best is None:
            best = pruning.best_value
        if best is None or not math.isfinite(best):
            # no epoch finished with a finite validation metric (diverged in the first epoch): the worst value
            return math.inf if settings.direction == "minimize" else -math.inf
        return best
