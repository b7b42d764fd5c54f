"""Batch normalization (Ioffe & Szegedy, 2015) as one fused op.

y = (x - mean) / sqrt(var + eps) * weight + bias, with the statistics taken per channel
(axis 1) over the batch and every spatial position. In training the batch's own mean and
biased variance are used (and the running estimates are updated in place, with the unbiased
variance, as PyTorch); in evaluation the running estimates are constants. Forward and backward
are written on arrays: the textbook backward

    dx = invstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)),   dxhat = dy * weight

is three reductions instead of the dozen nodes a composed version would record.
"""
from __future__ import annotations

import numpy as np

from gradwise.tensor.function import Function, once_differentiable
from gradwise.tensor.tensor import Tensor


class BatchNorm(Function):
    saved_inputs = (1,)  # the weight: an in-place update before backward is reported

    def forward(self, x, weight, bias, running_mean=None, running_var=None, training=True,
                momentum=0.1, eps=1e-5):
        axes = (0,) + tuple(range(2, x.ndim))
        shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
        if training:
            mean = x.mean(axis=axes)
            centred = x - mean.reshape(shape)
            var = np.mean(centred * centred, axis=axes)
            count = x.size // x.shape[1]
            if running_mean is not None:
                _blend(running_mean, mean, momentum)
            if running_var is not None:
                _blend(running_var, var * (count / max(count - 1, 1)), momentum)
        else:
            mean, var = running_mean._data, running_var._data
            centred = x - mean.reshape(shape).astype(x.dtype, copy=False)
        invstd = (1 / np.sqrt(var + eps)).astype(x.dtype, copy=False).reshape(shape)
        xhat = centred * invstd
        self.axes, self.shape, self.training = axes, shape, training
        self.xhat, self.invstd, self.weight = xhat, invstd, weight
        out = xhat * weight.reshape(shape) if weight is not None else xhat.copy()
        if bias is not None:
            out += bias.reshape(shape)
        return out

    @once_differentiable
    def backward(self, g):
        self.saved_tensors  # raises if the weight changed in place since forward
        g = g._data
        need_x, need_w, need_b = self.needs_input_grad
        xhat, axes = self.xhat, self.axes
        grad_x = grad_w = grad_b = None
        if need_x:
            dxhat = g * self.weight.reshape(self.shape) if self.weight is not None else g
            if self.training:
                dxhat = dxhat - dxhat.mean(axis=axes, keepdims=True) \
                    - xhat * (dxhat * xhat).mean(axis=axes, keepdims=True)
            grad_x = Tensor._make(dxhat * self.invstd)
        if need_w:
            grad_w = Tensor._make((g * xhat).sum(axis=axes))
        if need_b:
            grad_b = Tensor._make(g.sum(axis=axes))
        return grad_x, grad_w, grad_b

    def release(self) -> None:
        super().release()
        self.xhat = None


def _blend(buffer: Tensor, value: np.ndarray, momentum: float) -> None:
    """running = (1 - momentum) * running + momentum * value, in place (a buffer update)."""
    data = buffer._data
    data *= 1 - momentum
    data += momentum * value.astype(data.dtype, copy=False)
    buffer._version.value += 1
