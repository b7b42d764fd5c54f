"""``fit`` on a PyTorch model against a hand-written PyTorch loop, on the same data, model and batches.

The issue's workload: MLP 784-512-256-10 with ReLU, Adam, batch 128, 16,384 samples, 3 epochs.
Three ways, interleaved ``--repeats`` times (minimum kept: the machine is shared and noisy, only
ratios within one run mean anything):

* ``hand``: the loop a careful PyTorch user writes (per-epoch ``randperm``, whole-batch indexing,
  ``zero_grad``/``backward``/``step``, ``loss.item()`` summed per epoch, a validation pass);
* ``fit``: ``gradwise.train.fit(model, ...)`` with babysitting off (logging every step in memory,
  metrics, the epoch records);
* ``fit+babysit``: the same with the babysitter's ten checks on (sampled hooks, gradient and update
  statistics, the pre-training probes).

Run on CUDA with ``--device cuda`` where a GPU is present (timings synchronise only at the end of
each run).

    .venv/bin/python bench/torch_fit.py [--samples 16384] [--epochs 3] [--repeats 3] [--device cpu]
"""
from __future__ import annotations

import argparse
import copy
import time

import numpy as np
import torch

from gradwise.train import fit


def make_model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(784, 512), torch.nn.ReLU(), torch.nn.Linear(512, 256),
                               torch.nn.ReLU(), torch.nn.Linear(256, 10))


def hand_loop(model, x, y, xv, yv, epochs: int, batch_size: int, device: torch.device, seed: int) -> float:
    model.to(device)
    x, y, xv, yv = (t.to(device) for t in (x, y, xv, yv))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    losses = []
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed + epoch)).to(device)
        total = 0.0
        for start in range(0, len(x), batch_size):
            idx = order[start:start + batch_size]
            loss = loss_fn(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        model.eval()
        with torch.no_grad():
            val = loss_fn(model(xv), yv).item()
        losses.append((total / len(x), val))
    return losses[-1][0]


def fit_run(model, x, y, xv, yv, epochs: int, batch_size: int, device: torch.device, seed: int, babysit: bool) -> float:
    history = fit(model, (x, y), (xv, yv), loss="cross_entropy", optimizer=("adam", {"lr": 1e-3}), epochs=epochs,
                  batch_size=batch_size, seed=seed, babysit=babysit, progress=False, device=str(device))
    return history.history["loss"][-1]


def timed(fn, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=16384)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    rng = np.random.default_rng(0)
    centers = rng.normal(scale=0.1, size=(10, 784)).astype(np.float32)   # overlapping classes: a task that is not solved at once
    labels = rng.integers(0, 10, size=args.samples + 2048)
    data = (centers[labels] + rng.normal(scale=2.0, size=(len(labels), 784))).astype(np.float32)
    x, y = torch.from_numpy(data[:args.samples]), torch.from_numpy(labels[:args.samples])
    xv, yv = torch.from_numpy(data[args.samples:]), torch.from_numpy(labels[args.samples:])
    base = make_model()
    runs = {
        "hand": lambda m: hand_loop(m, x, y, xv, yv, args.epochs, args.batch_size, device, 0),
        "fit": lambda m: fit_run(m, x, y, xv, yv, args.epochs, args.batch_size, device, 0, babysit=False),
        "fit+babysit": lambda m: fit_run(m, x, y, xv, yv, args.epochs, args.batch_size, device, 0, babysit=True),
    }
    for run in runs.values():   # warm up: the first pass pays for PyTorch's lazy initialisation
        run(copy.deepcopy(base))
    best = {name: float("inf") for name in runs}
    final = {}
    for _ in range(args.repeats):
        for name, run in runs.items():
            model = copy.deepcopy(base)
            out: dict[str, float] = {}
            best[name] = min(best[name], timed(lambda: out.setdefault("loss", run(model)), device))
            final[name] = out["loss"]
    print(f"MLP 784-512-256-10, Adam, batch {args.batch_size}, {args.samples} samples, {args.epochs} epochs, "
          f"{device}, torch {torch.__version__}, {torch.get_num_threads()} threads; best of {args.repeats}")
    for name in runs:
        print(f"  {name:<12} {best[name]:7.3f} s   {best[name] / best['hand']:.3f}x hand-written   "
              f"final training loss {final[name]:.4f}")


if __name__ == "__main__":
    main()
