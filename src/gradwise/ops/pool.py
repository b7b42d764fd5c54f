"""2-D pooling as autograd ops: thin wrappers over the NumPy kernels in `pool_kernels`, plus
adaptive average pooling (the output size is fixed and the windows adapt to the input).

`gradwise.nn.functional` normalises the arguments (ints to pairs, stride defaulting to the
kernel size) and checks them before these run. Backward rules run on arrays (differentiable
once).
"""
from __future__ import annotations

import numpy as np

from gradwise.ops.pool_kernels import avg_pool2d_backward, avg_pool2d_forward, max_pool2d_backward, max_pool2d_forward
from gradwise.tensor.function import Function, once_differentiable
from gradwise.tensor.tensor import Tensor


class MaxPool2d(Function):
    """out = the max of each window; its gradient goes to the (first) max of the window."""

    def forward(self, x, kernel_size, stride, padding, dilation, ceil_mode=False):
        out, self.ctx = max_pool2d_forward(x, kernel_size, stride, padding, dilation, ceil_mode)
        return out

    @once_differentiable
    def backward(self, g):
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

    @once_differentiable
    def backward(self, g):
        return Tensor._make(avg_pool2d_backward(g._data, self.ctx))


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

    @once_differentiable
    def backward(self, g):
        g = g._data
        (h, w), (oh, ow) = self.in_shape[-2:], self.out_size
        if self.tiled:
            kh, kw = h // oh, w // ow
            spread = np.broadcast_to((g / (kh * kw))[..., :, None, :, None], g.shape[:-2] + (oh, kh, ow, kw))
            return Tensor._make(spread.reshape(self.in_shape))
        dx = np.zeros(self.in_shape, dtype=g.dtype)
        for r, (h0, h1) in enumerate(adaptive_windows(h, oh)):
            for c, (w0, w1) in enumerate(adaptive_windows(w, ow)):
                dx[..., h0:h1, w0:w1] += g[..., r, c, None, None] / ((h1 - h0) * (w1 - w0))
        return Tensor._make(dx)
