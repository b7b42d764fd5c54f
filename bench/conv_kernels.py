"""Time the NumPy conv/pool kernels against PyTorch CPU, in one run.

1. One training epoch (default 2,048 random CIFAR-shaped float32 samples,
   batch 64, SGD momentum 0.9) of the lecture's ``Net``: hand-written NumPy
   (``bench/handwritten_numpy.py``, using ``gradwise.ops`` kernels) versus
   the same net in PyTorch (default ``torch.set_num_threads``).  Epochs of
   the two are interleaved and repeated, and the minimum and median are
   reported, because other processes on a small machine make single
   timings noisy.
2. Forward and forward+backward of each conv and pool layer of that net
   alone, NumPy kernels versus ``torch.nn.functional``, with the inputs in
   the memory layout they have inside the net, so the bottleneck is visible.

Usage: ``python bench/conv_kernels.py [--samples 2048] [--repeats 5]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))

from handwritten_numpy import init_net_params, train_epoch_net_numpy  # noqa: E402

from gradwise.ops.conv_kernels import conv2d_backward, conv2d_forward  # noqa: E402
from gradwise.ops.pool_kernels import max_pool2d_backward, max_pool2d_forward  # noqa: E402


class TorchNet(nn.Module):
    """The lecture's CIFAR Net, verbatim."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def train_epoch_torch(net: nn.Module, opt: torch.optim.Optimizer, X: torch.Tensor, y: torch.Tensor, batch: int) -> float:
    losses = []
    for start in range(0, len(X), batch):
        opt.zero_grad()
        loss = F.cross_entropy(net(X[start : start + batch]), y[start : start + batch])
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return float(np.mean(losses))


def best_ms(fn: Callable[[], object], number: int = 10, repeats: int = 7) -> float:
    """Minimum over ``repeats`` of the mean time of ``number`` calls, in ms."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - start) / number)
    return best * 1e3


def describe_threads() -> str:
    parts = [f"torch threads={torch.get_num_threads()}"]
    try:
        from threadpoolctl import threadpool_info

        for pool in threadpool_info():
            parts.append(f"{pool.get('internal_api')}({pool.get('prefix')}) threads={pool.get('num_threads')}")
    except ImportError:
        pass
    env = {k: v for k, v in os.environ.items() if k.startswith(("OPENBLAS", "OMP_", "MKL_"))}
    if env:
        parts.append(f"env {env}")
    return ", ".join(parts)


def epoch_comparison(samples: int, repeats: int, batch: int = 64) -> None:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((samples, 3, 32, 32), dtype=np.float32)
    y = rng.integers(0, 10, samples)
    params = init_net_params(rng)
    state: dict = {}
    torch.manual_seed(0)
    net = TorchNet()
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)

    # warm-up (allocator, BLAS threads, torch's kernel selection)
    train_epoch_net_numpy(X[: 4 * batch], y[: 4 * batch], params, 0.01, batch, state=state)
    train_epoch_torch(net, opt, Xt[: 4 * batch], yt[: 4 * batch], batch)

    t_np, t_torch = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        train_epoch_net_numpy(X, y, params, 0.01, batch, state=state)
        t_np.append(time.perf_counter() - start)
        start = time.perf_counter()
        train_epoch_torch(net, opt, Xt, yt, batch)
        t_torch.append(time.perf_counter() - start)
    print(f"\nOne epoch of Net, {samples} samples, batch {batch}, float32 ({repeats} interleaved runs)")
    print(f"  {'':18s}{'min (s)':>10s}{'median (s)':>12s}")
    print(f"  {'NumPy hand-written':18s}{min(t_np):10.3f}{statistics.median(t_np):12.3f}")
    print(f"  {'PyTorch CPU':18s}{min(t_torch):10.3f}{statistics.median(t_torch):12.3f}")
    print(
        f"  ratio NumPy/PyTorch: {min(t_np) / min(t_torch):.2f} (min), "
        f"{statistics.median(t_np) / statistics.median(t_torch):.2f} (median)"
    )


def layer_breakdown(batch: int = 64) -> None:
    rng = np.random.default_rng(1)
    params = init_net_params(rng)
    x = rng.standard_normal((batch, 3, 32, 32), dtype=np.float32)
    w1, b1 = params["conv1.weight"], params["conv1.bias"]
    w2, b2 = params["conv2.weight"], params["conv2.bias"]

    # NumPy side: the arrays each layer sees inside the net (same memory layouts).
    c1, conv1_ctx = conv2d_forward(x, w1, b1)
    r1 = np.maximum(c1, 0)
    p1, pool1_ctx = max_pool2d_forward(r1, 2, 2)
    c2, conv2_ctx = conv2d_forward(p1, w2, b2)
    r2 = np.maximum(c2, 0)
    p2, pool2_ctx = max_pool2d_forward(r2, 2, 2)
    g_c1 = np.maximum(c1, 0)  # stand-ins for gradients, in the net's layouts
    g_p1 = np.ones_like(p1)
    g_c2 = np.maximum(c2, 0)
    g_p2 = np.ones_like(p2)

    rows = []

    def conv_row(name, xin, w, b, ctx, g, need_dx):
        xt = torch.from_numpy(np.ascontiguousarray(xin)).requires_grad_(need_dx)
        wt = torch.from_numpy(w).requires_grad_()
        bt = torch.from_numpy(b).requires_grad_()
        gt = torch.from_numpy(np.ascontiguousarray(g))
        wrt = (xt, wt, bt) if need_dx else (wt, bt)
        np_f = best_ms(lambda: conv2d_forward(xin, w, b))
        np_b = best_ms(lambda: conv2d_backward(g, ctx, need_input_grad=need_dx))
        t_f = best_ms(lambda: F.conv2d(xt, wt, bt))
        t_fb = best_ms(lambda: torch.autograd.grad(F.conv2d(xt, wt, bt), wrt, gt))
        rows.append((name, np_f, np_f + np_b, t_f, t_fb))

    def pool_row(name, xin, ctx, g):
        xt = torch.from_numpy(np.ascontiguousarray(xin)).requires_grad_()
        gt = torch.from_numpy(np.ascontiguousarray(g))
        np_f = best_ms(lambda: max_pool2d_forward(xin, 2, 2))
        np_b = best_ms(lambda: max_pool2d_backward(g, ctx))
        t_f = best_ms(lambda: F.max_pool2d(xt, 2, 2))
        t_fb = best_ms(lambda: torch.autograd.grad(F.max_pool2d(xt, 2, 2), xt, gt))
        rows.append((name, np_f, np_f + np_b, t_f, t_fb))

    conv_row("conv1 3->6 5x5 (dW,db)", x, w1, b1, conv1_ctx, g_c1, need_dx=False)
    pool_row("pool1 2x2 on 6x28x28", r1, pool1_ctx, g_p1)
    conv_row("conv2 6->16 5x5 (dx,dW,db)", p1, w2, b2, conv2_ctx, g_c2, need_dx=True)
    pool_row("pool2 2x2 on 16x10x10", r2, pool2_ctx, g_p2)

    print(f"\nPer layer, batch {batch}, float32, ms (min of 7x10 calls)")
    print(f"  {'layer':28s}{'np fwd':>8s}{'torch':>8s}{'ratio':>7s}  {'np f+b':>8s}{'torch':>8s}{'ratio':>7s}")
    for name, np_f, np_fb, t_f, t_fb in rows:
        print(f"  {name:28s}{np_f:8.2f}{t_f:8.2f}{np_f / t_f:7.2f}  {np_fb:8.2f}{t_fb:8.2f}{np_fb / t_fb:7.2f}")


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-layers", action="store_true")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="pin torch and BLAS to this many threads (default: leave both at their defaults). "
        "With other processes on the machine, --threads 1 gives far steadier numbers.",
    )
    args = parser.parse_args()
    limiter = None
    if args.threads is not None:
        torch.set_num_threads(args.threads)
        from threadpoolctl import threadpool_limits

        limiter = threadpool_limits(args.threads)
    print(describe_threads())
    print(f"load average before: {load_average()}")
    epoch_comparison(args.samples, args.repeats)
    if not args.skip_layers:
        layer_breakdown()
    print(f"\nload average after: {load_average()} (other processes distort timings; rerun if high)")
    if limiter is not None:
        limiter.restore_original_limits()


if __name__ == "__main__":
    main()
