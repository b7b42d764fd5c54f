"""Data and training helpers shared by the probe, fine-tuning, the example and the config runner.

Transfer trains through :func:`gradwise.train.fit` and measures through
:func:`gradwise.train.evaluate.evaluate`, like every other part of gradwise, so a fine-tuned
model can be babysat, logged and diagnosed like any run, and a PyTorch model trains the same
way as a gradwise one.  What transfer adds is its budget: a number of optimizer *steps* (few
labelled images make epochs a poor unit) on shuffled mini-batches of equal size.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gradwise.engines import to_numpy
from gradwise.train.callbacks import Callback

__all__ = ["as_arrays", "accuracy", "evaluate", "train_steps", "StepLimit", "step_loader"]

#: ``augment(batch, rng) -> batch``: a random transformation of a batch of NumPy inputs.
Augment = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def as_arrays(data: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(inputs, labels)`` NumPy arrays from a pair of arrays/tensors (gradwise or PyTorch) or a map-style
    dataset of ``(input, label)`` pairs (gradwise's or ``torch.utils.data``'s)."""
    if isinstance(data, tuple) and len(data) == 2:
        x, y = data
    elif hasattr(data, "arrays") and getattr(data, "transform", None) is None and len(data.arrays) == 2:
        x, y = data.arrays  # array datasets: no per-sample loop
    elif hasattr(data, "__getitem__") and hasattr(data, "__len__"):
        samples = [data[i] for i in range(len(data))]
        x = np.stack([to_numpy(s[0]) for s in samples])
        y = np.array([int(s[1]) for s in samples])
    else:
        raise TypeError(f"expected (inputs, labels) arrays or a dataset of (input, label) pairs, got "
                        f"{type(data).__name__}")
    x, y = to_numpy(x), to_numpy(y)
    if len(x) != len(y):
        raise ValueError(f"{len(x)} inputs but {len(y)} labels")
    return x, y.astype(np.int64)


def accuracy(outputs: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of rows whose highest score is the label (a metric of :func:`gradwise.train.fit`)."""
    return float(np.mean(np.asarray(outputs).argmax(1) == np.asarray(labels)))


def evaluate(model: Any, x: np.ndarray, y: np.ndarray, batch_size: int = 512) -> float:
    """Accuracy of ``model`` on ``x``, ``y`` in eval mode without gradients (:func:`gradwise.train.evaluate.evaluate`;
    the model's train/eval modes are put back afterwards)."""
    from gradwise.train.evaluate import evaluate as evaluate_model
    from gradwise.transfer._engine import framework

    engine = framework(model).engine
    return evaluate_model(model, (_as_dtype(x, engine.float_dtype(model)), np.asarray(y)),
                          metrics={"accuracy": accuracy}, engine=engine, batch_size=batch_size)["accuracy"]


def _as_dtype(x: Any, dtype: np.dtype) -> np.ndarray:
    x = np.asarray(to_numpy(x))
    return x.astype(dtype) if x.dtype.kind == "f" and x.dtype != dtype else x


class StepLimit(Callback):
    """Stop the run after ``steps`` optimizer steps (transfer's budget), wherever in an epoch that falls."""

    order = -5   # before the babysitter, early stopping and the loggers: the last step's epoch is still recorded

    def __init__(self, steps: int) -> None:
        self.steps = int(steps)

    def on_batch_end(self, trainer: Any, batch_index: int, logs: dict[str, Any]) -> None:
        if trainer.global_step >= self.steps and not trainer.stop_training:
            trainer.stop(f"completed the {self.steps} optimizer steps asked for")


class _BatchAugment:
    """A loader transform (``apply_batch``) that runs ``augment(batch, rng)`` on each gathered input batch."""

    def __init__(self, augment: Augment, rng: np.random.Generator) -> None:
        self.augment, self.rng = augment, rng

    def apply_batch(self, batch: np.ndarray) -> np.ndarray:
        return self.augment(batch, self.rng)

    def __call__(self, sample: np.ndarray) -> np.ndarray:
        return self.augment(sample[None], self.rng)[0]


class _StepBatches:
    """Index batches for :func:`step_loader`: each epoch one permutation (from ``rng``) cut into full batches.

    ``discard_first``: draw one permutation before the first epoch and drop it - the earlier loop did so when
    the set was smaller than a batch, and keeping its random stream keeps the measured example's numbers.
    """

    def __init__(self, n: int, size: int, rng: np.random.Generator, shuffle: bool, discard_first: bool) -> None:
        self.n, self.size, self.rng, self.shuffle, self.discard = n, size, rng, shuffle, discard_first

    def __iter__(self):
        if self.shuffle and self.discard:
            self.rng.permutation(self.n)
            self.discard = False
        order = self.rng.permutation(self.n) if self.shuffle else np.arange(self.n)
        for start in range(0, self.n - self.size + 1, self.size):
            yield order[start:start + self.size]

    def __len__(self) -> int:
        return self.n // self.size


def step_loader(x: np.ndarray, y: np.ndarray, batch_size: int, seed: int, augment: Augment | None = None,
                shuffle: bool = True) -> Any:
    """Mini-batches of ``min(batch_size, len(x))`` samples, the last incomplete batch of each epoch left out
    (every step sees a full batch: the whole set when it is smaller than a batch).

    One NumPy generator seeded with ``seed`` draws each epoch's order and then ``augment``'s random
    parameters batch by batch, so the batches are those of transfer's earlier hand-written loop
    (and the measured example repeats its numbers).
    """
    from gradwise.data import DataLoader, TensorDataset

    rng = np.random.default_rng(seed)
    size = max(1, min(int(batch_size), len(x)))
    transform = _BatchAugment(augment, rng) if augment is not None else None
    batches = _StepBatches(len(x), size, rng, shuffle, discard_first=size < int(batch_size))
    return DataLoader(TensorDataset(x, y), batch_sampler=batches, transform=transform)


def train_steps(model: Any, optimizer: Any, x: np.ndarray, y: np.ndarray, steps: int, batch_size: int, seed: int,
                augment: Augment | None = None, *, val: tuple[np.ndarray, np.ndarray] | None = None,
                loss: Any = "cross_entropy", shuffle: bool = True, babysit: bool = False,
                log_dir: str | Path | None = None, progress: bool = False, callbacks: Sequence[Callback] = (),
                device: Any = None) -> Any:
    """``steps`` optimizer steps of :func:`gradwise.train.fit` on shuffled mini-batches; returns its History.

    Batches are :func:`step_loader`'s (full batches only; the whole set when it is smaller than a
    batch; ``seed`` draws their order, ``shuffle=False`` keeps the data's order); ``augment(batch,
    rng)``, when given, transforms each input batch (e.g. random shifts).  The global random
    streams (dropout) are not reseeded: seed them before building the model.  With ``val`` the
    validation accuracy and loss are measured after every epoch (and the curves diagnosed);
    ``babysit`` adds gradwise's checks; ``log_dir`` keeps the run directory.  ``fit`` counts
    epochs, so the run gets enough epochs for ``steps`` and :class:`StepLimit` ends it at the last
    step.  Works for gradwise and PyTorch models (``device``: where a PyTorch model trains).
    """
    from gradwise.engines import engine_for
    from gradwise.train.fit import fit

    engine = engine_for(model, device)
    dtype = engine.float_dtype(model)
    x, y = _as_dtype(x, dtype), np.asarray(to_numpy(y))
    loader = step_loader(x, y, batch_size, seed, augment, shuffle)
    epochs = max(1, math.ceil(int(steps) / len(loader)))
    val_data = (_as_dtype(val[0], dtype), np.asarray(to_numpy(val[1]))) if val is not None else None
    return fit(model, loader, val_data, loss=loss, optimizer=optimizer, epochs=epochs,
               batch_size=loader.batch_sampler.size, callbacks=[StepLimit(steps), *callbacks], babysit=babysit,
               log_dir=log_dir, seed=None, progress=progress, checkpoint_every=None, device=device)
