"""2-D convolution and transposed convolution as autograd ops, over the NumPy kernels in
`conv_kernels`.

The kernels (im2col + one GEMM per direction, col2im for the adjoint) take int pairs and do
no argument parsing; `gradwise.nn.functional.conv2d` / `conv_transpose2d` normalise the
arguments and check shapes first, so errors name what the user passed.

Backward has two paths. The ordinary one (`backward()` without `create_graph`) calls the
kernels on arrays directly, exactly as fast as before. Under `create_graph=True` (the
engine leaves grad mode on while running backward) the same gradients are built from
`Function`s that are themselves differentiable, so second and higher derivatives work
(Hessian-vector products, gradient penalties):

* input gradient of a convolution = `ConvTranspose2d(grad_out, weight)`;
* weight gradient = `Conv2dWeightGrad(input, grad_out)` (a correlation of the two);
* the transposed convolution's own gradients are `Conv2d(grad, weight)` and
  `Conv2dWeightGrad(grad, input)`; and `Conv2dWeightGrad`'s gradients are again a
  `ConvTranspose2d` and a `Conv2d`.

All three are bilinear, so this set is closed under differentiation, to any order, and every
one runs on the same fast kernels.
"""
from __future__ import annotations

import numpy as np

from gradwise.ops.conv_kernels import (conv2d_backward, conv2d_forward, conv2d_weight_grad,
                                       conv_transpose2d_forward, conv_transpose2d_output_size)
from gradwise.tensor import grad_mode
from gradwise.tensor.function import Function
from gradwise.tensor.tensor import Tensor


def _fitting_output_padding(in_hw, out_hw, kernel, stride, padding, dilation) -> tuple[int, int]:
    """The `output_padding` with which a transposed convolution of an `out_hw` map gives back
    exactly `in_hw`: the rows/columns of a convolution's input that no window's last step
    reached (when (in + 2p - d(k-1) - 1) is not a multiple of the stride)."""
    return tuple(size - conv_transpose2d_output_size(o, k, s, p, 0, d)
                 for size, o, k, s, p, d in zip(in_hw, out_hw, kernel, stride, padding, dilation))


def _crop(t: Tensor, hw) -> Tensor:
    """`t` cut to the spatial size `hw` (a convolution's natural output may exceed the shape a
    transposed convolution's input had when its output_padding reached the stride)."""
    if tuple(t.shape[2:]) == tuple(hw):
        return t
    return t[:, :, :hw[0], :hw[1]]


def _bias_grad(g: Tensor) -> Tensor:
    return g.sum(dim=(0, 2, 3))


class Conv2d(Function):
    """out[n, o] = bias[o] + sum_c sum_(i,j) weight[o, c, i, j] * x_padded[n, c, s*h + d*i, s*w + d*j]."""

    saved_inputs = (0, 1)  # kept by the kernel context anyway; listed so in-place changes are caught

    def forward(self, x, weight, bias=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
        out, self.ctx = conv2d_forward(x, weight, bias, stride, padding, dilation, groups)
        return out

    def backward(self, g):
        if grad_mode._GradMode.enabled:  # create_graph: a differentiable backward
            return self._graph_backward(g)
        self.saved_tensors  # raises if the input or the weight changed in place since forward
        need_x, need_w, need_b = self.needs_input_grad
        grads = conv2d_backward(g._data.astype(self.ctx.w.dtype, copy=False), self.ctx, need_x, need_w, need_b)
        return tuple(None if a is None else Tensor._make(a) for a in grads)

    def _graph_backward(self, g: Tensor):
        """The same gradients as recorded ops (see the module docstring)."""
        x, w = self.saved_tensors
        ctx = self.ctx
        if g.dtype != w.dtype:
            g = g.to(w.dtype)
        need_x, need_w, need_b = self.needs_input_grad
        kernel = tuple(w.shape[2:])
        options = dict(stride=ctx.stride, padding=ctx.padding, dilation=ctx.dilation, groups=ctx.groups)
        dx = dw = db = None
        if need_x:
            output_padding = _fitting_output_padding(ctx.x_shape[2:], ctx.out_hw, kernel, ctx.stride, ctx.padding,
                                                     ctx.dilation)
            dx = ConvTranspose2d.apply(g, w, None, output_padding=output_padding, **options)
        if need_w:
            dw = Conv2dWeightGrad.apply(x, g, kernel_size=kernel, **options)
        if need_b:
            db = _bias_grad(g)
        return dx, dw, db

    def release(self) -> None:
        super().release()
        self.ctx = None


class ConvTranspose2d(Function):
    """The adjoint of `Conv2d` (PyTorch's conv_transpose2d): weight (C_in, C_out/groups, kH, kW),
    out[n, :, s*h + d*i - p, s*w + d*j - p] += x[n, c] * weight[c, :, i, j], plus bias."""

    saved_inputs = (0, 1)

    def forward(self, x, weight, bias=None, stride=(1, 1), padding=(0, 0), output_padding=(0, 0),
                dilation=(1, 1), groups=1):
        self.options = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
        self.x_hw = x.shape[2:]
        return conv_transpose2d_forward(x, weight, bias, stride, padding, output_padding, dilation, groups)

    def backward(self, g):
        x, w = self.saved_tensors
        if g.dtype != w.dtype:
            g = g.to(w.dtype)
        need_x, need_w, need_b = self.needs_input_grad
        dx = dw = db = None
        if need_x:  # the transposed convolution's adjoint is the convolution itself
            dx = _crop(Conv2d.apply(g, w, None, **self.options), self.x_hw)
        if need_w:  # as in a convolution whose input is g and whose output gradient is x
            dw = Conv2dWeightGrad.apply(g, x, kernel_size=tuple(w.shape[2:]), **self.options)
        if need_b:
            db = _bias_grad(g)
        return dx, dw, db


class Conv2dWeightGrad(Function):
    """The weight gradient of a convolution as a function of its input and output gradient:
    dw[o, c, i, j] = sum_(n,h,w) x_padded[n, g*C_g + c, s*h + d*i, s*w + d*j] * gy[n, o, h, w].

    Bilinear in (x, gy); recorded only under create_graph, so that the weight gradient can be
    differentiated again.
    """

    saved_inputs = (0, 1)

    def forward(self, x, gy, kernel_size, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
        self.options = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
        self.kernel = tuple(kernel_size)
        self.x_hw, self.gy_hw = x.shape[2:], gy.shape[2:]
        return conv2d_weight_grad(x, gy, kernel_size, stride, padding, dilation, groups)

    def backward(self, gw):
        x, gy = self.saved_tensors
        if gw.dtype != x.dtype:
            gw = gw.to(x.dtype)
        need_x, need_gy = self.needs_input_grad
        o = self.options
        dx = dgy = None
        if need_x:  # the input gradient of a convolution with weight gw and output gradient gy
            output_padding = _fitting_output_padding(self.x_hw, self.gy_hw, self.kernel, o["stride"], o["padding"],
                                                     o["dilation"])
            dx = ConvTranspose2d.apply(gy, gw, None, output_padding=output_padding, **o)
        if need_gy:  # the convolution of x with weight gw
            dgy = _crop(Conv2d.apply(x, gw, None, **o), self.gy_hw)
        return dx, dgy


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
