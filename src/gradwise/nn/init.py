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


def __getattr__(name: str) -> Any:
    """``nn.init.by_activation`` and friends live in :mod:`gradwise.nn.init_policy` (they know the layers;
    this module does not import any), loaded on first use."""
    if name in ("by_activation", "following_activations", "InitChoice", "_RELU_FAMILY", "_SATURATING", "_OUTPUT",
                "_LEAKY", "_ACTIVATION_OPS"):
        from gradwise.nn import init_policy

        return getattr(init_policy, name)
    raise AttributeError(f"module 'gradwise.nn.init' has no attribute {name!r}")
