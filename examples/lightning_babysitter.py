"""Babysit PyTorch Lightning's Trainer.fit with gradwise: checks, diagnosis and report from one callback.

    python examples/lightning_babysitter.py [--epochs 20] [--out runs/lightning]

A LightningModule written the usual way (the network in ``self.net``, the loss in ``self.loss_fn``,
metrics through ``self.log``); ``gradwise.integrations.lightning.Babysitter`` runs the babysitter's ten
checks around ``Trainer.fit``, reads the learning curves and writes the run directory that
``gradwise diagnose`` and ``gradwise report`` read.  Needs ``pip install pytorch-lightning``.
"""
from __future__ import annotations

import argparse
import warnings

import pytorch_lightning as pl
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from gradwise.data import train_val_split
from gradwise.data.datasets import load_digits
from gradwise.integrations.lightning import Babysitter


class DigitsClassifier(pl.LightningModule):
    def __init__(self, lr: float = 1e-3) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
        nn.init.kaiming_normal_(self.net[0].weight, nonlinearity="relu")   # He before ReLU
        nn.init.zeros_(self.net[0].bias)
        nn.init.xavier_uniform_(self.net[2].weight)                         # Xavier on the logits
        nn.init.zeros_(self.net[2].bias)
        self.loss_fn = nn.CrossEntropyLoss()   # the babysitter finds it here for its loss checks
        self.lr = lr

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        out = self(x)
        loss = self.loss_fn(out, y)
        self.log("train_acc", (out.argmax(1) == y).float().mean(), on_step=False, on_epoch=True)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        out = self(x)
        self.log("val_loss", self.loss_fn(out, y))
        self.log("val_acc", (out.argmax(1) == y).float().mean())

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.lr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--out", default="runs/lightning")
    args = parser.parse_args()

    x, y = load_digits(flatten=True, normalize=True)
    (xt, yt), (xv, yv) = train_val_split((x, y), val_fraction=0.2, stratify=True, seed=0)
    pl.seed_everything(0, verbose=False)
    train = DataLoader(TensorDataset(torch.as_tensor(xt), torch.as_tensor(yt)), batch_size=64, shuffle=True)
    val = DataLoader(TensorDataset(torch.as_tensor(xv), torch.as_tensor(yv)), batch_size=256)

    sitter = Babysitter(log_dir=args.out)
    trainer = pl.Trainer(max_epochs=args.epochs, accelerator="cpu", callbacks=[sitter], logger=False,
                         enable_checkpointing=False, enable_model_summary=False, enable_progress_bar=False)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*does not have many workers.*")   # in-memory data needs none
        trainer.fit(DigitsClassifier(), train, val)

    history = sitter.history
    print(f"validation accuracy {history.history['val_accuracy'][-1]:.3f}")
    for check in history.checks:
        if check.status != "pass":
            print(f"  {check.status}: {check.name} - {check.message}")
    print(f"diagnosis: {history.diagnosis.verdict}" if history.diagnosis is not None else history.diagnosis_note)
    print(f"report: {sitter.log_dir / 'report.html'}")


if __name__ == "__main__":
    main()
