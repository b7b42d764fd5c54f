"""gradwise.tune: hyper-parameter search on validation data, with every trial babysat and diagnosed.

The lecture's second babysitting stage ("Optimize your hyper parameters! Play with network
architecture, learning rate, decay rate, regularization - and observe training vs validation
losses/accuracies") made systematic on top of Optuna (the ``tune`` extra: ``pip install 'gradwise[tune]'``):

* a search space over config keys (``optim.lr``, ``optim.name``, ``optim.weight_decay``, ``model.width``,
  ``model.depth``, ``model.filters``, ``model.dropout``, ``model.activation``, ``model.init``,
  ``schedule.kind``, ...), declared in Python (:class:`SearchSpace` of :class:`Float`, :class:`Int`,
  :class:`Categorical`) or in the TOML config's ``[tune.space]`` (:mod:`gradwise.tune.config`);
* Optuna's TPE, random and grid samplers, median / successive-halving / Hyperband pruning from the
  per-epoch validation metric that ``fit`` reports (:class:`PruningCallback`), a seed that makes the
  search reproducible - also across an interruption and resume (:mod:`gradwise.tune.study`);
* every trial trained by ``fit`` with the babysitter on; its curves, checks and diagnosis stored with the
  trial, so the results table says "overfit from epoch 14", "dead ReLUs 62% in layer 2",
  "diverged: lr too high" (:mod:`gradwise.tune.diagnosis`, :mod:`gradwise.tune.results`);
* scores that noise cannot fool: a trial's value is its smoothed validation curve at the epoch whose weights
  are kept, with the curve's noise; a diverging or oscillating run is crowned only when better by more than
  its noise, and the report says how sure the ranking is (:mod:`gradwise.tune.scoring`); :func:`retrain`
  re-trains a configuration with other seeds;
* ``n_jobs`` worker processes sharing an Optuna storage (SQLite in the run directory by default, any
  Optuna storage URL - PostgreSQL for several machines), resumable without losing finished trials
  (:mod:`gradwise.tune.runner`);
* pictures - the objective against each hyper-parameter, the top trials' learning curves, parameter
  importance, the optimization history - as PNGs and in the run's ``report.html``.

``tune()`` runs it all (:mod:`gradwise.tune.search`); ``gradwise tune [config.toml]`` is the command line.
"""
from gradwise.tune.config import (DEFAULT_TUNE_CONFIG, TuneConfig, TuneSettings, load_tune_config,
                                  parse_tune_config, trial_config)
from gradwise.tune.diagnosis import trial_notes, trial_record
from gradwise.tune.objective import Objective
from gradwise.tune.pruning import PruningCallback
from gradwise.tune.results import TrialRow, format_table
from gradwise.tune.scoring import Score, choose_best, ranking, trial_score
from gradwise.tune.search import TuneResult, evaluate_on_test, importance_scores, retrain, run_configuration, tune
from gradwise.tune.space import Categorical, Float, Int, SearchSpace

__all__ = [
    "tune", "TuneResult", "SearchSpace", "Float", "Int", "Categorical", "TuneConfig", "TuneSettings",
    "load_tune_config", "parse_tune_config", "DEFAULT_TUNE_CONFIG", "trial_config", "Objective", "PruningCallback",
    "TrialRow", "format_table", "trial_record", "trial_notes", "run_configuration", "evaluate_on_test",
    "importance_scores", "retrain", "trial_score", "Score", "choose_best", "ranking",
]
