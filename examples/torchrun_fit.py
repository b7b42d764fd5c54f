"""Data-parallel training with torchrun: the same fit() call, N processes, one model.

    torchrun --nproc_per_node=2 examples/torchrun_fit.py [--epochs 10] [--out runs/torchrun_fit]

Under torchrun, fit() joins the process group (gloo on the CPU, NCCL with --device cuda), wraps the
model in DistributedDataParallel, gives each process its shard of every epoch, adds up the metrics
of all processes, and lets rank 0 alone write the run directory.  Run without torchrun it trains
in one process: nothing in the script changes.
"""
from __future__ import annotations

import argparse
import os

import torch
from torch import nn

from gradwise.data.datasets import load_digits
from gradwise.train import fit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--device", default="cpu", help="cpu, or cuda (one GPU per process: cuda:LOCAL_RANK)")
    parser.add_argument("--out", default="runs/torchrun_fit")
    args = parser.parse_args()

    x, y = load_digits(flatten=True, normalize=True)
    torch.manual_seed(0)                     # the same initial weights in every process
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    history = fit(model, (x[:1400], y[:1400]), (x[1400:], y[1400:]), loss="cross_entropy",
                  optimizer=("sgd", {"lr": 0.1, "momentum": 0.9}), epochs=args.epochs, batch_size=32, seed=0,
                  device=args.device, log_dir=args.out)
    if int(os.environ.get("RANK", "0")) == 0:
        processes = os.environ.get("WORLD_SIZE", "1")
        print(f"{processes} process(es): validation accuracy {history.history['val_accuracy'][-1]:.3f}")


if __name__ == "__main__":
    main()
