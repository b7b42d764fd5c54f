"""Run by tests/test_fit_torch.py under ``torchrun --nproc_per_node=2``: fit() on a PyTorch model, unchanged.

argv: RUN_DIR EPOCHS [RESUME_CHECKPOINT]; each process writes rank<R>.json beside RUN_DIR.
"""
import json
import os
import sys

import torch

from gradwise.data.datasets import load_digits
from gradwise.train import Callback, fit


class CountSteps(Callback):
    def __init__(self) -> None:
        self.steps = 0

    def on_batch_end(self, trainer, batch_index, logs) -> None:
        self.steps += 1


run_dir, epochs = sys.argv[1], int(sys.argv[2])
resume = sys.argv[3] if len(sys.argv) > 3 else None
x, y = load_digits(flatten=True, normalize=True)
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))
counter = CountSteps()
rank = int(os.environ["RANK"])
nan_at = int(os.environ.get("GRADWISE_TEST_NAN_AT", "0"))   # > 0: rank 1's loss is NaN at this step
calls = [0]


def loss(out, target):
    calls[0] += 1
    value = torch.nn.functional.cross_entropy(out, target)
    if rank == 1 and out.requires_grad and calls[0] == nan_at:
        value = value * float("nan")
    return value


history = fit(model, (x[:1400], y[:1400]), (x[1400:], y[1400:]), loss=loss if nan_at else "cross_entropy",
              optimizer=("sgd", {"lr": 0.1}),
              epochs=epochs, batch_size=32, seed=0, log_dir=run_dir, progress=False, resume=resume,
              callbacks=[counter])
out = {"stop_reason": history.stop_reason, "rank": rank, "world": int(os.environ["WORLD_SIZE"]), "records": history.records, "steps": counter.steps,
       "params": {k: v.tolist() for k, v in model.state_dict().items()}}
with open(os.path.join(os.path.dirname(run_dir), f"rank{rank}.json"), "w") as f:
    json.dump(out, f)
