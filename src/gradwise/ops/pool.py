"""2-D pooling as autograd ops: thin wrappers over the NumPy kernels in `pool_kernels`, plus
adaptive average pooling (the output size is fixed and the windows adapt to the input).

`gradwise.nn.functional` normalises the arguments (ints to pairs, stride defaulting to the
kernel size) and checks them before these run. Backward rules run on arrays; under
`create_graph=True` they are recorded instead as ops that are differentiable again: max
pooling's backward is a scatter to the saved argmax (`MaxPool2dScatter`), whose adjoint is a
gather from it (`MaxPool2dGather`), and average pooling's backward spreads over the windows
(`AvgPool2dSpread`), whose adjoint is the window mean (`AvgPool2dWindowMean`). Each pair is
linear and the two are each other's backward, so any order of derivative works. (Max
pooling's gradient does not depend on the input's values except through the argmax, which
is piecewise constant: its second derivative in the input is zero, as in PyTorch.)
Adaptive average pooling works the same way: its backward (`AdaptiveAvgPool2dSpread`) has
the adaptive average pooling itself as its adjoint.
"""
from __future__ import annotations

import numpy as np

from gradwise.ops.pool_kernels import (avg_pool2d_backward, avg_pool2d_forward, avg_pool2d_window_mean,
                                       max_pool2d_backward, max_pool2d_forward, max_pool2d_gather)
from gradwise.tensor import grad_mode
from gradwise.tensor.function import Function
from gradwise.tensor.tensor import Tensor


class MaxPool2d(Function):
    """out = the max of each window; its gradient goes to the (first) max of the window."""

    def forward(self, x, kernel_size, stride, padding, dilation, ceil_mode=False):
        out, self.ctx = max_pool2d_forward(x, kernel_size, stride, padding, dilation, ceil_mode)
        return out

    def backward(self, g):
        if grad_mode._GradMode.enabled:  # create_graph: record the scatter so it can be differentiated
            return MaxPool2dScatter.apply(g, ctx=self.ctx)
        return Tensor._make(max_pool2d_backward(g._data, self.ctx))

    def indices(self) -> np.ndarray:
        """PyTorch's `return_indices`: the flat position h * W + w of each max in its input plane."""
        geo = self.ctx.geometry
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = geo.kernel, geo.stride, geo.padding, geo.dilation
        i, j = np.divmod(self.ctx.index.astype(np.int64), kw)
        ho, wo = geo.out_hw
        rows = np.arange(ho).reshape(-1, 1) * sh - ph + i * dh
        cols = np.arange(wo) * sw - pw + j * dw
        return rows * geo.x_shape[3] + cols


class AvgPool2d(Function):
    """out = the mean of each window; its gradient spreads grad/divisor over the window."""

    def forward(self, x, kernel_size, stride, padding, ceil_mode=False, count_include_pad=True,
                divisor_override=None):
        out, self.ctx = avg_pool2d_forward(x, kernel_size, stride, padding, ceil_mode, count_include_pad,
                                           divisor_override)
        return out

    def backward(self, g):
        if grad_mode._GradMode.enabled:  # create_graph: record the spread so it can be differentiated
            return AvgPool2dSpread.apply(g, ctx=self.ctx)
        return Tensor._make(avg_pool2d_backward(g._data, self.ctx))


class MaxPool2dScatter(Function):
    """Max pooling's backward as an op: each output gradient goes to its window's saved argmax
    (summed where windows overlap). Linear in the gradient; its backward is the gather."""

    def forward(self, g, ctx):
        self.ctx = ctx
        return max_pool2d_backward(g, ctx)

    def backward(self, gg):
        return MaxPool2dGather.apply(gg, ctx=self.ctx)


class MaxPool2dGather(Function):
    """The adjoint of `MaxPool2dScatter`: the value at each window's saved argmax. Its backward
    is the scatter."""

    def forward(self, gg, ctx):
        self.ctx = ctx
        return max_pool2d_gather(gg, ctx)

    def backward(self, g):
        return MaxPool2dScatter.apply(g, ctx=self.ctx)


class AvgPool2dSpread(Function):
    """Average pooling's backward as an op: each output gradient divided by its divisor and
    spread over its window. Linear; its backward is the window mean."""

    def forward(self, g, ctx):
        self.ctx = ctx
        return avg_pool2d_backward(g, ctx)

    def backward(self, gg):
        return AvgPool2dWindowMean.apply(gg, ctx=self.ctx)


class AvgPool2dWindowMean(Function):
    """The adjoint of `AvgPool2dSpread`: each window's sum over the saved divisor (the forward
    average pooling with the saved geometry). Its backward is the spread."""

    def forward(self, gg, ctx):
        self.ctx = ctx
        return avg_pool2d_window_mean(gg, ctx)

    def backward(self, g):
        return AvgPool2dSpread.apply(g, ctx=self.ctx)


def adaptive_windows(size: int, out: int) -> list[tuple[int, int]]:
    """PyTorch's adaptive windows: [floor(i*size/out), ceil((i+1)*size/out)) for i < out."""
    return [(i * size // out, -(-(i + 1) * size // out)) for i in range(out)]


class AdaptiveAvgPool2d(Function):
    """Average over the windows `adaptive_windows` gives along each of the last two dims.

    When the output size divides the input size the windows tile it exactly and this is one
    reshape and mean; otherwise windows may overlap by one and are visited one by one (the
    output is small: 1x1 for ResNet, 6x6 for AlexNet).
    """

    def forward(self, x, output_size):
        (h, w), (oh, ow) = x.shape[-2:], output_size
        self.in_shape, self.out_size = x.shape, (oh, ow)
        self.tiled = h % oh == 0 and w % ow == 0
        if self.tiled:
            return x.reshape(x.shape[:-2] + (oh, h // oh, ow, w // ow)).mean(axis=(-3, -1))
        out = np.empty(x.shape[:-2] + (oh, ow), dtype=x.dtype)
        for r, (h0, h1) in enumerate(adaptive_windows(h, oh)):
            for c, (w0, w1) in enumerate(adaptive_windows(w, ow)):
                out[..., r, c] = x[..., h0:h1, w0:w1].mean(axis=(-2, -1))
        return out

    def backward(self, g):
        if grad_mode._GradMode.enabled:  # create_graph: record the spread so it can be differentiated
            return AdaptiveAvgPool2dSpread.apply(g, in_shape=self.in_shape, out_size=self.out_size, tiled=self.tiled)
        return Tensor._make(self.spread(g._data, self.in_shape, self.out_size, self.tiled))

    @staticmethod
    def spread(g: np.ndarray, in_shape, out_size, tiled: bool) -> np.ndarray:
        """The backward on arrays: each output gradient over its window's area, spread over it."""
        (h, w), (oh, ow) = in_shape[-2:], out_size
        if tiled:
            kh, kw = h // oh, w // ow
            spread = np.broadcast_to((g / (kh * kw))[..., :, None, :, None], g.shape[:-2] + (oh, kh, ow, kw))
            return spread.reshape(in_shape)
        dx = np.zeros(in_shape, dtype=g.dtype)
        for r, (h0, h1) in enumerate(adaptive_windows(h, oh)):
            for c, (w0, w1) in enumerate(adaptive_windows(w, ow)):
                dx[..., h0:h1, w0:w1] += g[..., r, c, None, None] / ((h1 - h0) * (w1 - w0))
        return dx


class AdaptiveAvgPool2dSpread(Function):
    """Adaptive average pooling's backward as an op (linear in the gradient); its adjoint, and
    so its backward, is the adaptive average pooling of the incoming gradient."""

    def forward(self, g, in_shape, out_size, tiled):
        self.out_size = out_size
        return AdaptiveAvgPool2d.spread(g, in_shape, out_size, tiled)

    def backward(self, gg):
        return AdaptiveAvgPool2d.apply(gg, output_size=self.out_size)
