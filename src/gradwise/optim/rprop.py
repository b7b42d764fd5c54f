"""`Rprop`: resilient backpropagation, steps from gradient signs only."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from gradwise.optim.optimizer import Optimizer, ParamsT, _to_scalar
from gradwise.tensor.tensor import Tensor


class Rprop(Optimizer):
    r"""Rprop, resilient backpropagation (PyTorch's ``torch.optim.Rprop``).

    Update rule, per coordinate of a parameter ``theta`` with gradient ``g`` (``g_prev = 0``,
    ``step_size = lr`` at the start)::

        g = -g                                   if maximize
        if g * g_prev > 0:   step_size = min(step_size * eta_plus, step_size_max)
        if g * g_prev < 0:   step_size = max(step_size * eta_minus, step_size_min); g = 0
        theta = theta - sign(g) * step_size
        g_prev = g

    Only the sign of the gradient is used: each coordinate grows its own step while the sign
    holds and halves it (and skips one update) when the sign flips, i.e. when it jumped over a
    minimum. Meant for full-batch training; noisy minibatch signs defeat it.

    Args:
        params: parameters to optimize, or dicts defining parameter groups.
        lr: initial step size (default: 1e-2).
        etas: (eta_minus, eta_plus), the factors that shrink and grow the step sizes, with
            0 < eta_minus < 1 < eta_plus (default: (0.5, 1.2)).
        step_sizes: (step_size_min, step_size_max) (default: (1e-6, 50)).
        maximize: maximize the objective instead of minimizing it (default: False).
        capturable, foreach, differentiable: accepted for PyTorch compatibility.

    Reference: Riedmiller & Braun, "A Direct Adaptive Method for Faster Backpropagation
    Learning: The RPROP Algorithm", IEEE ICNN 1993.
    """

    def __init__(self, params: ParamsT, lr: float = 1e-2, etas: tuple[float, float] = (0.5, 1.2),
                 step_sizes: tuple[float, float] = (1e-6, 50), *, capturable: bool = False,
                 foreach: bool | None = None, maximize: bool = False, differentiable: bool = False) -> None:
        self._check_lr(lr)
        if not 0.0 < etas[0] < 1.0 < etas[1]:
            raise ValueError(f"Invalid eta values: {etas[0]}, {etas[1]} (need 0 < eta_minus < 1 < eta_plus)")
        defaults = dict(lr=lr, etas=tuple(etas), step_sizes=tuple(step_sizes), foreach=foreach, maximize=maximize,
                        differentiable=differentiable, capturable=capturable)
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Perform one optimization step (``closure`` re-evaluates the model and returns the loss)."""
        loss = self._closure_loss(closure)
        for group in self.param_groups:
            eta_minus, eta_plus = group["etas"]
            step_size_min, step_size_max = group["step_sizes"]
            maximize = group["maximize"]
            for p in group["params"]:
                if p._grad is None:
                    continue
                grad = self._dense_grad(p)
                state = self.state[p]
                if not state:
                    state["step"] = self._new_step()
                    state["prev"] = self._zeros_like(p)
                    state["step_size"] = Tensor._make(np.full_like(p._data, _to_scalar(group["lr"])))
                self._advance(state["step"])
                for param, grad, prev, step_size, factor, grew, shrank in self._blocks(
                        p, p._data, grad, state["prev"]._data, state["step_size"]._data, scratch=1, masks=2):
                    np.multiply(grad, prev, out=factor)
                    if maximize:
                        np.negative(factor, out=factor)  # (-g) * prev
                    np.greater(factor, 0, out=grew)
                    np.less(factor, 0, out=shrank)
                    factor.fill(1)
                    np.copyto(factor, eta_plus, where=grew)
                    np.copyto(factor, eta_minus, where=shrank)
                    np.multiply(step_size, factor, out=step_size)
                    np.clip(step_size, step_size_min, step_size_max, out=step_size)
                    # the gradient used (and remembered) is zeroed where its sign flipped
                    if maximize:
                        np.negative(grad, out=prev)
                    else:
                        np.copyto(prev, grad)
                    np.copyto(prev, 0, where=shrank)
                    np.sign(prev, out=factor)
                    np.multiply(factor, step_size, out=factor)
                    np.subtract(param, factor, out=param)
                p._version.value += 1
        return loss
