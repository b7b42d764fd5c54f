"""`RAdam`: Adam with a rectified (variance-corrected) adaptive learning rate."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from gradwise.optim import _functional as F
from gradwise.optim.optimizer import Optimizer, ParamsT, _to_scalar


class RAdam(Optimizer):
    r"""RAdam: rectified Adam (PyTorch's ``torch.optim.RAdam``).

    Update rule, per parameter ``theta`` with gradient ``g`` at step ``t`` (``m = v = 0`` at
    the start)::

        g = -g                                   if maximize
        theta = theta * (1 - lr * weight_decay)  if weight_decay and decoupled_weight_decay
        g = g + weight_decay * theta             if weight_decay and not decoupled
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        m_hat = m / (1 - beta1**t)
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * t * beta2**t / (1 - beta2**t)
        if rho_t > 5:                            # the variance of v is tractable: adapt
            r = sqrt((rho_t - 4) (rho_t - 2) rho_inf / ((rho_inf - 4) (rho_inf - 2) rho_t))
            theta = theta - lr * m_hat * r * sqrt(1 - beta2**t) / (sqrt(v) + eps)
        else:                                    # early steps: plain momentum SGD
            theta = theta - lr * m_hat

    The rectification term ``r`` replaces the warm-up that Adam often needs: while too few
    squared gradients have been averaged, the adaptive step is switched off.

    Args:
        params: parameters to optimize, or dicts defining parameter groups.
        lr: learning rate (default: 1e-3).
        betas: coefficients of the running averages (default: (0.9, 0.999)).
        eps: term added to the denominator (default: 1e-8).
        weight_decay: weight decay (default: 0).
        decoupled_weight_decay: decay the weights directly, as AdamW (default: False).
        maximize: maximize the objective instead of minimizing it (default: False).
        foreach, capturable, differentiable: accepted for PyTorch compatibility.

    Reference: Liu et al., "On the Variance of the Adaptive Learning Rate and Beyond", ICLR 2020.
    """

    def __init__(self, params: ParamsT, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, decoupled_weight_decay: bool = False, *,
                 foreach: bool | None = None, maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False) -> None:
        self._check_lr(lr)
        self._check_eps(eps)
        self._check_betas(betas)
        self._check_non_negative("weight_decay", weight_decay)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, maximize=maximize,
                        foreach=foreach, capturable=capturable, decoupled_weight_decay=decoupled_weight_decay,
                        differentiable=differentiable)
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Perform one optimization step (``closure`` re-evaluates the model and returns the loss)."""
        loss = self._closure_loss(closure)
        for group in self.param_groups:
            lr = _to_scalar(group["lr"])
            beta1, beta2 = group["betas"]
            eps, weight_decay = group["eps"], group["weight_decay"]
            maximize, decoupled = group["maximize"], group["decoupled_weight_decay"]
            rho_inf = 2 / (1 - beta2) - 1
            for p in group["params"]:
                if p._grad is None:
                    continue
                raw_grad = self._dense_grad(p)
                state = self.state[p]
                if not state:
                    state["step"] = self._new_step()
                    state["exp_avg"] = self._zeros_like(p)
                    state["exp_avg_sq"] = self._zeros_like(p)
                step = self._advance(state["step"])
                bias_correction1 = F.bias_correction(beta1, step)
                bias_correction2 = F.bias_correction(beta2, step)
                rho_t = rho_inf - 2 * step * (beta2 ** step) / bias_correction2
                adaptive = rho_t > 5.0
                if adaptive:
                    rect = ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
                for param, grad, exp_avg, exp_avg_sq, grad_buf, tmp in self._blocks(
                        p, p._data, raw_grad, state["exp_avg"]._data, state["exp_avg_sq"]._data, scratch=2):
                    if decoupled:
                        grad = F.effective_grad(grad, param, maximize, 0, out=grad_buf)
                        F.decoupled_weight_decay_(param, lr, weight_decay)
                    else:
                        grad = F.effective_grad(grad, param, maximize, weight_decay, out=grad_buf)
                    F.lerp_(exp_avg, grad, 1 - beta1, tmp)
                    F.ema_square_(exp_avg_sq, grad, beta2, tmp)
                    if adaptive:
                        np.sqrt(exp_avg_sq, out=tmp)
                        np.add(tmp, eps, out=tmp)
                        np.divide(exp_avg, tmp, out=tmp)
                        F.add_scaled_(param, tmp, -lr * rect * bias_correction2 ** 0.5 / bias_correction1, tmp)
                    else:  # early steps: the variance of v is not tractable, plain momentum SGD
                        F.add_scaled_(param, exp_avg, -lr / bias_correction1, tmp)
                p._version.value += 1
        return loss
