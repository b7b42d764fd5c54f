"""`RMSprop`: divide the gradient by a running root mean square of recent gradients."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from gradwise.optim import _functional as F
from gradwise.optim.optimizer import Optimizer, ParamsT, _to_scalar


class RMSprop(Optimizer):
    r"""RMSprop (PyTorch's ``torch.optim.RMSprop``).

    Update rule, per parameter ``theta`` with gradient ``g`` (``v = b = g_avg = 0`` at the
    start)::

        g = -g                                   if maximize
        g = g + weight_decay * theta             if weight_decay != 0
        v = alpha * v + (1 - alpha) * g**2       # running mean of squared gradients
        if centered:
            g_avg = alpha * g_avg + (1 - alpha) * g
            denom = sqrt(v - g_avg**2) + eps     # running variance instead of second moment
        else:
            denom = sqrt(v) + eps
        if momentum > 0:
            b = momentum * b + g / denom
            theta = theta - lr * b
        else:
            theta = theta - lr * g / denom

    Unlike Adagrad's ever-growing sum, the running mean forgets old gradients, so steps do not
    shrink to zero on long runs.

    Args:
        params: parameters to optimize, or dicts defining parameter groups.
        lr: learning rate (default: 1e-2).
        alpha: smoothing constant of the running averages (default: 0.99).
        eps: term added to the denominator (default: 1e-8).
        weight_decay: L2 penalty added to the gradient (default: 0).
        momentum: momentum factor (default: 0).
        centered: normalize by an estimate of the gradient's variance (default: False).
        maximize: maximize the objective instead of minimizing it (default: False).
        capturable, foreach, differentiable: accepted for PyTorch compatibility.

    Reference: Hinton, Srivastava & Swersky, "Neural Networks for Machine Learning", lecture
    6e (Coursera, 2012); centered version: Graves, "Generating Sequences With Recurrent Neural
    Networks", arXiv:1308.0850, 2013.
    """

    def __init__(self, params: ParamsT, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0, momentum: float = 0, centered: bool = False, capturable: bool = False,
                 foreach: bool | None = None, maximize: bool = False, differentiable: bool = False) -> None:
        self._check_lr(lr)
        self._check_eps(eps)
        self._check_fraction("momentum", momentum)
        self._check_non_negative("weight_decay", weight_decay)
        self._check_fraction("alpha", alpha, closed=True)   # a smoothing constant: above 1 the average goes negative
        defaults = dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered, weight_decay=weight_decay,
                        capturable=capturable, foreach=foreach, maximize=maximize, differentiable=differentiable)
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Perform one optimization step (``closure`` re-evaluates the model and returns the loss)."""
        loss = self._closure_loss(closure)
        for group in self.param_groups:
            lr = _to_scalar(group["lr"])
            alpha, eps, momentum, centered = group["alpha"], group["eps"], group["momentum"], group["centered"]
            weight_decay, maximize = group["weight_decay"], group["maximize"]
            for p in group["params"]:
                if p._grad is None:
                    continue
                raw_grad = self._dense_grad(p)
                state = self.state[p]
                if not state:
                    state["step"] = self._new_step()
                    state["square_avg"] = self._zeros_like(p)
                    if momentum > 0:
                        state["momentum_buffer"] = self._zeros_like(p)
                    if centered:
                        state["grad_avg"] = self._zeros_like(p)
                self._advance(state["step"])
                square_avg = state["square_avg"]._data
                # unused buffers stand in for the missing ones (never written then)
                grad_avg = state["grad_avg"]._data if centered else square_avg
                momentum_buffer = state["momentum_buffer"]._data if momentum > 0 else square_avg
                for param, grad, square_avg_b, grad_avg_b, buf, grad_buf, avg, tmp in self._blocks(
                        p, p._data, raw_grad, square_avg, grad_avg, momentum_buffer, scratch=3):
                    grad = F.effective_grad(grad, param, maximize, weight_decay, out=grad_buf)
                    F.ema_square_(square_avg_b, grad, alpha, tmp)
                    if centered:
                        F.lerp_(grad_avg_b, grad, 1 - alpha, tmp)
                        np.multiply(grad_avg_b, grad_avg_b, out=avg)
                        np.subtract(square_avg_b, avg, out=avg)
                        np.sqrt(avg, out=avg)
                    else:
                        np.sqrt(square_avg_b, out=avg)
                    np.add(avg, eps, out=avg)
                    np.divide(grad, avg, out=tmp)
                    if momentum > 0:
                        np.multiply(buf, momentum, out=buf)
                        np.add(buf, tmp, out=buf)
                        F.add_scaled_(param, buf, -lr, tmp)
                    else:
                        F.add_scaled_(param, tmp, -lr, tmp)
                p._version.value += 1
        return loss
