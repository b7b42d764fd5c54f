"""`AdamW`: Adam with decoupled weight decay."""
from __future__ import annotations

from gradwise.optim.adam import Adam
from gradwise.optim.optimizer import ParamsT


class AdamW(Adam):
    r"""AdamW: Adam whose weight decay acts on the weights, not through the gradient
    (PyTorch's ``torch.optim.AdamW``).

    Update rule, per parameter ``theta`` with gradient ``g`` at step ``t``::

        g = -g                                   if maximize
        theta = theta * (1 - lr * weight_decay)  # decoupled decay: not in m or v
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        m_hat = m / (1 - beta1**t)
        v_max = max(v_max, v)                    if amsgrad
        v_hat = (v_max if amsgrad else v) / (1 - beta2**t)
        theta = theta - lr * m_hat / (sqrt(v_hat) + eps)

    With Adam's coupled L2 penalty the decay is divided by ``sqrt(v_hat)`` like the gradient, so
    weights with large gradients are barely regularized; decoupling makes every weight shrink
    by the same factor. It is ``Adam(..., decoupled_weight_decay=True)``.

    Args:
        params: parameters to optimize, or dicts defining parameter groups.
        lr: learning rate (default: 1e-3).
        betas: coefficients of the running averages (default: (0.9, 0.999)).
        eps: term added to the denominator (default: 1e-8).
        weight_decay: decoupled weight decay coefficient (default: 1e-2).
        amsgrad: use the AMSGrad variant (default: False).
        maximize: maximize the objective instead of minimizing it (default: False).
        foreach, capturable, differentiable, fused: accepted for PyTorch compatibility.

    Reference: Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019.
    """

    def __init__(self, params: ParamsT, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False,
                 foreach: bool | None = None, capturable: bool = False, differentiable: bool = False,
                 fused: bool | None = None) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach, maximize=maximize,
                         capturable=capturable, differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True)

    def _after_load(self) -> None:
        for group in self.param_groups:
            group["decoupled_weight_decay"] = True
