"""Transfer with your own source weights and target data, described by a TOML file (``gradwise transfer --config``).

Example ``transfer.toml``::

    [source]
    arch = "resnet18"                 # a gradwise.models constructor (or "small_cnn", the example's CNN)
    weights = "resnet18.pth"          # .safetensors, .npz or PyTorch .pt/.pth
    num_classes = 1000                # classes of the source head, to build the model before loading

    [target]
    data = "images/"                  # an ImageFolder root (one sub-folder per class) or an .npz (x, y)
    size = [64, 64]                   # ImageFolder: resize to (H, W); mode = "RGB" or "L"
    mean = [0.485, 0.456, 0.406]      # the source's input normalisation (ImageNet's for torchvision)
    std = [0.229, 0.224, 0.225]
    val_fraction = 0.3
    similarity = "similar"            # to the source data: "similar" or "different"

    [train]
    strategy = "auto"                 # auto (the lecture's table), linear_probe, probe_stages,
                                      # fine_tune_few or fine_tune_all
    steps = 200
    lr = 1e-3                         # new head (and linear probes)
    fine_tune_lr = 1e-4               # pretrained layers
    babysit = true                    # fine-tuning: gradwise's checks while training (false: off)
    out = "transfer-out"              # fine-tuned weights and result.json go here

``layers`` (probes) and ``freeze`` (fine_tune_few) in ``[train]`` override the defaults.  Fine-tuning
trains with :func:`gradwise.train.fit` (:func:`gradwise.transfer.fine_tune`), validated after every
epoch; its run directory (history, checks, the curves' diagnosis; ``gradwise report out/run``)
is ``out/run``, and ``result.json`` carries the diagnosis and the checks that did not pass.
"""
from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from gradwise import models
from gradwise.data import train_val_split
from gradwise.nn.module import Module
from gradwise.tensor.random import manual_seed
from gradwise.train.config import ConfigError, did_you_mean
from gradwise.transfer._data import as_arrays, evaluate
from gradwise.transfer.advice import advise
from gradwise.transfer.finetune import fine_tune, layer_groups
from gradwise.transfer.heads import penultimate_layer
from gradwise.transfer.probe import linear_probe, probe_stages

STRATEGIES = ("linear_probe", "probe_stages", "fine_tune_few", "fine_tune_all")
# The table's cells -> strategies (advise().strategy wording -> config name).
_FROM_TABLE = {"Use Linear Classifier on top layer": "linear_probe",
               "You're in trouble... Try linear classifier from different stages": "probe_stages",
               "Finetune a few layers": "fine_tune_few", "Finetune a larger number of layers": "fine_tune_all"}


#: Every key each section accepts: a typo is an error that names it, never a silently used default.
KEYS: dict[str, tuple[str, ...]] = {
    "source": ("arch", "weights", "num_classes", "args"),
    "target": ("data", "size", "mode", "x_key", "y_key", "mean", "std", "val_fraction", "similarity"),
    "train": ("strategy", "steps", "lr", "fine_tune_lr", "babysit", "out", "seed", "layers", "freeze", "decay",
              "batch_size"),
}


def check_config(config: Mapping[str, Any]) -> None:
    """Refuse unknown sections and keys (with the closest allowed spelling), as ``gradwise train`` does."""
    for section, keys in config.items():
        if section not in KEYS:
            raise ConfigError(f"transfer config [{section}]: unknown section{did_you_mean(section, KEYS)}; sections: "
                              f"{', '.join(f'[{k}]' for k in KEYS)}")
        if not isinstance(keys, Mapping):
            raise ConfigError(f"transfer config [{section}]: expected a table of keys, got {keys!r}")
        for key in keys:
            if key not in KEYS[section]:
                raise ConfigError(f"transfer config [{section}] {key}: unknown key{did_you_mean(key, KEYS[section])}; "
                                  f"allowed keys: {', '.join(KEYS[section])}")


def build_source(section: dict[str, Any]) -> Module:
    """The source architecture with the source weights loaded (shapes and dtypes checked)."""
    from gradwise.transfer.example import small_cnn

    arch = section.get("arch")
    builders = {"small_cnn": small_cnn, **{n: getattr(models, n) for n in
                                           ("lenet5", "alexnet", "vgg11", "vgg11_bn", "resnet18", "resnet34", "resnet50")}}
    if arch not in builders:
        raise ValueError(f"[source] arch must be one of {sorted(builders)}, got {arch!r}")
    kwargs = dict(section.get("args", {}))
    if "num_classes" in section:
        kwargs["num_classes"] = int(section["num_classes"])
    model = builders[arch](**kwargs)
    if "weights" not in section:
        raise ValueError("[source] needs weights = <file> (safetensors, npz or PyTorch .pt/.pth)")
    models.load_into(model, section["weights"], cast=True)
    return model


def load_target(section: dict[str, Any], seed: int) -> tuple[tuple[np.ndarray, np.ndarray],
                                                             tuple[np.ndarray, np.ndarray], list[str]]:
    """``(train, val, class names)`` from an ImageFolder root or an .npz, normalised as configured."""
    from gradwise.data.datasets import ImageFolder, NPZDataset

    data = Path(section["data"])
    if data.is_dir():
        size = section.get("size")
        dataset = ImageFolder(data, mode=section.get("mode", "RGB"), size=tuple(size) if size else None)
        classes = list(dataset.classes)
    else:
        dataset = NPZDataset(data, x_key=section.get("x_key", "x"), y_key=section.get("y_key", "y"))
        classes = [str(c) for c in np.unique(dataset.targets)]
    x, y = as_arrays(dataset)
    x = x.astype(np.float32)
    if "mean" in section or "std" in section:
        shape = (1, -1, 1, 1) if x.ndim == 4 else (1, -1)
        mean = np.asarray(section.get("mean", 0.0), np.float32).reshape(shape)
        x = (x - mean) / np.asarray(section.get("std", 1.0), np.float32).reshape(shape)
    train, val = train_val_split((x, y), val_fraction=float(section.get("val_fraction", 0.3)), stratify=y, seed=seed)
    return tuple(train), tuple(val), classes


def run_config(path: str | os.PathLike, log=print) -> dict[str, Any]:
    """Run the transfer described by a TOML file; returns (and writes to ``out/result.json``) what happened."""
    config = tomllib.loads(Path(path).read_text())
    check_config(config)
    train_cfg = config.get("train", {})
    seed = int(train_cfg.get("seed", 0))
    manual_seed(seed)
    model = build_source(config.get("source", {}))
    (x_tr, y_tr), (x_val, y_val), classes = load_target(config.get("target", {}), seed)
    per_class = int(np.bincount(y_tr).min())
    advice = advise(per_class, config.get("target", {}).get("similarity", "similar"))
    strategy = train_cfg.get("strategy", "auto")
    if strategy == "auto":
        strategy = _FROM_TABLE[advice.strategy]
    if strategy not in STRATEGIES:
        raise ValueError(f"[train] strategy must be 'auto' or one of {STRATEGIES}, got {strategy!r}")
    log(f"{len(y_tr)} training images ({per_class}+ per class, {len(classes)} classes), {len(y_val)} validation")
    log(str(advice))
    lr, ft_lr = float(train_cfg.get("lr", 1e-3)), float(train_cfg.get("fine_tune_lr", 1e-4))
    result: dict[str, Any] = {"strategy": strategy, "advice": advice.strategy, "classes": classes,
                              "train_size": int(len(y_tr)), "val_size": int(len(y_val))}
    out = Path(train_cfg.get("out", "transfer-out"))
    out.mkdir(parents=True, exist_ok=True)
    if strategy in ("linear_probe", "probe_stages"):
        layers = train_cfg.get("layers") or ([penultimate_layer(model)] if strategy == "linear_probe"
                                             else probe_stages(model))
        probe = linear_probe(model, layers, (x_tr, y_tr), (x_val, y_val), num_classes=len(classes), lr=lr, seed=seed)
        result.update(layers=list(layers), val_accuracy=probe.accuracy, layer_accuracy=probe.layer_accuracy)
        models.save(probe.model.classifier, out / "probe_classifier.safetensors")
    else:
        frozen = None
        if strategy == "fine_tune_few":
            frozen = train_cfg.get("freeze", [g for group in layer_groups(model)[:-2] for g in group.split("+")])
        decay = 1.0 if strategy == "fine_tune_few" else float(train_cfg.get("decay", 0.7))
        history = fine_tune(model, (x_tr, y_tr), (x_val, y_val), num_classes=len(classes), freeze=frozen, lr=lr,
                            base_lr=ft_lr, decay=decay, steps=int(train_cfg.get("steps", 200)),
                            batch_size=int(train_cfg.get("batch_size", 32)), seed=seed,
                            babysit=bool(train_cfg.get("babysit", True)), log_dir=out / "run")
        if frozen is not None:
            result["frozen"] = [n for n, p in model.named_parameters() if not p.requires_grad]
        result["val_accuracy"] = evaluate(model, x_val, y_val)
        result["diagnosis"] = history.diagnosis.verdict if history.diagnosis is not None else history.diagnosis_note
        result["checks"] = [str(c) for c in history.checks if c.status not in ("pass", "skip")]
        for line in result["checks"]:
            log(line)
        models.save(model, out / "model.safetensors")
    (out / "result.json").write_text(json.dumps(result, indent=2))
    log(f"{strategy}: validation accuracy {result['val_accuracy']:.3f}; wrote {out}")
    return result
