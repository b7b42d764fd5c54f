"""Per-op overhead: 1,000 tiny ops (10-element tensors) plus their backward, gradwise vs PyTorch.

With 10 numbers per tensor the arithmetic costs nothing; what is measured is the price of
recording a node per op (Python objects, NumPy call overhead) and of walking the graph back.
One iteration builds ``y = (y * w + 0.1).tanh() - x`` 250 times (4 ops each, 1,000 ops) and
calls ``backward()``. Rounds alternate between the two libraries and the minimum over rounds
is reported, which filters out other jobs on a shared machine. PyTorch runs with one thread
(NumPy's element-wise ufuncs use one). The target is gradwise <= 2x PyTorch.

    python bench/small_ops.py [--repeats 7] [--iters 5] [--json]
"""
from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import torch

import gradwise

N_BLOCKS = 250  # 4 ops each: mul, add, tanh, sub


def make_step(lib, dtype):
    rng = np.random.default_rng(0)
    x = lib.tensor(rng.standard_normal(10).astype(np.float32), dtype=dtype)
    w = lib.tensor(rng.standard_normal(10).astype(np.float32) * 0.5, dtype=dtype, requires_grad=True)
    y0 = lib.tensor(rng.standard_normal(10).astype(np.float32), dtype=dtype, requires_grad=True)

    def step():
        y = y0
        for _ in range(N_BLOCKS):
            y = (y * w + 0.1).tanh() - x
        y.sum().backward()
        w.grad = None
        y0.grad = None

    return step


def time_step(step, iters: int) -> float:
    start = time.perf_counter()
    for _ in range(iters):
        step()
    return (time.perf_counter() - start) / iters


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7, help="rounds per library (min is reported)")
    parser.add_argument("--iters", type=int, default=5, help="forward+backward passes per round")
    parser.add_argument("--json", action="store_true", help="print one JSON line instead of text")
    args = parser.parse_args()

    torch.set_num_threads(1)
    steps = {"gradwise": make_step(gradwise, gradwise.float32), "torch": make_step(torch, torch.float32)}
    for step in steps.values():  # warm-up: imports, allocator, first-call paths
        step()
    best = {name: float("inf") for name in steps}
    for _ in range(args.repeats):
        for name, step in steps.items():
            best[name] = min(best[name], time_step(step, args.iters))

    ops = 4 * N_BLOCKS
    ratio = best["gradwise"] / best["torch"]
    result = {
        "ops": ops,
        "gradwise_ms": best["gradwise"] * 1e3,
        "torch_ms": best["torch"] * 1e3,
        "gradwise_us_per_op": best["gradwise"] / ops * 1e6,
        "torch_us_per_op": best["torch"] / ops * 1e6,
        "ratio": ratio,
        "target_ratio": 2.0,
        "meets_target": ratio <= 2.0,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
    }
    if args.json:
        print(json.dumps(result))
        return
    print(f"{ops} small ops (10 elements) + backward, min of {args.repeats} rounds x {args.iters} passes")
    print(f"  gradwise: {result['gradwise_ms']:8.2f} ms  ({result['gradwise_us_per_op']:.2f} us/op incl. backward)")
    print(f"  pytorch : {result['torch_ms']:8.2f} ms  ({result['torch_us_per_op']:.2f} us/op incl. backward)")
    print(f"  ratio gradwise/pytorch: {ratio:.2f}x  (target <= 2x: {'met' if ratio <= 2.0 else 'NOT met'})")


if __name__ == "__main__":
    main()
