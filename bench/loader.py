"""How much one epoch of data loading costs: gradwise's fast path, its per-sample path, torch's DataLoader.

The workload is the MNIST-sized MLP case: 60,000 samples of 784 float32 features with
int64 labels, batch size 128, shuffled.  Each loader runs full epochs (every batch is
produced, nothing else is done with it); the best of ``--repeat`` epochs is reported,
next to the cost of the NumPy matrix products of one epoch of a 784-128-10 MLP
(forward and backward), the arithmetic the loading should be small against.

    python bench/loader.py [--repeat 3] [--json]
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable, Iterable

import numpy as np

N, FEATURES, BATCH = 60_000, 784, 128


def best_epoch_seconds(make_epoch: Callable[[], Iterable], repeat: int) -> float:
    """The fastest of ``repeat`` full passes over ``make_epoch()``."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _batch in make_epoch():
            pass
        times.append(time.perf_counter() - start)
    return min(times)


def mlp_math_seconds(x: np.ndarray, repeat: int) -> float:
    """One epoch of the matrix products of a 784-128-10 MLP (3 per layer: forward, two backward)."""
    rng = np.random.default_rng(0)
    w1, w2 = rng.normal(size=(FEATURES, 128)).astype(np.float32), rng.normal(size=(128, 10)).astype(np.float32)
    batches = [x[i:i + BATCH] for i in range(0, N, BATCH)]

    def epoch():
        for xb in batches:
            h = np.maximum(xb @ w1, 0)
            out = h @ w2
            dh = out @ w2.T
            yield xb.T @ dh, h.T @ out

    return best_epoch_seconds(epoch, repeat)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="epochs per loader; the best one counts")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args()

    from gradwise.data import DataLoader, TensorDataset, default_collate

    rng = np.random.default_rng(0)
    x = rng.random((N, FEATURES), dtype=np.float32)
    y = rng.integers(0, 10, size=N).astype(np.int64)
    dataset = TensorDataset(x, y)

    fast = DataLoader(dataset, batch_size=BATCH, shuffle=True, seed=0)
    per_sample = DataLoader(dataset, batch_size=BATCH, shuffle=True, seed=0,
                            collate_fn=lambda samples: default_collate(samples))  # any collate_fn: per sample
    prefetched = DataLoader(dataset, batch_size=BATCH, shuffle=True, seed=0, prefetch=2)
    assert fast.fast_path and not per_sample.fast_path

    results = {
        "gradwise fast path": best_epoch_seconds(lambda: fast, args.repeat),
        "gradwise fast path, prefetch=2": best_epoch_seconds(lambda: prefetched, args.repeat),
        "gradwise per-sample path": best_epoch_seconds(lambda: per_sample, args.repeat),
    }
    try:
        import torch
        import torch.utils.data as tud

        torch.set_num_threads(1)
        torch_loader = tud.DataLoader(tud.TensorDataset(torch.from_numpy(x), torch.from_numpy(y)),
                                      batch_size=BATCH, shuffle=True)
        results["torch DataLoader (num_workers=0)"] = best_epoch_seconds(lambda: torch_loader, args.repeat)
    except ImportError:
        results["torch DataLoader (num_workers=0)"] = None
    results["reference: MLP 784-128-10 matmuls, one epoch"] = mlp_math_seconds(x, args.repeat)

    if args.json:
        print(json.dumps({"samples": N, "features": FEATURES, "batch_size": BATCH, "seconds_per_epoch": results,
                          "machine": platform.processor() or platform.machine()}))
        return
    print(f"one shuffled epoch: {N} x {FEATURES} float32, batch {BATCH}, best of {args.repeat}")
    fast_s = results["gradwise fast path"]
    for name, seconds in results.items():
        if seconds is None:
            print(f"  {name:46s}      (torch not installed)")
        else:
            print(f"  {name:46s} {seconds * 1000:9.1f} ms   {seconds / fast_s:6.1f}x the fast path")


if __name__ == "__main__":
    main()
