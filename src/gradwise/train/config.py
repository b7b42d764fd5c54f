"""Training runs described by a TOML file: what ``gradwise train [config.toml]`` and ``gradwise lr-find`` read.

A config has five sections; every key is optional and :data:`DEFAULT_CONFIG` (the embedded digits run,
what ``gradwise train --print-config`` prints) is the one source of the defaults: a partial file is that
config with the keys it gives changed, and :data:`SCHEMA`'s defaults are read from it.  ``[data]`` says
where the examples come from and how they are prepared (the lecture's first babysitting step: normalize
the input, with statistics of the training split only), ``[model]`` which network and how it is
initialised (the second step: for the activation that follows each layer), ``[optim]`` the solver,
``[schedule]`` the learning-rate schedule, ``[train]`` the loop's length and stopping conditions.

Every key is checked before anything runs; an error names the section, the key, the value and the
allowed values, e.g. ``config [optim] name: 'adamm' is not one of adam, sgd, adamw, ...``.
"""
from __future__ import annotations

import difflib
import inspect
import json
import math
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from gradwise.train.fit import LOSSES, optimizers

__all__ = ["ConfigError", "DEFAULT_CONFIG", "SCHEMA", "load_config", "parse_config", "DataBundle", "build_data",
           "build_model", "build_optimizer", "build_scheduler", "fit_kwargs", "logged_metrics", "RESUME_MAY_CHANGE",
           "resume_differences"]

DEFAULT_CONFIG = """\
# gradwise train: the embedded digits run (1,797 8x8 images of handwritten digits, 10 classes).
[data]
source = "digits"          # digits | npz | csv | mnist | image_folder
val_fraction = 0.2         # held out for validation, stratified by class
normalize = "standardize"  # standardize (per feature) | per_channel | none - fit on the training split only

[model]
kind = "mlp"               # mlp | lenet5 | linear
hidden = [128, 64]
activation = "relu"
init = "by_activation"     # He before ReLU, Xavier before tanh/sigmoid (the lecture's advice)

[optim]
name = "adam"
lr = 0.001

[schedule]
kind = "none"              # none | step | exponential | cosine | plateau | onecycle

[train]
epochs = 30
batch_size = 64
seed = 0
patience = 6               # early stopping on val_loss (0: off); the best epoch's weights are restored
"""

DATA_SOURCES = ("digits", "npz", "csv", "mnist", "image_folder")
MODEL_KINDS = ("mlp", "lenet5", "linear")
ACTIVATIONS = ("relu", "tanh", "sigmoid", "leaky_relu", "elu")   # gradwise.models.mlp.activation_layer's names
SCHEDULES = ("none", "step", "exponential", "cosine", "plateau", "onecycle")
#: Solvers offered in configs, the common ones first (SparseAdam is left out: it needs sparse gradients).
OPTIMIZER_ORDER = ("adam", "sgd", "adamw", "rmsprop", "nadam", "radam", "adagrad", "adadelta", "adamax", "asgd",
                   "rprop", "lbfgs")


class ConfigError(ValueError):
    """A config key with a wrong type or value; the message names ``[section] key`` and what is allowed."""


@dataclass(frozen=True)
class Key:
    """One config key: its type (``int``, ``float``, ``bool``, ``str``, ``"ints"``, ``"table"``), default and checks."""

    kind: Any
    default: Any = None
    choices: Callable[[], Sequence[str]] | Sequence[str] | None = None
    check: Callable[[Any], str | None] | None = None

    def allowed(self) -> Sequence[str] | None:
        return self.choices() if callable(self.choices) else self.choices


def _positive(v: Any) -> str | None:
    return None if math.isfinite(v) and v > 0 else "must be a finite number > 0"


def _at_least(n: int) -> Callable[[Any], str | None]:
    return lambda v: None if v >= n else f"must be at least {n}"


def _fraction(v: Any) -> str | None:
    return None if 0 <= v < 1 else "must lie in [0, 1)"


def _config_optimizers() -> list[str]:
    table = optimizers()
    return [n for n in OPTIMIZER_ORDER if n in table]


SCHEMA: dict[str, dict[str, Key]] = {
    "data": {
        "source": Key(str, "digits", DATA_SOURCES),
        "path": Key(str, None),
        "val_fraction": Key(float, 0.2, check=_fraction),
        "normalize": Key(str, "standardize", ("standardize", "per_channel", "none")),
        "target": Key((str, int), -1),
        "x_key": Key(str, "x"),
        "y_key": Key(str, "y"),
        "image_size": Key("ints", None),
        "grayscale": Key(bool, False),
        "limit": Key(int, None, check=_at_least(1)),
        "seed": Key(int, 0),
    },
    "model": {
        "kind": Key(str, "mlp", MODEL_KINDS),
        "hidden": Key("ints", [128, 64]),
        "activation": Key(str, "relu", ACTIVATIONS),
        "init": Key(str, "by_activation", ("by_activation", "default")),
        "dropout": Key(float, 0.0, check=_fraction),
    },
    "optim": {
        "name": Key(str, "adam", _config_optimizers),
        "lr": Key(float, 1e-3, check=_positive),
        "weight_decay": Key(float, None),
        "momentum": Key(float, None),
        "nesterov": Key(bool, None),
    },
    "schedule": {
        "kind": Key(str, "none", SCHEDULES),
        "step_size": Key(int, 10, check=_at_least(1)),
        "gamma": Key(float, 0.1, check=_positive),
        "factor": Key(float, 0.1, check=lambda v: None if 0 < v < 1 else "must lie in (0, 1)"),
        "patience": Key(int, 3, check=_at_least(0)),
        "min_lr": Key(float, 0.0),
        "max_lr": Key(float, None, check=_positive),
    },
    "train": {
        "epochs": Key(int, 30, check=_at_least(1)),
        "batch_size": Key(int, 64, check=_at_least(1)),
        "seed": Key(int, 0),
        "loss": Key(str, "auto", ("auto", *LOSSES)),
        "patience": Key(int, 6, check=_at_least(0)),    # 0: no early stopping
        "min_delta": Key(float, 0.0),
        "monitor": Key(str, "val_loss"),
        "restore_best_weights": Key(bool, True),
        "target": Key("table", None),
        "time_budget": Key(float, None, check=_positive),
        "babysit": Key(bool, True),
        "checkpoint_every": Key(int, 1, check=_at_least(0)),
        "tensorboard": Key(bool, False),
    },
}


def _embedded_defaults() -> None:
    """Make :data:`DEFAULT_CONFIG` the one source of the defaults: each key it sets becomes that key's default
    in :data:`SCHEMA`, so a partial config is merged over exactly what ``--print-config`` shows."""
    for section, values in tomllib.loads(DEFAULT_CONFIG).items():
        for key, value in values.items():
            SCHEMA[section][key] = replace(SCHEMA[section][key], default=value)


_embedded_defaults()

#: Keys a resumed run may change (``gradwise train CONFIG --resume CKPT``): how long and when to stop, what to
#: log.  Every other key (data, model, solver, schedule, batch size, seed, loss) must equal the run's own
#: ``config.json``, or the continuation would not be the run that was checkpointed.
RESUME_MAY_CHANGE: dict[str, frozenset[str]] = {
    "train": frozenset({"epochs", "patience", "min_delta", "restore_best_weights", "target", "time_budget",
                        "babysit", "checkpoint_every", "tensorboard"}),
}


class Config(dict):
    """The validated config: ``config["optim"]["lr"]``, every key present (defaults filled in)."""

    source: str = "config"


def _type_name(kind: Any) -> str:
    names = {int: "an integer", float: "a number", bool: "true or false", str: "a string",
             "ints": "a list of integers", "table": "a table of metric = value"}
    if isinstance(kind, tuple):
        return " or ".join(names[k] for k in kind)
    return names[kind]


def _valid_type(value: Any, kind: Any) -> bool:
    if isinstance(kind, tuple):
        return any(_valid_type(value, k) for k in kind)
    if kind is bool:
        return isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is str:
        return isinstance(value, str)
    if kind == "ints":
        return isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    if kind == "table":
        return isinstance(value, dict) and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                               for v in value.values())
    raise AssertionError(kind)


def did_you_mean(word: str, choices: Any) -> str:
    """`` (did you mean 'lr'?)`` for the closest allowed spelling, or ``""``: every config section's unknown-key
    message (``gradwise train``, ``tune`` and ``transfer``) names it the same way."""
    match = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1)
    return f" (did you mean {match[0]!r}?)" if match else ""


def parse_config(raw: Mapping[str, Any], source: str = "config") -> Config:
    """Validate a parsed TOML document against :data:`SCHEMA` and fill in the defaults."""
    unknown = [s for s in raw if s not in SCHEMA]
    if unknown:
        raise ConfigError(f"config: unknown section [{unknown[0]}]{did_you_mean(unknown[0], SCHEMA)}; the sections are "
                          f"{', '.join(f'[{s}]' for s in SCHEMA)}")
    cfg = Config()
    cfg.source = source
    for section, keys in SCHEMA.items():
        given = raw.get(section, {})
        if not isinstance(given, Mapping):
            raise ConfigError(f"config [{section}]: expected a table of keys, got {given!r}")
        for key in given:
            if key not in keys:
                raise ConfigError(f"config [{section}] {key}: unknown key{did_you_mean(key, keys)}; allowed keys: "
                                  f"{', '.join(keys)}")
        out: dict[str, Any] = {}
        for key, spec in keys.items():
            value = given.get(key, spec.default)
            if key in given:
                if not _valid_type(value, spec.kind):
                    raise ConfigError(f"config [{section}] {key}: expected {_type_name(spec.kind)}, got {value!r}")
                allowed = spec.allowed()
                if allowed is not None and value not in allowed:
                    raise ConfigError(f"config [{section}] {key}: {value!r} is not one of {', '.join(allowed)}")
                problem = spec.check(value) if spec.check else None
                if problem:
                    raise ConfigError(f"config [{section}] {key}: {value!r} {problem}")
            if spec.kind is float and isinstance(value, int):
                value = float(value)
            out[key] = value
        cfg[section] = out
    _cross_checks(cfg)
    return cfg


def _cross_checks(cfg: Config) -> None:
    data = cfg["data"]
    if data["source"] != "digits" and not data["path"]:
        raise ConfigError(f"config [data] path: required when source = {data['source']!r}")
    if data["image_size"] is not None and (len(data["image_size"]) != 2 or min(data["image_size"]) < 1):
        raise ConfigError(f"config [data] image_size: expected [height, width], got {data['image_size']!r}")
    if any(h < 1 for h in cfg["model"]["hidden"]):
        raise ConfigError(f"config [model] hidden: layer sizes must be positive, got {cfg['model']['hidden']!r}")
    opt = cfg["optim"]
    cls = optimizers()[opt["name"]]
    params = inspect.signature(cls.__init__).parameters
    for key in ("weight_decay", "momentum", "nesterov"):
        if opt[key] is not None and key not in params:
            takes = ", ".join(p for p in params if p not in ("self", "params"))
            raise ConfigError(f"config [optim] {key}: {opt['name']} has no {key} (its arguments: {takes})")
    _check_optimizer_values(cls, opt)
    if cfg["train"]["target"]:
        for metric in cfg["train"]["target"]:
            if metric not in ("loss", "accuracy", "val_loss", "val_accuracy"):
                raise ConfigError(f"config [train] target: {metric!r} is not one of loss, accuracy, val_loss, "
                                  "val_accuracy")


def _check_optimizer_values(cls: type, opt: Mapping[str, Any]) -> None:
    """Let the solver judge its hyper-parameters now, on a stand-in parameter, with PyTorch's messages and the
    valid range (``Invalid momentum value: 1.5 ...``), before any data is loaded."""
    from gradwise.nn import Parameter
    from gradwise.tensor.tensor import Tensor

    kwargs = {k: opt[k] for k in ("weight_decay", "momentum", "nesterov") if opt[k] is not None}
    try:
        cls([Parameter(Tensor(np.zeros(1, np.float32)))], lr=opt["lr"], **kwargs)
    except (ValueError, TypeError) as err:
        text = str(err)
        low = text.lower()
        key = ("lr" if "learning rate" in low else "nesterov" if "nesterov" in low else
               next((k for k in ("weight_decay", "momentum") if k in low), "name"))
        raise ConfigError(f"config [optim] {key}: {text}") from None


def load_config(path: str | Path | None = None, overrides: Mapping[str, Mapping[str, Any]] | None = None) -> Config:
    """Read and validate a TOML config (``None``: :data:`DEFAULT_CONFIG`), with ``overrides`` applied on top.

    Raises ``FileNotFoundError`` for a missing file and :class:`ConfigError` for invalid TOML or keys.
    """
    raw, source = read_toml(path, DEFAULT_CONFIG, "the embedded digits config", overrides)
    return parse_config(raw, source)


def read_toml(path: str | Path | None, default_text: str, default_name: str,
              overrides: Mapping[str, Mapping[str, Any]] | None = None) -> tuple[dict, str]:
    """The raw tables of a TOML file (or of ``default_text`` when ``path`` is None) with ``overrides``
    (``{"section": {"key": value}}``, ``None`` values ignored) merged in, and a name for messages."""
    if path is None:
        text, source = default_text, default_name
    else:
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"{p}: no such config file")
        text, source = p.read_text(encoding="utf-8"), str(p)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"config: {source} is not valid TOML ({err})") from None
    for section, values in (overrides or {}).items():
        raw.setdefault(section, {}).update({k: v for k, v in values.items() if v is not None})
    return raw, source


# ============================================================================= building the run
@dataclass
class DataBundle:
    """The prepared examples: ``train`` and ``val`` as ``(X, y)`` arrays, and what they are."""

    train: tuple[np.ndarray, np.ndarray]
    val: tuple[np.ndarray, np.ndarray] | None
    task: str                                  # "classification" | "regression"
    outputs: int                               # classes, or regression targets
    input_shape: tuple[int, ...]               # one sample's shape
    description: str
    notes: list[str] = field(default_factory=list)


def _load_arrays(data: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray, str]:
    from gradwise.data import datasets

    source, path = data["source"], data["path"]
    if source == "digits":
        x, y = datasets.load_digits()
        return x, y, "the embedded 8x8 digits"
    if source == "npz":
        ds = datasets.NPZDataset(path, x_key=data["x_key"], y_key=data["y_key"])
    elif source == "csv":
        ds = datasets.CSVDataset(path, target=data["target"])
    elif source == "mnist":
        ds = datasets.MNIST(path, train=True)
    else:
        size = tuple(data["image_size"]) if data["image_size"] else None
        folder = datasets.ImageFolder(path, mode="L" if data["grayscale"] else "RGB", size=size)
        samples = [folder[i] for i in range(len(folder))]
        shapes = {s[0].shape for s in samples}
        if len(shapes) > 1:
            raise ConfigError(f"config [data] image_size: the images in {path} have different sizes "
                              f"({', '.join(map(str, sorted(shapes)[:3]))}, ...); set image_size = [height, width]")
        return (np.stack([s[0] for s in samples]).astype(np.float32), np.array([s[1] for s in samples], np.int64),
                f"image folder {path}")
    x, y = ds.arrays[0], ds.arrays[-1]
    return np.asarray(x), np.asarray(y), f"{source} file {path}"


def build_data(cfg: Config) -> DataBundle:
    """Load ``[data]``, hold out the validation split, and normalize with training statistics only."""
    from gradwise.data import train_val_split
    from gradwise.data.preprocessing import Standardize

    data = cfg["data"]
    x, y, what = _load_arrays(data)
    if x.dtype.kind != "f":
        x = x.astype(np.float32)
    if data["limit"] is not None and data["limit"] < len(x):
        keep = np.sort(np.random.default_rng(data["seed"]).permutation(len(x))[:data["limit"]])
        x, y = x[keep], y[keep]
    classification = y.dtype.kind in "iub"
    if classification:
        y = y.astype(np.int64)
        outputs = int(y.max()) + 1
    else:
        y = y.astype(np.float32).reshape(len(y), -1)
        outputs = y.shape[1]
    if data["val_fraction"] > 0:
        train, val = train_val_split((x, y), val_fraction=data["val_fraction"],
                                     stratify=y if classification else None, seed=data["seed"])
    else:
        train, val = (x, y), None
    notes = []
    if data["normalize"] != "none":
        per_channel = data["normalize"] == "per_channel"
        if per_channel and x.ndim < 3:
            raise ConfigError("config [data] normalize: 'per_channel' needs image data (N, C, H, W); "
                              f"this data has samples of shape {x.shape[1:]}")
        scaler = Standardize(per_channel=per_channel).fit(train[0])
        train = (scaler.transform(train[0]), train[1])
        val = (scaler.transform(val[0]), val[1]) if val is not None else None
        notes.append(f"inputs standardized ({'per channel' if per_channel else 'per feature'}) with statistics "
                     "of the training split only")
    n_val = len(val[0]) if val is not None else 0
    kind = f"{outputs} classes" if classification else f"{outputs} regression target(s)"
    description = (f"{what}: {len(train[0])} training and {n_val} validation samples of shape "
                   f"{tuple(x.shape[1:])}, {kind}")
    return DataBundle(train, val, "classification" if classification else "regression", outputs,
                      tuple(x.shape[1:]), description, notes)


def build_model(cfg: Config, data: DataBundle) -> tuple[Any, list[Any]]:
    """The ``[model]`` network for ``data`` (from :mod:`gradwise.models`), initialised per ``[model] init``.

    Returns ``(model, init choices)``.  ``mlp``/``linear`` flatten image inputs first; ``lenet5`` is
    :func:`gradwise.models.lenet5` (LeCun et al., 1998), which needs images of at least 12x12 pixels.
    """
    import gradwise.nn as nn
    from gradwise.models import lenet5, mlp

    m = cfg["model"]
    shape = data.input_shape
    if m["kind"] == "lenet5":
        if len(shape) != 3:
            raise ConfigError(f"config [model] kind: 'lenet5' needs image data (C, H, W); [data] source "
                              f"{cfg['data']['source']!r} gives samples of shape {shape}")
        if min(shape[1:]) < 12:
            raise ConfigError(f"config [model] kind: 'lenet5' needs images of at least 12x12 pixels (its second 5x5 "
                              f"convolution is unpadded), got {shape[1]}x{shape[2]}; use kind = 'mlp'")
        model = lenet5(num_classes=data.outputs, in_channels=shape[0], activation=m["activation"])
    else:
        hidden = m["hidden"] if m["kind"] == "mlp" else []
        model = mlp([int(np.prod(shape)), *hidden, data.outputs], activation=m["activation"], dropout=m["dropout"])
        if len(shape) > 1:
            model = nn.Sequential(nn.Flatten(), model)
    choices = nn.init.by_activation(model) if m["init"] == "by_activation" else []
    return model, choices


def build_optimizer(cfg: Config, model: Any) -> Any:
    """The ``[optim]`` solver over the model's parameters, from the model's framework (``torch.optim`` for
    a PyTorch model)."""
    from gradwise.engines import engine_for

    opt = cfg["optim"]
    engine = engine_for(model)
    table = engine.optimizers()
    if opt["name"] not in table:
        raise ConfigError(f"config [optim] name: {opt['name']!r} is not a solver of {engine.display}")
    kwargs = {k: opt[k] for k in ("weight_decay", "momentum", "nesterov") if opt[k] is not None}
    return table[opt["name"]](model.parameters(), lr=opt["lr"], **kwargs)


def build_scheduler(cfg: Config, optimizer: Any, steps_per_epoch: int) -> Any:
    """The ``[schedule]`` learning-rate scheduler, or None, from the optimizer's framework
    (``torch.optim.lr_scheduler`` and gradwise's share class names and arguments)."""
    from gradwise.engines import engine_of

    if engine_of(optimizer) == "torch":
        from torch.optim import lr_scheduler as ls
    else:
        from gradwise.optim import lr_scheduler as ls

    s, epochs = cfg["schedule"], cfg["train"]["epochs"]
    kind = s["kind"]
    if kind == "none":
        return None
    if kind == "step":
        return ls.StepLR(optimizer, step_size=s["step_size"], gamma=s["gamma"])
    if kind == "exponential":
        return ls.ExponentialLR(optimizer, gamma=s["gamma"])
    if kind == "cosine":
        return ls.CosineAnnealingLR(optimizer, T_max=epochs, eta_min=s["min_lr"])
    if kind == "plateau":
        return ls.ReduceLROnPlateau(optimizer, factor=s["factor"], patience=s["patience"], min_lr=s["min_lr"])
    return ls.OneCycleLR(optimizer, max_lr=s["max_lr"] or 10 * cfg["optim"]["lr"], total_steps=epochs * steps_per_epoch)


def loss_name(cfg: Config, data: DataBundle) -> str:
    """``[train] loss``, where ``"auto"`` is cross-entropy for class labels and mean squared error otherwise."""
    name = cfg["train"]["loss"]
    if name == "auto":
        return "cross_entropy" if data.task == "classification" else "mse"
    return name


def logged_metrics(cfg: Config, data: DataBundle) -> list[str]:
    """The per-epoch numbers a run of this config logs (what ``[train] monitor`` and ``target`` may name):
    ``loss`` (and ``accuracy`` for a classification loss), each with a ``val_`` twin when there is validation data."""
    names = ["loss"] + (["accuracy"] if loss_name(cfg, data) in ("cross_entropy", "nll", "bce", "bce_with_logits")
                        else [])
    return names + [f"val_{n}" for n in names] if data.val is not None else names


def fit_kwargs(cfg: Config, data: DataBundle, optimizer: Any) -> dict[str, Any]:
    """The keyword arguments of :func:`gradwise.train.fit` that ``[train]`` and ``[schedule]`` decide.

    Checks first that ``[train] monitor`` names a number the run logs (a typo such as ``"val_acc"`` would
    otherwise fail only once training has begun)."""
    from gradwise.train.callbacks import EarlyStopping

    t = cfg["train"]
    steps = -(-len(data.train[0]) // t["batch_size"])
    logged = logged_metrics(cfg, data)
    if t["patience"] and t["monitor"] not in logged:
        if data.val is None and t["monitor"].startswith("val_"):
            raise ConfigError(f"config [train] monitor: early stopping on {t['monitor']!r} needs validation data "
                              "([data] val_fraction > 0); or set monitor = 'loss', or patience = 0 (no early stopping)")
        raise ConfigError(f"config [train] monitor: {t['monitor']!r} is not logged by this run; it logs "
                          f"{', '.join(logged)}")
    for metric in t["target"] or {}:
        if metric not in logged:
            raise ConfigError(f"config [train] target: {metric!r} is not logged by this run; it logs "
                              f"{', '.join(logged)}")
    stopper = EarlyStopping(monitor=t["monitor"], patience=t["patience"], min_delta=t["min_delta"],
                            restore_best_weights=t["restore_best_weights"]) if t["patience"] else None
    return dict(loss=loss_name(cfg, data), optimizer=optimizer, epochs=t["epochs"], batch_size=t["batch_size"],
                seed=t["seed"], scheduler=build_scheduler(cfg, optimizer, steps), early_stopping=stopper,
                target=t["target"] or None, time_budget=t["time_budget"], babysit=t["babysit"],
                checkpoint_every=t["checkpoint_every"])


def resume_differences(saved: Mapping[str, Any], cfg: Config) -> list[str]:
    """What a config changes that a resumed run must keep, against the run's saved ``config.json`` (``saved``):
    one ``"[section] key: saved -> now"`` line per key outside :data:`RESUME_MAY_CHANGE` (empty: compatible)."""
    now = json.loads(json.dumps(dict(cfg)))    # the JSON form config.json was written in
    out = []
    for section, keys in SCHEMA.items():
        for key in keys:
            if key in RESUME_MAY_CHANGE.get(section, ()):
                continue
            before = (saved.get(section) or {}).get(key, keys[key].default)
            after = now[section][key]
            if before != after:
                out.append(f"[{section}] {key}: {before!r} -> {after!r}")
    return out
