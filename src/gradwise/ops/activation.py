"""Activation functions of the lecture, the softmax family, and the ones PyTorch users reach for.

sigmoid(x) = 1/(1+e^-x), tanh, ReLU max(0,x), leaky ReLU max(slope*x, x), ELU
(x if x >= 0 else alpha(e^x - 1)); Maxout is a layer built from these ops (nn.Maxout).
Beyond the lecture: GELU x*Phi(x), SiLU x*sigmoid(x), Softplus log(1 + e^(beta x))/beta,
Hardtanh clamp(x, min, max) (ReLU6 is clamp(x, 0, 6)) and PReLU (a learned leaky slope).
Backward rules are Tensor expressions, so second derivatives (create_graph=True) are exact.
"""
from __future__ import annotations

import math

import numpy as np

from gradwise.tensor import grad_mode
from gradwise.tensor.function import Function


class Sigmoid(Function):
    saves_output = True

    def forward(self, a):
        # e^-|x| never overflows: 1/(1+e^-x) for x >= 0 and e^x/(1+e^x) below zero.
        e = np.exp(-np.abs(a))
        return np.where(a >= 0, 1 / (1 + e), e / (1 + e))

    def backward(self, g):
        y = self.output
        return g * y * (1 - y)


class Tanh(Function):
    saves_output = True

    def forward(self, a):
        return np.tanh(a)

    def backward(self, g):
        y = self.output
        return g * (1 - y * y)


class Relu(Function):
    saves_output = True

    def forward(self, a):
        return np.maximum(a, 0)

    def backward(self, g):
        return g * (self.output._data > 0)


class LeakyRelu(Function):
    saved_inputs = (0,)

    def forward(self, a, negative_slope=0.01):
        self.slope = negative_slope
        return np.where(a > 0, a, a * negative_slope)

    def backward(self, g):
        (a,) = self.saved_tensors
        return g * np.where(a._data > 0, 1.0, self.slope).astype(g.dtype)


class Elu(Function):
    saved_inputs = (0,)
    saves_output = True

    def forward(self, a, alpha=1.0):
        self.alpha = alpha
        return np.where(a > 0, a, alpha * np.expm1(np.minimum(a, 0)))

    def backward(self, g):
        (a,) = self.saved_tensors
        positive = a._data > 0
        # For x <= 0, d/dx alpha(e^x - 1) = alpha e^x = out + alpha.
        return Where.apply(positive, g, g * (self.output + self.alpha))


class Softmax(Function):
    saves_output = True

    def forward(self, a, dim):
        self.dim = dim
        shifted = a - np.amax(a, axis=dim, keepdims=True)
        e = np.exp(shifted)
        e /= np.sum(e, axis=dim, keepdims=True)
        return e

    def backward(self, g):
        y = self.output
        return y * (g - (g * y).sum(dim=self.dim, keepdim=True))


class LogSoftmax(Function):
    saves_output = True

    def forward(self, a, dim):
        self.dim = dim
        shifted = a - np.amax(a, axis=dim, keepdims=True)
        shifted -= np.log(np.sum(np.exp(shifted), axis=dim, keepdims=True))
        return shifted

    def backward(self, g):
        return g - self.output.exp() * g.sum(dim=self.dim, keepdim=True)


# ---------------------------------------------------------------------------- beyond the lecture
_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)
_KAPPA = 0.044715  # the cubic term of GELU's tanh approximation


class Gelu(Function):
    """x * Phi(x), Phi the standard normal CDF (Hendrycks & Gimpel, 2016); approximate="tanh"
    is 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). d/dx = Phi(x) + x phi(x)."""

    saved_inputs = (0,)

    def forward(self, a, approximate="none"):
        self.approximate = approximate
        if approximate == "tanh":
            self.cdf = None
            return 0.5 * a * (1 + np.tanh(_SQRT_2_OVER_PI * (a + _KAPPA * a * a * a)))
        self.cdf = normal_cdf(a)  # reused by backward unless a differentiable gradient is asked for
        return a * self.cdf

    def backward(self, g):
        (a,) = self.saved_tensors
        if self.approximate == "tanh":
            t = ((a + _KAPPA * a * a * a) * _SQRT_2_OVER_PI).tanh()
            slope = 0.5 * (1 + t) + (0.5 * _SQRT_2_OVER_PI) * a * (1 - t * t) * (1 + (3 * _KAPPA) * a * a)
            return g * slope
        if grad_mode._GradMode.enabled:  # create_graph: the gradient itself must be differentiable
            return g * (NormalCdf.apply(a) + a * _normal_pdf(a))
        x = a._data
        return g * (self.cdf + x * np.exp(-0.5 * x * x) * _INV_SQRT_2PI)

    def release(self) -> None:
        super().release()
        self.cdf = None


class NormalCdf(Function):
    """Phi(x), the standard normal CDF; its derivative is the density phi(x)."""

    saved_inputs = (0,)

    def forward(self, a):
        return normal_cdf(a)

    def backward(self, g):
        (a,) = self.saved_tensors
        return g * _normal_pdf(a)


def _normal_pdf(a):
    return (a * a * -0.5).exp() * _INV_SQRT_2PI


class Silu(Function):
    """x * sigmoid(x) (a.k.a. swish); d/dx = s (1 + x (1 - s)) with s = sigmoid(x)."""

    saved_inputs = (0,)

    def forward(self, a):
        with np.errstate(over="ignore"):  # e^-x = inf for x << 0 gives x / inf = -0, the right limit
            return a / (1 + np.exp(-a))

    def backward(self, g):
        (a,) = self.saved_tensors
        s = a.sigmoid()
        return g * (s * (1 + a * (1 - s)))


class Softplus(Function):
    """log(1 + e^(beta x)) / beta, and x itself where beta x > threshold (PyTorch's rule);
    d/dx = sigmoid(beta x), or 1 in the linear part."""

    saved_inputs = (0,)

    def forward(self, a, beta=1.0, threshold=20.0):
        self.beta = beta
        z = a * beta
        self.linear = z > threshold
        # log(1 + e^z) = max(z, 0) + log1p(e^-|z|): never overflows (and is faster than np.logaddexp)
        return np.where(self.linear, a, (np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))) / beta)

    def backward(self, g):
        (a,) = self.saved_tensors
        return Where.apply(self.linear, g, g * (a * self.beta).sigmoid())


class Hardtanh(Function):
    """clamp(x, min_val, max_val); the gradient passes strictly inside (min_val, max_val), as PyTorch."""

    def forward(self, a, min_val=-1.0, max_val=1.0):
        self.inside = (a > min_val) & (a < max_val)
        return np.clip(a, min_val, max_val).astype(a.dtype, copy=False)

    def backward(self, g):
        return g * self.inside


class Relu6(Hardtanh):
    """min(max(0, x), 6): Hardtanh(0, 6), its own node so that graph readers can name it."""

    def forward(self, a):
        return super().forward(a, 0.0, 6.0)


class Prelu(Function):
    """max(0, x) + w min(0, x) with a learned slope w: one per channel (dim 1) or one shared.

    d/dx = 1 (x > 0) or w; d/dw = sum of x over the non-positive x of its channel.
    """

    saved_inputs = (0, 1)

    def forward(self, a, weight):
        shared = weight.size == 1
        self.view = () if shared else (1, weight.size) + (1,) * (a.ndim - 2)
        self.axes = None if shared else (0,) + tuple(range(2, a.ndim))
        self.slope = float(weight.mean())  # what init.by_activation reads off the graph
        self.negative = (a <= 0).astype(a.dtype)  # arithmetic masks: np.where branches per element
        return np.maximum(a, 0) + weight.reshape(self.view) * np.minimum(a, 0)

    def backward(self, g):
        a, weight = self.saved_tensors
        need_a, need_w = self.needs_input_grad
        grad_a = grad_w = None
        if need_a:  # 1 - negative + negative * w
            grad_a = g * ((weight.reshape(self.view) - 1) * self.negative + 1)
        if need_w:
            grad_w = (g * (a * self.negative)).sum(self.axes).reshape(weight.shape)
        return grad_a, grad_w

    def release(self) -> None:
        super().release()
        self.negative = None


# ---------------------------------------------------------------------------- the normal CDF
# W. J. Cody, "Rational Chebyshev approximations for the error function", Math. Comp. 23
# (1969): erfc to ~1e-15 relative in NumPy alone (SciPy is optional for gradwise).
_A = (3.16112374387056560e0, 1.13864154151050156e2, 3.77485237685302021e2, 3.20937758913846947e3,
      1.85777706184603153e-1)
_B = (2.36012909523441209e1, 2.44024637934444173e2, 1.28261652607737228e3, 2.84423683343917062e3)
_C = (5.64188496988670089e-1, 8.88314979438837594e0, 6.61191906371416295e1, 2.98635138197400131e2,
      8.81952221241769090e2, 1.71204761263407058e3, 2.05107837782607147e3, 1.23033935479799725e3,
      2.15311535474403846e-8)
_D = (1.57449261107098347e1, 1.17693950891312499e2, 5.37181101862009858e2, 1.62138957456669019e3,
      3.29079923573345963e3, 4.36261909014324716e3, 3.43936767414372164e3, 1.23033935480374942e3)
_P = (3.05326634961232344e-1, 3.60344899949804439e-1, 1.25781726111229246e-1, 1.60837851487422766e-2,
      6.58749161529837803e-4, 1.63153871373020978e-2)
_Q = (2.56852019228982242e0, 1.87295284992346725e0, 5.27905102951428412e-1, 6.05183413124413191e-2,
      2.33520497626869185e-3)
_INV_SQRT_PI = 5.6418958354775628695e-1


def erfc(x: np.ndarray) -> np.ndarray:
    """The complementary error function 1 - erf(x), elementwise (Cody's three ranges).

    Each range's formula runs on the whole array, clipped into its range, and masks blend the
    results arithmetically: gathering the elements of each range, or np.where, branches on
    every element and costs more than all three formulas.
    """
    shape = np.shape(x)
    x = np.asarray(x).reshape(-1)  # 1-D: in-place operations need arrays, not NumPy scalars
    y = np.abs(x)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        xs = np.clip(x, -0.46875, 0.46875)
        small = _ratio(_A, _B, xs * xs, 3)
        small *= xs
        np.subtract(1, small, out=small)
        v = np.clip(y, 0.46875, 4.0)
        ratio = _ratio(_C, _D, v, 7)
        if (y > 4).any():
            v = np.clip(y, 4.0, 28.0)  # erfc(28) underflows to 0 even in float64
            t = 1 / (v * v)
            big = _ratio(_P, _Q, t, 4)
            big *= -t
            big += _INV_SQRT_PI
            big /= v
            big -= ratio
            big *= y > 4
            ratio += big
        # erfc(|x|) = ratio * exp(-x^2), with x^2 split in two so that its rounding is not amplified
        v = np.clip(y, 0.46875, 28.0)
        head = np.trunc(v * 16) / 16
        ratio *= np.exp(-head * head)
        ratio *= np.exp((head - v) * (v + head))
        ratio += (x < 0) * (2 - 2 * ratio)  # erfc(-x) = 2 - erfc(x)
        small -= ratio
        small *= y <= 0.46875
        small += ratio
        return small.reshape(shape)


def _ratio(p: tuple, q: tuple, t: np.ndarray, n: int) -> np.ndarray:
    """Cody's rational function of t: (((p[n+1] t + p[0]) t + ...) t + p[n]) / ((t + q[0]) t ... + q[n])."""
    num, den = p[n + 1] * t, t.copy()
    for i in range(n):
        num += p[i]
        num *= t
        den += q[i]
        den *= t
    num += p[n]
    den += q[n]
    num /= den
    return num


def normal_cdf(a: np.ndarray) -> np.ndarray:
    """Phi(x) = erfc(-x / sqrt(2)) / 2, accurate in relative terms far into the left tail."""
    return 0.5 * erfc(a * -math.sqrt(0.5))


from gradwise.ops.select import Where  # noqa: E402  (kept last: select imports nothing from here)
