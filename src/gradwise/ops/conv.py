"""2-D convolution as an autograd op: a thin wrapper over the NumPy kernels in `conv_kernels`.

The kernels (im2col + one GEMM per direction) take int pairs and do no argument parsing;
`gradwise.nn.functional.conv2d` normalises the arguments and checks shapes first, so errors
name what the user passed. The backward runs on arrays, so it is differentiable once.
"""
from __future__ import annotations

import numpy as np

from gradwise.ops.conv_kernels import conv2d_backward, conv2d_forward
from gradwise.tensor.function import Function, once_differentiable
from gradwise.tensor.tensor import Tensor


class Conv2d(Function):
    """out[n, o] = bias[o] + sum_c sum_(i,j) weight[o, c, i, j] * x_padded[n, c, s*h + d*i, s*w + d*j]."""

    saved_inputs = (0, 1)  # kept by the kernel context anyway; listed so in-place changes are caught

    def forward(self, x, weight, bias=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
        out, self.ctx = conv2d_forward(x, weight, bias, stride, padding, dilation, groups)
        return out

    @once_differentiable
    def backward(self, g):
        self.saved_tensors  # raises if the input or the weight changed in place since forward
        need_x, need_w, need_b = self.needs_input_grad
        grads = conv2d_backward(g._data.astype(self.ctx.w.dtype, copy=False), self.ctx, need_x, need_w, need_b)
        return tuple(None if a is None else Tensor._make(a) for a in grads)

    def release(self) -> None:
        super().release()
        self.ctx = None


class ZeroPad2d(Function):
    """Zero-pad the last two dims by (left, right, top, bottom): used for padding="same" when
    the total padding is odd (PyTorch puts the extra row/column at the bottom/right)."""

    def forward(self, x, pad):
        left, right, top, bottom = pad
        self.key = (Ellipsis, slice(top, top + x.shape[-2]), slice(left, left + x.shape[-1]))
        widths = [(0, 0)] * (x.ndim - 2) + [(top, bottom), (left, right)]
        return np.pad(x, widths)

    def backward(self, g):
        return g[self.key]
