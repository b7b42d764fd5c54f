"""Benchmark: CIFAR-sized augmentation (flip + crop + colour jitter) vs one training step.

The bar: augmenting a batch of 64 x 3 x 32 x 32 images must cost less than one training
step of a small CNN on that batch, otherwise the data pipeline, not the model, sets the
pace.  Prints the median time of the per-sample path (``t(x)`` for each image), of the
batched path (``t.apply_batch(batch)``), and, as the references, of one SGD step of a
small CNN (2 conv + 1 linear) on the same batch in gradwise and, if installed, PyTorch.

    python bench/augment.py [--batch 64] [--repeats 50]
"""

from __future__ import annotations

import argparse
import importlib
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from gradwise.augment import ColorJitter, Compose, RandomCrop, RandomHorizontalFlip


def median_ms(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


def pipelines(seed: int = 0) -> dict[str, Compose]:
    jitter = dict(brightness=(0.6, 1.4), contrast=(0.6, 1.4), saturation=(0.6, 1.4))
    return {
        "flip + crop + jitter (b/c/s)": Compose(
            [RandomCrop(32, padding=4), RandomHorizontalFlip(), ColorJitter(**jitter)], seed=seed),
        "flip + crop + jitter (b/c/s/hue)": Compose(
            [RandomCrop(32, padding=4), RandomHorizontalFlip(), ColorJitter(**jitter, hue=(-0.1, 0.1))], seed=seed),
    }


def cnn_step_ms(lib: Any, batch: np.ndarray, repeats: int) -> float:
    """One forward/backward/SGD step of a small CNN (2 conv + 1 linear) written against the
    PyTorch API, run by ``lib`` (``torch`` or ``gradwise``, which has the same names)."""
    nn = lib.nn
    lib.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 8 * 8, 10),
    )
    opt = lib.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = lib.from_numpy(batch)
    y = lib.from_numpy(np.random.default_rng(0).integers(0, 10, len(batch)))

    def step() -> None:
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    return median_ms(step, repeats)


def reference_steps(batch: np.ndarray, repeats: int) -> dict[str, float]:
    """The training-step references that can run here (each skipped with a note if not)."""
    steps = {}
    for name in ("gradwise", "torch"):
        try:
            lib = importlib.import_module(name)
            steps[f"small CNN SGD step ({name}, CPU)"] = cnn_step_ms(lib, batch, max(repeats // 5, 3))
        except Exception as exc:  # torch may be absent; gradwise's nn may be mid-development
            print(f"reference step with {name}: skipped ({type(exc).__name__}: {exc})")
    return steps


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args(argv)

    batch = np.random.default_rng(0).random((args.batch, 3, 32, 32), dtype=np.float32)
    results: dict[str, float] = {}
    print(f"augmentation of a {args.batch} x 3 x 32 x 32 float32 batch (median of {args.repeats}):")
    for name, aug in pipelines().items():
        per_sample = median_ms(lambda: np.stack([aug(x) for x in batch]), max(args.repeats // 5, 3))
        batched = median_ms(lambda: aug.apply_batch(batch), args.repeats)
        results[f"{name} per-sample"], results[f"{name} batched"] = per_sample, batched
        print(f"  {name:34s} per-sample {per_sample:8.2f} ms   batched {batched:7.2f} ms"
              f"   ({per_sample / batched:.0f}x)")
    for ref, step in reference_steps(batch, args.repeats).items():
        results[ref] = step
        print(f"reference: {ref:40s} {step:8.2f} ms")
        for name in pipelines():
            ratio = results[f"{name} batched"] / step
            verdict = "faster than a step" if ratio < 1 else "SLOWER than a step"
            print(f"  {name:34s} batched = {ratio:.2f} x step: {verdict}")
    return results


if __name__ == "__main__":
    main()
