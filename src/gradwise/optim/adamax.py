"""`Adamax`: Adam with the infinity norm in place of the root mean square."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from gradwise.optim import _functional as F
from gradwise.optim.optimizer import Optimizer, ParamsT, _to_scalar


class Adamax(Optimizer):
    r"""Adamax, the infinity-norm variant of Adam (PyTorch's ``torch.optim.Adamax``).

    Update rule, per parameter ``theta`` with gradient ``g`` at step ``t`` (``m = u = 0`` at
    the start)::

        g = -g                                   if maximize
        g = g + weight_decay * theta             if weight_decay != 0
        m = beta1 * m + (1 - beta1) * g
        u = max(beta2 * u, |g| + eps)            # exponentially weighted infinity norm
        theta = theta - lr / (1 - beta1**t) * m / u

    Args:
        params: parameters to optimize, or dicts defining parameter groups.
        lr: learning rate (default: 2e-3).
        betas: coefficients of the running average of the gradient and of the infinity norm
            (default: (0.9, 0.999)).
        eps: term added to the norm for numerical stability (default: 1e-8).
        weight_decay: L2 penalty added to the gradient (default: 0).
        maximize: maximize the objective instead of minimizing it (default: False).
        foreach, differentiable, capturable: accepted for PyTorch compatibility.

    Reference: Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015, section 7.
    """

    def __init__(self, params: ParamsT, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, foreach: bool | None = None, *, maximize: bool = False,
                 differentiable: bool = False, capturable: bool = False) -> None:
        self._check_lr(lr)
        self._check_eps(eps)
        self._check_betas(betas)
        self._check_non_negative("weight_decay", weight_decay)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, foreach=foreach,
                        maximize=maximize, differentiable=differentiable, capturable=capturable)
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Perform one optimization step (``closure`` re-evaluates the model and returns the loss)."""
        loss = self._closure_loss(closure)
        for group in self.param_groups:
            lr = _to_scalar(group["lr"])
            beta1, beta2 = group["betas"]
            eps, weight_decay, maximize = group["eps"], group["weight_decay"], group["maximize"]
            for p in group["params"]:
                if p._grad is None:
                    continue
                raw_grad = self._dense_grad(p)
                state = self.state[p]
                if not state:
                    state["step"] = self._new_step()
                    state["exp_avg"] = self._zeros_like(p)
                    state["exp_inf"] = self._zeros_like(p)
                step = self._advance(state["step"])
                clr = lr / F.bias_correction(beta1, step)
                for param, grad, exp_avg, exp_inf, grad_buf, tmp in self._blocks(
                        p, p._data, raw_grad, state["exp_avg"]._data, state["exp_inf"]._data, scratch=2):
                    grad = F.effective_grad(grad, param, maximize, weight_decay, out=grad_buf)
                    F.lerp_(exp_avg, grad, 1 - beta1, tmp)
                    np.multiply(exp_inf, beta2, out=exp_inf)
                    np.abs(grad, out=tmp)
                    np.add(tmp, eps, out=tmp)
                    np.maximum(exp_inf, tmp, out=exp_inf)
                    np.divide(exp_avg, exp_inf, out=tmp)
                    F.add_scaled_(param, tmp, -clr, tmp)
                p._version.value += 1
        return loss
