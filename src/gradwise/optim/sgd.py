"""`SGD`: (stochastic) gradient descent, with momentum, dampening, Nesterov and weight decay."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from gradwise.optim import _functional as F
from gradwise.optim.optimizer import Optimizer, ParamsT, _to_scalar
from gradwise.tensor.tensor import Tensor


class SGD(Optimizer):
    r"""Stochastic gradient descent, optionally with momentum (PyTorch's ``torch.optim.SGD``).

    Update rule, per parameter ``theta`` with gradient ``g`` at step ``t``::

        g = -g                              if maximize
        g = g + weight_decay * theta        if weight_decay != 0
        if momentum != 0:
            b = g                                         at t = 1
            b = momentum * b + (1 - dampening) * g        afterwards
            g = g + momentum * b            if nesterov
            g = b                           otherwise
        theta = theta - lr * g

    *Plain gradient descent* is this rule with ``momentum=0``; whether it is full-batch GD or
    stochastic (minibatch) GD depends only on the loader. Full-batch gradient descent is SGD
    over a loader whose one batch is the whole training set::

        loader = DataLoader(train_set, batch_size=len(train_set))  # one batch: the whole set
        opt = SGD(model.parameters(), lr=0.1)                       # momentum=0: plain GD
        for x, y in loader:                                         # one exact-gradient step
            opt.zero_grad(); loss_fn(model(x), y).backward(); opt.step()

    With ``batch_size=32`` the same code is minibatch SGD: each step follows a noisy estimate
    of the gradient, ``L(W) = 1/N sum_i L_i(x_i, y_i, W)`` over the batch.

    The lecture writes momentum as a *velocity*, a running sum of gradients::

        v = rho * v + dx
        x = x - learning_rate * v

    which is exactly this class with ``momentum=rho`` and ``dampening=0`` (the default): the
    buffer ``b`` is ``v``, started at the first gradient (``rho * 0 + dx``).

    Args:
        params: parameters to optimize, or dicts defining parameter groups.
        lr: learning rate (default: 1e-3).
        momentum: momentum factor ``rho`` (default: 0).
        dampening: dampening for momentum; the new gradient enters the buffer with weight
            ``1 - dampening`` (default: 0).
        weight_decay: L2 penalty added to the gradient (default: 0).
        nesterov: use Nesterov momentum (needs ``momentum > 0`` and ``dampening == 0``).
        maximize: maximize the objective instead of minimizing it (default: False).
        foreach, differentiable, fused: accepted for PyTorch compatibility; gradwise has one
            (in-place, single-tensor) implementation.

    Reference: Sutskever, Martens, Dahl & Hinton, "On the importance of initialization and
    momentum in deep learning", ICML 2013 (momentum and Nesterov momentum as implemented here).

    Sparse gradients (``nn.Embedding(sparse=True)``) are supported without momentum and weight
    decay: only the rows that were looked up move.
    """

    def __init__(self, params: ParamsT, lr: float = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False, *, maximize: bool = False,
                 foreach: bool | None = None, differentiable: bool = False, fused: bool | None = None) -> None:
        self._check_lr(lr)
        self._check_fraction("momentum", momentum)
        self._check_non_negative("weight_decay", weight_decay)
        self._check_fraction("dampening", dampening, closed=True)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize, foreach=foreach, differentiable=differentiable,
                        fused=fused)
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Perform one optimization step (``closure`` re-evaluates the model and returns the loss)."""
        loss = self._closure_loss(closure)
        for group in self.param_groups:
            lr = _to_scalar(group["lr"])
            momentum, dampening = group["momentum"], group["dampening"]
            weight_decay, nesterov, maximize = group["weight_decay"], group["nesterov"], group["maximize"]
            for p in group["params"]:
                if p._grad is None:
                    continue
                if p._grad.is_sparse:
                    self._sparse_step(p, lr, momentum, weight_decay, maximize)
                    continue
                if momentum == 0:
                    for param, grad, tmp in self._blocks(p, p._data, p._grad._data, scratch=1):
                        grad = F.effective_grad(grad, param, maximize, weight_decay, out=tmp)
                        F.add_scaled_(param, grad, -lr, tmp)
                    p._version.value += 1
                    continue
                state = self.state[p]
                first_step = state.get("momentum_buffer") is None
                if first_step:
                    state["momentum_buffer"] = self._zeros_like(p)
                buffer = state["momentum_buffer"]._data
                for param, grad, buf, tmp, look_ahead in self._blocks(p, p._data, p._grad._data, buffer, scratch=2):
                    grad = F.effective_grad(grad, param, maximize, weight_decay, out=tmp)
                    if first_step:
                        np.copyto(buf, grad)  # the buffer starts at the first gradient
                    else:
                        np.multiply(buf, momentum, out=buf)
                        if dampening == 0:
                            np.add(buf, grad, out=buf)
                        else:
                            F.add_scaled_(buf, grad, 1 - dampening, look_ahead)
                    if nesterov:
                        np.multiply(buf, momentum, out=look_ahead)
                        np.add(grad, look_ahead, out=look_ahead)
                        grad = look_ahead
                    else:
                        grad = buf
                    F.add_scaled_(param, grad, -lr, tmp)
                p._version.value += 1
        return loss

    def _sparse_step(self, p: Tensor, lr: float, momentum: float, weight_decay: float, maximize: bool) -> None:
        if momentum != 0 or weight_decay != 0:
            raise RuntimeError("SGD supports sparse gradients only with momentum=0 and weight_decay=0")
        rows, values = F.sparse_rows(p._grad)
        p._data[rows] += (lr if maximize else -lr) * values
        p._version.value += 1
