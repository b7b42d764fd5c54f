"""Small data and training helpers shared by the probe, the example and the config runner."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from gradwise import nn, optim
from gradwise.nn.module import Module
from gradwise.tensor.grad_mode import no_grad
from gradwise.tensor.tensor import Tensor


def as_arrays(data: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(inputs, labels)`` NumPy arrays from a pair of arrays/Tensors or a map-style dataset of pairs."""
    if isinstance(data, tuple) and len(data) == 2:
        x, y = data
    elif hasattr(data, "arrays") and getattr(data, "transform", None) is None and len(data.arrays) == 2:
        x, y = data.arrays  # array datasets: no per-sample loop
    elif hasattr(data, "__getitem__") and hasattr(data, "__len__"):
        samples = [data[i] for i in range(len(data))]
        x = np.stack([s[0]._data if isinstance(s[0], Tensor) else np.asarray(s[0]) for s in samples])
        y = np.array([int(s[1]) for s in samples])
    else:
        raise TypeError(f"expected (inputs, labels) arrays or a dataset of (input, label) pairs, got "
                        f"{type(data).__name__}")
    x = x._data if isinstance(x, Tensor) else np.asarray(x)
    y = y._data if isinstance(y, Tensor) else np.asarray(y)
    if len(x) != len(y):
        raise ValueError(f"{len(x)} inputs but {len(y)} labels")
    return x, y.astype(np.int64)


def accuracy(logits: Tensor, labels: np.ndarray) -> float:
    """Fraction of rows whose highest score is the label."""
    return float(np.mean(logits._data.argmax(1) == labels))


def train_steps(model: Module, optimizer: optim.Optimizer, x: np.ndarray, y: np.ndarray, steps: int,
                batch_size: int, seed: int,
                augment: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None) -> None:
    """``steps`` optimizer steps on shuffled mini-batches (the whole set when it is smaller than a batch).

    ``augment(batch, rng)``, when given, transforms each input batch (e.g. random shifts).
    """
    loss_fn = nn.CrossEntropyLoss()
    rng = np.random.default_rng(seed)
    model.train()
    order, position = rng.permutation(len(x)), 0
    for _ in range(steps):
        if position + batch_size > len(x):
            order, position = rng.permutation(len(x)), 0
        batch = order[position:position + batch_size]
        position += batch_size
        inputs = x[batch] if augment is None else augment(x[batch], rng)
        loss = loss_fn(model(Tensor._make(inputs)), Tensor._make(y[batch]))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def evaluate(model: Module, x: np.ndarray, y: np.ndarray, batch_size: int = 512) -> float:
    """Accuracy of ``model`` in eval mode on ``x``, ``y`` (in batches, without gradients)."""
    model.eval()
    with no_grad():
        hits = sum(accuracy(model(Tensor._make(x[i:i + batch_size])), y[i:i + batch_size]) * len(y[i:i + batch_size])
                   for i in range(0, len(x), batch_size))
    return float(hits / max(len(x), 1))
