"""How the babysitter looks inside a model: which layers it watches, forward hooks, and data samples.

The checks themselves (``*_checks.py``) are functions of plain NumPy numbers; this module gets those
numbers from a live model:

* :func:`activation_layers` / :func:`weighted_layers` - the modules whose outputs (activations) and
  whose weights (gradients, updates) are watched, by their dotted names in the model;
* :class:`ActivationRecorder` - forward hooks that reduce each watched activation to a few numbers
  (fraction of dead units, fraction saturated, a histogram) the moment it is computed, so no
  activation array is kept; they are attached only for sampled batches, which keeps the cost low;
* :func:`trace_forward` - one forward pass with a hook on every leaf module, giving the order in
  which layers run (the network's depth order) and the first layer whose output is not finite;
* :func:`collect_samples` - a few hundred training samples, drawn from the training loader.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gradwise.engines import ACTIVATION_KINDS, Engine, activation_kind
from gradwise.engines.native import NativeEngine

__all__ = ["ACTIVATION_KINDS", "BOUNDS", "activation_layers", "weighted_layers", "LayerSample", "ActivationRecorder",
           "activation_sample", "histogram_edges", "trace_forward", "Trace", "collect_samples", "as_array"]

#: At most this many values of a layer's output go into its histogram (a strided subsample beyond).
HISTOGRAM_VALUES = 4096
#: Output range of the bounded activations.
BOUNDS = {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0), "hardtanh": (-1.0, 1.0)}
_NATIVE = NativeEngine()


def as_array(x: Any, engine: Engine | None = None) -> np.ndarray:
    """The NumPy numbers of a tensor of either framework (or the array itself)."""
    if engine is not None:
        return engine.to_numpy(x)
    if _NATIVE.is_tensor(x) or isinstance(x, np.ndarray):
        return _NATIVE.to_numpy(x)
    from gradwise.engines import to_numpy

    return to_numpy(x)


def activation_layers(model: Any) -> list[tuple[str, Any, str]]:
    """``(name, module, kind)`` of every activation module, in registration order.

    A model that registers no activation module (it calls ``F.relu`` in ``forward``) has its weighted
    layers' outputs watched instead, as kind ``"linear"`` (pre-activations: histograms only).
    """
    found = [(name, m, activation_kind(m)) for name, m in model.named_modules() if activation_kind(m) is not None]
    return found or [(name, m, "linear") for name, m in weighted_layers(model)]


def weighted_layers(model: Any) -> list[tuple[str, Any]]:
    """``(name, module)`` of the modules that own a weight matrix or kernel (``weight`` with >= 2 dims)."""
    out = []
    for name, module in model.named_modules():
        w = dict(module.named_parameters(recurse=False)).get("weight")
        if w is not None and len(w.shape) >= 2:
            out.append((name or type(module).__name__, module))
    return out


@dataclass
class LayerSample:
    """What one sampled batch showed about one activation layer."""

    kind: str
    units: int
    finite: bool
    dead_fraction: float | None = None        # ReLU: units active on < dead_activity of the batch
    saturated_fraction: float | None = None   # sigmoid/tanh: outputs within the margin of a limit
    histogram: list[int] = field(default_factory=list)     # outputs per bin (values beyond the edges: end bins)


def histogram_edges(kind: str, values: np.ndarray, bins: int) -> np.ndarray:
    """Fixed bin edges for a layer's activation histograms (the same for the whole run, so they form a heatmap).

    Bounded activations use their output range; the others span the first sample's values with room
    to grow (values outside later fall into the end bins).
    """
    if kind in BOUNDS:
        lo, hi = BOUNDS[kind]
    else:
        finite = values[np.isfinite(values)]
        lo = min(0.0, float(np.percentile(finite, 0.5)) * 1.5) if finite.size else 0.0
        hi = float(np.percentile(finite, 99.5)) * 1.5 if finite.size else 1.0
        if kind == "relu":
            lo = 0.0
        if not hi > lo:
            hi = lo + 1.0
    return np.linspace(lo, hi, bins + 1)


def activation_sample(values: np.ndarray, kind: str, edges: np.ndarray, dead_activity: float,
                      saturation_margin: float) -> LayerSample:
    """Reduce one layer's output on one batch to a :class:`LayerSample`.

    Units are along axis 1 (features of a dense layer, channels of a convolution); a unit's activity
    is measured over the batch and, for convolutions, over all positions.
    """
    a = values.reshape(values.shape[0], values.shape[1], -1) if values.ndim >= 2 else values.reshape(-1, 1, 1)
    finite = bool(np.isfinite(a.sum()))   # one reduction; NaN/inf anywhere makes the sum non-finite
    sample = LayerSample(kind=kind, units=int(a.shape[1]), finite=finite)
    if not finite:
        a = np.nan_to_num(a, nan=edges[0], posinf=edges[-1], neginf=edges[0])
    if kind == "relu":
        per_unit = a.shape[0] * a.shape[2]
        positive = a > 0 if a.shape[2] > 1 else a[:, :, 0] > 0
        active = np.count_nonzero(positive, axis=0)
        active = active.sum(axis=1) if active.ndim > 1 else active
        sample.dead_fraction = float(np.count_nonzero(active < dead_activity * per_unit)) / a.shape[1]
    elif kind in BOUNDS:
        lo, hi = BOUNDS[kind]
        margin = saturation_margin * (hi - lo)
        near_limit = np.abs(a - (lo + hi) / 2) >= (hi - lo) / 2 - margin
        sample.saturated_fraction = float(np.count_nonzero(near_limit)) / a.size
    flat = a.ravel()
    if flat.size > HISTOGRAM_VALUES:   # an evenly strided subsample describes the distribution as well
        flat = flat[:: -(-flat.size // HISTOGRAM_VALUES)]
    bins = len(edges) - 1
    scale = bins / (edges[-1] - edges[0])   # equal-width bins
    position = np.clip(flat * scale - edges[0] * scale, 0, bins - 1)
    counts = np.bincount(position.astype(np.int32), minlength=bins)
    sample.histogram = counts.tolist()
    return sample


class ActivationRecorder:
    """Forward hooks on the watched activation layers, attached for one batch at a time.

    ``with recorder.attached():`` (or :meth:`attach` / :meth:`detach`) - every watched layer that runs
    adds a :class:`LayerSample` to :attr:`samples` (by layer name).  Bin edges are fixed on the first
    batch a layer is seen (:attr:`edges`).
    """

    def __init__(self, layers: Sequence[tuple[str, Any, str]], bins: int, dead_activity: float,
                 saturation_margin: float, engine: Engine | None = None) -> None:
        self.engine = engine or _NATIVE
        self.layers = list(layers)
        self.bins, self.dead_activity, self.saturation_margin = bins, dead_activity, saturation_margin
        self.edges: dict[str, np.ndarray] = {}
        self.samples: dict[str, LayerSample] = {}
        self._handles: list[Any] = []

    def attach(self) -> None:
        self.samples = {}
        if self._handles:
            return
        for name, module, kind in self.layers:
            self._handles.append(module.register_forward_hook(self._hook(name, kind)))

    def detach(self) -> dict[str, LayerSample]:
        """Remove the hooks; returns what this batch showed."""
        for h in self._handles:
            h.remove()
        self._handles = []
        return self.samples

    def _hook(self, name: str, kind: str) -> Callable:
        def hook(module: Any, inputs: Any, output: Any) -> None:
            if not self.engine.is_tensor(output) or name in self.samples:
                return   # a module called twice in one forward pass: its first call is the one described
            values = self.engine.to_numpy(output)
            if name not in self.edges:
                self.edges[name] = histogram_edges(kind, values, self.bins)
            self.samples[name] = activation_sample(values, kind, self.edges[name], self.dead_activity,
                                                   self.saturation_margin)
        return hook


@dataclass
class Trace:
    """A traced forward pass: leaf modules in the order they ran, and the first with a non-finite output."""

    order: list[str]
    first_nonfinite: str | None
    output: Any


def trace_forward(model: Any, inputs: Sequence[Any], engine: Engine | None = None) -> Trace:
    """Run ``model(*inputs)`` without gradients, with a hook on every leaf module.

    Hooks fire in execution order, so :attr:`Trace.order` is the network's depth order (what
    "the first layer" means for ``nan_inf`` and ``gradient_flow``), whatever the registration order.
    The caller chooses the mode and protects the model's state (``trainer.preserve_state()``).
    """
    engine = engine or _NATIVE
    order: list[str] = []
    bad: list[str] = []

    def make_hook(name: str) -> Callable:
        def hook(module: Any, args: Any, output: Any) -> None:
            if name not in order:
                order.append(name)
            outs = output if isinstance(output, (tuple, list)) else (output,)
            if not bad and any(engine.is_tensor(o) and _nonfinite(engine.to_numpy(o)) for o in outs):
                bad.append(name)
        return hook

    handles = [m.register_forward_hook(make_hook(name or type(m).__name__))
               for name, m in model.named_modules() if engine.is_leaf(m)]
    try:
        with engine.no_grad(), np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            output = model(*inputs)
    finally:
        for h in handles:
            h.remove()
    return Trace(order=order, first_nonfinite=bad[0] if bad else None, output=output)


def _nonfinite(values: np.ndarray) -> bool:
    return values.dtype.kind == "f" and not np.isfinite(values).all()


def collect_samples(batches: Iterable[Any], split_batch: Callable, n: int,
                    engine: Engine | None = None) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """Up to ``n`` training samples as NumPy arrays: ``((inputs...), target)``.

    ``batches`` is the training loader; the caller restores every random stream afterwards, so that
    drawing these samples does not change the run (``trainer.preserve_state(model=False, optimizer=False)``).
    """
    inputs: list[list[np.ndarray]] = []
    targets: list[np.ndarray] = []
    count = 0
    iterator = iter(batches)
    try:
        for batch in iterator:
            xs, y = split_batch(batch)
            inputs.append([as_array(x, engine) for x in xs])
            targets.append(as_array(y, engine))
            count += len(targets[-1])
            if count >= n:
                break
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            close()
    if not targets:
        raise ValueError("the training data gave no batch")
    xs = tuple(np.concatenate([b[k] for b in inputs])[:n] for k in range(len(inputs[0])))
    return xs, np.concatenate(targets)[:n]
