"""`SparseAdam`: Adam for sparse gradients, updating only the rows a batch touched."""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from gradwise.optim import _functional as F
from gradwise.optim.optimizer import Optimizer, ParamsT, _to_scalar


class SparseAdam(Optimizer):
    r"""Lazy Adam for sparse gradients (PyTorch's ``torch.optim.SparseAdam``).

    Made for ``nn.Embedding(sparse=True)``, whose gradient holds only the rows that were looked
    up. Only those rows of the parameter and of the moment estimates are updated; the others
    keep their values (their moments are not decayed) until their row appears in a gradient.

    Update rule, per parameter with sparse gradient ``g`` on rows ``R`` at step ``t``::

        g = -g                                              if maximize
        m[R] = m[R] + (1 - beta1) * (g - m[R])
        v[R] = v[R] + (1 - beta2) * (g**2 - v[R])
        step_size = lr * sqrt(1 - beta2**t) / (1 - beta1**t)
        theta[R] = theta[R] - step_size * m[R] / (sqrt(v[R]) + eps)

    Args:
        params: parameters to optimize (dense tensors with sparse gradients).
        lr: learning rate, > 0 (default: 1e-3).
        betas: coefficients of the running averages (default: (0.9, 0.999)).
        eps: term added to the denominator, > 0 (default: 1e-8).
        maximize: maximize the objective instead of minimizing it (default: False).

    Reference: Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015 (with the
    lazy, row-wise update of sparse gradients).
    """

    def __init__(self, params: ParamsT, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, maximize: bool = False) -> None:
        self._check_lr(lr, strict=True)
        self._check_eps(eps, strict=True)
        self._check_betas(betas)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, maximize=maximize))
        complex_params = [[i, j] for i, group in enumerate(self.param_groups)
                          for j, p in enumerate(group["params"]) if p._data.dtype.kind == "c"]
        if complex_params:
            raise ValueError(f"Complex params at indices {complex_params}: SparseAdam does not support complex "
                             "parameters")

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Perform one optimization step (``closure`` re-evaluates the model and returns the loss)."""
        loss = self._closure_loss(closure)
        for group in self.param_groups:
            lr = _to_scalar(group["lr"])
            beta1, beta2 = group["betas"]
            eps, maximize = group["eps"], group.get("maximize", False)
            for p in group["params"]:
                if p._grad is None:
                    continue
                if not p._grad.is_sparse:
                    raise RuntimeError("SparseAdam does not support dense gradients, please consider Adam instead")
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = self._zeros_like(p)
                    state["exp_avg_sq"] = self._zeros_like(p)
                state["step"] += 1
                step = state["step"]

                rows, values = F.sparse_rows(p._grad)
                if values.size == 0:
                    continue
                if maximize:
                    values = -values
                exp_avg, exp_avg_sq = state["exp_avg"]._data, state["exp_avg_sq"]._data
                old_avg = exp_avg[rows]
                avg_update = (values - old_avg) * (1 - beta1)
                exp_avg[rows] = old_avg + avg_update
                old_sq = exp_avg_sq[rows]
                sq_update = (values ** 2 - old_sq) * (1 - beta2)
                exp_avg_sq[rows] = old_sq + sq_update

                numer = avg_update + old_avg
                denom = np.sqrt(sq_update + old_sq) + eps
                step_size = lr * math.sqrt(F.bias_correction(beta2, step)) / F.bias_correction(beta1, step)
                p._data[rows] += -step_size * (numer / denom)
                p._version.value += 1
        return loss
