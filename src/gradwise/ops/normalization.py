"""Batch, layer and group normalization, each as one fused op.

Batch normalization (Ioffe & Szegedy, 2015):

y = (x - mean) / sqrt(var + eps) * weight + bias, with the statistics taken per channel
(axis 1) over the batch and every spatial position. In training the batch's own mean and
biased variance are used (and the running estimates are updated in place, with the unbiased
variance, as PyTorch); in evaluation the running estimates are constants. Forward and backward
are written on arrays: the textbook backward

    dx = invstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)),   dxhat = dy * weight

is three reductions instead of the dozen nodes a composed version would record.

Layer normalization (Ba et al., 2016) standardises each sample over its last dims and group
normalization (Wu & He, 2018) each (sample, group of channels); neither depends on the batch,
so training and evaluation compute the same thing. They share the same backward, written in
Tensor operations so that second derivatives (create_graph=True) work.
"""
from __future__ import annotations

import math

import numpy as np

from gradwise.tensor import grad_mode
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


class _Standardize(Function):
    """Standardise `x` viewed as `self.groups` (statistics along the last axis), then scale
    and shift with weight/bias viewed as `self.affine`; `self.param_axes` are the axes of x
    the parameter gradients are summed over. Subclasses set the three in `layout`."""

    saved_inputs = (0, 1)

    def layout(self, x, weight, option) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, x, weight, bias, option, eps=1e-5):
        self.layout(x, weight, option)
        self.eps = eps
        self.xhat, self.invstd = _standardize(x.reshape(self.groups), eps)
        xhat = self.xhat.reshape(x.shape)
        out = xhat * weight.reshape(self.affine) if weight is not None else xhat.copy()
        if bias is not None:
            out += bias.reshape(self.affine)
        return out

    def backward(self, g):
        x, weight = self.saved_tensors
        need_x, need_w, need_b = self.needs_input_grad
        if grad_mode._GradMode.enabled:  # create_graph: statistics as functions of x, so this is differentiable
            xhat, invstd = _standardize_tensor(x.reshape(self.groups), self.eps)
        else:
            xhat, invstd = Tensor._make(self.xhat), Tensor._make(self.invstd)
        grad_x = grad_w = grad_b = None
        if need_x:
            dxhat = (g * weight.reshape(self.affine) if weight is not None else g).reshape(self.groups)
            grad_x = (invstd * (dxhat - dxhat.mean(-1, keepdim=True)
                                - xhat * (dxhat * xhat).mean(-1, keepdim=True))).reshape(x.shape)
        if need_w:
            grad_w = _sum(g * xhat.reshape(x.shape), self.param_axes).reshape(weight.shape)
        if need_b:
            grad_b = _sum(g, self.param_axes).reshape(self.bias_shape)
        return grad_x, grad_w, grad_b

    def release(self) -> None:
        super().release()
        self.xhat = self.invstd = None


class LayerNorm(_Standardize):
    """Statistics over the last `option` dims of each sample; weight/bias of those dims' shape."""

    def layout(self, x, weight, normalized_ndim) -> None:
        lead = x.ndim - normalized_ndim
        self.groups = (math.prod(x.shape[:lead]), math.prod(x.shape[lead:]))
        self.affine = self.bias_shape = x.shape[lead:]
        self.param_axes = tuple(range(lead))


class GroupNorm(_Standardize):
    """Statistics over each of `option` groups of channels (dim 1) of each sample, spatial
    dims included; weight/bias per channel."""

    def layout(self, x, weight, num_groups) -> None:
        self.groups = (x.shape[0], num_groups, math.prod(x.shape[1:]) // num_groups)
        self.affine = (1, x.shape[1]) + (1,) * (x.ndim - 2)
        self.bias_shape = (x.shape[1],)
        self.param_axes = (0,) + tuple(range(2, x.ndim))


def _sum(t: Tensor, axes: tuple) -> Tensor:
    return t.sum(axes) if axes else t  # no axes: nothing to sum (Tensor.sum(()) would sum everything)


def _standardize(x: np.ndarray, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """((x - mean) / sqrt(var + eps), 1 / sqrt(var + eps)) along the last axis (biased var)."""
    centred = x - x.mean(axis=-1, keepdims=True)
    var = np.mean(centred * centred, axis=-1, keepdims=True)
    invstd = (1 / np.sqrt(var + eps)).astype(x.dtype, copy=False)
    return centred * invstd, invstd


def _standardize_tensor(x: Tensor, eps: float) -> tuple[Tensor, Tensor]:
    """`_standardize` in recorded Tensor operations."""
    centred = x - x.mean(-1, keepdim=True)
    invstd = ((centred * centred).mean(-1, keepdim=True) + eps).rsqrt()
    return centred * invstd, invstd
