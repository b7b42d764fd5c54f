"""Train a PyTorch model with gradwise's fit: babysitting, logs, checkpoints, diagnosis, report - on CUDA when present.

    python examples/torch_fit.py [--epochs 20] [--device cuda] [--out runs/torch_fit]

The model, optimizer and loss are plain PyTorch; gradwise runs the loop around them and reads the run.
"""
from __future__ import annotations

import argparse

import torch
from torch import nn

from gradwise.data import train_val_split
from gradwise.data.datasets import load_digits
from gradwise.report import render
from gradwise.train import fit


def build() -> nn.Module:
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Dropout(0.1), nn.Linear(128, 10))
    nn.init.kaiming_normal_(model[0].weight, nonlinearity="relu")   # He before ReLU (the babysitter checks it)
    nn.init.zeros_(model[0].bias)
    nn.init.xavier_uniform_(model[3].weight)                         # Xavier on the logits
    nn.init.zeros_(model[3].bias)
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out", default="runs/torch_fit")
    args = parser.parse_args()

    x, y = load_digits(flatten=True, normalize=True)
    train, val = train_val_split((x, y), val_fraction=0.2, stratify=True, seed=0)
    torch.manual_seed(0)
    model = build()
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    history = fit(model, train, val, loss=nn.CrossEntropyLoss(), optimizer=optimizer, epochs=args.epochs,
                  batch_size=64, seed=0, device=args.device, log_dir=args.out, early_stopping=6,
                  scheduler=lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs))
    print(f"validation accuracy {history.history['val_accuracy'][-1]:.3f} on {args.device}")
    if history.diagnosis is not None:
        print(f"diagnosis: {history.diagnosis.verdict}")
    print(f"report: {render(args.out)}")


if __name__ == "__main__":
    main()
