"""`Adam`: adaptive moment estimation (with AMSGrad and optional decoupled weight decay)."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from gradwise.optim import _functional as F
from gradwise.optim.optimizer import Optimizer, ParamsT, _to_scalar
from gradwise.tensor.tensor import Tensor


class Adam(Optimizer):
    r"""Adam (PyTorch's ``torch.optim.Adam``).

    Update rule, per parameter ``theta`` with gradient ``g`` at step ``t`` (``m = v = v_max = 0``
    at the start)::

        g = -g                                   if maximize
        theta = theta * (1 - lr * weight_decay)  if weight_decay and decoupled_weight_decay
        g = g + weight_decay * theta             if weight_decay and not decoupled
        m = beta1 * m + (1 - beta1) * g          # running mean of gradients (momentum)
        v = beta2 * v + (1 - beta2) * g**2       # running mean of squared gradients
        m_hat = m / (1 - beta1**t)               # bias corrections: m, v start at zero
        v_max = max(v_max, v)                    if amsgrad
        v_hat = (v_max if amsgrad else v) / (1 - beta2**t)
        theta = theta - lr * m_hat / (sqrt(v_hat) + eps)

    Each coordinate's step is scaled by the inverse root of its own gradient magnitude, so Adam
    is invariant to a diagonal rescaling of the gradients and moves at a similar pace along
    steep and flat directions (the long narrow valley of an ill-conditioned loss). The lecture
    recommends it as a good default.

    Args:
        params: parameters to optimize, or dicts defining parameter groups.
        lr: learning rate (default: 1e-3).
        betas: coefficients of the running averages of the gradient and its square
            (default: (0.9, 0.999)).
        eps: term added to the denominator for numerical stability (default: 1e-8).
        weight_decay: weight decay; an L2 penalty added to the gradient unless
            ``decoupled_weight_decay`` (default: 0).
        amsgrad: use the AMSGrad variant, which normalizes by the largest ``v`` seen so far
            (default: False).
        maximize: maximize the objective instead of minimizing it (default: False).
        decoupled_weight_decay: decay the weights directly (this is then AdamW) (default: False).
        foreach, capturable, differentiable, fused: accepted for PyTorch compatibility.

    References: Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015;
    Reddi, Kale & Kumar, "On the Convergence of Adam and Beyond", ICLR 2018 (AMSGrad).
    """

    def __init__(self, params: ParamsT, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, amsgrad: bool = False, *, foreach: bool | None = None,
                 maximize: bool = False, capturable: bool = False, differentiable: bool = False,
                 fused: bool | None = None, decoupled_weight_decay: bool = False) -> None:
        self._check_lr(lr)
        self._check_eps(eps)
        self._check_betas(betas)
        self._check_non_negative("weight_decay", weight_decay)
        betas = tuple(float(_to_scalar(b)) for b in betas)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad, maximize=maximize,
                        foreach=foreach, capturable=capturable, differentiable=differentiable, fused=fused,
                        decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    def _init_state(self, p: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        state = self.state[p]
        state["step"] = self._new_step()
        state["exp_avg"] = self._zeros_like(p)
        state["exp_avg_sq"] = self._zeros_like(p)
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = self._zeros_like(p)
        return state

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Perform one optimization step (``closure`` re-evaluates the model and returns the loss)."""
        loss = self._closure_loss(closure)
        for group in self.param_groups:
            lr = _to_scalar(group["lr"])
            beta1, beta2 = (_to_scalar(b) for b in group["betas"])
            eps, weight_decay, amsgrad = group["eps"], group["weight_decay"], group["amsgrad"]
            maximize, decoupled = group["maximize"], group["decoupled_weight_decay"]
            for p in group["params"]:
                if p._grad is None:
                    continue
                raw_grad = self._dense_grad(p)
                state = self.state[p] or self._init_state(p, group)
                step = self._advance(state["step"])
                step_size = lr / F.bias_correction(beta1, step)
                bias_correction2_sqrt = F.bias_correction(beta2, step) ** 0.5
                exp_avg_sq = state["exp_avg_sq"]._data
                # the second moment that normalizes the step: the running max with AMSGrad
                second_moment = state["max_exp_avg_sq"]._data if amsgrad else exp_avg_sq
                for param, grad, exp_avg, exp_avg_sq_b, second, grad_buf, tmp in self._blocks(
                        p, p._data, raw_grad, state["exp_avg"]._data, exp_avg_sq, second_moment, scratch=2):
                    if decoupled:
                        grad = F.effective_grad(grad, param, maximize, 0, out=grad_buf)
                        F.decoupled_weight_decay_(param, lr, weight_decay)
                    else:
                        grad = F.effective_grad(grad, param, maximize, weight_decay, out=grad_buf)
                    F.lerp_(exp_avg, grad, 1 - beta1, tmp)
                    F.ema_square_(exp_avg_sq_b, grad, beta2, tmp)
                    if amsgrad:
                        np.maximum(second, exp_avg_sq_b, out=second)
                    # theta -= step_size * m / (sqrt(v) / bc2_sqrt + eps), with bc2_sqrt multiplied
                    # through so that the update costs five passes over the block
                    np.sqrt(second, out=tmp)
                    np.add(tmp, eps * bias_correction2_sqrt, out=tmp)
                    np.divide(exp_avg, tmp, out=tmp)
                    np.multiply(tmp, -step_size * bias_correction2_sqrt, out=tmp)
                    np.add(param, tmp, out=param)
                p._version.value += 1
        return loss
