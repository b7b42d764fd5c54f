"""Hand-written NumPy training loops: the speed "ceiling" for gradwise.

Two reference models with forward, backward and parameter update written
out by hand (no autograd, no graph, no Python objects per op), so that the
library's overhead can be measured against the best plain NumPy can do:

* the lecture's CIFAR ``Net``: Conv2d(3,6,5) -> ReLU -> MaxPool2d(2,2) ->
  Conv2d(6,16,5) -> ReLU -> MaxPool2d(2,2) -> flatten -> Linear(400,120) ->
  ReLU -> Linear(120,84) -> ReLU -> Linear(84,10), cross-entropy, SGD with
  momentum 0.9 (PyTorch's update rule).  Conv and pool call the kernels in
  ``gradwise.ops``.
* an MLP 784-512-256-10 with ReLU, cross-entropy and Adam (PyTorch's
  defaults: betas (0.9, 0.999), eps 1e-8).

Everything stays float32.  Parameters are dicts of arrays, initialised the
way ``torch.nn`` initialises Conv2d/Linear (uniform in +-1/sqrt(fan_in)),
and updated in place.  Optimizer state (momentum buffers, Adam moments and
step count) lives in an optional ``state`` dict the caller keeps between
epochs; without one, a fresh state is used for that epoch.
"""

from __future__ import annotations

import numpy as np

from gradwise.ops.conv_kernels import conv2d_backward, conv2d_forward
from gradwise.ops.pool_kernels import max_pool2d_backward, max_pool2d_forward

__all__ = [
    "init_net_params",
    "init_mlp_params",
    "net_forward_backward",
    "mlp_forward_backward",
    "train_epoch_net_numpy",
    "train_epoch_mlp_numpy",
]

Params = dict[str, np.ndarray]


def _uniform(rng: np.random.Generator, shape: tuple[int, ...], fan_in: int) -> np.ndarray:
    """torch.nn's default for Conv2d/Linear weights and biases: U(-1/sqrt(fan_in), +)."""
    bound = 1.0 / np.sqrt(fan_in)
    return rng.uniform(-bound, bound, size=shape).astype(np.float32)


def init_net_params(rng: np.random.Generator) -> Params:
    """Parameters of the lecture's CIFAR ``Net`` (PyTorch names and shapes)."""
    shapes = {
        "conv1": ((6, 3, 5, 5), 3 * 25),
        "conv2": ((16, 6, 5, 5), 6 * 25),
        "fc1": ((120, 400), 400),
        "fc2": ((84, 120), 120),
        "fc3": ((10, 84), 84),
    }
    params: Params = {}
    for name, (shape, fan_in) in shapes.items():
        params[f"{name}.weight"] = _uniform(rng, shape, fan_in)
        params[f"{name}.bias"] = _uniform(rng, (shape[0],), fan_in)
    return params


def init_mlp_params(rng: np.random.Generator, sizes: tuple[int, ...] = (784, 512, 256, 10)) -> Params:
    """Parameters of an MLP ``fc1 .. fcK`` with PyTorch's Linear init."""
    params: Params = {}
    for k, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        params[f"fc{k}.weight"] = _uniform(rng, (fan_out, fan_in), fan_in)
        params[f"fc{k}.bias"] = _uniform(rng, (fan_out,), fan_in)
    return params


def _cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy and its gradient w.r.t. the logits (softmax - onehot) / B."""
    batch = logits.shape[0]
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    sum_exp = exp.sum(axis=1, keepdims=True)
    rows = np.arange(batch)
    loss = float(np.mean(np.log(sum_exp[:, 0]) - shifted[rows, labels]))
    grad = exp / sum_exp
    grad[rows, labels] -= 1.0
    grad /= batch
    return loss, grad


def _linear_backward(
    grad: np.ndarray, inp: np.ndarray, weight: np.ndarray, need_input_grad: bool = True
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """y = inp @ W.T + b  ->  (d inp, dW, db)."""
    d_weight = grad.T @ inp
    d_bias = grad.sum(axis=0)
    d_inp = grad @ weight if need_input_grad else None
    return d_inp, d_weight, d_bias


def net_forward_backward(
    params: Params, x: np.ndarray, labels: np.ndarray
) -> tuple[float, Params]:
    """Loss and gradients of the CIFAR ``Net`` on one batch (same op order as PyTorch's)."""
    p = params
    c1, conv1_ctx = conv2d_forward(x, p["conv1.weight"], p["conv1.bias"], (1, 1), (0, 0), (1, 1), 1)
    r1 = np.maximum(c1, 0)
    p1, pool1_ctx = max_pool2d_forward(r1, 2, 2)
    c2, conv2_ctx = conv2d_forward(p1, p["conv2.weight"], p["conv2.bias"], (1, 1), (0, 0), (1, 1), 1)
    r2 = np.maximum(c2, 0)
    p2, pool2_ctx = max_pool2d_forward(r2, 2, 2)
    flat = p2.reshape(x.shape[0], -1)
    h1 = flat @ p["fc1.weight"].T + p["fc1.bias"]
    a1 = np.maximum(h1, 0)
    h2 = a1 @ p["fc2.weight"].T + p["fc2.bias"]
    a2 = np.maximum(h2, 0)
    logits = a2 @ p["fc3.weight"].T + p["fc3.bias"]
    loss, d_logits = _cross_entropy(logits, labels)

    grads: Params = {}
    d_a2, grads["fc3.weight"], grads["fc3.bias"] = _linear_backward(d_logits, a2, p["fc3.weight"])
    d_h2 = d_a2 * (h2 > 0)
    d_a1, grads["fc2.weight"], grads["fc2.bias"] = _linear_backward(d_h2, a1, p["fc2.weight"])
    d_h1 = d_a1 * (h1 > 0)
    d_flat, grads["fc1.weight"], grads["fc1.bias"] = _linear_backward(d_h1, flat, p["fc1.weight"])
    d_r2 = max_pool2d_backward(d_flat.reshape(p2.shape), pool2_ctx)
    d_c2 = d_r2 * (c2 > 0)
    d_p1, grads["conv2.weight"], grads["conv2.bias"] = conv2d_backward(d_c2, conv2_ctx)
    d_r1 = max_pool2d_backward(d_p1, pool1_ctx)
    d_c1 = d_r1 * (c1 > 0)
    _, grads["conv1.weight"], grads["conv1.bias"] = conv2d_backward(
        d_c1, conv1_ctx, need_input_grad=False
    )
    return loss, grads


def mlp_forward_backward(
    params: Params, x: np.ndarray, labels: np.ndarray
) -> tuple[float, Params]:
    """Loss and gradients of the ReLU MLP ``fc1 .. fcK`` on one batch."""
    n_layers = len(params) // 2
    inputs = []  # input of each Linear
    pre = []  # pre-activation of each hidden layer
    act = x
    for k in range(1, n_layers + 1):
        inputs.append(act)
        z = act @ params[f"fc{k}.weight"].T + params[f"fc{k}.bias"]
        if k < n_layers:
            pre.append(z)
            act = np.maximum(z, 0)
    loss, grad = _cross_entropy(z, labels)
    grads: Params = {}
    for k in range(n_layers, 0, -1):
        d_inp, grads[f"fc{k}.weight"], grads[f"fc{k}.bias"] = _linear_backward(
            grad, inputs[k - 1], params[f"fc{k}.weight"], need_input_grad=k > 1
        )
        if k > 1:
            grad = d_inp * (pre[k - 2] > 0)
    return loss, grads


def _sgd_momentum_step(
    params: Params, grads: Params, state: dict, lr: float, momentum: float
) -> None:
    """PyTorch SGD (dampening 0, no Nesterov): buf = m*buf + g; p -= lr*buf."""
    buffers = state.setdefault("momentum_buffer", {})
    for name, grad in grads.items():
        buf = buffers.get(name)
        if buf is None:
            buffers[name] = buf = grad.astype(np.float32, copy=True)
        else:
            buf *= momentum
            buf += grad
        params[name] -= np.float32(lr) * buf


def _adam_step(
    params: Params,
    grads: Params,
    state: dict,
    lr: float,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
) -> None:
    """PyTorch Adam: p -= lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps)."""
    beta1, beta2 = betas
    state["step"] = step = state.get("step", 0) + 1
    m_all = state.setdefault("exp_avg", {})
    v_all = state.setdefault("exp_avg_sq", {})
    bias_correction1 = 1.0 - beta1**step
    bias_correction2_sqrt = np.sqrt(1.0 - beta2**step)
    step_size = np.float32(lr / bias_correction1)
    scratch_all = state.setdefault("scratch", {})
    for name, grad in grads.items():
        if name not in m_all:
            m_all[name], v_all[name], scratch_all[name] = (np.zeros_like(grad) for _ in range(3))
        m, v, scratch = m_all[name], v_all[name], scratch_all[name]
        m *= np.float32(beta1)
        np.multiply(grad, np.float32(1.0 - beta1), out=scratch)
        m += scratch
        v *= np.float32(beta2)
        np.multiply(grad, grad, out=scratch)
        scratch *= np.float32(1.0 - beta2)
        v += scratch
        np.sqrt(v, out=scratch)
        scratch /= np.float32(bias_correction2_sqrt)
        scratch += np.float32(eps)
        np.divide(m, scratch, out=scratch)
        scratch *= step_size
        params[name] -= scratch


def _batches(n: int, batch_size: int, rng: np.random.Generator | None):
    """Index objects for one epoch: in-order slices, or a shuffled permutation's chunks."""
    order = rng.permutation(n) if rng is not None else None
    for start in range(0, n, batch_size):
        if order is None:
            yield slice(start, start + batch_size)
        else:
            yield order[start : start + batch_size]


def train_epoch_net_numpy(
    X: np.ndarray,
    y: np.ndarray,
    params: Params,
    lr: float,
    batch_size: int = 64,
    momentum: float = 0.9,
    state: dict | None = None,
    rng: np.random.Generator | None = None,
) -> float:
    """One epoch of SGD-momentum training of the CIFAR ``Net``; returns the mean batch loss.

    ``X`` is ``(n, 3, 32, 32)`` float32, ``y`` integer labels.  Batches are
    taken in order unless ``rng`` is given (then shuffled).  ``params`` is
    updated in place; pass the same ``state`` dict every epoch to keep the
    momentum buffers.
    """
    state = {} if state is None else state
    losses = []
    for idx in _batches(len(X), batch_size, rng):
        loss, grads = net_forward_backward(params, X[idx], y[idx])
        _sgd_momentum_step(params, grads, state, lr, momentum)
        losses.append(loss)
    return float(np.mean(losses))


def train_epoch_mlp_numpy(
    X: np.ndarray,
    y: np.ndarray,
    params: Params,
    lr: float,
    batch_size: int = 128,
    state: dict | None = None,
    rng: np.random.Generator | None = None,
) -> float:
    """One epoch of Adam training of the MLP; returns the mean batch loss.

    ``X`` is ``(n, 784)`` float32 (flattened images), ``y`` integer labels.
    Pass the same ``state`` dict every epoch to keep Adam's moments and step.
    """
    state = {} if state is None else state
    losses = []
    for idx in _batches(len(X), batch_size, rng):
        loss, grads = mlp_forward_backward(params, X[idx], y[idx])
        _adam_step(params, grads, state, lr)
        losses.append(loss)
    return float(np.mean(losses))
