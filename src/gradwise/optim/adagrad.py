"""`Adagrad`: per-coordinate learning rates from the sum of all past squared gradients."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from gradwise.optim import _functional as F
from gradwise.optim.optimizer import Optimizer, ParamsT, _to_scalar
from gradwise.tensor.tensor import Tensor


class Adagrad(Optimizer):
    r"""Adagrad (PyTorch's ``torch.optim.Adagrad``).

    Update rule, per parameter ``theta`` with gradient ``g`` at step ``t``
    (``s = initial_accumulator_value`` at the start)::

        g = -g                                   if maximize
        g = g + weight_decay * theta             if weight_decay != 0
        clr = lr / (1 + (t - 1) * lr_decay)
        s = s + g**2                             # sum of squared gradients, never forgotten
        theta = theta - clr * g / (sqrt(s) + eps)

    Coordinates with large past gradients take small steps and rarely-updated ones (rare
    features, embedding rows) take large ones; since ``s`` only grows, steps shrink over time.
    Sparse gradients (``nn.Embedding(sparse=True)``) are supported without weight decay: only
    the rows present in the gradient are touched.

    Args:
        params: parameters to optimize, or dicts defining parameter groups.
        lr: learning rate (default: 1e-2).
        lr_decay: learning rate decay per step (default: 0).
        weight_decay: L2 penalty added to the gradient (default: 0).
        initial_accumulator_value: starting value of the sum of squares (default: 0).
        eps: term added to the denominator (default: 1e-10).
        maximize: maximize the objective instead of minimizing it (default: False).
        foreach, differentiable, fused: accepted for PyTorch compatibility.

    Reference: Duchi, Hazan & Singer, "Adaptive Subgradient Methods for Online Learning and
    Stochastic Optimization", JMLR 12, 2011.
    """

    def __init__(self, params: ParamsT, lr: float = 1e-2, lr_decay: float = 0, weight_decay: float = 0,
                 initial_accumulator_value: float = 0, eps: float = 1e-10, foreach: bool | None = None, *,
                 maximize: bool = False, differentiable: bool = False, fused: bool | None = None) -> None:
        self._check_lr(lr)
        self._check_non_negative("lr_decay", lr_decay)
        self._check_non_negative("weight_decay", weight_decay)
        self._check_non_negative("initial_accumulator_value", initial_accumulator_value)
        self._check_eps(eps)
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, foreach=foreach, maximize=maximize,
                        differentiable=differentiable, fused=fused)
        super().__init__(params, defaults)
        # Like PyTorch, the state exists from construction (so share_memory() could see it).
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p)

    def _init_state(self, p: Tensor) -> dict[str, Any]:
        state = self.state[p]
        state["step"] = self._new_step()
        state["sum"] = Tensor._make(np.full_like(p._data, self.defaults["initial_accumulator_value"]))
        return state

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Perform one optimization step (``closure`` re-evaluates the model and returns the loss)."""
        loss = self._closure_loss(closure)
        for group in self.param_groups:
            lr = _to_scalar(group["lr"])
            lr_decay, eps = group["lr_decay"], group["eps"]
            weight_decay, maximize = group["weight_decay"], group["maximize"]
            for p in group["params"]:
                if p._grad is None:
                    continue
                state = self.state[p] or self._init_state(p)
                step = self._advance(state["step"])
                clr = lr / (1 + (step - 1) * lr_decay)
                state_sum = state["sum"]._data
                if p._grad.is_sparse:
                    self._sparse_update(p, state_sum, clr, eps, weight_decay, maximize)
                    continue
                for param, grad, sum_of_squares, grad_buf, tmp in self._blocks(
                        p, p._data, p._grad._data, state_sum, scratch=2):
                    grad = F.effective_grad(grad, param, maximize, weight_decay, out=grad_buf)
                    np.multiply(grad, grad, out=tmp)
                    np.add(sum_of_squares, tmp, out=sum_of_squares)
                    np.sqrt(sum_of_squares, out=tmp)
                    np.add(tmp, eps, out=tmp)
                    np.divide(grad, tmp, out=tmp)
                    F.add_scaled_(param, tmp, -clr, tmp)
                p._version.value += 1
        return loss

    @staticmethod
    def _sparse_update(p: Tensor, state_sum: np.ndarray, clr: float, eps: float, weight_decay: float,
                       maximize: bool) -> None:
        if weight_decay != 0:
            raise RuntimeError("weight_decay option is not compatible with sparse gradients")
        rows, values = F.sparse_rows(p._grad)
        if maximize:
            values = -values
        state_sum[rows] += values ** 2
        std = np.sqrt(state_sum[rows]) + eps
        p._data[rows] += -clr * (values / std)
        p._version.value += 1
