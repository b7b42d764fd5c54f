"""``evaluate(model, data, loss, metrics)``: mean loss and metrics over a data set, for any engine.

One function serves the trainer's validation, the test scores of ``tune`` and the accuracies of
``transfer``: the model in eval mode, no gradients, every batch's loss and metrics weighted by its
size.  Under ``torchrun`` the trainer passes ``reduce`` so that the sums of all processes are added
before the means are taken (each process evaluates its own shard).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from gradwise.engines import Engine, engine_for

__all__ = ["evaluate", "Means", "split_batch", "batch_size_of", "Metric"]

#: A metric: ``fn(outputs, targets) -> float``, the batch mean, on NumPy arrays.
Metric = Callable[[np.ndarray, np.ndarray], float]


class Means:
    """Sample-weighted means of per-batch values (each batch's mean times its size)."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = {}
        self.count = 0

    def add(self, values: Mapping[str, float], size: int) -> None:
        for k, v in values.items():
            self.sums[k] = self.sums.get(k, 0.0) + float(v) * size
        self.count += size

    def means(self) -> dict[str, float]:
        return {k: s / self.count for k, s in self.sums.items()}


def split_batch(batch: Any, engine: Engine) -> tuple[tuple[Any, ...], Any]:
    """``(inputs, target)`` of a batch as the engine's tensors: ``(x, y)`` -> ``((x,), y)``;
    ``(x1, x2, y)`` -> ``((x1, x2), y)``."""
    if isinstance(batch, (tuple, list)) and len(batch) >= 2:
        return tuple(engine.as_input(b) for b in batch[:-1]), engine.as_input(batch[-1])
    raise TypeError(f"a training batch must be a tuple/list (inputs..., target) as TensorDataset gives; got "
                    f"{type(batch).__name__}" + (" with one field" if isinstance(batch, (tuple, list)) else ""))


def batch_size_of(target: Any, inputs: tuple) -> int:
    """The number of samples in a batch (the first dimension of the target or of an input)."""
    for x in (target, *inputs):
        shape = getattr(x, "shape", None)
        if shape:
            return int(shape[0])
    return 1


def batch_metrics(engine: Engine, metrics: Mapping[str, Metric], outputs: Any, target: Any,
                  lazy: bool = False) -> dict[str, Any]:
    """Each metric of one batch, on the NumPy numbers of the outputs and targets.

    ``lazy``: metrics that can (``fn.engine_neutral``, e.g. accuracy) compute on the engine's tensors and
    stay there (a device scalar, read back later with the loss), so no step waits for the device.
    """
    if not metrics:
        return {}
    out: dict[str, Any] = {}
    arrays = None
    for name, fn in metrics.items():
        if lazy and getattr(fn, "engine_neutral", False):
            out[name] = fn(outputs.detach(), target)
            continue
        if arrays is None:
            arrays = engine.to_numpy(outputs), engine.to_numpy(target)
        out[name] = float(fn(*arrays))
    return out


def evaluate(model: Any, data: Any, loss: Callable | None = None, metrics: Mapping[str, Metric] | None = None, *,
             engine: Engine | None = None, prefix: str = "", batch_size: int = 256,
             reduce: Callable[[Means], Means] | None = None) -> dict[str, float]:
    """Mean ``loss`` and ``metrics`` of ``model`` over ``data`` in eval mode without gradients.

    Args:
        model: a gradwise or PyTorch model (its train/eval mode is put back afterwards).
        data: a loader (anything yielding ``(inputs..., target)`` batches), or ``(X, y)`` arrays/tensors.
        loss: ``loss(outputs, target)``, or None for metrics only.
        metrics: name -> ``fn(outputs, targets)`` on NumPy arrays (the batch mean).
        engine: the model's engine (default: :func:`gradwise.engines.engine_for`).
        prefix: put before every key (``"val_"`` gives ``{"val_loss": ..., "val_accuracy": ...}``).
        batch_size: batch size when ``data`` is arrays.
        reduce: combine the sums of several processes (data-parallel runs).
    """
    engine = engine or engine_for(model)
    if isinstance(data, (tuple, list)) and len(data) >= 2 and all(hasattr(a, "shape") for a in data):
        dtype = engine.float_dtype(model)   # float64 arrays meet a float32 model as float32, as in fit
        loader = engine.make_loader(data, batch_size, shuffle=False, seed=0, dtype=dtype, what="evaluation")
        if loader is None:
            from gradwise.train.fit import as_loader

            loader = as_loader(data, batch_size, shuffle=False, dtype=dtype, what="evaluation")
        data = loader
    metrics = dict(metrics or {})
    modes = engine.modes(model)
    model.eval()
    totals = Means()
    try:
        with engine.no_grad():
            for batch in data:
                inputs, target = split_batch(batch, engine)
                outputs = model(*inputs)
                logs = {} if loss is None else {"loss": engine.item(loss(outputs, target))}
                logs.update(batch_metrics(engine, metrics, outputs, target))
                totals.add(logs, batch_size_of(target, inputs))
    finally:
        engine.set_modes(modes)
    if reduce is not None:
        totals = reduce(totals)
    if totals.count == 0:
        raise ValueError("evaluate: the data gave no batch")
    return {prefix + k: v for k, v in totals.means().items()}
