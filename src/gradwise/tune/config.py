"""A search described by a TOML file: the training config of ``gradwise train`` plus ``[tune]`` and ``[tune.space]``.

``gradwise tune config.toml`` reads the same ``[data] [model] [optim] [schedule] [train]`` sections as
``gradwise train`` (they are the base configuration every trial starts from) and two more::

    [tune]
    n_trials = 30              # trials to finish (complete or pruned) in the whole study, all workers together
    sampler = "tpe"            # tpe | random | grid                 (Optuna's samplers)
    pruner = "median"          # median | halving | hyperband | none (Optuna's pruners)
    metric = "val_loss"        # val_loss (minimised) | val_accuracy (maximised); chosen on validation only
    seed = 0                   # makes the search reproducible (with n_jobs = 1)
    n_jobs = 2                 # worker processes on this machine
    storage = ""               # an Optuna storage URL; "" = sqlite:///<run dir>/study.db
    device = ""                # where PyTorch models train: "" (the CPU), "cpu", "cuda", "cuda:N"
    confirm_top = 3            # at the end, re-train the 3 best trials ...
    confirm_seeds = 2          # ... with 2 more seeds each, and crown the best mean (0: off)
    baseline = true            # also train the base config with those seeds: does the best really beat it?

    [tune.space]
    optim.lr = { low = 1e-4, high = 1e-1, log = true }
    optim.name = ["adam", "sgd"]
    optim.momentum = { low = 0.5, high = 0.99, when = { "optim.name" = "sgd" } }
    model.width = { low = 32, high = 256, log = true }      # integers give an Int dimension
    model.depth = { low = 1, high = 3 }

Your own model - gradwise or PyTorch - comes from a factory function named in ``[model]``::

    [model]
    factory = "mypkg.models:build"     # an importable module:function; see gradwise.tune.factory
    channels = 16                      # with a factory, any other [model] key goes to it

    [tune.space]
    model.width = { low = 16, high = 128, log = true }    # build(width=...) if build declares width

A dimension is a list (categorical), a table with ``choices`` (and ``when``), or a table with ``low`` and
``high`` (and ``log``, ``step``, ``type = "int" | "float"``, ``when``, ``grid_points``).  Every key and
value is checked against the training config before the first trial: an error names the key, e.g.
``config [tune.space] optim.name: choice 'adamm': config [optim] name: 'adamm' is not one of adam, sgd, ...``.
"""
from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from gradwise.train.config import (SCHEMA, Config, ConfigError, DataBundle, build_data, did_you_mean, parse_config,
                                   read_toml)
from gradwise.tune.factory import accepted_keys, factory_name
from gradwise.tune.space import TUNE_ONLY_KEYS, Categorical, Float, Int, SearchSpace

__all__ = ["TuneSettings", "TuneConfig", "DEFAULT_TUNE_CONFIG", "load_tune_config", "parse_tune_config",
           "parse_space", "check_space", "trial_config", "build_tune_data", "SAMPLERS", "PRUNERS", "METRICS",
           "IMPORTANCE_EVALUATORS"]

SAMPLERS = ("tpe", "random", "grid")
PRUNERS = ("median", "halving", "hyperband", "none")
#: Objective metric -> Optuna direction.
METRICS = {"val_loss": "minimize", "val_accuracy": "maximize"}
IMPORTANCE_EVALUATORS = ("ped_anova", "fanova", "mean_decrease_impurity")
#: Model kinds a search can build: the training config's, plus a small convnet whose filters can be tuned.
TUNE_MODEL_KINDS = ("mlp", "lenet5", "linear", "cnn")

DEFAULT_TUNE_CONFIG = """\
# gradwise tune: a small search on the embedded digits (1,797 8x8 images, 10 classes).
# The sections [data] ... [train] are the base run (as in `gradwise train --print-config`);
# every trial overrides the keys of [tune.space].
[data]
source = "digits"
val_fraction = 0.2         # the validation split every trial is judged on (stratified, fixed seed)
normalize = "standardize"

[model]
kind = "mlp"
hidden = [128, 64]
activation = "relu"
init = "by_activation"

[optim]
name = "adam"
lr = 0.001

[train]
epochs = 30
batch_size = 64
seed = 0
patience = 6               # early stopping on val_loss (as `gradwise train`)

[tune]
n_trials = 30
sampler = "tpe"
pruner = "median"
pruner_warmup_epochs = 5   # epoch-to-epoch noise on 359 validation digits: judge from epoch 6 on
metric = "val_loss"
seed = 0
n_jobs = 2

[tune.space]
optim.lr = { low = 1e-4, high = 3e-2, log = true }
optim.name = ["adam", "sgd"]
optim.momentum = { low = 0.8, high = 0.99, when = { "optim.name" = "sgd" } }
optim.weight_decay = { low = 1e-6, high = 1e-2, log = true }
model.width = { low = 32, high = 256, log = true }
model.depth = { low = 1, high = 3 }
model.dropout = { low = 0.0, high = 0.4 }
model.activation = ["relu", "tanh", "elu"]
schedule.kind = ["none", "cosine"]
"""


@dataclass
class TuneSettings:
    """The ``[tune]`` section: how the study runs (see the module docstring for each key)."""

    n_trials: int = 20
    sampler: str = "tpe"
    pruner: str = "median"
    metric: str = "val_loss"
    seed: int | None = 0
    n_jobs: int = 1
    storage: str = ""
    study_name: str = "gradwise-tune"
    device: str = ""
    timeout: float | None = None
    test_fraction: float = 0.0
    tpe_startup_trials: int = 8
    pruner_startup_trials: int = 4
    pruner_warmup_epochs: int = 3
    top_k: int = 5
    importance: str = "ped_anova"
    keep_trial_logs: bool = True
    confirm_top: int = 3
    confirm_seeds: int = 2
    baseline: bool = True

    @property
    def direction(self) -> str:
        return METRICS[self.metric]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_SETTING_RULES: dict[str, tuple[Any, Any]] = {
    "n_trials": (int, lambda v: None if v >= 1 else "must be at least 1"),
    "sampler": (str, SAMPLERS),
    "pruner": (str, PRUNERS),
    "metric": (str, tuple(METRICS)),
    "seed": (int, None),
    "n_jobs": (int, lambda v: None if v >= 1 else "must be at least 1"),
    "storage": (str, None),
    "device": (str, None),
    "study_name": (str, lambda v: None if v.strip() else "must not be empty"),
    "timeout": (float, lambda v: None if v > 0 else "must be positive"),
    "test_fraction": (float, lambda v: None if 0 <= v < 0.5 else "must lie in [0, 0.5)"),
    "tpe_startup_trials": (int, lambda v: None if v >= 0 else "must be at least 0"),
    "pruner_startup_trials": (int, lambda v: None if v >= 0 else "must be at least 0"),
    "pruner_warmup_epochs": (int, lambda v: None if v >= 0 else "must be at least 0"),
    "top_k": (int, lambda v: None if v >= 1 else "must be at least 1"),
    "importance": (str, IMPORTANCE_EVALUATORS),
    "keep_trial_logs": (bool, None),
    "confirm_top": (int, lambda v: None if v >= 0 else "must be at least 0"),
    "confirm_seeds": (int, lambda v: None if v >= 0 else "must be at least 0"),
    "baseline": (bool, None),
}


@dataclass
class TuneConfig:
    """A whole search: the base training config (TOML sections as a plain dict), the settings and the space.

    ``base`` stays a plain dict (not a validated :class:`~gradwise.train.config.Config`) because each
    trial applies its parameters to it and validates the result; it is what worker processes receive.
    """

    base: dict[str, Any]
    settings: TuneSettings = field(default_factory=TuneSettings)
    space: SearchSpace = field(default_factory=SearchSpace)
    source: str = "config"

    def describe(self) -> str:
        return "\n".join(f"  {line}" for line in self.space.describe())


# ============================================================================= parsing
def _err(where: str, message: str) -> ConfigError:
    return ConfigError(f"config [{where}] {message}")


def parse_settings(raw: Mapping[str, Any]) -> TuneSettings:
    """Validate the ``[tune]`` table (without its ``space`` sub-table)."""
    settings = TuneSettings()
    known = [f.name for f in fields(TuneSettings)]
    for key, value in raw.items():
        if key == "space":
            continue
        if key not in _SETTING_RULES:
            raise _err("tune", f"{key}: unknown key{did_you_mean(key, known)}; allowed keys: {', '.join(known)}, "
                               "and the [tune.space] table")
        kind, rule = _SETTING_RULES[key]
        ok = (isinstance(value, bool) if kind is bool else
              isinstance(value, int) and not isinstance(value, bool) if kind is int else
              isinstance(value, (int, float)) and not isinstance(value, bool) if kind is float else
              isinstance(value, str))
        if not ok:
            names = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}
            raise _err("tune", f"{key}: expected {names[kind]}, got {value!r}")
        if isinstance(rule, tuple) and value not in rule:
            raise _err("tune", f"{key}: {value!r} is not one of {', '.join(rule)}")
        if callable(rule):
            problem = rule(value)
            if problem:
                raise _err("tune", f"{key}: {value!r} {problem}")
        setattr(settings, key, float(value) if kind is float else value)
    return settings


_SPEC_KEYS = ("low", "high", "log", "step", "type", "choices", "when", "grid_points")


def _is_spec(value: Any) -> bool:
    return isinstance(value, list) or (isinstance(value, Mapping) and any(k in value for k in ("low", "high",
                                                                                                 "choices")))


def parse_space(raw: Mapping[str, Any]) -> SearchSpace:
    """The ``[tune.space]`` table as a :class:`SearchSpace`.

    Both ``optim.lr = {...}`` (a dotted TOML key, i.e. a nested table) and ``"optim.lr" = {...}`` work.
    """
    flat: dict[str, Any] = {}
    for key, value in raw.items():
        if _is_spec(value) or "." in key:
            flat[key] = value
        elif isinstance(value, Mapping):
            for sub, spec in value.items():
                flat[f"{key}.{sub}"] = spec
        else:
            raise _err("tune.space", f"{key}: expected a table of dimensions (optim.lr = {{ low = ..., high = ... }}) "
                                     f"or a list of choices, got {value!r}")
    dims = {}
    for name, spec in flat.items():
        try:
            dims[name] = _dimension(name, spec)
        except (ValueError, TypeError) as err:
            if isinstance(err, ConfigError):
                raise
            raise _err("tune.space", f"{name}: {err}") from None
    # TOML groups dotted keys by table, so a condition may come out before the key it refers to: add the
    # dimensions in file order, each once every key its `when` names is in.
    space, pending = SearchSpace(), list(dims)
    while pending:
        ready = [n for n in pending if all(k in space.dims for k in (dims[n].when or {}))]
        if not ready:
            name = pending[0]
            missing = [k for k in (dims[name].when or {}) if k not in space.dims]
            raise _err("tune.space", f"{name}: its condition refers to {missing[0]!r}, which is not a dimension of "
                                     "the space")
        for name in ready:
            space.add(name, dims[name])
        pending = [n for n in pending if n not in ready]
    return space


def _dimension(name: str, spec: Any) -> Any:
    if isinstance(spec, list):
        return Categorical(spec)
    if not isinstance(spec, Mapping):
        raise _err("tune.space", f"{name}: expected a list of choices or a table with low/high or choices; got "
                                 f"{spec!r} (fixed values belong in the base sections, e.g. [optim] lr = 0.01)")
    for key in spec:
        if key not in _SPEC_KEYS:
            raise _err("tune.space", f"{name}: unknown key {key!r}{did_you_mean(key, _SPEC_KEYS)}; a dimension takes "
                                     f"{', '.join(_SPEC_KEYS)}")
    when = spec.get("when")
    if when is not None and not isinstance(when, Mapping):
        raise _err("tune.space", f"{name}: when must be a table such as {{ \"optim.name\" = \"sgd\" }}, got {when!r}")
    if "choices" in spec:
        if not isinstance(spec["choices"], list):
            raise _err("tune.space", f"{name}: choices must be a list, got {spec['choices']!r}")
        return Categorical(spec["choices"], when=when)
    if "low" not in spec or "high" not in spec:
        raise _err("tune.space", f"{name}: a range needs both low and high (got {', '.join(spec)})")
    low, high = spec["low"], spec["high"]
    kind = spec.get("type")
    if kind not in (None, "int", "float"):
        raise _err("tune.space", f"{name}: type {kind!r} is not one of int, float")
    if kind is None:
        kind = "int" if all(isinstance(v, int) and not isinstance(v, bool) for v in (low, high)) else "float"
    extra = {k: spec[k] for k in ("log", "step", "grid_points") if k in spec}
    if kind == "int":
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (low, high)):
            raise _err("tune.space", f"{name}: type = 'int' needs integer low and high, got {low!r} and {high!r}")
        return Int(low, high, when=when, **extra)
    return Float(float(low), float(high), when=when, **extra)


def parse_tune_config(raw: Mapping[str, Any], source: str = "config") -> TuneConfig:
    """Split a parsed TOML document into base config, ``[tune]`` settings and ``[tune.space]``; check all three."""
    raw = copy.deepcopy(dict(raw))
    tune_raw = raw.pop("tune", {})
    if not isinstance(tune_raw, Mapping):
        raise _err("tune", f"expected a table of keys, got {tune_raw!r}")
    settings = parse_settings(tune_raw)
    space_raw = tune_raw.get("space", {})
    if not isinstance(space_raw, Mapping):
        raise _err("tune.space", f"expected a table of dimensions, got {space_raw!r}")
    space = parse_space(space_raw)
    cfg = TuneConfig(base=raw, settings=settings, space=space, source=source)
    check_space(cfg)
    return cfg


def load_tune_config(path: str | Path | None = None, overrides: Mapping[str, Mapping[str, Any]] | None = None
                     ) -> TuneConfig:
    """Read a search config (``None``: :data:`DEFAULT_TUNE_CONFIG`, the digits search), with ``overrides``
    (``{"tune": {"n_trials": 5}}``; ``None`` values are ignored) applied before checking."""
    raw, source = read_toml(path, DEFAULT_TUNE_CONFIG, "the embedded digits search", overrides)
    return parse_tune_config(raw, source)


# ============================================================================= checking the space
def check_space(cfg: TuneConfig) -> None:
    """Check every dimension against the training config: known key, and every value it can take accepted.

    Each categorical choice and each range end is applied to the base config (with the values its
    ``when`` condition requires) and validated by :func:`gradwise.train.config.parse_config`, so the
    error a bad value gets is the one ``gradwise train`` would give, prefixed with the search key.
    """
    _, base_arch = trial_config(cfg.base, {})   # the base itself must be valid
    factory = _checked_factory(base_arch, [n.split(".", 1)[1] for n in cfg.space if n.startswith("model.")])
    settings = cfg.settings
    if settings.sampler == "grid" and len(cfg.space) == 0:
        raise _err("tune", "sampler: 'grid' needs at least one dimension in [tune.space]")
    for name, dim in cfg.space.items():
        section, key = name.split(".", 1)
        if factory is not None and section == "model":
            accepted = accepted_keys(factory)
            if accepted is not None and key not in accepted:
                raise _err("tune.space", f"{name}: the factory {factory_name(base_arch.factory)} has no argument "
                                         f"{key!r} (it declares {', '.join(sorted(accepted)) or 'none'})")
        elif name not in TUNE_ONLY_KEYS and (section not in SCHEMA or key not in SCHEMA[section]):
            known = [f"{s}.{k}" for s, keys in SCHEMA.items() for k in keys if s != "data"] + list(TUNE_ONLY_KEYS)
            raise _err("tune.space", f"{name}: unknown key{did_you_mean(name, known)}; searchable keys: "
                                     f"{', '.join(known)}")
        integers = isinstance(dim, Int) and dim.low >= 1 or isinstance(dim, Categorical)
        if name in TUNE_ONLY_KEYS and factory is None and not integers:
            raise _err("tune.space", f"{name}: expected integers of at least 1 ({TUNE_ONLY_KEYS[name]})")
        condition = {k: v[0] if isinstance(v, (list, tuple)) else v for k, v in (dim.when or {}).items()}
        values = list(dim.choices) if isinstance(dim, Categorical) else [dim.low, dim.high]
        for value in values:
            what = f"choice {value!r}" if isinstance(dim, Categorical) else f"bound {value!r}"
            try:
                trial_config(cfg.base, {**condition, name: value})
            except ConfigError as err:
                raise _err("tune.space", f"{name}: {what}: {err}") from None


# ============================================================================= a trial's config
@dataclass
class Architecture:
    """What a trial's ``[model]`` says beyond the training config: the convnet kind and its filters."""

    kind: str = "mlp"
    filters: int = 16
    depth: int = 2
    #: ``[model] factory``: a ``"module:function"`` string or a function (None: a built-in model kind).
    factory: Any = None
    #: Keyword arguments the factory is offered from ``[model]`` (see :mod:`gradwise.tune.factory`).
    factory_args: dict[str, Any] = field(default_factory=dict)


def trial_config(base: Mapping[str, Any], params: Mapping[str, Any]) -> tuple[Config, Architecture]:
    """The validated training config of one trial: ``base`` with ``params`` (``"section.key" -> value``) applied.

    ``model.width``/``model.depth`` become ``model.hidden = [width] * depth`` (an unset one keeps the
    base's), except for ``kind = "cnn"`` where ``depth`` counts convolutions; ``model.kind = "cnn"`` and
    ``model.filters`` go into the returned :class:`Architecture`.  With ``[model] factory`` the whole
    ``[model]`` section belongs to the factory: its keys (base and sampled ``model.*``) become
    ``arch.factory_args`` as they are, and the training config keeps ``[model]``'s defaults.
    Raises ConfigError for an invalid result.
    """
    base_model = dict(base.get("model") or {})
    factory = base_model.pop("factory", None)
    raw = copy.deepcopy({k: v for k, v in base.items() if k not in ("tune", "model")})
    model = copy.deepcopy(base_model)
    if factory is not None:
        if not (callable(factory) or isinstance(factory, str)):
            raise ConfigError(f"config [model] factory: expected \"module:function\" or a function, got {factory!r}")
        for name, value in params.items():
            section, key = name.split(".", 1)
            if section == "model":
                model[key] = value
            else:
                table = raw.get(section)
                raw[section] = dict(table) if isinstance(table, Mapping) else {}
                raw[section][key] = value
        model.pop("kind", None)
        return parse_config(raw, source="trial"), Architecture(kind="factory", factory=factory, factory_args=model)
    extra = {k: model.pop(k) for k in ("width", "depth", "filters") if k in model}
    kind = model.get("kind", "mlp")
    for name, value in params.items():
        section, key = name.split(".", 1)
        if name in TUNE_ONLY_KEYS:
            extra[key] = value
        elif section == "model":
            if key == "kind":
                kind = value
            else:
                model[key] = value
        else:
            table = raw.get(section)
            raw[section] = dict(table) if isinstance(table, Mapping) else {}
            raw[section][key] = value
    if kind not in TUNE_MODEL_KINDS:
        raise ConfigError(f"config [model] kind: {kind!r} is not one of {', '.join(TUNE_MODEL_KINDS)}")
    for key, value in extra.items():
        if not (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
            raise ConfigError(f"config [model] {key}: expected an integer of at least 1, got {value!r}")
    arch = Architecture(kind=kind)
    hidden = list(model.get("hidden", SCHEMA["model"]["hidden"].default))
    if kind == "cnn":
        arch.filters = int(extra.get("filters", arch.filters))
        arch.depth = int(extra.get("depth", arch.depth))
        if "width" in extra:
            hidden = [int(extra["width"])]
        model["kind"] = "mlp"        # validated as an MLP head; the convolutions are added by the objective
    else:
        width = int(extra.get("width", hidden[0] if hidden else 64))
        depth = int(extra.get("depth", len(hidden)))
        if "width" in extra or "depth" in extra:
            hidden = [width] * depth
        model["kind"] = kind
    model["hidden"] = hidden
    raw["model"] = model
    return parse_config(raw, source="trial"), arch


def _checked_factory(arch: Architecture, searched: list[str]) -> Any:
    """The base config's factory function (imported now), checked to get a value for each argument without a
    default (from the built-in arguments, ``[model]`` or the ``searched`` model keys); None without a factory."""
    if arch.factory is None:
        return None
    from gradwise.tune.factory import BUILT_IN_ARGS, factory_kwargs, load_factory

    fn = load_factory(arch.factory)
    factory_kwargs(fn, {**dict.fromkeys([*BUILT_IN_ARGS, *searched]), **arch.factory_args}, arch.factory)
    return fn


# ============================================================================= data
_DATA_CACHE: dict[str, tuple[DataBundle, Any]] = {}


def build_tune_data(cfg: Config, test_fraction: float = 0.0) -> tuple[DataBundle, tuple[np.ndarray, np.ndarray] | None]:
    """The trial data (``[data]`` as ``gradwise train`` prepares it) and the held-out test set, if any.

    With ``test_fraction > 0`` a stratified test set is carved from the validation-plus-test share
    before normalization, and the normalization statistics come from the training split only; the
    test set is touched once, by the best trial, after the search.  Cached per process and data config.
    """
    key = json.dumps([cfg["data"], test_fraction], sort_keys=True, default=str)
    if key in _DATA_CACHE:
        return _DATA_CACHE[key]
    if test_fraction <= 0:
        result: tuple[DataBundle, Any] = (build_data(cfg), None)
    else:
        result = _with_test_split(cfg, test_fraction)
    _DATA_CACHE[key] = result
    return result


def _with_test_split(cfg: Config, test_fraction: float) -> tuple[DataBundle, tuple[np.ndarray, np.ndarray]]:
    from gradwise.data import train_val_split
    from gradwise.data.preprocessing import Standardize

    val_fraction = cfg["data"]["val_fraction"]
    if val_fraction <= 0:
        raise ConfigError("config [tune] test_fraction: needs validation data too ([data] val_fraction > 0)")
    if val_fraction + test_fraction >= 0.9:
        raise ConfigError(f"config [tune] test_fraction: {test_fraction} plus [data] val_fraction {val_fraction} "
                          "leave too little training data")
    raw_cfg = copy.deepcopy(cfg)
    raw_cfg["data"] = {**cfg["data"], "val_fraction": val_fraction + test_fraction, "normalize": "none"}
    bundle = build_data(raw_cfg)
    held_x, held_y = bundle.val
    classification = bundle.task == "classification"
    val, test = train_val_split((held_x, held_y), val_fraction=test_fraction / (val_fraction + test_fraction),
                                stratify=held_y if classification else None, seed=cfg["data"]["seed"] + 1)
    train = bundle.train
    notes = list(bundle.notes)
    mode = cfg["data"]["normalize"]
    if mode != "none":
        scaler = Standardize(per_channel=mode == "per_channel").fit(train[0])
        train = (scaler.transform(train[0]), train[1])
        val = (scaler.transform(val[0]), val[1])
        test = (scaler.transform(test[0]), test[1])
        notes.append("inputs standardized with statistics of the training split only")
    description = (f"{bundle.description.split(':')[0]}: {len(train[0])} training, {len(val[0])} validation and "
                   f"{len(test[0])} test samples")
    return DataBundle(train, val, bundle.task, bundle.outputs, bundle.input_shape, description, notes), test
