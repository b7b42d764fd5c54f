"""Run every benchmark of bench/ in turn and print its report (what ``make bench`` does).

Each script compares gradwise with hand-written NumPy and/or PyTorch *within one run* and
prints ratios; absolute times from different runs (or machines) are not comparable. The
README's performance table was filled from this output.

    .venv/bin/python bench/run_all.py [--quick] [--only NAME ...]

``--quick`` passes smaller sizes and fewer repeats to each script (a smoke run, noisier).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

# (script, full-run arguments, quick-run arguments), in the order of the README's table.
BENCHES: list[tuple[str, list[str], list[str]]] = [
    ("train_epoch.py", [], ["--mlp-samples", "4096", "--net-samples", "512", "--repeats", "1"]),
    ("small_ops.py", [], ["--repeats", "3", "--iters", "2"]),
    ("conv_kernels.py", [], ["--samples", "512", "--repeats", "2"]),
    ("optim_step.py", [], ["--steps", "5", "--rounds", "2"]),
    ("loader.py", [], ["--repeat", "1"]),
    ("augment.py", [], ["--repeats", "5"]),
    ("babysit_overhead.py", [], ["--epochs", "5", "--repeats", "2"]),
    ("torch_fit.py", [], ["--samples", "4096", "--repeats", "1"]),
    ("babysit_precision.py", [], ["--quick"]),
    ("diagnose_accuracy.py", [], []),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes and fewer repeats")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these scripts (e.g. optim_step)")
    args = parser.parse_args(argv)
    failed = []
    for script, full, quick in BENCHES:
        name = script.removesuffix(".py")
        if args.only and name not in args.only and script not in args.only:
            continue
        command = [sys.executable, str(HERE / script), *(quick if args.quick else full)]
        print(f"\n=== {name}: {' '.join(command[1:])}", flush=True)
        start = time.perf_counter()
        code = subprocess.call(command)
        print(f"=== {name}: {'ok' if code == 0 else f'FAILED (exit {code})'} in {time.perf_counter() - start:.0f} s",
              flush=True)
        if code != 0:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
