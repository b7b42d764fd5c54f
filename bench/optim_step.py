"""What one optimizer step costs: gradwise.optim vs torch.optim (single-tensor, ``foreach=False``).

The parameters are those of the 784-512-256-10 MLP (weights and biases, float32, 535,818
numbers) with fixed random gradients. For each optimizer, both libraries take ``--steps``
steps per round (after a warm-up that creates the state); rounds alternate between the two
libraries and the fastest round is reported, which filters out other jobs on a shared
machine. PyTorch runs with one intra-op thread (NumPy's element-wise ufuncs use one) and
with its default thread count.

    python bench/optim_step.py [--steps 20] [--rounds 5] [--json]

SparseAdam is left out: it needs sparse gradients (an Embedding), not an MLP's dense ones.
LBFGS runs one iteration per step (``max_iter=1``) with a closure that returns the loss
without recomputing the (fixed) gradients, so only the optimizer's own work is timed.
"""
from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import torch

import gradwise
import gradwise.optim as goptim
from gradwise.nn import Parameter

SHAPES = [(512, 784), (512,), (256, 512), (256,), (10, 256), (10,)]

CASES = [
    ("SGD", {"lr": 0.01}),
    ("SGD", {"lr": 0.01, "momentum": 0.9}),
    ("SGD", {"lr": 0.01, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-4}),
    ("Adam", {"lr": 1e-3}),
    ("Adam", {"lr": 1e-3, "amsgrad": True}),
    ("AdamW", {"lr": 1e-3}),
    ("Adamax", {}),
    ("Adadelta", {}),
    ("Adagrad", {}),
    ("ASGD", {}),
    ("NAdam", {}),
    ("RAdam", {}),
    ("RMSprop", {}),
    ("RMSprop", {"momentum": 0.9, "centered": True}),
    ("Rprop", {}),
    ("LBFGS", {"max_iter": 1, "history_size": 10}),
]


def _label(name: str, kwargs: dict) -> str:
    extras = [f"{k}={v}" for k, v in kwargs.items() if k != "lr" and k != "max_iter" and k != "history_size"]
    return name + (f"({', '.join(extras)})" if extras else "")


def _arrays(seed: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    params = [rng.normal(0, 0.05, s).astype(np.float32) for s in SHAPES]
    grads = [rng.normal(0, 0.01, s).astype(np.float32) for s in SHAPES]
    return params, grads


def make_gradwise(name: str, kwargs: dict):
    params, grads = _arrays(0)
    tensors = [Parameter(gradwise.tensor(p)) for p in params]
    for t, g in zip(tensors, grads):
        t.grad = gradwise.tensor(g)
    optimizer = getattr(goptim, name)(tensors, **kwargs)
    loss = gradwise.tensor(1.0)
    return (lambda: optimizer.step(lambda: loss)) if name == "LBFGS" else optimizer.step


def make_torch(name: str, kwargs: dict):
    params, grads = _arrays(0)
    tensors = [torch.nn.Parameter(torch.from_numpy(p)) for p in params]
    for t, g in zip(tensors, grads):
        t.grad = torch.from_numpy(g)
    if name == "LBFGS":
        optimizer = torch.optim.LBFGS(tensors, **kwargs)
        loss = torch.tensor(1.0)
        return lambda: optimizer.step(lambda: loss)
    return getattr(torch.optim, name)(tensors, foreach=False, **kwargs).step


def seconds_per_step(step, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps


def measure(name: str, kwargs: dict, steps: int, rounds: int, default_threads: int) -> dict:
    runners = {"gradwise": make_gradwise(name, kwargs), "torch_1thread": make_torch(name, kwargs),
               f"torch_{default_threads}threads": make_torch(name, kwargs)}
    best = {key: float("inf") for key in runners}
    for round_index in range(rounds + 1):  # round 0 is the warm-up that creates the state
        for key, step in runners.items():
            torch.set_num_threads(1 if key == "torch_1thread" else default_threads)
            seconds = seconds_per_step(step, 3 if round_index == 0 else steps)
            if round_index > 0:
                best[key] = min(best[key], seconds)
    torch.set_num_threads(default_threads)
    return {key: value * 1e3 for key, value in best.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="steps per timed round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per library; the fastest is kept")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args()

    default_threads = torch.get_num_threads()
    multi = f"torch_{default_threads}threads"
    rows = []
    for name, kwargs in CASES:
        times = measure(name, kwargs, args.steps, args.rounds, default_threads)
        rows.append({"optimizer": _label(name, kwargs), "gradwise_ms": times["gradwise"],
                     "torch_1thread_ms": times["torch_1thread"], f"{multi}_ms": times[multi],
                     "ratio_vs_torch_1thread": times["gradwise"] / times["torch_1thread"],
                     f"ratio_vs_{multi}": times["gradwise"] / times[multi]})

    if args.json:
        print(json.dumps({"machine": platform.processor() or platform.machine(), "numpy": np.__version__,
                          "torch": torch.__version__, "parameters": int(sum(np.prod(s) for s in SHAPES)),
                          "rows": rows}, indent=2))
        return
    print(f"optimizer step over the 784-512-256-10 MLP ({sum(int(np.prod(s)) for s in SHAPES):,} float32 "
          f"parameters); best of {args.rounds} rounds of {args.steps} steps; ratio = gradwise / torch")
    header = f"{'optimizer':44s} {'gradwise ms':>11s} {'torch-1t ms':>11s} {'ratio':>6s} " \
             f"{f'torch-{default_threads}t ms':>11s} {'ratio':>6s}"
    print(header)
    print("-" * len(header))
    for row in rows:
        print(f"{row['optimizer']:44s} {row['gradwise_ms']:11.3f} {row['torch_1thread_ms']:11.3f} "
              f"{row['ratio_vs_torch_1thread']:6.2f} {row[f'{multi}_ms']:11.3f} {row[f'ratio_vs_{multi}']:6.2f}")


if __name__ == "__main__":
    main()
