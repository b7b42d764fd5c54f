"""Automatic reading of training curves (the lecture's "Training Graphs").

``curves(history_or_path)`` reads a run's per-epoch training and validation losses and returns a
:class:`Diagnosis`: one of ``underfit``, ``overfit``, ``good_fit``, ``unrepresentative_train`` and
``unrepresentative_validation``, the epoch where validation loss bottoms out, the numbers that decided
and what to do next.  ``read_history(path)`` reads gradwise, Keras, PyTorch Lightning and TensorBoard
histories.  The command line equivalent is ``gradwise diagnose HISTORY [--format json]``.
"""
from gradwise.diagnose.curves import VERDICTS, Diagnosis, Thresholds, curves
from gradwise.diagnose.history_io import LossHistory, read_history

__all__ = ["curves", "Diagnosis", "Thresholds", "VERDICTS", "read_history", "LossHistory"]
