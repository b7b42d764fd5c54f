"""A worked, measured transfer-learning example on the embedded digits (runs offline in about a minute).

Source task: digits 0-4.  Target task: digits 5-9 with only 5, 10 or 20 labelled images per
class - "still not enough data!".  A small CNN is pre-trained on the source digits (once per
seed); then, on the target, seven ways to learn are compared on the same validation images (all
target images outside the labelled pool), averaged over several seeds:

* **linear on pixels** - no network at all: softmax regression on the standardised pixels,
  a yardstick for how hard the target task is;
* **scratch** - the same CNN, randomly initialised, trained on the few target images;
* **linear probe (top)** - the table's "linear classifier on top layer": pretrained network
  frozen, softmax regression on its penultimate (64-d) features;
* **linear probe (stages)** - the table's hard case, "linear classifier from different
  stages": features of every stage concatenated;
* **fine-tune few** - "finetune a few layers": new head, the convolutional ``features``
  frozen (BatchNorm statistics included), the classifier layers fine-tuned;
* **fine-tune all** - "finetune a larger number of layers": new head at the full learning
  rate, every pretrained layer at a smaller, discriminative one (:func:`param_groups`);
* **fine-tune all, full lr** - the same with the from-scratch rate everywhere, to measure
  the "10x smaller learning rate for fine-tuning" advice under this short training budget.

Digits 0-4 and 5-9 are the same kind of image (8x8 grey handwriting) but different
classes.  The measured numbers are printed as a table, written to
``transfer_results.csv``/``.md`` and plotted (accuracy against labelled images per class)
in ``transfer_accuracy.png``.

What it measured (seeds 0, 1, 2; 796 validation images; mean accuracy at 5 / 10 / 20 per
class): scratch 0.936 / 0.956 / 0.979; linear on pixels 0.868 / 0.892 / 0.941; linear probe
(stages) 0.869 / 0.907 / 0.945; linear probe (top) 0.701 / 0.786 / 0.880; fine-tune all at
the full rate 0.908 / 0.945 / 0.975, at the 10x smaller rate 0.732 / 0.791 / 0.827;
fine-tune few 0.658 / 0.719 / 0.765.  Transfer does **not** beat training from scratch
here: 5-9 is easy enough that a small CNN learns it from 25 images, and a network trained
to separate only 0-4 has top-layer features specialised to those classes (the top-layer
probe is the worst probe, the stage probe barely better than raw pixels) - the table's caveat
that the top layers transfer only between similar *tasks*, so 0-4 -> 5-9 behaves like its
"very different dataset" column.  With only 100 steps the 10x smaller fine-tuning rate
underfits; it pays off when the transferred weights are already close to what the target
needs and training runs long.
"""
from __future__ import annotations

import contextlib
import csv
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gradwise import nn, optim
from gradwise.data.datasets import load_digits
from gradwise.models.weights import save
from gradwise.nn.module import Module
from gradwise.tensor.random import manual_seed
from gradwise.tensor.tensor import Tensor
from gradwise.transfer._data import evaluate, train_steps
from gradwise.transfer.finetune import param_groups
from gradwise.transfer.freezing import freeze
from gradwise.transfer.heads import replace_head
from gradwise.transfer.probe import linear_probe, probe_features

METHODS = ("linear on pixels", "scratch", "linear probe (top)", "linear probe (stages)", "fine-tune few", "fine-tune all",
           "fine-tune all, full lr")
TOP_LAYER = "classifier.1"                                         # ReLU after the 64-unit hidden layer
STAGES = ["features.2", "features.6", "features.10", TOP_LAYER]   # 16x8x8, 32x4x4, 64x2x2, 64


def small_cnn(num_classes: int = 5, in_channels: int = 1) -> Module:
    """A three-stage CNN for 8x8 images in the AlexNet/VGG layout (``features``, ``classifier``)."""

    class SmallCNN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(in_channels, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
                nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
            )
            self.classifier = nn.Sequential(nn.Linear(64 * 2 * 2, 64), nn.ReLU(), nn.Dropout(0.3),
                                            nn.Linear(64, num_classes))

        def forward(self, x: Tensor) -> Tensor:
            return self.classifier(self.features(x).flatten(1))

    return SmallCNN()


@dataclass
class Split:
    """The source task and, for one seed, the target's labelled pool and validation images."""

    source_x: np.ndarray
    source_y: np.ndarray
    pool_x: np.ndarray         # (max_size * 5) labelled target images, class-major, nested by size
    pool_y: np.ndarray
    val_x: np.ndarray
    val_y: np.ndarray
    max_size: int

    def labelled(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        """The first ``size`` pool images of each class (so smaller sets are subsets of larger ones)."""
        keep = np.concatenate([np.flatnonzero(self.pool_y == c)[:size] for c in np.unique(self.pool_y)])
        return self.pool_x[keep], self.pool_y[keep]


def make_split(seed: int, max_size: int) -> Split:
    """Digits 0-4 as source; digits 5-9 (relabelled 0-4) split into a labelled pool and validation.

    Pixels are scaled with the source images' mean and standard deviation: the pretrained
    network's preprocessing goes with it to the target.
    """
    images, labels = load_digits(normalize=True)
    source = labels < 5
    mean, std = images[source].mean(), images[source].std()
    images = (images - mean) / std
    rng = np.random.default_rng(seed)
    pool, val = [], []
    for c in range(5, 10):
        idx = rng.permutation(np.flatnonzero(labels == c))
        pool.append(idx[:max_size])
        val.append(idx[max_size:])
    pool_idx, val_idx = np.concatenate(pool), np.concatenate(val)
    return Split(images[source], labels[source], images[pool_idx], labels[pool_idx] - 5, images[val_idx],
                 labels[val_idx] - 5, max_size)


def pretrain(split: Split, epochs: int = 5, seed: int = 0, lr: float = 2e-3) -> tuple[Module, float]:
    """The source model: the small CNN trained on digits 0-4 (85%), with its accuracy on the other 15%."""
    manual_seed(seed)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(split.source_x))
    cut = int(0.85 * len(order))
    tr, te = order[:cut], order[cut:]
    model = small_cnn(5)
    opt = optim.Adam(model.parameters(), lr=lr)
    steps = epochs * int(np.ceil(cut / 64))
    train_steps(model, opt, split.source_x[tr], split.source_y[tr], steps, 64, seed)
    return model, evaluate(model, split.source_x[te], split.source_y[te])


def transferred(source: Module) -> Module:
    """A copy of the pretrained model with a fresh 5-way head (the lecture's "change the final layer")."""
    model = small_cnn(5)
    model.load_state_dict(source.state_dict())
    replace_head(model, 5)
    return model


@dataclass
class Settings:
    """Training budget of each method (small, for 2 CPU cores)."""

    steps: int = 100             # optimizer steps for scratch and fine-tuning
    batch_size: int = 32
    lr: float = 1e-3             # from-scratch rate, and the new head's rate
    fine_tune_lr: float = 1e-4   # pretrained layers: 10x smaller, as the lecture's table advice
    probe_epochs: int = 200


def run_method(method: str, source: Module, x: np.ndarray, y: np.ndarray, split: Split, seed: int,
               settings: Settings) -> float:
    """Validation accuracy of one method trained on the labelled images ``x``, ``y``."""
    manual_seed(seed)
    if method == "linear on pixels":
        return probe_features([x.reshape(len(x), -1)], y, [split.val_x.reshape(len(split.val_x), -1)], split.val_y,
                              5, epochs=settings.probe_epochs, seed=seed)[0]
    if method.startswith("linear probe"):
        layers = [TOP_LAYER] if method.endswith("(top)") else STAGES
        return linear_probe(source, layers, (x, y), (split.val_x, split.val_y), num_classes=5,
                            epochs=settings.probe_epochs, per_layer=False, seed=seed).accuracy
    if method == "scratch":
        model = small_cnn(5)
        opt: optim.Optimizer = optim.Adam(model.parameters(), lr=settings.lr)
    elif method == "fine-tune few":
        model = transferred(source)
        freeze(model, "features")          # conv stages and their BatchNorm statistics stay as pretrained
        opt = optim.Adam(param_groups(model, settings.fine_tune_lr, decay=1.0, head_lr=settings.lr))
    elif method == "fine-tune all":
        model = transferred(source)
        opt = optim.Adam(param_groups(model, settings.fine_tune_lr, decay=0.7, head_lr=settings.lr))
    elif method == "fine-tune all, full lr":
        model = transferred(source)
        opt = optim.Adam(model.parameters(), lr=settings.lr)
    else:
        raise ValueError(f"unknown method {method!r}; choose from {METHODS}")
    train_steps(model, opt, x, y, settings.steps, settings.batch_size, seed)
    return evaluate(model, split.val_x, split.val_y)


@dataclass
class ExampleResult:
    """Accuracies by method and labelled images per class, one value per seed."""

    sizes: list[int]
    seeds: list[int]
    source_accuracy: list[float]
    val_size: int
    accuracies: dict[str, dict[int, list[float]]] = field(default_factory=dict)
    seconds: float = 0.0

    def mean_std(self, method: str, size: int) -> tuple[float, float]:
        values = np.array(self.accuracies[method][size])
        return float(values.mean()), float(values.std())

    def table(self) -> str:
        """A Markdown table: mean ± std validation accuracy over the seeds."""
        head = "| method | " + " | ".join(f"{s}/class" for s in self.sizes) + " |"
        rule = "|---|" + "---|" * len(self.sizes)
        rows = [f"| {m} | " + " | ".join("{:.3f} ± {:.3f}".format(*self.mean_std(m, s)) for s in self.sizes) + " |"
                for m in self.accuracies]
        return "\n".join([head, rule, *rows])

    def write(self, out: Path) -> list[Path]:
        """``transfer_results.csv``, ``transfer_results.md`` and ``transfer_accuracy.png`` under ``out``."""
        out.mkdir(parents=True, exist_ok=True)
        with open(out / "transfer_results.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["method", "per_class", "seed", "val_accuracy"])
            for method, by_size in self.accuracies.items():
                for size, values in by_size.items():
                    writer.writerows([method, size, seed, f"{v:.4f}"] for seed, v in zip(self.seeds, values))
        (out / "transfer_results.md").write_text(self.summary() + "\n")
        paths = [out / "transfer_results.csv", out / "transfer_results.md"]
        png = self.plot(out / "transfer_accuracy.png")
        return paths + ([png] if png else [])

    def summary(self) -> str:
        src = np.mean(self.source_accuracy)
        return (f"Transfer from digits 0-4 to digits 5-9, validation accuracy on {self.val_size} held-out 5-9 images "
                f"(mean ± std over seeds {self.seeds}; source model {src:.3f} on held-out 0-4; chance 0.200; "
                f"{self.seconds:.0f} s)\n\n" + self.table())

    def plot(self, path: Path) -> Path | None:
        """Accuracy against labelled images per class, one line per method (needs matplotlib)."""
        try:
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            return None
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        for method in self.accuracies:
            stats = np.array([self.mean_std(method, s) for s in self.sizes])
            ax.errorbar(self.sizes, stats[:, 0], yerr=stats[:, 1], marker="o", capsize=3, label=method)
        ax.axhline(0.2, color="grey", lw=0.8, ls=":", label="chance")
        ax.set_xscale("log", base=2)
        ax.set_xticks(self.sizes, [str(s) for s in self.sizes])
        ax.set_xlabel("labelled target images per class (digits 5-9)")
        ax.set_ylabel(f"validation accuracy ({self.val_size} images)")
        ax.set_ylim(0, 1)
        ax.set_title(f"Transfer from digits 0-4: mean ± std over {len(self.seeds)} seeds")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)
        return path


def _single_threaded_blas():
    """Small matrices run faster on one BLAS thread, especially on a shared machine (threadpoolctl, optional)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


def run_example(sizes: Sequence[int] = (5, 10, 20), seeds: Sequence[int] = (0, 1, 2), out: str | Path | None = None,
                methods: Sequence[str] = METHODS, settings: Settings | None = None, pretrain_epochs: int = 5,
                log: Callable[[str], None] | None = print) -> ExampleResult:
    """Run the comparison and (with ``out``) write the table, CSV, plot and the first seed's source model.

    The source model is pre-trained once per seed (the seed also picks the labelled
    target images, the validation set and every initialisation), then each method is
    trained on 5, 10, 20 ... labelled images per class and measured on the same validation
    images.
    """
    settings = settings or Settings()
    sizes, seeds = sorted(int(s) for s in sizes), [int(s) for s in seeds]
    log = log or (lambda message: None)
    start = time.perf_counter()
    result = ExampleResult(sizes, seeds, [], 0, {m: {s: [] for s in sizes} for m in methods})
    with _single_threaded_blas():
        for seed in seeds:
            split = make_split(seed, max(sizes))
            source, source_acc = pretrain(split, pretrain_epochs, seed)
            result.source_accuracy.append(source_acc)
            if out is not None and seed == seeds[0]:  # reusable: gradwise transfer --config (arch = "small_cnn")
                Path(out).mkdir(parents=True, exist_ok=True)
                save(source, Path(out) / "source_cnn.safetensors")
            result.val_size = len(split.val_y)
            log(f"seed {seed}: source CNN {source_acc:.3f} on held-out digits 0-4 "
                f"({time.perf_counter() - start:.0f} s)")
            for size in sizes:
                x, y = split.labelled(size)
                for method in methods:
                    acc = run_method(method, source, x, y, split, seed, settings)
                    result.accuracies[method][size].append(acc)
                    log(f"  {size:3d}/class  {method:22s} {acc:.3f}")
    result.seconds = time.perf_counter() - start
    if out is not None:
        for path in result.write(Path(out)):
            log(f"wrote {path}")
    log(result.summary())
    return result


if __name__ == "__main__":  # pragma: no cover
    run_example(out="transfer-example")
