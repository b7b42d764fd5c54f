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
* :func:`collect_samples` - a few hundred training samples, drawn from the training loader;
* :func:`probe_initialization` - the model at initialization on those samples: the loss and outputs,
  the scale of the signal entering each weighted layer, and each layer's relative gradient.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gradwise.engines import ACTIVATION_KINDS, Engine, activation_kind
from gradwise.engines.native import NativeEngine

__all__ = ["ACTIVATION_KINDS", "BOUNDS", "activation_layers", "weighted_layers", "LayerSample", "ActivationRecorder",
           "activation_sample", "histogram_edges", "trace_forward", "Trace", "collect_samples", "as_array",
           "InitProbe", "probe_initialization", "is_float_tensor"]

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
        active = positive.sum(axis=0)   # active samples (and positions) per unit
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
    position = flat * scale
    position -= edges[0] * scale            # in place, and clipped in place: one temporary array, not three
    np.minimum(np.maximum(position, 0, out=position), bins - 1, out=position)
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
                    engine: Engine | None = None, sizes: list[int] | None = None
                    ) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """Up to ``n`` training samples as NumPy arrays: ``((inputs...), target)``, in the loader's order.

    ``batches`` is the training loader; the caller restores every random stream afterwards, so that
    drawing these samples does not change the run (``trainer.preserve_state(model=False, optimizer=False)``).
    ``sizes``, when given, receives the number of samples of each batch drawn (for ``data_order``).
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
            if sizes is not None:
                sizes.append(len(targets[-1]))
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


def is_float_tensor(x: Any, engine: Engine) -> bool:
    """A tensor of floating-point numbers (not token ids or labels)."""
    if not engine.is_tensor(x):
        return False
    dtype = getattr(x, "dtype", None)
    if getattr(dtype, "is_floating_point", None) is not None:   # a torch.dtype
        return bool(dtype.is_floating_point)
    try:
        return np.dtype(dtype).kind == "f"
    except TypeError:
        return engine.to_numpy(x).dtype.kind == "f"


@dataclass
class InitProbe:
    """What the model does at initialization on training samples (see :func:`probe_initialization`)."""

    loss: float | None
    outputs: np.ndarray | None
    samples: int
    signal: dict[str, float]       # weighted layer -> RMS of its (first, floating-point) input
    gradients: dict[str, float]    # weighted layer -> ||dL/dW|| / ||W|| on the first chunk
    output_signal: dict[str, float] = field(default_factory=dict)   # weighted layer -> RMS of its output


def probe_initialization(model: Any, loss_fn: Callable | None, inputs: Sequence[np.ndarray], target: np.ndarray,
                         engine: Engine, weighted: Sequence[tuple[str, Any]], chunk: int,
                         gradients: Callable[[Any, Sequence[Any]], list] | None = None) -> InitProbe:
    """Run the model on ``inputs`` in chunks of ``chunk`` samples, in the mode the caller set (training mode
    with dropout off: batch normalization on batch statistics, as the first update sees it).

    Returns the mean loss over all samples (None without ``loss_fn``), the outputs, the RMS of the
    floating-point input of every layer in ``weighted`` over all samples, and - with ``gradients(loss,
    params)``, the framework's ``autograd.grad`` - each layer's weight-gradient norm relative to its weight
    norm on the first chunk.  The caller restores the model's state afterwards.
    """
    sums = {name: [0.0, 0] for name, _ in weighted}
    out_sums = {name: [0.0, 0] for name, _ in weighted}

    def hook_for(name: str) -> Callable:
        def hook(module: Any, args: Any, output: Any) -> None:
            x = args[0] if isinstance(args, (tuple, list)) and args else args
            for value, store in ((x, sums[name]), (output, out_sums[name])):
                if is_float_tensor(value, engine):
                    a = engine.to_numpy(value)
                    store[0] += float(np.square(a, dtype=np.float64).sum())
                    store[1] += a.size
        return hook

    handles = [module.register_forward_hook(hook_for(name)) for name, module in weighted]
    n = int(len(target))
    total, outputs, grads = 0.0, [], {}
    try:
        for start in range(0, n, max(chunk, 1)):
            xs = [engine.as_input(np.ascontiguousarray(x[start:start + chunk])) for x in inputs]
            y = engine.as_input(np.ascontiguousarray(target[start:start + chunk]))
            first = start == 0 and gradients is not None and loss_fn is not None
            if first:
                out = model(*xs)
                loss = loss_fn(out, y)
                params = [(name, module.weight) for name, module in weighted
                          if getattr(module.weight, "requires_grad", False)]
                if params and getattr(loss, "requires_grad", False):
                    found = gradients(loss, [p for _, p in params])
                    for (name, p), g in zip(params, found):
                        w = float(np.linalg.norm(engine.to_numpy(p)))
                        if g is not None and w > 0:
                            grads[name] = float(np.linalg.norm(engine.to_numpy(g))) / w
            else:
                with engine.no_grad():
                    out = model(*xs)
                    loss = loss_fn(out, y) if loss_fn is not None else None
            if engine.is_tensor(out):
                outputs.append(np.array(engine.to_numpy(out), copy=True))
            if loss is not None:
                total += engine.item(loss) * len(engine.to_numpy(y))
    finally:
        for h in handles:
            h.remove()
    signal = {name: math.sqrt(s / c) for name, (s, c) in sums.items() if c}
    output_signal = {name: math.sqrt(s / c) for name, (s, c) in out_sums.items() if c}
    return InitProbe(loss=total / n if loss_fn is not None and n else None,
                     outputs=np.concatenate(outputs) if outputs else None, samples=n, signal=signal,
                     gradients=grads, output_signal=output_signal)
