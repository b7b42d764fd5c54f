"""`Adadelta`: per-coordinate steps from running averages of squared gradients and updates."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from gradwise.optim import _functional as F
from gradwise.optim.optimizer import Optimizer, ParamsT, _to_scalar


class Adadelta(Optimizer):
    r"""Adadelta (PyTorch's ``torch.optim.Adadelta``).

    Update rule, per parameter ``theta`` with gradient ``g`` (``v = u = 0`` at the start)::

        g = -g                                   if maximize
        g = g + weight_decay * theta             if weight_decay != 0
        v = rho * v + (1 - rho) * g**2           # running mean of squared gradients
        delta = sqrt(u + eps) / sqrt(v + eps) * g
        u = rho * u + (1 - rho) * delta**2       # running mean of squared updates
        theta = theta - lr * delta

    The ratio of the two root mean squares gives each coordinate a step with the units of the
    parameter, so the method needs little learning-rate tuning (``lr`` scales ``delta``).

    Args:
        params: parameters to optimize, or dicts defining parameter groups.
        lr: coefficient that scales delta before it is applied (default: 1.0).
        rho: coefficient of the running averages, in [0, 1] (default: 0.9).
        eps: term added inside the square roots (default: 1e-6).
        weight_decay: L2 penalty added to the gradient (default: 0).
        maximize: maximize the objective instead of minimizing it (default: False).
        foreach, capturable, differentiable: accepted for PyTorch compatibility.

    Reference: Zeiler, "ADADELTA: An Adaptive Learning Rate Method", arXiv:1212.5701, 2012.
    """

    def __init__(self, params: ParamsT, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0, foreach: bool | None = None, *, capturable: bool = False,
                 maximize: bool = False, differentiable: bool = False) -> None:
        self._check_lr(lr)
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho} (rho must be in [0, 1])")
        self._check_eps(eps)
        self._check_non_negative("weight_decay", weight_decay)
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize,
                        capturable=capturable, foreach=foreach, differentiable=differentiable)
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Perform one optimization step (``closure`` re-evaluates the model and returns the loss)."""
        loss = self._closure_loss(closure)
        for group in self.param_groups:
            lr = _to_scalar(group["lr"])
            rho, eps, weight_decay, maximize = group["rho"], group["eps"], group["weight_decay"], group["maximize"]
            for p in group["params"]:
                if p._grad is None:
                    continue
                raw_grad = self._dense_grad(p)
                state = self.state[p]
                if not state:
                    state["step"] = self._new_step()
                    state["square_avg"] = self._zeros_like(p)
                    state["acc_delta"] = self._zeros_like(p)
                self._advance(state["step"])
                for param, grad, square_avg, acc_delta, grad_buf, std, delta in self._blocks(
                        p, p._data, raw_grad, state["square_avg"]._data, state["acc_delta"]._data, scratch=3):
                    grad = F.effective_grad(grad, param, maximize, weight_decay, out=grad_buf)
                    F.ema_square_(square_avg, grad, rho, delta)
                    np.add(square_avg, eps, out=std)
                    np.sqrt(std, out=std)
                    np.add(acc_delta, eps, out=delta)
                    np.sqrt(delta, out=delta)
                    np.divide(delta, std, out=delta)
                    np.multiply(delta, grad, out=delta)
                    F.ema_square_(acc_delta, delta, rho, std)
                    F.add_scaled_(param, delta, -lr, std)
                p._version.value += 1
        return loss
