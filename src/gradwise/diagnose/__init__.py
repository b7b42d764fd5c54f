"""Automatic reading of training curves (the lecture's "Training Graphs").

``curves(history_or_path)`` reads a run's per-epoch training and validation losses and returns a
:class:`Diagnosis`: one of ``underfit``, ``overfit``, ``good_fit``, ``unrepresentative_train`` and
``unrepresentative_validation`` with a calibrated ``confidence`` (and the runner-up ``alternative`` when two
readings are close), the best epoch (the weights to keep: lowest raw validation loss), the stop epoch
(where the smoothed validation trend bottoms out), the numbers that decided and what to do next.
``best_epoch(records)`` is that one definition of the best epoch for trainers and reports;
``diagnose_so_far(records)`` / ``should_stop(...)`` read a run while it trains (``early_stopping="diagnosis"``).
``read_history(path)`` reads gradwise, Keras, PyTorch Lightning, TensorBoard and plain CSV histories,
``read_histories(dir)`` every run under a directory.  The command line: ``gradwise diagnose HISTORY|DIR``.

Modules: ``thresholds`` (the numbers), ``smoothing`` (pure smoothers), ``features`` (what is measured),
``rules`` (the cascade and its words), ``scorer`` (confidence), ``best`` (the best epoch), ``live`` (during
training), ``history_io`` (the file formats), ``curves`` (putting them together).
"""
from gradwise.diagnose.best import best_epoch
from gradwise.diagnose.curves import Diagnosis, curves
from gradwise.diagnose.features import Features, measure
from gradwise.diagnose.history_io import LossHistory, read_histories, read_history
from gradwise.diagnose.live import LiveDiagnosis, diagnose_so_far, should_stop
from gradwise.diagnose.thresholds import VERDICTS, Thresholds

__all__ = ["curves", "Diagnosis", "Thresholds", "VERDICTS", "read_history", "read_histories", "LossHistory",
           "best_epoch", "diagnose_so_far", "should_stop", "LiveDiagnosis", "Features", "measure"]
