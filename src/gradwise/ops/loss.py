"""Fused loss ops: negative log-likelihood and the two binary cross-entropies.

Cross-entropy is `log_softmax` followed by `NLLLoss`. NLL only reads one log-probability per
sample, so its gradient is a constant array that holds -w[t]/denominator at each target and
zero elsewhere (times the incoming gradient); keeping it as one op avoids building a one-hot
matrix in the graph. The binary cross-entropies are elementwise (unreduced); weights and the
reduction are ordinary tensor ops on their result. All backward rules are Tensor expressions,
so second derivatives (e.g. gradient penalties) flow through them.
"""
from __future__ import annotations

import numpy as np

from gradwise.tensor.function import Function


class NLLLoss(Function):
    """loss_i = -w[t_i] * logp[i, t_i], zero where t_i == ignore_index.

    `logp` is (N, C, d1, ...), `target` (N, d1, ...) integer class ids (already validated).
    reduction "mean" divides by the sum of the weights of the counted targets (PyTorch's
    definition, so class weights change the average and not only the terms).
    """

    def forward(self, logp, target, weight=None, ignore_index=-100, reduction="mean"):
        valid = target != ignore_index
        safe = np.where(valid, target, 0)[:, None]  # (N, 1, d...): a class id for every sample
        w = np.ones(target.shape, logp.dtype) if weight is None else weight.astype(logp.dtype)[safe[:, 0]]
        w = np.where(valid, w, 0).astype(logp.dtype)
        losses = -w * np.take_along_axis(logp, safe, axis=1)[:, 0]
        if reduction == "none":
            out, denominator = losses, 1
        elif reduction == "sum":
            out, denominator = np.asarray(losses.sum()), 1
        else:
            denominator = w.sum()
            with np.errstate(divide="ignore", invalid="ignore"):  # all ignored: nan, as PyTorch
                out = np.asarray(losses.sum() / denominator)
        coefficient = np.zeros(target.shape, logp.dtype)
        np.divide(-w, denominator, out=coefficient, where=valid)
        self.shape, self.safe, self.coefficient, self.reduction = logp.shape, safe, coefficient, reduction
        return out.astype(logp.dtype, copy=False)

    def backward(self, g):
        dlogp = np.zeros(self.shape, self.coefficient.dtype)
        np.put_along_axis(dlogp, self.safe, self.coefficient[:, None], axis=1)
        return (g.unsqueeze(1) if self.reduction == "none" else g) * dlogp


def _softplus(z):
    """log(1 + e^z) without overflow, as a Tensor expression: max(z, 0) + log1p(e^-|z|)."""
    return z.relu() + (-z.abs()).exp().log1p()


class BinaryCrossEntropy(Function):
    """-(t log x + (1 - t) log(1 - x)) elementwise, each log clamped at -100 as PyTorch."""

    saved_inputs = (0, 1)

    def forward(self, x, t):
        if x.size and (np.min(x) < 0 or np.max(x) > 1):
            raise RuntimeError(f"binary_cross_entropy: all elements of input should be between 0 and 1 "
                               f"(got values in [{np.min(x):.4g}, {np.max(x):.4g}]); apply sigmoid first, "
                               "or use binary_cross_entropy_with_logits on the raw scores")
        with np.errstate(divide="ignore"):
            log_x, log_1mx = np.maximum(np.log(x), -100), np.maximum(np.log1p(-x), -100)
        return -(t * log_x + (1 - t) * log_1mx)

    def backward(self, g):
        x, t = self.saved_tensors
        # d/dx = (x - t) / (x (1 - x)); the 1e-12 floor is PyTorch's guard at x in {0, 1}.
        grad_x = g * (x - t) / (x * (1 - x)).clamp(min=1e-12) if self.needs_input_grad[0] else None
        grad_t = None
        if self.needs_input_grad[1]:
            with np.errstate(divide="ignore"):
                grad_t = g * ((1 - x).log().clamp(min=-100) - x.log().clamp(min=-100))
        return grad_x, grad_t


class BinaryCrossEntropyWithLogits(Function):
    """-(p t log s(x) + (1 - t) log(1 - s(x))), s = sigmoid, p = pos_weight (1 if absent).

    Computed as (1 - t) x + (1 + (p - 1) t) softplus(-x), which never takes log of 0.
    """

    saved_inputs = (0, 1, 2)

    def forward(self, x, t, pos_weight=None):
        softplus_neg = np.maximum(-x, 0) + np.log1p(np.exp(-np.abs(x)))
        scale = 1 if pos_weight is None else 1 + (pos_weight - 1) * t
        return ((1 - t) * x + scale * softplus_neg).astype(x.dtype, copy=False)

    def backward(self, g):
        x, t, p = self.saved_tensors
        need_x, need_t, need_p = self.needs_input_grad
        grad_x = grad_t = grad_p = None
        if p is None:
            grad_x = g * (x.sigmoid() - t) if need_x else None
            grad_t = g * -x if need_t else None
        else:
            grad_x = g * ((p * t + 1 - t) * x.sigmoid() - p * t) if need_x else None
            grad_t = g * (p * _softplus(-x) - _softplus(x)) if need_t else None
            grad_p = g * t * _softplus(-x) if need_p else None
        return grad_x, grad_t, grad_p
