"""One training epoch in gradwise, hand-written NumPy and PyTorch, on the same float32 data.

(a) the MLP 784-512-256-10 with ReLU and Adam, batch 128;
(b) the lecture's CIFAR `Net` with SGD momentum 0.9, batch 64.

Each implementation starts from the same weights and sees the same batches (sliced in order,
so the loader is not what is measured; see bench/loader.py for that). Every epoch is run
`--repeats` times, interleaved, and the minimum is kept: the machine is shared and noisy, so
only ratios within one run mean anything. Also reports the peak memory allocated during one
MLP epoch (tracemalloc sees NumPy's allocations) for gradwise and hand-written NumPy.

    .venv/bin/python bench/train_epoch.py [--mlp-samples 16384] [--net-samples 2048] [--repeats 3]
"""
from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import handwritten_numpy as hand  # noqa: E402

import gradwise  # noqa: E402
import gradwise.nn as gnn  # noqa: E402
import gradwise.nn.functional as gF  # noqa: E402

try:
    import torch
except ImportError:  # PyTorch is optional here
    torch = None


def make_modules(nn, F, flatten):
    """The two models, written once against PyTorch's API (gradwise or torch)."""

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2, self.fc3 = nn.Linear(784, 512), nn.Linear(512, 256), nn.Linear(256, 10)

        def forward(self, x):
            return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))

    class Net(nn.Module):  # the lecture's code
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 6, 5)
            self.pool = nn.MaxPool2d(2, 2)
            self.conv2 = nn.Conv2d(6, 16, 5)
            self.fc1 = nn.Linear(16 * 5 * 5, 120)
            self.fc2 = nn.Linear(120, 84)
            self.fc3 = nn.Linear(84, 10)

        def forward(self, x):
            x = self.pool(F.relu(self.conv1(x)))
            x = self.pool(F.relu(self.conv2(x)))
            x = flatten(x, 1)
            x = F.relu(self.fc1(x))
            x = F.relu(self.fc2(x))
            return self.fc3(x)

    return MLP, Net


def train_epoch_framework(lib, model, optimizer, X, y, batch_size):
    loss_fn = lib.nn.CrossEntropyLoss()
    for start in range(0, len(X), batch_size):
        xb, yb = X[start:start + batch_size], y[start:start + batch_size]
        loss = loss_fn(model(xb), yb)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return float(loss.item())


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def peak_memory(fn) -> float:
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mlp-samples", type=int, default=16384)
    parser.add_argument("--net-samples", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)

    results = {}
    for case in ("mlp", "net"):
        if case == "mlp":
            X = rng.standard_normal((args.mlp_samples, 784), dtype=np.float32)
            params = hand.init_mlp_params(rng)
            batch, lr = 128, 1e-3
        else:
            X = rng.standard_normal((args.net_samples, 3, 32, 32), dtype=np.float32)
            params = hand.init_net_params(rng)
            batch, lr = 64, 1e-3
        y = rng.integers(0, 10, len(X)).astype(np.int64)

        gw_model = make_modules(gnn, gF, gradwise.flatten)[0 if case == "mlp" else 1]()
        gw_model.load_state_dict({k: gradwise.from_numpy(v.copy()) for k, v in params.items()})
        gw_opt = (gradwise.optim.Adam(gw_model.parameters(), lr=lr) if case == "mlp"
                  else gradwise.optim.SGD(gw_model.parameters(), lr=lr, momentum=0.9))
        gX, gy = gradwise.from_numpy(X), gradwise.from_numpy(y)
        np_params = {k: v.copy() for k, v in params.items()}
        np_state: dict = {}
        runs = {
            "gradwise": lambda: train_epoch_framework(gradwise, gw_model, gw_opt, gX, gy, batch),
            "numpy": (lambda: hand.train_epoch_mlp_numpy(X, y, np_params, lr, batch, state=np_state)) if case == "mlp"
            else (lambda: hand.train_epoch_net_numpy(X, y, np_params, lr, batch, state=np_state)),
        }
        if torch is not None:
            t_model = make_modules(torch.nn, torch.nn.functional, torch.flatten)[0 if case == "mlp" else 1]()
            t_model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in params.items()})
            t_opt = (torch.optim.Adam(t_model.parameters(), lr=lr, foreach=False) if case == "mlp"
                     else torch.optim.SGD(t_model.parameters(), lr=lr, momentum=0.9, foreach=False))
            tX, ty = torch.from_numpy(X), torch.from_numpy(y)
            runs["torch"] = lambda: train_epoch_framework(torch, t_model, t_opt, tX, ty, batch)

        best = {name: float("inf") for name in runs}
        for _ in range(args.repeats):
            for name, fn in runs.items():
                best[name] = min(best[name], timed(fn))
        results[case] = best
        if case == "mlp":
            results["memory"] = {name: peak_memory(runs[name]) for name in ("gradwise", "numpy")}

    print(f"one epoch, min of {args.repeats} (seconds); MLP {args.mlp_samples} samples, Net {args.net_samples} samples")
    for case in ("mlp", "net"):
        best = results[case]
        line = "  ".join(f"{k} {v:.3f}s" for k, v in best.items())
        ratios = f"gradwise/numpy {best['gradwise'] / best['numpy']:.2f}x"
        if "torch" in best:
            ratios += f"  gradwise/torch {best['gradwise'] / best['torch']:.2f}x  numpy/torch {best['numpy'] / best['torch']:.2f}x"
        print(f"{case.upper():4s} {line}   {ratios}")
    mem = results["memory"]
    print(f"MLP peak memory during an epoch: gradwise {mem['gradwise']:.1f} MiB, numpy {mem['numpy']:.1f} MiB, "
          f"ratio {mem['gradwise'] / mem['numpy']:.2f}x")


if __name__ == "__main__":
    main()
