"""`gradwise demo`: the main job on the embedded data — train an MLP on the 8x8 digits.

It walks the lecture's recipe in order: normalize the input (fit on training data only),
initialize each layer for the activation that follows it, check the first loss against
ln(10), then run the backpropagation loop (forward, loss, backward, update) with Adam,
printing the training loss falling per epoch and the validation accuracy.
"""
from __future__ import annotations

import argparse
import math
import time



def register(subparsers) -> None:
    parser = subparsers.add_parser("demo", help="train an MLP on the embedded 8x8 digits and print its progress")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import gradwise as torch
    import gradwise.nn as nn
    from gradwise.data import DataLoader, TensorDataset, train_val_split
    from gradwise.data.datasets import load_digits
    from gradwise.data.preprocessing import Standardize

    torch.manual_seed(args.seed)
    images, labels = load_digits(flatten=True)
    (x_train, y_train), (x_val, y_val) = train_val_split((images, labels), val_fraction=0.2,
                                                         stratify=labels, seed=args.seed)
    scaler = Standardize().fit(x_train)          # statistics of the training split only
    x_train, x_val = scaler.transform(x_train), scaler.transform(x_val)
    print(f"digits: {len(x_train)} training and {len(x_val)} validation images of 8x8 pixels, 10 classes")

    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10))
    for choice in nn.init.by_activation(model):
        print(f"  init {choice}")
    print(model)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    loader = DataLoader(TensorDataset(x_train, y_train), batch_size=args.batch_size, shuffle=True, seed=args.seed)
    val_x, val_y = torch.from_numpy(x_val), torch.from_numpy(y_val)

    with torch.no_grad():
        first = loss_fn(model(torch.from_numpy(x_train)), torch.from_numpy(y_train)).item()
    print(f"first loss {first:.3f} (expected about ln(10) = {math.log(10):.3f} for 10 balanced classes)")

    for epoch in range(1, args.epochs + 1):
        start, total, count = time.perf_counter(), 0.0, 0
        model.train()
        for xb, yb in loader:
            loss = loss_fn(model(xb), yb)          # forward pass and loss
            optimizer.zero_grad()
            loss.backward()                        # backward pass
            optimizer.step()                       # update
            total, count = total + loss.item() * len(yb), count + len(yb)
        model.eval()
        with torch.no_grad():
            logits = model(val_x)
            val_loss = loss_fn(logits, val_y).item()
            accuracy = float((logits.argmax(1) == val_y).float().mean().item())
        print(f"epoch {epoch:3d}  loss {total / count:.4f}  val_loss {val_loss:.4f}  "
              f"val_accuracy {accuracy:.3f}  ({time.perf_counter() - start:.2f}s)")
    print(f"final validation accuracy: {accuracy:.3f}")
    return 0


__all__ = ["register", "run"]
