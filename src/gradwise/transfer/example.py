"""A worked, measured transfer-learning example on the embedded digits (runs offline in a few minutes).

Source task: digits 0-4.  Target task: digits 5-9 with only 2, 5, 10 or 20 labelled images
per class - "still not enough data!".  A small CNN is pre-trained on the source digits (once
per seed: AdamW, 20 epochs, random one-pixel shifts; about 100% on held-out 0-4); then, on the
target, nine ways to learn are compared on the same validation images (all target images
outside the labelled pool), averaged over five seeds (each seed draws the labelled images,
the validation set and every initialisation):

* **linear on pixels** - no network at all: softmax regression on the standardised pixels,
  a yardstick for how hard the target task is;
* **scratch** - the same CNN, randomly initialised, trained on the few target images;
* **linear probe (top)** - the table's "linear classifier on top layer": pretrained network
  frozen, softmax regression on its penultimate (64-d) features;
* **linear probe (stages)** - the table's hard case, "linear classifier from different
  stages": features of every stage concatenated;
* **linear probe (CV stage)** - one stage, picked by cross-validation on the labelled images
  alone (:func:`cv_stage`);
* **fine-tune few** - "finetune a few layers": new head, the convolutional ``features``
  frozen (BatchNorm statistics included), the pretrained hidden classifier layer fine-tuned;
* **fine-tune all** - "finetune a larger number of layers": new head, every pretrained layer
  trained;
* **fine-tune all, new classifier** - only the convolutional ``features`` transferred (the
  lecture's AlexNet recipe: its conv layers encode visual features), the whole classifier
  re-initialised, everything trained;
* **fine-tune all, 10x smaller lr** - the lecture's fine-tuning advice: new head at the full
  rate, pretrained layers at a tenth of it, falling 0.7x per stage (:func:`param_groups`).

One fixed protocol (:class:`Settings`), set before the final measurement and never per
method: every network gets Adam at 1e-3, 100 steps, batches of 32, no early stopping; every
probe 200 full-batch epochs; nothing looks at the validation images except the final score.
(The variants were explored on seeds 100-103; the numbers below are seeds 0-4.)

What it measured (``gradwise transfer``; 796 validation images; mean ± std over seeds 0-4 at
2 / 5 / 10 / 20 labelled images per class):

* scratch                        0.819±0.061 / 0.935±0.005 / 0.956±0.011 / 0.975±0.009
* linear on pixels               0.777±0.018 / 0.876±0.018 / 0.893±0.013 / 0.938±0.005
* linear probe (top)             0.518±0.099 / 0.687±0.034 / 0.745±0.048 / 0.839±0.020
* linear probe (stages)          0.747±0.071 / 0.867±0.045 / 0.902±0.010 / 0.938±0.013
* linear probe (CV stage)        0.779±0.074 / 0.901±0.035 / 0.921±0.022 / 0.960±0.012
* fine-tune few                  0.759±0.058 / 0.865±0.037 / 0.904±0.012 / 0.930±0.018
* fine-tune all                  0.783±0.057 / 0.916±0.021 / 0.949±0.009 / 0.970±0.011
* fine-tune all, new classifier  0.861±0.047 / 0.943±0.010 / 0.959±0.009 / 0.978±0.009
* fine-tune all, 10x smaller lr  0.578±0.101 / 0.726±0.081 / 0.783±0.046 / 0.811±0.042

Paired with scratch (same seed, images and validation set), only "fine-tune all, new
classifier" wins, and clearly only at 2 per class (+0.042 ± 0.026; +0.008 ± 0.008 at 5, within
noise above).  Transfer does **not** clearly beat training from scratch here, for reasons the
measurements show:

* the target is easy: a CNN trained from scratch on 25 images reaches 0.935, so there is
  little left to gain from 5 labelled images per class up;
* the source is small and narrow (about 900 images of five classes), so what the network
  learns above its first stages is specific to 0-4: the penultimate features have collapsed
  onto the five source classes (the top-layer probe is far *below* raw pixels) - the
  table's point that top layers transfer only between similar *tasks*, so 0-4 -> 5-9
  behaves like its "very different dataset" column.  Methods that keep that layer (the
  top probe, fine-tune few, fine-tune all) lose to the ones that drop it;
* the convolutional stages do transfer: probing the middle stage (picked by
  cross-validation) beats pixels from 5 per class up, and re-using all conv stages under a
  new classifier is the one method at or above scratch at every size;
* with 100 steps the 10x smaller rate leaves the specialised layers nearly where they were:
  it pays off when the source features already fit the target, not here.

Outputs: the table (and the paired differences) are printed and written to
``transfer_results.csv``/``.md``; ``transfer_accuracy.png`` plots accuracy against labelled
images per class.
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
from gradwise.transfer.features import extract_features
from gradwise.transfer.finetune import param_groups
from gradwise.transfer.freezing import freeze
from gradwise.transfer.heads import replace_head
from gradwise.transfer.probe import linear_probe, probe_features

METHODS = ("linear on pixels", "scratch", "linear probe (top)", "linear probe (stages)", "linear probe (CV stage)",
           "fine-tune few", "fine-tune all", "fine-tune all, new classifier", "fine-tune all, 10x smaller lr")
PROBES = ("linear on pixels", "linear probe (top)", "linear probe (stages)", "linear probe (CV stage)")
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
    network's preprocessing goes with it to the target.  The validation images are every
    target image outside the pool, so they are the same for every method and every size.
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


def random_shift(x: np.ndarray, rng: np.random.Generator, max_shift: int = 1) -> np.ndarray:
    """Each (C, H, W) image moved by up to ``max_shift`` pixels in each direction, background-filled."""
    n, _, h, w = x.shape
    m = max_shift
    padded = np.pad(x, ((0, 0), (0, 0), (m, m), (m, m)), mode="constant", constant_values=x.min())
    dy, dx = rng.integers(0, 2 * m + 1, n), rng.integers(0, 2 * m + 1, n)
    return np.stack([padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(n)])


def pretrain(split: Split, epochs: int = 20, seed: int = 0, lr: float = 2e-3, weight_decay: float = 1e-2,
             augment: bool = True) -> tuple[Module, float]:
    """The source model: the small CNN trained on digits 0-4 (85%), with its accuracy on the other 15%.

    A standard recipe, fixed in advance and judged only on source data: AdamW with weight
    decay and, with ``augment``, random one-pixel shifts (so the filters learn pen strokes
    rather than fixed pixel positions).
    """
    manual_seed(seed)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(split.source_x))
    cut = int(0.85 * len(order))
    tr, te = order[:cut], order[cut:]
    model = small_cnn(5)
    opt = optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    steps = epochs * int(np.ceil(cut / 64))
    train_steps(model, opt, split.source_x[tr], split.source_y[tr], steps, 64, seed,
                augment=random_shift if augment else None)
    return model, evaluate(model, split.source_x[te], split.source_y[te])


def transferred(source: Module, new_classifier: bool = False) -> Module:
    """A copy of the pretrained model with a fresh 5-way head (the lecture's "change the final layer").

    With ``new_classifier`` only the convolutional ``features`` are transferred: the hidden
    classifier layer is re-initialised too.
    """
    model = small_cnn(5)
    model.load_state_dict(source.state_dict())
    if new_classifier:
        model.classifier = small_cnn(5).classifier
    else:
        replace_head(model, 5)
    return model


@dataclass
class Settings:
    """One fixed training protocol for every method (small, for 2 CPU cores).

    Nothing is tuned per method, and nothing looks at the validation images: every network
    gets the same optimizer (Adam), learning rate, steps and batches; the one exception is
    the "10x smaller lr" variant, which measures the lecture's advice for fine-tuning.
    """

    steps: int = 100             # optimizer steps for scratch and every fine-tuning
    batch_size: int = 32
    lr: float = 1e-3             # every trained parameter, pretrained or new
    fine_tune_lr: float = 1e-4   # "10x smaller lr": the pretrained layers' rate (falling 0.7x per stage)
    probe_epochs: int = 200
    cv_folds: int = 5            # "linear probe (CV stage)": folds of the labelled images


def cv_stage(source: Module, x: np.ndarray, y: np.ndarray, stages: Sequence[str], folds: int, epochs: int,
             seed: int) -> tuple[str, dict[str, float]]:
    """The stage whose linear probe has the best cross-validated accuracy on the labelled images alone.

    Stratified ``folds``-fold cross-validation (at most as many folds as images per class);
    the validation images are never used, so picking the stage this way is fair.
    Returns ``(stage, {stage: cv accuracy})``; ties go to the earlier stage.
    """
    feats = extract_features(source, list(stages), x)
    per_class = np.bincount(y).min()
    k = int(max(2, min(folds, per_class)))
    fold = np.empty(len(y), dtype=int)
    rng = np.random.default_rng(seed)
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        fold[idx] = np.arange(len(idx)) % k
    scores = {}
    for stage in stages:
        f = feats[stage]
        hits = 0.0
        for i in range(k):
            tr, te = fold != i, fold == i
            hits += probe_features([f[tr]], y[tr], [f[te]], y[te], int(y.max()) + 1, epochs=epochs,
                                   seed=seed)[0] * te.sum()
        scores[stage] = hits / len(y)
    best = max(stages, key=lambda s: (scores[s], -list(stages).index(s)))
    return best, scores


def run_method(method: str, source: Module, x: np.ndarray, y: np.ndarray, split: Split, seed: int,
               settings: Settings, info: dict | None = None) -> float:
    """Validation accuracy of one method trained on the labelled images ``x``, ``y``.

    ``info``, when given, receives the stage a cross-validated probe picked (``"stage"``, with
    ``"cv_scores"``) or
    the trained network (``"model"``).
    """
    manual_seed(seed)
    if method == "linear on pixels":
        return probe_features([x.reshape(len(x), -1)], y, [split.val_x.reshape(len(split.val_x), -1)], split.val_y,
                              5, epochs=settings.probe_epochs, seed=seed)[0]
    if method.startswith("linear probe"):
        if method.endswith("(top)"):
            layers = [TOP_LAYER]
        elif method.endswith("(stages)"):
            layers = STAGES
        else:
            stage, scores = cv_stage(source, x, y, STAGES, settings.cv_folds, settings.probe_epochs, seed)
            layers = [stage]
            if info is not None:
                info.update(stage=stage, cv_scores=scores)
        return linear_probe(source, layers, (x, y), (split.val_x, split.val_y), num_classes=5,
                            epochs=settings.probe_epochs, per_layer=False, seed=seed).accuracy
    if method == "scratch":
        model = small_cnn(5)
        opt: optim.Optimizer = optim.Adam(model.parameters(), lr=settings.lr)
    elif method == "fine-tune few":
        model = transferred(source)
        freeze(model, "features")          # conv stages and their BatchNorm statistics stay as pretrained
        opt = optim.Adam([p for p in model.parameters() if p.requires_grad], lr=settings.lr)
    elif method == "fine-tune all":
        model = transferred(source)
        opt = optim.Adam(model.parameters(), lr=settings.lr)
    elif method == "fine-tune all, new classifier":
        model = transferred(source, new_classifier=True)
        opt = optim.Adam(model.parameters(), lr=settings.lr)
    elif method == "fine-tune all, 10x smaller lr":
        model = transferred(source)
        opt = optim.Adam(param_groups(model, settings.fine_tune_lr, decay=0.7, head_lr=settings.lr))
    else:
        raise ValueError(f"unknown method {method!r}; choose from {METHODS}")
    train_steps(model, opt, x, y, settings.steps, settings.batch_size, seed)
    if info is not None:
        info["model"] = model
    return evaluate(model, split.val_x, split.val_y)


@dataclass
class ExampleResult:
    """Accuracies by method and labelled images per class, one value per seed."""

    sizes: list[int]
    seeds: list[int]
    source_accuracy: list[float]
    val_size: int
    accuracies: dict[str, dict[int, list[float]]] = field(default_factory=dict)
    cv_stages: dict[int, list[str]] = field(default_factory=dict)
    seconds: float = 0.0

    def mean_std(self, method: str, size: int) -> tuple[float, float]:
        values = np.array(self.accuracies[method][size])
        return float(values.mean()), float(values.std())

    def difference(self, method: str, size: int, baseline: str = "scratch") -> tuple[float, float]:
        """Mean ± std over seeds of ``method`` minus ``baseline`` (paired: same seed, images and validation)."""
        values = np.array(self.accuracies[method][size]) - np.array(self.accuracies[baseline][size])
        return float(values.mean()), float(values.std())

    def table(self) -> str:
        """A Markdown table: mean ± std validation accuracy over the seeds."""
        head = "| method | " + " | ".join(f"{s}/class" for s in self.sizes) + " |"
        rule = "|---|" + "---:|" * len(self.sizes)
        rows = [f"| {m} | " + " | ".join("{:.3f} ± {:.3f}".format(*self.mean_std(m, s)) for s in self.sizes) + " |"
                for m in self.accuracies]
        return "\n".join([head, rule, *rows])

    def difference_table(self, baseline: str = "scratch") -> str:
        """A Markdown table: each method's paired accuracy difference to ``baseline`` (mean ± std over seeds)."""
        if baseline not in self.accuracies:
            return ""
        head = f"| method − {baseline} | " + " | ".join(f"{s}/class" for s in self.sizes) + " |"
        rule = "|---|" + "---:|" * len(self.sizes)
        rows = [f"| {m} | " + " | ".join("{:+.3f} ± {:.3f}".format(*self.difference(m, s, baseline))
                                          for s in self.sizes) + " |"
                for m in self.accuracies if m != baseline]
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
        text = (f"Transfer from digits 0-4 to digits 5-9: validation accuracy on {self.val_size} held-out 5-9 images, "
                f"the same for every method (mean ± std over seeds {self.seeds}; source model {src:.3f} on held-out "
                f"0-4; chance 0.200; {self.seconds:.0f} s)\n\n" + self.table())
        diff = self.difference_table()
        if diff:
            text += ("\n\nPaired difference to training from scratch (same seed, labelled images and validation "
                     "images; mean ± std over seeds)\n\n" + diff)
        if self.cv_stages:
            picks = "; ".join(f"{s}/class: " + ", ".join(f"{st} ×{n}" for st, n in
                                                          zip(*np.unique(v, return_counts=True)))
                              for s, v in self.cv_stages.items())
            text += f"\n\nStages picked by cross-validation on the labelled images: {picks}"
        return text

    def plot(self, path: Path) -> Path | None:
        """Accuracy against labelled images per class: probes on the left, fine-tuning on the right (matplotlib)."""
        try:
            from gradwise.report.plots import agg_figure
        except ImportError:
            return None
        panels = [("fixed features (scratch for reference)",
                   [m for m in self.accuracies if m in PROBES or m == "scratch"]),
                  ("networks trained on the target", [m for m in self.accuracies if m not in PROBES])]
        panels = [(title, ms) for title, ms in panels if ms]
        lows = [self.mean_std(m, s)[0] - self.mean_std(m, s)[1] for m in self.accuracies for s in self.sizes]
        bottom = max(0.0, np.floor((min(lows) - 0.03) * 20) / 20)
        fig = agg_figure(figsize=(5.6 * len(panels), 4.6))
        axes = fig.subplots(1, len(panels), sharey=True, squeeze=False)
        colours = {m: f"C{i}" for i, m in enumerate(self.accuracies)}
        for ax, (title, methods) in zip(axes[0], panels):
            for method in methods:
                stats = np.array([self.mean_std(method, s) for s in self.sizes])
                scratch = method == "scratch"
                ax.errorbar(self.sizes, stats[:, 0], yerr=stats[:, 1], marker="o", capsize=3, label=method,
                            color="black" if scratch else colours[method], lw=2.2 if scratch else 1.4,
                            ls="--" if scratch else "-")
            if bottom < 0.2:
                ax.axhline(0.2, color="grey", lw=0.8, ls=":", label="chance")
            ax.set_xscale("log", base=2)
            ax.set_xticks(self.sizes, [str(s) for s in self.sizes])
            ax.set_xlabel("labelled target images per class (digits 5-9)")
            ax.set_title(title, fontsize=10)
            ax.set_ylim(bottom, 1.0)
            ax.grid(alpha=0.3)
            ax.legend(loc="lower right", fontsize=8)
        axes[0][0].set_ylabel(f"validation accuracy ({self.val_size} images)")
        fig.suptitle(f"Digits 0-4 → 5-9: mean ± std over {len(self.seeds)} seeds", fontsize=11)
        fig.savefig(path, dpi=120)
        return path


def _single_threaded_blas():
    """Small matrices run faster on one BLAS thread, especially on a shared machine (threadpoolctl, optional)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


def run_example(sizes: Sequence[int] = (2, 5, 10, 20), seeds: Sequence[int] = (0, 1, 2, 3, 4),
                out: str | Path | None = None, methods: Sequence[str] = METHODS, settings: Settings | None = None,
                pretrain_epochs: int = 20, augment: bool = True,
                log: Callable[[str], None] | None = print) -> ExampleResult:
    """Run the comparison and (with ``out``) write the table, CSV, plot and the first seed's source model.

    The source model is pre-trained once per seed (the seed also picks the labelled
    target images, the validation set and every initialisation), then each method is
    trained on 2, 5, 10, 20 ... labelled images per class and measured on the same validation
    images.
    """
    settings = settings or Settings()
    sizes, seeds = sorted(int(s) for s in sizes), [int(s) for s in seeds]
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown methods {unknown}; choose from {METHODS}")
    log = log or (lambda message: None)
    start = time.perf_counter()
    result = ExampleResult(sizes, seeds, [], 0, {m: {s: [] for s in sizes} for m in methods})
    with _single_threaded_blas():
        for seed in seeds:
            split = make_split(seed, max(sizes))
            source, source_acc = pretrain(split, pretrain_epochs, seed, augment=augment)
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
                    info: dict = {}
                    acc = run_method(method, source, x, y, split, seed, settings, info)
                    result.accuracies[method][size].append(acc)
                    if "stage" in info:
                        result.cv_stages.setdefault(size, []).append(info["stage"])
                    log(f"  {size:3d}/class  {method:30s} {acc:.3f}" + (f"  ({info['stage']})" if "stage" in info
                                                                           else ""))
    result.seconds = time.perf_counter() - start
    if out is not None:
        for path in result.write(Path(out)):
            log(f"wrote {path}")
    log(result.summary())
    return result


if __name__ == "__main__":  # pragma: no cover
    run_example(out="transfer-example")
