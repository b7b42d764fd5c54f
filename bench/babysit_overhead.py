"""The babysitter's overhead on a normal run: the same training with and without ``babysit=True``.

The run: the demo's MLP 64-128-64-10 (ReLU, He init) on the embedded digits (1,437 training images,
standardized), Adam 1e-3, batch 32, ``--epochs`` epochs with validation, no progress bar and no files -
the same seed for both, so both runs do the same arithmetic (the babysitter's probes restore every
random stream; the script checks that the two histories agree).  The runs are interleaved
``--repeats`` times (alternating which goes first) and the minimum of each is kept, in wall time and
in this process's CPU time.  BLAS runs single-threaded: faster for matrices this small, and its
threads' spin-waiting stays out of the measurement.  The machine is shared and noisy - differences of
a couple of percent between sessions are noise - so the time spent inside the babysitter's own hooks
is also reported (measured in separate runs), split into its pre-training checks (``on_train_begin``:
data sample, init, first loss, the tiny-batch overfit) and the watching during training.

    .venv/bin/python bench/babysit_overhead.py [--epochs 20] [--repeats 7]
"""
from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")   # one BLAS thread: faster on these small matrices, and no spin-wait noise

import argparse
import time

import gradwise
import gradwise.nn as nn
from gradwise.data import train_val_split
from gradwise.data.datasets import load_digits
from gradwise.data.preprocessing import Standardize
from gradwise.train import fit
from gradwise.train.babysit import Babysitter


class TimedBabysitter(Babysitter):
    """A Babysitter that adds up the time spent in its own hooks."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds = {"pre_training": 0.0, "during_training": 0.0}


def _timed(hook: str, bucket: str):
    original = getattr(Babysitter, hook)

    def wrapper(self, *args):
        t = time.perf_counter()
        try:
            return original(self, *args)
        finally:
            self.seconds[bucket] += time.perf_counter() - t
    return wrapper


for _hook in ("on_train_begin", "on_epoch_begin", "on_batch_begin", "on_after_forward", "on_after_backward",
              "on_batch_end", "on_validation_end", "on_epoch_end", "on_train_end"):
    setattr(TimedBabysitter, _hook, _timed(_hook, "pre_training" if _hook == "on_train_begin" else "during_training"))


def data():
    images, labels = load_digits(flatten=True)
    (xt, yt), (xv, yv) = train_val_split((images, labels), val_fraction=0.2, stratify=labels, seed=0)
    scaler = Standardize().fit(xt)
    return (scaler.transform(xt), yt), (scaler.transform(xv), yv)


def run(train, val, epochs: int, sitter: Babysitter | None) -> tuple[float, float, list[float]]:
    """One training run: (wall seconds, CPU seconds, per-epoch training losses)."""
    gradwise.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10))
    nn.init.by_activation(model)
    start, cpu = time.perf_counter(), time.process_time()
    history = fit(model, train, val, loss="cross_entropy", optimizer=("adam", {"lr": 1e-3}), epochs=epochs,
                  batch_size=32, seed=0, progress=False, babysit=False, callbacks=[sitter] if sitter else ())
    return time.perf_counter() - start, time.process_time() - cpu, history["loss"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    train, val = data()
    run(train, val, 1, TimedBabysitter())   # warm up (imports, caches)
    plain, sat, histories = [], [], []
    for i in range(args.repeats):
        order = ("off", "on") if i % 2 == 0 else ("on", "off")   # alternate, so that drifts of the machine cancel
        for which in order:
            wall, cpu, losses = run(train, val, args.epochs, Babysitter() if which == "on" else None)
            (sat if which == "on" else plain).append((wall, cpu))
            histories.append(losses)
    if any(h != histories[0] for h in histories):
        raise SystemExit("the babysitter changed the training run (the histories differ)")
    parts = []
    for _ in range(3):   # the split, in separate runs: the timing wrappers cost a little themselves
        sitter = TimedBabysitter()
        run(train, val, args.epochs, sitter)
        parts.append(sitter.seconds)
    (w_off, c_off), (w_on, c_on) = [tuple(min(x[i] for x in runs) for i in range(2)) for runs in (plain, sat)]
    pre = min(p["pre_training"] for p in parts)
    during = min(p["during_training"] for p in parts)
    print(f"digits MLP 64-128-64-10, Adam 1e-3, batch 32, {args.epochs} epochs, {args.repeats} repeats (min):")
    print(f"  without babysitter   wall {w_off:6.3f} s   cpu {c_off:6.3f} s")
    print(f"  with babysitter      wall {w_on:6.3f} s   cpu {c_on:6.3f} s")
    print(f"  overhead             wall {100 * (w_on - w_off) / w_off:+5.1f} %    "
          f"cpu {100 * (c_on - c_off) / c_off:+5.1f} %")
    print(f"  inside the babysitter's hooks: {100 * (pre + during) / w_off:.1f} % of the run "
          f"(pre-training checks {pre * 1e3:.0f} ms = {100 * pre / w_off:.1f} %, "
          f"watching while training {during * 1e3:.0f} ms = {100 * during / w_off:.1f} %)")
    print("  identical training histories with and without the babysitter: yes")


if __name__ == "__main__":
    main()
