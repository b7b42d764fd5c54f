"""Babysit a plain PyTorch training loop with gradwise.train.watch: checks, logs, diagnosis, report.

    python examples/torch_watch.py [--epochs 20] [--out runs/torch_watch]

The loop is the one every PyTorch tutorial writes; ``watch`` adds the babysitter's thirteen checks (before
training on a sample of the data, then on sampled steps), the learning-curve diagnosis and the run
directory that ``gradwise diagnose`` and ``gradwise report`` read.  Three lines: the ``with``,
``w.step(loss)`` and ``w.epoch_end(...)``.
"""
from __future__ import annotations

import argparse

import torch
from torch import nn

from gradwise.data import train_val_split
from gradwise.data.datasets import load_digits
from gradwise.train import watch


def build() -> nn.Module:
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    nn.init.kaiming_normal_(model[0].weight, nonlinearity="relu")   # He before ReLU (the babysitter checks it)
    nn.init.zeros_(model[0].bias)
    nn.init.xavier_uniform_(model[2].weight)                         # Xavier on the logits
    nn.init.zeros_(model[2].bias)
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--out", default="runs/torch_watch")
    args = parser.parse_args()

    x, y = load_digits(flatten=True, normalize=True)
    (xt, yt), (xv, yv) = train_val_split((x, y), val_fraction=0.2, stratify=True, seed=0)
    xt, yt, xv, yv = (torch.as_tensor(a) for a in (xt, yt, xv, yv))
    torch.manual_seed(0)
    model = build()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()

    with watch(model, optimizer, loss_fn=loss_fn, sample_batch=(xt[:512], yt[:512]), log_dir=args.out,
               epochs=args.epochs) as w:
        for epoch in range(args.epochs):
            model.train()
            for idx in torch.randperm(len(xt)).split(args.batch_size):
                loss = loss_fn(model(xt[idx]), yt[idx])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                w.step(loss)                       # after optimizer.step(): the gradients are still there
            model.eval()
            with torch.no_grad():
                out = model(xv)
            w.epoch_end(val_loss=loss_fn(out, yv), val_accuracy=(out.argmax(1) == yv).float().mean())
            if w.stop_training:                    # a NaN loss (or stop_on_fail=True and a failed check)
                break

    history = w.history
    print(f"validation accuracy {history.history['val_accuracy'][-1]:.3f}")
    for check in history.checks:
        if check.status != "pass":
            print(f"  {check.status}: {check.name} - {check.message}")
    print(f"diagnosis: {history.diagnosis.verdict}" if history.diagnosis is not None else history.diagnosis_note)
    print(f"report: {w.log_dir / 'report.html'}")


if __name__ == "__main__":
    main()
