"""Matrix products: matmul (1-D, 2-D, batched, broadcast) and the fused affine map of Linear."""
from __future__ import annotations

import numpy as np

from gradwise.tensor.dtypes import c_type_name
from gradwise.tensor.function import Function


def _check_matmul(a: np.ndarray, b: np.ndarray, op: str) -> None:
    if a.ndim == 0 or b.ndim == 0:
        raise RuntimeError(f"{op}: both arguments need at least 1 dimension, got shapes {a.shape} and {b.shape}")
    if a.dtype != b.dtype:   # PyTorch refuses to promote here; a silent float64 product would double the cost
        raise RuntimeError(f"{op}: expected m1 and m2 to have the same dtype, but got: {c_type_name(a.dtype)} != "
                           f"{c_type_name(b.dtype)} (shapes {a.shape} and {b.shape}; call .float() or .double() on "
                           "one of them)")
    k_a = a.shape[-1]
    k_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if k_a != k_b:
        raise RuntimeError(f"{op}: shapes {a.shape} and {b.shape} cannot be multiplied "
                           f"({k_a} columns in the first vs {k_b} rows in the second)")


class Matmul(Function):
    saved_inputs = (0, 1)

    def forward(self, a, b, op="matmul"):
        _check_matmul(a, b, op)
        try:
            return np.matmul(a, b)
        except ValueError:
            raise RuntimeError(f"{op}: batch dimensions of shapes {a.shape} and {b.shape} do not "
                               "broadcast") from None

    def backward(self, g):
        a, b = self.saved_tensors
        need_a, need_b = self.needs_input_grad
        grad_a = grad_b = None
        if a.ndim == 1 and b.ndim == 1:
            grad_a = g * b if need_a else None
            grad_b = g * a if need_b else None
        elif a.ndim == 1:   # (k,) @ (..., k, m) -> (..., m)
            if need_a:
                grad_a = (g.unsqueeze(-2) @ b.mT).squeeze(-2)
            if need_b:
                grad_b = a.unsqueeze(-1) @ g.unsqueeze(-2)
        elif b.ndim == 1:   # (..., n, k) @ (k,) -> (..., n)
            if need_a:
                grad_a = g.unsqueeze(-1) @ b.unsqueeze(-2)
            if need_b:
                grad_b = (a.mT @ g.unsqueeze(-1)).squeeze(-1)
        else:
            if need_a:
                grad_a = g @ b.mT
            if need_b:
                grad_b = a.mT @ g
        return grad_a, grad_b


class Linear(Function):
    """y = x W^T + b, fused so training an MLP costs the same GEMMs as hand-written NumPy."""

    saved_inputs = (0, 1)

    def forward(self, x, weight, bias=None):
        if weight.ndim != 2 or x.ndim == 0 or x.shape[-1] != weight.shape[1]:
            raise RuntimeError(f"linear: input of shape {x.shape} does not fit weight of shape "
                               f"{weight.shape} (expected input shape (*, {weight.shape[-1]}))")
        if bias is not None and bias.shape not in ((weight.shape[0],), ()):
            raise RuntimeError(f"linear: bias of shape {bias.shape} does not fit weight of shape "
                               f"{weight.shape} (expected ({weight.shape[0]},))")
        out = x @ weight.T
        if bias is not None:
            out += bias
        return out

    def backward(self, g):
        x, weight = self.saved_tensors
        need_x, need_w, need_b = self.needs_input_grad
        out_features, in_features = weight.shape
        flat_g = g.reshape(-1, out_features) if g.ndim != 2 else g
        grad_x = g @ weight if need_x else None
        grad_w = flat_g.mT @ (x.reshape(-1, in_features) if x.ndim != 2 else x) if need_w else None
        grad_b = flat_g.sum(0) if need_b else None
        return grad_x, grad_w, grad_b
