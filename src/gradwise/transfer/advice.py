"""The lecture's transfer-learning strategy table, as advice with reasons.

=====================  ===================================  =============================================
                       very similar dataset                 very different dataset
=====================  ===================================  =============================================
very little data       Use Linear Classifier on top layer   You're in trouble... Try linear classifier
                                                            from different stages
quite a lot of data    Finetune a few layers                Finetune a larger number of layers
=====================  ===================================  =============================================

"Very little data" is taken as fewer than :data:`LITTLE_DATA_PER_CLASS` labelled examples
per class.  That threshold is a rule of thumb, not a law: with ~100 images per class,
fine-tuning millions of weights overfits and a linear model on fixed features is the safer
bet; with several hundred to thousands it pays to adapt the encoder.  The worked example
(:mod:`gradwise.transfer.example`) measures the small-data end on the digits.

Given the model (``advise(..., model=resnet)``, a gradwise or a PyTorch/torchvision model), the
recipe names its real stages (``freeze(model, ['conv1', 'bn1', 'layer1'])``) and its framework's
optimizer (``torch.optim.Adam`` for PyTorch).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Below this many labelled examples per class the data counts as "very little" (rule of thumb).
LITTLE_DATA_PER_CLASS = 100
# Fine-tune with about this fraction of the from-scratch learning rate (e.g. Adam 1e-4 instead of 1e-3).
FINE_TUNE_LR_FACTOR = 0.1

_SIMILAR = {"similar", "very similar", "same", "close"}
_DIFFERENT = {"different", "very different", "dissimilar", "far"}


@dataclass
class Advice:
    """One cell of the table, with what to do and why."""

    data: str                      # "very little data" or "quite a lot of data"
    similarity: str                # "very similar dataset" or "very different dataset"
    strategy: str                  # the table's words
    transfer: str                  # where to transfer from (which layers to take)
    freeze: str                    # what to freeze
    train: str                     # what to train
    learning_rate: str             # which learning rate
    lr_factor: float | None        # fraction of the from-scratch rate for the pretrained layers (None: no fine-tuning)
    gradwise: str                  # the gradwise calls that carry it out
    reasons: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"{self.data}, {self.similarity}: {self.strategy}",
                 f"  transfer: {self.transfer}", f"  freeze:   {self.freeze}", f"  train:    {self.train}",
                 f"  learning rate: {self.learning_rate}", f"  in gradwise: {self.gradwise}", "  why:"]
        lines += [f"    - {r}" for r in self.reasons]
        return "\n".join(lines)


def _is_similar(similarity: str | float) -> bool:
    if isinstance(similarity, (int, float)) and not isinstance(similarity, bool):
        if not 0.0 <= similarity <= 1.0:
            raise ValueError(f"a numeric similarity must lie in [0, 1], got {similarity}")
        return similarity >= 0.5
    key = str(similarity).strip().lower()
    if key in _SIMILAR:
        return True
    if key in _DIFFERENT:
        return False
    raise ValueError(f"similarity must be 'similar', 'different' or a number in [0, 1], got {similarity!r}")


def advise(n_samples_per_class: int, similarity: str | float, threshold: int = LITTLE_DATA_PER_CLASS,
           model: Any = None) -> Advice:
    """The table's strategy for ``n_samples_per_class`` labelled examples and a source that is ``similarity``.

    ``similarity`` is "similar"/"different" or a score in [0, 1] (>= 0.5 is similar): how
    alike the target images and labels are to what the source model was trained on (cars ->
    trucks is similar; natural photos -> X-rays or 8x8 digits -> text is different).
    ``threshold`` is the examples-per-class count below which data is "very little".  With
    ``model`` (gradwise or PyTorch) the ``gradwise`` recipe names that model's stages and optimizer.
    """
    advice = _advise(n_samples_per_class, similarity, threshold)
    if model is not None:
        advice.gradwise = _recipe(advice.strategy, model)
    return advice


def _recipe(strategy: str, model: Any) -> str:
    """The calls that carry out ``strategy`` on ``model``, with its own stage names."""
    from gradwise.transfer._engine import framework
    from gradwise.transfer.finetune import layer_groups
    from gradwise.transfer.heads import find_head, penultimate_layer
    from gradwise.transfer.probe import probe_stages

    adam = "torch.optim.Adam" if framework(model).is_torch else "gradwise.optim.Adam"
    head = find_head(model)[0]
    if strategy == "Use Linear Classifier on top layer":
        return f"linear_probe(model, [{penultimate_layer(model)!r}], train, val)  # features before {head!r}"
    if strategy.endswith("Try linear classifier from different stages"):
        return f"linear_probe(model, {probe_stages(model)!r}, train, val)  # per_layer=True compares stages"
    early = [g for group in layer_groups(model)[:-2] for g in group.split("+")]
    if strategy == "Finetune a few layers":
        return (f"replace_head(model, k); freeze(model, {early!r}); "
                f"{adam}(param_groups(model, base_lr=1e-4, head_lr=1e-3))  # or fine_tune(model, ..., freeze=...)")
    return (f"replace_head(model, k); {adam}(param_groups(model, base_lr=1e-4, decay=0.5, head_lr=1e-3))  "
            "# or fine_tune(model, ..., base_lr=1e-4, decay=0.5)")


def _advise(n_samples_per_class: int, similarity: str | float, threshold: int) -> Advice:
    if n_samples_per_class < 1:
        raise ValueError(f"n_samples_per_class must be at least 1, got {n_samples_per_class}")
    little = n_samples_per_class < threshold
    similar = _is_similar(similarity)
    data = "very little data" if little else "quite a lot of data"
    sim = "very similar dataset" if similar else "very different dataset"
    lr_scratch = (f"about {FINE_TUNE_LR_FACTOR:g}x the from-scratch rate for the pretrained layers (e.g. Adam 1e-4 "
                  "instead of 1e-3), the full rate for the new head")
    count = (f"{n_samples_per_class} examples per class is {'below' if little else 'at or above'} the "
             f"{threshold}-per-class threshold for 'very little data'")
    if little and similar:
        return Advice(
            data, sim, "Use Linear Classifier on top layer",
            transfer="the whole network up to the penultimate layer (the top-layer features)",
            freeze="everything that is transferred, BatchNorm statistics included",
            train="only a new linear classifier (replace_head), on the fixed top-layer features",
            learning_rate="the usual rate for a linear model (e.g. Adam 1e-2..1e-3); the encoder is not trained",
            lr_factor=None,
            gradwise="linear_probe(model, [<penultimate stage>], train, val) or freeze(model); replace_head(...)",
            reasons=[count + ": fine-tuning millions of weights on so few examples overfits.",
                     "The source task is similar, so its top-layer features already separate the new classes; "
                     "a linear classifier has few parameters and cannot overfit much."])
    if little:
        return Advice(
            data, sim, "You're in trouble... Try linear classifier from different stages",
            transfer="several stages, including intermediate ones (earlier layers: generic edges and textures)",
            freeze="everything that is transferred",
            train="linear classifiers on each stage's features and on their concatenation; keep the best on held-out data",
            learning_rate="the usual rate for a linear model; the encoder is not trained",
            lr_factor=None,
            gradwise="linear_probe(model, ['layer2', 'layer3', 'layer4'], train, val)  # per_layer=True compares stages",
            reasons=[count + ": too little to fine-tune the encoder.",
                     "The source task is different, so the top layers are specialised to the wrong classes; the "
                     "more generic earlier stages may transfer better, and which one is best must be measured.",
                     "Expect modest accuracy: gather more labels or a closer source model if you can."])
    if similar:
        return Advice(
            data, sim, "Finetune a few layers",
            transfer="the whole network except the head",
            freeze="the early stages (generic features that already fit the similar data)",
            train="the last stage or two and a new head",
            learning_rate=lr_scratch,
            lr_factor=FINE_TUNE_LR_FACTOR,
            gradwise="replace_head(model, k); freeze(model, ['conv1', 'bn1', 'layer1', 'layer2', 'layer3']); "
                     "Adam(param_groups(model, base_lr=1e-4, head_lr=1e-3))",
            reasons=[count + ": enough to adapt some layers without overfitting.",
                     "The datasets are similar, so only the task-specific top layers need to change; a small "
                     "learning rate keeps the transferred weights close to their good starting point."])
    return Advice(
        data, sim, "Finetune a larger number of layers",
        transfer="the whole network except the head (the pretrained weights are still a better start than random)",
        freeze="little or nothing (perhaps the first stage)",
        train="most or all layers and a new head",
        learning_rate=lr_scratch + "; discriminative rates (smaller for earlier stages) help",
        lr_factor=FINE_TUNE_LR_FACTOR,
        gradwise="replace_head(model, k); Adam(param_groups(model, base_lr=1e-4, decay=0.5, head_lr=1e-3))",
        reasons=[count + ": enough data to adapt many layers.",
                 "The datasets differ, so features at many depths must change, not just the top ones."])


def strategy_table(threshold: int = LITTLE_DATA_PER_CLASS, model: Any = None) -> list[Advice]:
    """The advice for all four cells (little/a lot of data x similar/different), row by row (recipes for ``model``)."""
    return [advise(n, s, threshold, model) for n in (1, threshold) for s in ("similar", "different")]
