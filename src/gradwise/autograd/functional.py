"""Derivative products built on `autograd.grad`: vjp, jvp-free hvp, and the full Hessian."""
from __future__ import annotations

from typing import Callable

from gradwise.tensor.tensor import Tensor


def vjp(func: Callable, inputs: Tensor, v: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """(func(inputs), v^T J): a vector-Jacobian product."""
    from gradwise.autograd import grad

    x = inputs.detach().requires_grad_(True)
    out = func(x)
    (g,) = grad(out, x, grad_outputs=v)
    return out.detach(), g


def hvp(func: Callable, inputs: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
    """(func(inputs), H v) for a scalar function: the gradient of (grad f . v), by double backward.

    Costs two backward passes and never forms the Hessian, so it scales to whole networks
    (the training diagnostics use it to estimate curvature).
    """
    from gradwise.autograd import grad

    x = inputs.detach().requires_grad_(True)
    out = func(x)
    (g,) = grad(out, x, create_graph=True)
    (hv,) = grad((g * v).sum(), x)
    return out.detach(), hv


def hessian(func: Callable, inputs: Tensor) -> Tensor:
    """The full Hessian of a scalar function of one tensor (n x n; for small n)."""
    from gradwise.autograd import grad
    from gradwise.tensor.tensor import stack

    x = inputs.detach().requires_grad_(True)
    (g,) = grad(func(x), x, create_graph=True)
    flat = g.reshape(-1)
    rows = [grad(flat[i], x, retain_graph=True, allow_unused=True)[0] for i in range(flat.shape[0])]
    rows = [r if r is not None else x.detach() * 0 for r in rows]
    return stack([r.reshape(-1) for r in rows]).reshape(tuple(x.shape) * 2)
