"""`gradwise.nn.init`: weight initialisation, PyTorch's functions plus the lecture's schemes.

Why it matters (the lecture, "Weight Initialization"): all-zero weights make every unit of a
layer compute the same thing and receive the same gradient, so they never become different
(the symmetry problem); random weights that are too small or too large make activations and
gradients shrink or blow up layer after layer. The fixes scale the random weights by the
layer's fan:

* Xavier/Glorot (Glorot & Bengio, 2010, "Understanding the difficulty of training deep
  feedforward neural networks"): keep the variance of activations and of gradients equal
  across layers for tanh/sigmoid units: Var(W) = 2 / (fan_in + fan_out), i.e.
  U[-sqrt(6/(fan_in+fan_out)), +sqrt(6/(fan_in+fan_out))] (the lecture's "normalized"
  version; its first form is U[-1/sqrt(n), 1/sqrt(n)] with n = fan_in).
* He/Kaiming (He et al., 2015, "Delving Deep into Rectifiers"): a ReLU zeroes half its
  inputs, so the variance must be doubled: N(0, 2/fan_in) ("valid only when we use ReLU").

Every function has PyTorch's signature and fan conventions (fan_in = size(1) * receptive
field, fan_out = size(0) * receptive field), runs without recording a graph, changes the
tensor in place, returns it, and draws from gradwise's global generator (`manual_seed`).
`scheme_` applies the lecture's schemes by name and `by_activation` picks He or Xavier for
each layer of a model from the activation that follows it.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from gradwise.tensor.grad_mode import no_grad
from gradwise.tensor.random import Generator, _rng
from gradwise.tensor.tensor import Tensor

_LINEAR = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d")


_RELU_LIKE = ("gelu", "silu", "softplus", "relu6")


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The factor by which a nonlinearity shrinks the standard deviation of its input.

    PyTorch's entries: linear/conv/sigmoid 1, tanh 5/3, relu sqrt(2), leaky_relu
    sqrt(2 / (1 + slope^2)) (slope `param`, default 0.01), selu 3/4.

    gradwise's own entries, where PyTorch raises "Unsupported nonlinearity" (the closest scheme):
    * gelu, silu, softplus, relu6: sqrt(2), ReLU's gain. Each is ReLU-like: about zero for
      x << 0, about x for x >> 0 (relu6 is ReLU for the unit-scale inputs an init produces).
      Their measured 1/sqrt(E[f(z)^2]) for z ~ N(0, 1) is 1.53 (gelu), 1.68 (silu), 1.41 (relu6).
    * prelu: the leaky_relu gain with the learned slope's starting value `param` (default 0.25,
      PReLU's init), as He et al. (2015) derive it for PReLU.
    * hardtanh: 1. It is the identity on [-1, 1], where most unit-scale pre-activations fall:
      the linear regime Glorot & Bengio's derivation assumes.
    """
    if nonlinearity in _LINEAR or nonlinearity == "sigmoid":
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu" or nonlinearity in _RELU_LIKE:
        return math.sqrt(2.0)
    if nonlinearity in ("leaky_relu", "prelu"):
        if param is None:
            slope = 0.01 if nonlinearity == "leaky_relu" else 0.25
        elif not isinstance(param, bool) and isinstance(param, (int, float)):
            slope = param
        else:
            raise ValueError(f"negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    if nonlinearity == "hardtanh":
        return 1
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def _calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    """(fan_in, fan_out) = (size(1), size(0)) times the receptive field (prod of size(2:))."""
    if tensor.dim() < 2:
        raise ValueError("Fan in and fan out can not be computed for tensor with fewer than 2 dimensions")
    receptive = int(np.prod(tensor.shape[2:])) if tensor.dim() > 2 else 1
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def _calculate_correct_fan(tensor: Tensor, mode: str) -> int:
    mode = mode.lower()
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"Mode {mode} not supported, please use one of ['fan_in', 'fan_out']")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def _fill(tensor: Tensor, values) -> Tensor:
    """Write `values` into `tensor` in place, without recording (returns the tensor)."""
    with no_grad():
        return tensor.copy_(Tensor._make(np.asarray(values)))


# ---------------------------------------------------------------------------- PyTorch's API
def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0, generator: Generator | None = None) -> Tensor:
    """Fill with U(a, b)."""
    return _fill(tensor, _rng(generator).uniform(a, b, tensor.shape))


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, generator: Generator | None = None) -> Tensor:
    """Fill with N(mean, std^2)."""
    return _fill(tensor, _rng(generator).normal(mean, std, tensor.shape))


def trunc_normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0,
                  generator: Generator | None = None) -> Tensor:
    """Fill with N(mean, std^2) restricted to [a, b] (draws outside are redrawn).

    Rejection is exact; when [a, b] holds little probability mass it switches to inverting
    the normal CDF on the allowed range.
    """
    rng = _rng(generator)
    lo, hi = (a - mean) / std, (b - mean) / std
    cdf = lambda z: 0.5 * (1 + math.erf(z / math.sqrt(2)))  # noqa: E731
    n = int(np.prod(tensor.shape))
    if cdf(hi) - cdf(lo) > 0.05:
        out = rng.standard_normal(n)
        bad = (out < lo) | (out > hi)
        while bad.any():
            out[bad] = rng.standard_normal(int(bad.sum()))
            bad = (out < lo) | (out > hi)
    else:
        from statistics import NormalDist

        unit = NormalDist()
        u = rng.uniform(cdf(lo), cdf(hi), n)
        out = np.array([unit.inv_cdf(min(max(p, 1e-300), 1 - 1e-16)) for p in u])
    return _fill(tensor, np.clip(out * std + mean, a, b).reshape(tensor.shape))


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill with `val`."""
    return _fill(tensor, np.full(tensor.shape, val))


def ones_(tensor: Tensor) -> Tensor:
    return constant_(tensor, 1.0)


def zeros_(tensor: Tensor) -> Tensor:
    return constant_(tensor, 0.0)


def eye_(tensor: Tensor) -> Tensor:
    """The identity matrix (2-D only): a Linear layer that passes its input through."""
    if tensor.dim() != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    return _fill(tensor, np.eye(*tensor.shape))


def dirac_(tensor: Tensor, groups: int = 1) -> Tensor:
    """The Dirac delta (3-, 4- or 5-D): a convolution that passes its input channels through."""
    dims = tensor.dim()
    if dims not in (3, 4, 5):
        raise ValueError("Only tensors with 3, 4, or 5 dimensions are supported")
    sizes = tensor.shape
    if sizes[0] % groups != 0:
        raise ValueError("dim 0 must be divisible by groups")
    out_per_group = sizes[0] // groups
    values = np.zeros(sizes)
    centre = tuple(s // 2 for s in sizes[2:])
    for g in range(groups):
        for d in range(min(out_per_group, sizes[1])):
            values[(g * out_per_group + d, d) + centre] = 1
    return _fill(tensor, values)


def xavier_uniform_(tensor: Tensor, gain: float = 1.0, generator: Generator | None = None) -> Tensor:
    """U[-a, a] with a = gain * sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio, 2010)."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    bound = math.sqrt(3.0) * gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return uniform_(tensor, -bound, bound, generator)


def xavier_normal_(tensor: Tensor, gain: float = 1.0, generator: Generator | None = None) -> Tensor:
    """N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out)) (Glorot & Bengio, 2010)."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / float(fan_in + fan_out)), generator)


def _kaiming_std(tensor: Tensor, a: float, mode: str, nonlinearity: str) -> float | None:
    if 0 in tensor.shape:
        warnings.warn("Initializing zero-element tensors is a no-op")
        return None
    return calculate_gain(nonlinearity, a) / math.sqrt(_calculate_correct_fan(tensor, mode))


def kaiming_uniform_(tensor: Tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                     generator: Generator | None = None) -> Tensor:
    """U[-b, b] with b = gain * sqrt(3 / fan) (He et al., 2015); `a` is the leaky_relu slope."""
    std = _kaiming_std(tensor, a, mode, nonlinearity)
    return tensor if std is None else uniform_(tensor, -math.sqrt(3.0) * std, math.sqrt(3.0) * std, generator)


def kaiming_normal_(tensor: Tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                    generator: Generator | None = None) -> Tensor:
    """N(0, std^2) with std = gain / sqrt(fan) (He et al., 2015): sqrt(2/fan_in) for ReLU."""
    std = _kaiming_std(tensor, a, mode, nonlinearity)
    return tensor if std is None else normal_(tensor, 0.0, std, generator)


def orthogonal_(tensor: Tensor, gain: float = 1, generator: Generator | None = None) -> Tensor:
    """A (semi-)orthogonal matrix (Saxe et al., 2013), trailing dims flattened, times `gain`."""
    if tensor.dim() < 2:
        raise ValueError("Only tensors with 2 or more dimensions are supported")
    if tensor.numel() == 0:
        return tensor
    rows = tensor.shape[0]
    cols = tensor.numel() // rows
    flat = _rng(generator).standard_normal((rows, cols))
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q = q * np.sign(np.diag(r))  # make the decomposition unique (Mezzadri, 2007)
    if rows < cols:
        q = q.T
    return _fill(tensor, (gain * q).reshape(tensor.shape))


def sparse_(tensor: Tensor, sparsity: float, std: float = 0.01, generator: Generator | None = None) -> Tensor:
    """2-D only: N(0, std^2) with a fraction `sparsity` of each column set to zero (Martens, 2010)."""
    if tensor.dim() != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    rng = _rng(generator)
    rows, cols = tensor.shape
    values = rng.normal(0, std, (rows, cols))
    zeros = int(math.ceil(sparsity * rows))
    for c in range(cols):
        values[rng.permutation(rows)[:zeros], c] = 0
    return _fill(tensor, values)


# ---------------------------------------------------------------------------- the lecture's schemes
SCHEMES = ("zeros", "small_random", "xavier", "xavier_normalized", "he")


def scheme_(tensor: Tensor, name: str, generator: Generator | None = None) -> Tensor:
    """Initialise a weight with one of the lecture's schemes, by name.

    * "zeros": all zero. Shows the symmetry problem: every unit of the layer gets the same
      gradient and they stay identical.
    * "small_random": N(0, 0.01^2), the historical default; fine for shallow nets, but the
      signal shrinks layer after layer in deep ones.
    * "xavier": U[-1/sqrt(n), 1/sqrt(n)], n = fan_in (Glorot & Bengio, 2010, first form).
    * "xavier_normalized": U[-sqrt(6)/sqrt(n_in + n_out), +sqrt(6)/sqrt(n_in + n_out)]
      (Glorot & Bengio's normalized initialization; `xavier_uniform_` with gain 1).
    * "he": N(0, 2/n), n = fan_in (He et al., 2015), for ReLU layers.
    """
    if name == "zeros":
        return zeros_(tensor)
    if name == "small_random":
        return normal_(tensor, 0.0, 0.01, generator)
    if name == "xavier":
        bound = 1.0 / math.sqrt(_calculate_fan_in_and_fan_out(tensor)[0])
        return uniform_(tensor, -bound, bound, generator)
    if name == "xavier_normalized":
        return xavier_uniform_(tensor, 1.0, generator)
    if name == "he":
        return normal_(tensor, 0.0, math.sqrt(2.0 / _calculate_fan_in_and_fan_out(tensor)[0]), generator)
    raise ValueError(f"unknown initialization scheme {name!r}; choose one of {', '.join(SCHEMES)}")


@dataclass
class InitChoice:
    """What `by_activation` did to one layer, and why."""

    name: str            # the layer's dotted name in the model
    shape: tuple         # the weight's shape
    activation: str      # the activation found after the layer ("none" for an output layer)
    scheme: str          # e.g. "kaiming_normal_(fan_in, relu)" or "xavier_uniform_(gain=5/3)"
    std: float           # the standard deviation the weights were drawn with
    gain: float
    reason: str

    def __str__(self) -> str:
        return (f"{self.name:<16} {str(self.shape):<18} {self.activation:<22} {self.scheme:<40} "
                f"std={self.std:.4g}  ({self.reason})")


_RELU_FAMILY = ("ReLU", "LeakyReLU", "ELU", "Maxout", "GELU", "SiLU", "Softplus", "ReLU6", "PReLU")
_SATURATING = ("Tanh", "Sigmoid", "Hardtanh")
_OUTPUT = ("Softmax", "LogSoftmax")
_ACTIVATION_OPS = {"Relu": "ReLU", "LeakyRelu": "LeakyReLU", "Elu": "ELU", "Tanh": "Tanh", "Sigmoid": "Sigmoid",
                   "Softmax": "Softmax", "LogSoftmax": "LogSoftmax", "Gelu": "GELU", "Silu": "SiLU",
                   "Softplus": "Softplus", "Hardtanh": "Hardtanh", "Relu6": "ReLU6", "Prelu": "PReLU"}
_LEAKY = ("LeakyReLU", "PReLU")  # He with the negative slope in the gain


def by_activation(model, verbose: bool = False, example_input: Tensor | None = None) -> list[InitChoice]:
    """Initialise every Linear, Conv2d and Maxout layer for the activation that follows it.

    The lecture's advice ("initialize each layer's weights according to their activation
    functions"): He (`kaiming_normal_`, fan_in) before ReLU, LeakyReLU (its slope in the
    gain), ELU, and for Maxout layers (He et al., 2015); Xavier (`xavier_uniform_` with the
    tanh or sigmoid gain) before Tanh/Sigmoid (Glorot & Bengio, 2010); Xavier with gain 1 for a
    layer followed by no activation (the output layer, or one followed by softmax). Biases
    are set to zero. Beyond the lecture (see `calculate_gain`): He with ReLU's gain before
    GELU, SiLU, Softplus and ReLU6 (ReLU-like); He with PReLU's starting slope as the leaky
    gain before PReLU; Xavier with gain 1 before Hardtanh (tanh-like, but linear near 0).

    The activation after a layer is found from `example_input` when given: one forward pass
    is run and the recorded graph is followed from the layer's output to the first activation
    op, so functional activations (`F.relu` inside `forward`) are seen too. Without it, the
    model's modules are read in registration order and the next activation module after each
    layer (before the next layer) is taken, which is right for `Sequential` models.

    Returns one `InitChoice` per layer (name, shape, activation, scheme, std, reason) and
    prints them when `verbose`.
    """
    if example_input is not None:
        missing = "no activation op follows this layer's output in the graph"
    else:
        missing = "no activation module registered after this layer"
        if not any(_activation_of(m) for m in model.modules()):
            missing += " (functional activations such as F.relu are seen only with example_input=)"
            warnings.warn(f"init.by_activation: {type(model).__name__} registers no activation modules, so every "
                          "layer is treated as linear; if its forward calls F.relu/torch.tanh, pass "
                          "example_input= (one batch) so the activations are found in the graph", stacklevel=2)
    choices = [_initialise(name, layer, activation, slope, missing)
               for name, layer, activation, slope in following_activations(model, example_input)]
    if verbose:
        header = f"{'layer':<16} {'weight shape':<18} {'activation':<22} {'initialization':<40} std  (why)"
        print("\n".join([header] + [str(c) for c in choices]))
    return choices


def following_activations(model, example_input: Tensor | None = None) -> list[tuple[str, Any, str, float | None]]:
    """``(name, layer, activation, slope)`` for every Linear, Conv2d and Maxout layer of ``model``.

    ``activation`` is the class name of the first activation after the layer (``"ReLU"``,
    ``"Tanh"``, ...; ``"Maxout"`` for a Maxout layer, ``"none"`` when nothing follows) and
    ``slope`` a LeakyReLU's negative slope. With ``example_input`` one forward pass is run and
    the recorded graph is followed from each layer's output, so functional activations count;
    without it the modules are read in registration order (right for ``Sequential``).
    This is what :func:`by_activation` initialises by and what the babysitter's
    ``init_scheme`` check judges by.
    """
    from gradwise.nn.conv import Conv2d
    from gradwise.nn.linear import Linear
    from gradwise.nn.maxout import Maxout

    layers = _layers(model, (Linear, Conv2d, Maxout))
    if example_input is not None:
        found = _activations_from_graph(model, layers, example_input)
    else:
        found = _activations_from_order(model, layers)
    return [(name, layer, *(("Maxout", None) if isinstance(layer, Maxout) else found.get(name, ("none", None))))
            for name, layer in layers]


def _layers(model, kinds) -> list:
    """Weighted layers in registration order; a Maxout's own affine map is part of it."""
    out, skip = [], []
    for name, module in model.named_modules():
        if any(name.startswith(prefix + ".") for prefix in skip):
            continue
        if isinstance(module, kinds):
            out.append((name, module))
            skip.append(name)
    return out


def _activation_of(module) -> tuple[str, float | None] | None:
    kind = type(module).__name__
    if kind == "PReLU":
        return kind, float(module.weight.detach().numpy().mean())
    if kind in _RELU_FAMILY + _SATURATING + _OUTPUT:
        return kind, getattr(module, "negative_slope", None)
    return None


def _activations_from_order(model, layers) -> dict:
    ids = {id(m) for _, m in layers}
    names = {id(m): n for n, m in layers}
    found, current = {}, None
    for _, module in model.named_modules():
        if id(module) in ids:
            current = names[id(module)]
            continue
        act = _activation_of(module)
        if act is not None and current is not None and current not in found:
            found[current] = act
    return found


def _activations_from_graph(model, layers, example_input) -> dict:
    """Run `model(example_input)`, then walk the graph downstream from each layer's output."""
    from gradwise.tensor.grad_mode import enable_grad

    outputs, handles = {}, []
    for name, layer in layers:
        handles.append(layer.register_forward_hook(
            lambda m, args, out, name=name: outputs.__setitem__(name, out.grad_fn)))
    modes = [(m, m.training) for m in model.modules()]
    model.eval()  # the probe must not move BatchNorm's running statistics or draw dropout masks
    probe = example_input.detach()
    if probe.is_floating_point():
        probe.requires_grad_()  # record the graph even if the model's parameters are frozen
    try:
        with enable_grad():
            result = model(probe)
    finally:
        for h in handles:
            h.remove()
        for m, mode in modes:
            object.__setattr__(m, "training", mode)
    roots = [r.grad_fn for r in (result if isinstance(result, (tuple, list)) else [result])
             if isinstance(r, Tensor) and r.grad_fn is not None]
    consumers: dict = {}
    stack, seen = list(roots), set(roots)
    while stack:
        node = stack.pop()
        for edge in node.edges:
            if type(edge) is tuple:
                consumers.setdefault(edge[0], []).append(node)
                if edge[0] not in seen:
                    seen.add(edge[0])
                    stack.append(edge[0])
    layer_nodes = {node for node in outputs.values() if node is not None}
    found = {}
    for name, start in outputs.items():
        frontier, visited = list(consumers.get(start, [])), set()
        while frontier:  # breadth first: the nearest activation downstream
            node = frontier.pop(0)
            if node in visited or node in layer_nodes:
                continue
            visited.add(node)
            kind = _ACTIVATION_OPS.get(type(node).__name__)
            if kind is not None:
                found[name] = (kind, getattr(node, "slope", None))
                break
            frontier.extend(consumers.get(node, []))
    return found


def _initialise(name: str, layer, activation: str, slope: float | None, missing: str) -> InitChoice:
    weight = layer.weight
    fan_in, fan_out = _calculate_fan_in_and_fan_out(weight)
    if activation in _RELU_FAMILY:
        nonlinearity = "leaky_relu" if activation in _LEAKY else "relu"
        a = 0 if activation not in _LEAKY else slope if slope is not None else {"LeakyReLU": 0.01, "PReLU": 0.25}[
            activation]
        gain = calculate_gain(nonlinearity, a)
        kaiming_normal_(weight, a=a, mode="fan_in", nonlinearity=nonlinearity)
        scheme = f"kaiming_normal_(fan_in, {nonlinearity}" + (f", a={a:.4g})" if nonlinearity == "leaky_relu" else ")")
        std = gain / math.sqrt(fan_in)
        reason = {"ReLU": "He et al. 2015: ReLU halves the variance, so Var(W) = 2/fan_in",
                  "LeakyReLU": f"He et al. 2015 with the leaky slope {a} in the gain",
                  "PReLU": f"He et al. 2015 for PReLU, with its starting slope {a:.4g} in the gain",
                  "ELU": "ELU is ReLU-like for x > 0: He et al. 2015 (ReLU gain)",
                  "Maxout": "maxout units are piecewise linear like ReLU: He et al. 2015 (ReLU gain)",
                  "ReLU6": "ReLU6 is ReLU for unit-scale inputs: He et al. 2015 (ReLU gain)"}.get(
            activation, f"{activation} is ReLU-like (about 0 for x << 0, x for x >> 0): He et al. 2015 (ReLU gain)")
    else:
        nonlinearity = activation.lower() if activation in _SATURATING else "linear"
        gain = calculate_gain(nonlinearity)
        xavier_uniform_(weight, gain=gain)
        std = gain * math.sqrt(2.0 / (fan_in + fan_out))
        scheme = f"xavier_uniform_(gain={gain:.4g})"
        if activation == "Hardtanh":
            reason = "Glorot & Bengio 2010 for Hardtanh, gain 1 (it is the identity on [-1, 1])"
        elif activation in _SATURATING:
            reason = f"Glorot & Bengio 2010 for {activation}, with the {activation.lower()} gain"
        elif activation in _OUTPUT:
            reason = f"output layer ({activation} follows): Glorot & Bengio 2010 with gain 1"
        else:
            reason = f"{missing} (an output layer): Glorot & Bengio 2010 with gain 1"
    if getattr(layer, "bias", None) is not None:
        zeros_(layer.bias)
    return InitChoice(name, tuple(weight.shape), activation, scheme, std, gain, reason)
