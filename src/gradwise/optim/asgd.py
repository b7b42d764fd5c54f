"""`ASGD`: averaged stochastic gradient descent."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from gradwise.optim import _functional as F
from gradwise.optim.optimizer import Optimizer, ParamsT, _to_scalar
from gradwise.tensor.tensor import Tensor


def _float32(value: float) -> float:
    """PyTorch keeps ASGD's eta and mu in float32 tensors; round the same way."""
    return float(np.float32(value))


class ASGD(Optimizer):
    r"""Averaged SGD (PyTorch's ``torch.optim.ASGD``).

    Update rule, per parameter ``theta`` with gradient ``g`` at step ``t`` (``eta = lr``,
    ``mu = 1``, ``ax = 0`` at the start)::

        g = -g                                   if maximize
        g = g + weight_decay * theta             if weight_decay != 0
        theta = theta * (1 - lambd * eta)        # decay term
        theta = theta - eta * g
        ax = ax + mu * (theta - ax)              # running average of the iterates
                                                 # (ax = theta while mu == 1)
        eta = lr / (1 + lambd * lr * t)**alpha   # decaying step size
        mu = 1 / max(1, t - t0)                  # averaging starts after t0 steps

    The parameters follow plain SGD with a decaying step; ``state[p]["ax"]`` holds the
    Polyak-Ruppert average of the iterates from step ``t0`` on, a lower-variance estimate of
    the minimum than the last iterate (copy it into the model to evaluate the average).
    ``eta`` and ``mu`` are float32 scalars, as in PyTorch.

    Args:
        params: parameters to optimize, or dicts defining parameter groups.
        lr: learning rate (default: 1e-2).
        lambd: decay term (default: 1e-4).
        alpha: power of the eta update (default: 0.75).
        t0: step at which averaging starts (default: 1e6).
        weight_decay: L2 penalty added to the gradient (default: 0).
        maximize: maximize the objective instead of minimizing it (default: False).
        foreach, differentiable, capturable: accepted for PyTorch compatibility.

    Reference: Polyak & Juditsky, "Acceleration of Stochastic Approximation by Averaging",
    SIAM J. Control and Optimization 30(4), 1992.
    """

    def __init__(self, params: ParamsT, lr: float = 1e-2, lambd: float = 1e-4, alpha: float = 0.75,
                 t0: float = 1e6, weight_decay: float = 0, foreach: bool | None = None, maximize: bool = False,
                 differentiable: bool = False, capturable: bool = False) -> None:
        self._check_lr(lr)
        self._check_non_negative("weight_decay", weight_decay)
        defaults = dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay, foreach=foreach,
                        maximize=maximize, differentiable=differentiable, capturable=capturable)
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Perform one optimization step (``closure`` re-evaluates the model and returns the loss)."""
        loss = self._closure_loss(closure)
        for group in self.param_groups:
            lr = _to_scalar(group["lr"])
            lambd, alpha, t0 = group["lambd"], group["alpha"], group["t0"]
            weight_decay, maximize = group["weight_decay"], group["maximize"]
            for p in group["params"]:
                if p._grad is None:
                    continue
                raw_grad = self._dense_grad(p)
                state = self.state[p]
                if not state:
                    state["step"] = self._new_step()
                    state["eta"] = Tensor._make(np.array(lr, dtype=np.float32))
                    state["mu"] = Tensor._make(np.ones((), dtype=np.float32))
                    state["ax"] = self._zeros_like(p)
                step = self._advance(state["step"])
                eta = float(state["eta"]._data)
                mu = float(state["mu"]._data)
                for param, grad, ax, grad_buf, tmp in self._blocks(p, p._data, raw_grad, state["ax"]._data,
                                                                    scratch=2):
                    grad = F.effective_grad(grad, param, maximize, weight_decay, out=grad_buf)
                    np.multiply(param, 1 - lambd * eta, out=param)  # decay term
                    F.add_scaled_(param, grad, -eta, tmp)
                    if mu != 1:  # averaging
                        np.subtract(param, ax, out=tmp)
                        np.multiply(tmp, mu, out=tmp)
                        np.add(ax, tmp, out=ax)
                    else:
                        np.copyto(ax, param)
                p._version.value += 1
                state["eta"]._data[...] = _float32(lr / ((1 + lambd * lr * step) ** alpha))
                state["mu"]._data[...] = _float32(1 / max(1, step - t0))
        return loss
