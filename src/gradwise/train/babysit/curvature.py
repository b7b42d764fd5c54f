"""``curvature``: the sharpness of the training loss, and the learning rate gradient descent can take on it.

The lecture's condition-number slide: where the Hessian's largest eigenvalue ``lambda_max`` is large,
gradient descent must take small steps.  On the quadratic model of the loss around the current
weights, plain gradient descent with learning rate ``lr`` multiplies the error along the top
eigenvector by ``1 - lr * lambda_max`` at every step: above ``lr = 2 / lambda_max`` that factor is
below -1 and the step *must* diverge along that direction (heavy-ball momentum ``beta`` moves the
limit to ``2 (1 + beta) / lambda_max``; Nesterov's to ``2 (1 + beta) / ((1 + 2 beta) lambda_max)``).

``lambda_max`` is estimated by power iteration on Hessian-vector products, ``H v = d(g . v)/dw`` with
``g = dL/dw`` kept differentiable (Pearlmutter's trick; ``gradwise.autograd.grad(..., create_graph=True)``
for gradwise models, ``torch.autograd.grad`` for PyTorch models - the only framework-specific code,
behind :func:`hvp_for`).  The loss is the training loss on a fixed probe of training samples, dropout
off (a fixed function) and batch normalization on batch statistics (what the optimizer descends).
The Rayleigh quotient of power iteration never exceeds ``lambda_max``, so the learning-rate rule
errs on the side of silence.
"""
from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from gradwise.train.babysit.check import Check, make
from gradwise.train.babysit.thresholds import Thresholds

__all__ = ["HVP", "hvp_for", "first_gradients", "top_eigenvalue", "Sharpness", "measure_sharpness", "stability_limit",
           "check_curvature", "dropout_off", "twice_differentiable"]

NAME = "curvature"


# ============================================================================= Hessian-vector products
class HVP:
    """Hessian-vector products of a scalar loss with respect to ``params``, on flat float64 NumPy vectors.

    Subclasses hold one framework's first gradient (differentiable) and give :meth:`__call__`.
    """

    def __init__(self, params: Sequence[Any]) -> None:
        self.params = list(params)
        self.shapes = [tuple(p.shape) for p in self.params]
        self.sizes = [int(np.prod(s)) if s else 1 for s in self.shapes]
        self.size = int(sum(self.sizes))
        self.calls = 0

    def split(self, v: np.ndarray) -> list[np.ndarray]:
        out, start = [], 0
        for shape, n in zip(self.shapes, self.sizes):
            out.append(v[start:start + n].reshape(shape))
            start += n
        return out

    def __call__(self, v: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class _GradwiseHVP(HVP):
    def __init__(self, loss: Any, params: Sequence[Any]) -> None:
        from gradwise import autograd

        super().__init__(params)
        self._grad = autograd.grad
        grads = autograd.grad(loss, self.params, create_graph=True, allow_unused=True)
        self.grads = list(grads)

    def __call__(self, v: np.ndarray) -> np.ndarray:
        from gradwise.engines.native import as_tensor, to_numpy

        self.calls += 1
        total = None
        for g, p, piece in zip(self.grads, self.params, self.split(v)):
            if g is None or not g.requires_grad:
                continue
            term = (g * as_tensor(piece.astype(to_numpy(p).dtype, copy=False))).sum()
            total = term if total is None else total + term
        if total is None:
            return np.zeros(self.size)
        hv = self._grad(total, self.params, retain_graph=True, allow_unused=True)
        return np.concatenate([np.zeros(n) if h is None else np.asarray(to_numpy(h), dtype=np.float64).ravel()
                               for h, n in zip(hv, self.sizes)])


class _TorchHVP(HVP):
    def __init__(self, loss: Any, params: Sequence[Any]) -> None:
        import torch

        super().__init__(params)
        self._torch = torch
        self.grads = list(torch.autograd.grad(loss, self.params, create_graph=True, allow_unused=True))

    def __call__(self, v: np.ndarray) -> np.ndarray:
        torch = self._torch
        self.calls += 1
        total = None
        for g, p, piece in zip(self.grads, self.params, self.split(v)):
            if g is None or not g.requires_grad:
                continue
            term = (g * torch.as_tensor(piece, dtype=p.dtype, device=p.device)).sum()
            total = term if total is None else total + term
        if total is None:
            return np.zeros(self.size)
        hv = torch.autograd.grad(total, self.params, retain_graph=True, allow_unused=True)
        return np.concatenate([np.zeros(n) if h is None else h.detach().to(torch.float64).cpu().numpy().ravel()
                               for h, n in zip(hv, self.sizes)])


#: Engine name -> the class that makes Hessian-vector products on that framework's tensors.
_HVP_BY_ENGINE: dict[str, Callable[[Any, Sequence[Any]], HVP]] = {"gradwise": _GradwiseHVP, "torch": _TorchHVP}


def hvp_for(engine: Any, loss: Any, params: Sequence[Any]) -> HVP:
    """Hessian-vector products of ``loss`` (built with gradients on) with respect to ``params``, for the
    framework of ``engine`` (``"gradwise"`` or ``"torch"``)."""
    try:
        make_hvp = _HVP_BY_ENGINE[engine.name]
    except KeyError:
        raise ValueError(f"no Hessian-vector products for the {engine.name!r} engine") from None
    return make_hvp(loss, params)


def first_gradients(engine: Any, loss: Any, params: Sequence[Any]) -> list[Any]:
    """``dloss/dparams`` without touching any ``.grad`` (the framework's ``autograd.grad``; None where a
    parameter does not reach the loss)."""
    if engine.name == "torch":
        import torch

        return list(torch.autograd.grad(loss, list(params), allow_unused=True))
    if engine.name == "gradwise":
        from gradwise import autograd

        return list(autograd.grad(loss, list(params), allow_unused=True))
    raise ValueError(f"no gradients for the {engine.name!r} engine")


def twice_differentiable(model: Any, engine: Any) -> str | None:
    """None when every layer of ``model`` has a second derivative on its framework, else the reason why not
    (gradwise's fused BatchNorm is differentiable only once)."""
    if engine.name != "gradwise":
        return None
    for name, module in model.named_modules():
        if "BatchNorm" in type(module).__name__:
            return (f"gradwise's {type(module).__name__} ({name!r}) is differentiable only once, and the Hessian "
                    "needs second derivatives")
    return None


# ============================================================================= power iteration
def top_eigenvalue(hvp: Callable[[np.ndarray], np.ndarray], size: int, start: np.ndarray | None = None,
                   max_iter: int = 20, rtol: float = 0.02, seed: int = 0, deadline: float | None = None
                   ) -> tuple[float, np.ndarray, int]:
    """``(lambda, v, iterations)``: the Hessian eigenvalue of largest magnitude by power iteration.

    Starts from ``start`` (the previous estimate's vector: warm starts converge in a few products)
    or a seeded random vector (a private NumPy generator: no global stream is touched); stops when
    the Rayleigh quotient changes by less than ``rtol`` between iterations, after ``max_iter``, or once
    ``time.perf_counter()`` passes ``deadline`` (after two products at least).
    """
    rng = np.random.default_rng(seed)
    v = np.asarray(start, dtype=np.float64) if start is not None and start.size == size else rng.normal(size=size)
    norm = float(np.linalg.norm(v))
    if not norm > 0 or not math.isfinite(norm):
        v, norm = rng.normal(size=size), 0.0
        norm = float(np.linalg.norm(v))
    v = v / norm
    lam_prev, lam, done = None, 0.0, 0
    for done in range(1, max_iter + 1):
        hv = hvp(v)
        lam = float(v @ hv)
        hv_norm = float(np.linalg.norm(hv))
        if not (hv_norm > 0 and math.isfinite(hv_norm)):
            break
        v = hv / hv_norm
        if lam_prev is not None and abs(lam - lam_prev) <= rtol * abs(lam):
            break
        if deadline is not None and done >= 2 and time.perf_counter() > deadline:
            break
        lam_prev = lam
    return lam, v, done


@contextlib.contextmanager
def dropout_off(model: Any) -> Iterator[None]:
    """Dropout layers in eval mode (a fixed function to differentiate), every other mode as it was."""
    changed = [m for m in model.modules() if "Dropout" in type(m).__name__ and m.training]
    for m in changed:
        m.training = False
    try:
        yield
    finally:
        for m in changed:
            m.training = True


@dataclass
class Sharpness:
    """One estimate of ``lambda_max`` and what it took."""

    value: float
    iterations: int
    seconds: float
    samples: int
    vector: np.ndarray


def measure_sharpness(model: Any, loss_fn: Callable, inputs: Sequence[Any], target: Any, engine: Any,
                      params: Sequence[Any], start: np.ndarray | None = None, max_iter: int = 20,
                      rtol: float = 0.02, deadline: float | None = None) -> Sharpness:
    """``lambda_max`` of ``loss_fn(model(*inputs), target)`` at the current weights (training mode, dropout off).

    The caller restores the model's buffers and modes afterwards (batch normalization's running statistics
    move in a training-mode forward pass): ``with trainer.preserve_state(optimizer=False):``.
    """
    t0 = time.perf_counter()
    model.train()
    with dropout_off(model), np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        loss = loss_fn(model(*inputs), target)
        hvp = hvp_for(engine, loss, params)
        value, vector, iterations = top_eigenvalue(hvp, hvp.size, start, max_iter, rtol, deadline=deadline)
    samples = int(target.shape[0]) if hasattr(target, "shape") and len(target.shape) else 0
    return Sharpness(value, iterations, time.perf_counter() - t0, samples, vector)


# ============================================================================= the learning-rate rule
def stability_limit(group: Mapping[str, Any], sharpness: float) -> tuple[float, str] | None:
    """``(lr_max, formula)``: the largest learning rate at which gradient descent (with the group's momentum)
    is stable along the top eigenvector; None for solvers the rule does not describe or no positive curvature."""
    if not (sharpness > 0 and math.isfinite(sharpness)):
        return None
    beta = float(group.get("momentum", 0.0) or 0.0)
    dampening = float(group.get("dampening", 0.0) or 0.0)
    scale = 1.0 - dampening if beta else 1.0
    if beta and group.get("nesterov"):
        limit = 2.0 * (1 + beta) / ((1 + 2 * beta) * sharpness)
        formula = f"2(1+m)/((1+2m) lambda_max) with Nesterov momentum m={beta:g}"
    elif beta:
        limit = 2.0 * (1 + beta) / sharpness
        formula = f"2(1+m)/lambda_max with momentum m={beta:g}"
    else:
        limit, formula = 2.0 / sharpness, "2/lambda_max"
    return limit / scale, formula


def check_curvature(series: Sequence[Mapping[str, Any]], th: Thresholds, solver: str,
                    group: Mapping[str, Any] | None, early_loss_fell: bool | None = None) -> Check:
    """Judge the sharpness measurements so far (``{"step", "sharpness", "lr"}`` each, the first at step 0).

    For plain SGD (with or without momentum) the learning rate is compared with the stability limit of
    :func:`stability_limit`.  Warn when, at initialization, it exceeds the limit and the loss then did not
    fall (``early_loss_fell`` False: the ``loss_decreasing`` verdict) - beyond ``curvature_margin`` the
    first steps overshoot along the sharpest direction, and when the loss does not fall they did not
    recover (a step above the limit often does: the sharpness drops - the catapult - and training goes
    on); when it exceeds the limit ``curvature_margin_alone`` times at initialization, whatever the loss
    does; or when it stays above ``curvature_margin_later`` times the limit at two measurements in a row
    later on (gradient descent hovers at the edge, ``lr ~ 2 / lambda_max``, while it trains well).
    Other solvers rescale each direction, so the rule is not theirs: the sharpness is reported only.
    """
    if not series:
        return make(NAME, "pass", "not measured: no sharpness estimate", test="sharpness")
    last = series[-1]
    values = [m["sharpness"] for m in series]
    evidence: dict[str, Any] = dict(sharpness=values, steps=[m["step"] for m in series], solver=solver,
                                    lr=last["lr"], early_loss_fell=early_loss_fell,
                                    margins={"initial": th.curvature_margin, "alone": th.curvature_margin_alone,
                                             "later": th.curvature_margin_later})
    trend = (f"lambda_max {values[0]:.3g} at step {series[0]['step']}" + (
        f" -> {values[-1]:.3g} at step {last['step']}" if len(series) > 1 else ""))
    if solver != "SGD" or group is None:
        return make(NAME, "pass", f"sharpness {trend} (the 2/lambda_max rule is for SGD; {solver} rescales each "
                                  "direction)", **evidence)
    ratios = []
    for m in series:
        limit = stability_limit(group, m["sharpness"])
        ratios.append(None if limit is None or not m["lr"] > 0 else (m["lr"] / limit[0], limit))
    evidence["ratios"] = [None if r is None else r[0] for r in ratios]
    finding = None
    first = ratios[0] if series[0]["step"] == 0 else None
    if first is not None and (first[0] > th.curvature_margin_alone or
                              (first[0] > th.curvature_margin and early_loss_fell is False)):
        why = "and the loss did not fall in the first steps" if first[0] <= th.curvature_margin_alone else \
            f"more than {th.curvature_margin_alone:g}x"
        finding = (0, first, f"at initialization ({why})")
    later = [(i, r) for i, r in enumerate(ratios) if r is not None and series[i]["step"] > 0]
    for (i, a), (j, b) in zip(later, later[1:]):
        if a[0] > th.curvature_margin_later and b[0] > th.curvature_margin_later and finding is None:
            finding = (j, b, f"at steps {series[i]['step']} and {series[j]['step']} (more than "
                              f"{th.curvature_margin_later:g}x, beyond the edge of stability)")
    last_limit = ratios[-1][1] if ratios[-1] is not None else stability_limit(group, last["sharpness"])
    if last_limit is not None:
        evidence.update(lr_max=last_limit[0], formula=last_limit[1])
    if finding is not None:
        index, (ratio, (limit, formula)), when = finding
        m = series[index]
        evidence.update(ratio=ratio, at_step=m["step"], lr_max=limit, formula=formula)
        return make(NAME, "warn", f"learning rate {m['lr']:.3g} is {ratio:.3g}x the largest stable step {when}: "
                                  f"lambda_max {m['sharpness']:.3g} gives {formula} = {limit:.3g}; along the "
                                  "sharpest direction every step overshoots and grows the error - lower the learning "
                                  f"rate below {limit:.3g} (or warm it up from there)", symptom="above_stability_limit",
                    **evidence)
    if last_limit is None:
        return make(NAME, "pass", f"sharpness {trend} (no positive curvature to limit the step)", **evidence)
    note = ""
    if first is not None and first[0] > 1:
        note = (f"; at initialization the step was {first[0]:.2g}x the limit but the loss fell (the sharpness drops "
                "as training starts)")
    return make(NAME, "pass", f"sharpness {trend}: learning rate {last['lr']:.3g} against the stable "
                              f"{last_limit[1]} = {last_limit[0]:.3g}{note}", **evidence)
