"""`NAdam`: Adam with Nesterov momentum."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from gradwise.optim import _functional as F
from gradwise.optim.optimizer import Optimizer, ParamsT, _to_scalar
from gradwise.tensor.tensor import Tensor


class NAdam(Optimizer):
    r"""NAdam: Adam with Nesterov momentum (PyTorch's ``torch.optim.NAdam``).

    Update rule, per parameter ``theta`` with gradient ``g`` at step ``t`` (``m = v = 0``,
    ``mu_product = 1`` at the start)::

        g = -g                                   if maximize
        theta = theta * (1 - lr * weight_decay)  if weight_decay and decoupled_weight_decay
        g = g + weight_decay * theta             if weight_decay and not decoupled
        mu_t      = beta1 * (1 - 0.5 * 0.96**(t * momentum_decay))
        mu_next   = beta1 * (1 - 0.5 * 0.96**((t + 1) * momentum_decay))
        mu_product = mu_product * mu_t
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        denom = sqrt(v / (1 - beta2**t)) + eps
        theta = theta - lr * (1 - mu_t) / (1 - mu_product) * g / denom
                      - lr * mu_next / (1 - mu_product * mu_next) * m / denom

    The second line looks one step ahead along the momentum (Nesterov), with a momentum
    schedule ``mu_t`` that warms up over the first steps. ``mu_product`` is a float32 scalar,
    as in PyTorch.

    Args:
        params: parameters to optimize, or dicts defining parameter groups.
        lr: learning rate (default: 2e-3).
        betas: coefficients of the running averages (default: (0.9, 0.999)).
        eps: term added to the denominator (default: 1e-8).
        weight_decay: weight decay (default: 0).
        momentum_decay: momentum decay ``psi`` of the ``mu_t`` schedule (default: 4e-3).
        decoupled_weight_decay: decay the weights directly, as AdamW (NAdamW) (default: False).
        maximize: maximize the objective instead of minimizing it (default: False).
        foreach, capturable, differentiable: accepted for PyTorch compatibility.

    Reference: Dozat, "Incorporating Nesterov Momentum into Adam", ICLR 2016 workshop.
    """

    def __init__(self, params: ParamsT, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, momentum_decay: float = 4e-3,
                 decoupled_weight_decay: bool = False, *, foreach: bool | None = None, maximize: bool = False,
                 capturable: bool = False, differentiable: bool = False) -> None:
        self._check_lr(lr)
        self._check_eps(eps)
        self._check_betas(betas)
        self._check_non_negative("weight_decay", weight_decay)
        self._check_non_negative("momentum_decay", momentum_decay)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, momentum_decay=momentum_decay,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize, foreach=foreach,
                        capturable=capturable, differentiable=differentiable)
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Perform one optimization step (``closure`` re-evaluates the model and returns the loss)."""
        loss = self._closure_loss(closure)
        for group in self.param_groups:
            lr = _to_scalar(group["lr"])
            beta1, beta2 = group["betas"]
            eps, weight_decay, momentum_decay = group["eps"], group["weight_decay"], group["momentum_decay"]
            maximize, decoupled = group["maximize"], group["decoupled_weight_decay"]
            for p in group["params"]:
                if p._grad is None:
                    continue
                raw_grad = self._dense_grad(p)
                state = self.state[p]
                if not state:
                    state["step"] = self._new_step()
                    state["mu_product"] = Tensor._make(np.ones((), dtype=np.float32))
                    state["exp_avg"] = self._zeros_like(p)
                    state["exp_avg_sq"] = self._zeros_like(p)
                step = self._advance(state["step"])
                bias_correction2 = F.bias_correction(beta2, step)
                mu = beta1 * (1.0 - 0.5 * (0.96 ** (step * momentum_decay)))
                mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((step + 1) * momentum_decay)))
                mu_product_t = state["mu_product"]._data
                mu_product_t *= np.float32(mu)  # float32 arithmetic, as PyTorch's scalar tensor
                mu_product = float(mu_product_t)
                grad_coef = -lr * (1.0 - mu) / (1.0 - mu_product)
                avg_coef = (-lr * mu_next) / (1.0 - mu_product * mu_next)
                for param, grad, exp_avg, exp_avg_sq, grad_buf, denom, tmp in self._blocks(
                        p, p._data, raw_grad, state["exp_avg"]._data, state["exp_avg_sq"]._data, scratch=3):
                    if decoupled:
                        grad = F.effective_grad(grad, param, maximize, 0, out=grad_buf)
                        F.decoupled_weight_decay_(param, lr, weight_decay)
                    else:
                        grad = F.effective_grad(grad, param, maximize, weight_decay, out=grad_buf)
                    F.lerp_(exp_avg, grad, 1 - beta1, tmp)
                    F.ema_square_(exp_avg_sq, grad, beta2, tmp)
                    np.divide(exp_avg_sq, bias_correction2, out=denom)
                    np.sqrt(denom, out=denom)
                    np.add(denom, eps, out=denom)
                    np.divide(grad, denom, out=tmp)
                    F.add_scaled_(param, tmp, grad_coef, tmp)
                    np.divide(exp_avg, denom, out=tmp)
                    F.add_scaled_(param, tmp, avg_coef, tmp)
                p._version.value += 1
        return loss
