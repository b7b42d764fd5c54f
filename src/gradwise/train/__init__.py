"""gradwise.train: the training loop, its callbacks, checkpoints and the learning-rate finder.

The lecture's BACKPROPAGATION procedure - initialize, then repeat forward, loss, backward, update
until a stopping condition - is :func:`fit` (built on :class:`Trainer`), with the stopping conditions
people use (epochs, early stopping, a target metric, a time budget, a non-finite loss), the logs the
lecture asks for ("Log it. Visualise it."), resumable checkpoints and, with ``babysit=True``, the
automatic babysitting checks of ``gradwise.train.babysit``.  :func:`lr_find` sweeps the learning rate
as fastai's ``lr_find`` does.  :func:`watch` gives a hand-written loop (PyTorch or gradwise) the same
checks, logs, diagnosis and run directory.

A run with ``log_dir=RUN`` leaves::

    RUN/history.csv, RUN/history.jsonl   one row per epoch (gradwise's history format; gradwise diagnose reads it)
    RUN/steps.csv, RUN/steps.jsonl       one row per optimizer step: epoch, step, batch, loss, [accuracy,] lr, size
    RUN/checks.jsonl                     the babysitter's checks, one JSON object each
    RUN/run.json                         stop reason, best epoch, final record, diagnosis, checks
    RUN/checkpoints/last.npz, best.npz   resumable checkpoints (fit(..., resume=...))
    RUN/tensorboard/                     event files, with a TensorBoardLogger callback

:class:`MLflowLogger` (``gradwise.train.MLflowLogger``, loaded on first use; needs ``mlflow``) keeps the
run's parameters, metrics, checks, diagnosis and report in MLflow.
"""
from gradwise.train.callback import Callback, MonitorCallback
from gradwise.train.callbacks import (CSVLogger, DiagnosisStopping, EarlyStopping, JSONLinesLogger,
                                      LearningRateScheduler, ModelCheckpoint, ProgressBar, TargetMetric,
                                      TensorBoardLogger, TimeBudget)
from gradwise.train.evaluate import evaluate
from gradwise.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from gradwise.train.fit import fit
from gradwise.train.history import Check, History
from gradwise.train.lr_find import LRFinderResult, lr_find
from gradwise.train.trainer import Trainer
from gradwise.train.watch import Watch, watch

__all__ = [
    "fit", "evaluate", "Trainer", "History", "Check", "Callback", "MonitorCallback", "EarlyStopping", "DiagnosisStopping", "TargetMetric", "TimeBudget",
    "ModelCheckpoint", "LearningRateScheduler", "CSVLogger", "JSONLinesLogger", "TensorBoardLogger", "ProgressBar",
    "save_checkpoint", "load_checkpoint", "CheckpointError", "lr_find", "LRFinderResult", "watch", "Watch",
    "MLflowLogger",
]


def __getattr__(name: str):
    """``MLflowLogger`` is imported on first use (it is the only callback that needs an optional package)."""
    if name == "MLflowLogger":
        from gradwise.train.mlflow_logger import MLflowLogger

        return MLflowLogger
    raise AttributeError(f"module 'gradwise.train' has no attribute {name!r}")
