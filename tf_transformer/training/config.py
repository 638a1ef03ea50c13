"""The run config of `tf-transformer train`: one dataclass per YAML section.

Every field has a default and a comment; the defaults are the seed recipe on
cased text, and `tf_transformer/configs/seed.yaml` spells them all out (with the
seed's lowercasing). A config is read from a
YAML file (or a shipped name, e.g. "seed"), then `--set section.key=value`
overrides are applied; unknown keys and wrong types raise `ConfigError` naming
the key and what it accepts.
"""

import dataclasses
import importlib.resources
import os
import typing
from typing import Literal, Optional

import yaml

from tf_transformer import atomic
from tf_transformer.architecture import PRESETS, TransformerConfig, preset_config
from tf_transformer.errors import UserError


class ConfigError(UserError, ValueError):
    """A run config (file or `--set` override) names a bad key or value."""


# TransformerConfig fields that the `model` section does not set: the vocabulary
# sizes come from the tokenizers, padding removal from `training`.
_NOT_IN_MODEL_SECTION = ("src_vocab_size", "tgt_vocab_size", "remove_padding",
                         "packing_multiple")


def _overrides(self) -> dict:
    """The non-null architecture fields, for `Transformer.from_preset`."""
    return {
        key: value
        for key, value in dataclasses.asdict(self).items()
        if key != "preset" and value is not None
    }


# Architecture: a `Transformer` preset, `preset` (seed | base | tiny:
# tf_transformer.architecture.PRESETS), whose non-null fields override it. Its
# fields are those of `TransformerConfig` (documented there), each optional.
ModelConfig = dataclasses.make_dataclass(
    "ModelConfig",
    [("preset", str, dataclasses.field(default="seed"))] + [
        (field.name, Optional[field.type], dataclasses.field(default=None))
        for field in dataclasses.fields(TransformerConfig)
        if field.name not in _NOT_IN_MODEL_SECTION
    ],
    frozen=True,
    namespace={"overrides": _overrides, "__module__": __name__,
               "__doc__": "Architecture: a `Transformer` preset; non-null fields override it."},
)


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Where the sentence pairs come from (docs/own_data.md), tokenizers and batching."""

    source: str = "multi30k"  # multi30k | files | tfds:NAME/CONFIG
    source_language: Optional[str] = None  # multi30k: from pair; tfds: supervised_keys
    target_language: Optional[str] = None
    splits: Optional[dict] = None  # name -> files (TSV / [source, target]) or TFDS split
    pair: Literal["de-en", "en-de"] = "de-en"  # multi30k: TFDS config, source-target
    data_dir: Optional[str] = None  # raw Multi30k files; null: $MULTI30K_DIR
    tfds_dir: Optional[str] = None  # where TFDS stores the built dataset; null: TFDS default
    vocab_size: int = 8000  # subword vocabulary per language, specials included
    joint_vocabulary: bool = False  # true: one vocabulary for both languages
    tokenizer_sample: int = 1_000_000  # training pairs sampled (reservoir) for the tokenizers
    lowercase: bool = False  # true: lowercase both sides (the seed does); false scores cased BLEU
    max_length: int = 128  # pairs with more tokens on a side are dropped from training
    batch_size: int = 128  # sentence pairs per batch (when max_tokens is 0)
    max_tokens: int = 0  # >0: length-bucketed batches of about this many tokens
    shuffle_buffer: int = 30000  # pairs; >= the training set gives a full shuffle


@dataclasses.dataclass(frozen=True)
class OptimizerConfig:
    """Adam(W), learning-rate schedule, clipping, gradient accumulation."""

    name: Literal["adam", "adamw"] = "adam"  # adamw: decoupled weight decay
    learning_rate: float = 5e-4  # constant rate, or the peak of inverse_sqrt / cosine
    beta_1: float = 0.9
    beta_2: float = 0.98
    epsilon: float = 1e-9
    weight_decay: float = 0.0  # adamw only; not applied to biases, norms, embeddings
    # inverse_sqrt: Noam warm-up, then 1/sqrt(step); cosine: warm-up, then down to zero
    # at the last epoch
    schedule: Literal["constant", "inverse_sqrt", "cosine"] = "constant"
    warmup_steps: int = 4000  # optimizer updates to reach the peak (inverse_sqrt, cosine)
    clip_global_norm: Optional[float] = None  # clip gradients to this global norm
    gradient_accumulation_steps: int = 1  # batches per update (>1 accumulates)

    def __post_init__(self):
        if self.weight_decay and self.name != "adamw":
            raise ConfigError(
                f"optimizer.weight_decay={self.weight_decay} needs optimizer.name=adamw "
                f"(got {self.name!r})."
            )


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
    """Loss, length of training, precision, compilation, devices."""

    epochs: int = 18  # passes over the training data
    steps_per_epoch: Optional[int] = None  # null: one pass; else batches per epoch
    validation_steps: Optional[int] = None  # null: the whole validation split
    label_smoothing: float = 0.0  # 0: plain cross-entropy, as in the seed
    seed: int = 1234  # weights, dropout and shuffling
    # auto: mixed_float16 on a GPU, mixed_bfloat16 on a CPU with bf16, else float32.
    mixed_precision: Literal["auto", "float32", "mixed_bfloat16", "mixed_float16"] = "float32"
    jit_compile: bool = False  # XLA-compile the train step
    remove_padding: bool = True  # skip pad positions in position-wise layers (not with XLA)
    distribution: Literal["auto", "default", "mirrored", "multi_worker"] = "auto"
    intra_op_threads: int = 0  # 0: TensorFlow's choice
    inter_op_threads: int = 0  # 0: TensorFlow's choice


@dataclasses.dataclass(frozen=True)
class CallbacksConfig:
    """Checkpoints, backups, early stopping, validation BLEU."""

    backup_every_steps: int = 200  # BackupAndRestore frequency; 0: end of epochs only
    monitor: Literal["val_loss", "val_accuracy", "val_perplexity", "val_bleu"] = "val_loss"
    save_best: bool = True  # keep checkpoints/best.weights.h5 by `monitor`
    early_stopping_patience: int = 0  # epochs without improvement; 0: never stop early
    average_last: int = 1  # >1: average the last N epoch checkpoints
    final_weights: Literal["last", "best", "average"] = "last"  # model.weights.h5
    bleu_every_epochs: int = 0  # validation BLEU (greedy) every N epochs; 0: never
    bleu_samples: int = 500  # validation sentences scored by that BLEU


# How an ensemble's members' next-token distributions combine (`tf_transformer.ensemble`):
# linear: mean of the probabilities; log_linear: normalized geometric mean.
ENSEMBLE_MODES = ("linear", "log_linear")


@dataclasses.dataclass(frozen=True)
class DecodingConfig:
    """Search defaults of the exported model (`tf-transformer export`)."""

    beam_size: int = 4  # beam of serving_default; 1: greedy
    alpha: float = 0.6  # length penalty exponent: ((5 + len) / 6) ** alpha
    ensemble_mode: Literal[ENSEMBLE_MODES] = "linear"  # one of ENSEMBLE_MODES


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """One training run; YAML sections map to the fields below."""

    model: ModelConfig = ModelConfig()
    data: DataConfig = DataConfig()
    optimizer: OptimizerConfig = OptimizerConfig()
    training: TrainingConfig = TrainingConfig()
    callbacks: CallbacksConfig = CallbacksConfig()
    decoding: DecodingConfig = DecodingConfig()

    def __post_init__(self):
        _check_ranges(self)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


_POSITIVE = (
    "data.vocab_size", "data.tokenizer_sample", "data.max_length", "data.batch_size", "training.epochs",
    "optimizer.warmup_steps", "optimizer.gradient_accumulation_steps",
    "callbacks.average_last", "callbacks.bleu_samples", "decoding.beam_size",
    "optimizer.learning_rate", "optimizer.epsilon",
)
_NON_NEGATIVE = (
    "data.max_tokens", "data.shuffle_buffer", "optimizer.weight_decay",
    "training.intra_op_threads", "training.inter_op_threads",
    "callbacks.backup_every_steps", "callbacks.early_stopping_patience",
    "callbacks.bleu_every_epochs", "decoding.alpha",
)
_POSITIVE_OR_NULL = (
    "training.steps_per_epoch", "training.validation_steps",
    "optimizer.clip_global_norm", "model.d_model", "model.num_heads",
    "model.num_encoder_layers", "model.num_decoder_layers", "model.ff_dim",
    "model.max_length", "model.layer_norm_epsilon", "model.qkv_init_scale",
)
_FRACTIONS = ("optimizer.beta_1", "optimizer.beta_2", "training.label_smoothing",
              "model.dropout")  # in [0, 1)


def _get(config, key):
    section, name = key.split(".")
    return getattr(getattr(config, section), name)


def _check_ranges(config):
    for key in _POSITIVE + _POSITIVE_OR_NULL:
        value = _get(config, key)
        if value is not None and value <= 0:
            raise ConfigError(f"{key} must be > 0, got {value}.")
    for key in _NON_NEGATIVE:
        if _get(config, key) < 0:
            raise ConfigError(f"{key} must be >= 0, got {_get(config, key)}.")
    for key in _FRACTIONS:
        value = _get(config, key)
        if value is not None and not 0.0 <= value < 1.0:
            raise ConfigError(f"{key} must be in [0, 1), got {value}.")
    if not 0 <= config.training.seed < 2**32:  # NumPy's seed range
        raise ConfigError(f"training.seed must be in [0, 2**32), got {config.training.seed}.")
    if config.model.preset not in PRESETS:
        raise ConfigError(
            f"model.preset: {config.model.preset!r} is not one of {sorted(PRESETS)}."
        )
    try:  # the model's own checks, on the preset's values where not set
        model = preset_config(config.model.preset, 1, 1, **config.model.overrides())
    except ValueError as error:
        raise ConfigError(f"model: {error} (the preset's values unless set)") from None
    if config.data.max_length > model.max_length:
        raise ConfigError(
            f"data.max_length ({config.data.max_length}) must be <= the model's positions, "
            f"model.max_length ({model.max_length}, the preset's unless set): lower "
            "data.max_length or raise model.max_length."
        )
    if config.callbacks.final_weights == "average" and config.callbacks.average_last < 2:
        raise ConfigError(
            "callbacks.final_weights=average needs callbacks.average_last >= 2, "
            f"got {config.callbacks.average_last}."
        )
    source = config.data.source
    if source not in ("multi30k", "files") and not (source.startswith("tfds:") and source[5:]):
        raise ConfigError(f"data.source must be multi30k, files or tfds:NAME/CONFIG, got "
                          f"{source!r}.")
    if config.model.tie_all_embeddings and not config.data.joint_vocabulary:
        raise ConfigError("model.tie_all_embeddings=true needs data.joint_vocabulary=true "
                          "(the source and target share one embedding table).")
    if config.callbacks.final_weights == "best" and not config.callbacks.save_best:
        raise ConfigError("callbacks.final_weights=best needs callbacks.save_best=true.")
    if config.callbacks.monitor == "val_bleu" and not config.callbacks.bleu_every_epochs:
        raise ConfigError("callbacks.monitor=val_bleu needs callbacks.bleu_every_epochs >= 1.")


def _type_name(kind) -> str:
    if typing.get_origin(kind) is Literal:
        return f"one of {list(typing.get_args(kind))}"
    if typing.get_origin(kind) is typing.Union:
        inner = [arg for arg in typing.get_args(kind) if arg is not type(None)]
        return f"{_type_name(inner[0])} or null"
    return kind.__name__


def _coerce(key, value, kind):
    """`value` as type `kind`, or a `ConfigError` naming `key` and the type."""
    declared, origin = kind, typing.get_origin(kind)
    if origin is typing.Union:
        if value is None:
            return None
        kind = next(arg for arg in typing.get_args(kind) if arg is not type(None))
        origin = typing.get_origin(kind)
    if origin is Literal:
        if value in typing.get_args(kind):
            return value
    elif kind is float and not isinstance(value, bool):
        # PyYAML reads "1e-9" (no dot) as a string.
        try:
            return float(value)
        except (TypeError, ValueError):
            pass
    elif kind is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    elif kind in (bool, str, dict) and isinstance(value, kind):
        return value
    raise ConfigError(f"{key} must be {_type_name(declared)}, got {value!r}.")


def from_dict(values: dict) -> RunConfig:
    """A `RunConfig` from nested dicts; missing keys keep their defaults."""
    sections = {}
    if not isinstance(values, dict):
        raise ConfigError(f"A run config is a mapping of sections, got {values!r}.")
    hints = typing.get_type_hints(RunConfig)
    for section, entries in values.items():
        if section not in hints:
            raise ConfigError(
                f"Unknown config section {section!r}; valid sections: {sorted(hints)}."
            )
        if not isinstance(entries, dict):
            raise ConfigError(f"Config section {section!r} must be a mapping, got {entries!r}.")
        cls = hints[section]
        field_types = typing.get_type_hints(cls)
        kwargs = {}
        for name, value in entries.items():
            if name not in field_types:
                raise ConfigError(
                    f"Unknown config key {section}.{name}; valid keys of {section!r}: "
                    f"{sorted(field_types)}."
                )
            kwargs[name] = _coerce(f"{section}.{name}", value, field_types[name])
        sections[section] = cls(**kwargs)
    return RunConfig(**sections)


def apply_overrides(config: RunConfig, assignments: list) -> RunConfig:
    """Applies `["section.key=value", ...]`; values are parsed as YAML scalars."""
    values = config.to_dict()
    for assignment in assignments:
        key, sep, text = assignment.partition("=")
        if not sep or key.count(".") != 1:
            raise ConfigError(
                f"--set expects section.key=value (e.g. training.epochs=3), got {assignment!r}."
            )
        section, name = key.strip().split(".")
        if section not in values:
            raise ConfigError(
                f"Unknown config section {section!r} in --set {assignment!r}; "
                f"valid sections: {sorted(values)}."
            )
        values[section][name] = yaml.safe_load(text) if text.strip() else None
    return from_dict(values)


def shipped_configs() -> list:
    """Names of the configs in `tf_transformer/configs/` (e.g. "seed", "best")."""
    folder = importlib.resources.files("tf_transformer") / "configs"
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def _absolute_splits(values: dict, base_dir: str) -> dict:
    """`values` with the file paths of `data.splits` (source: files) made absolute,
    relative to `base_dir`, so that the run config means the same from any folder."""
    data = values.get("data")
    if not isinstance(data, dict) or data.get("source") != "files":
        return values
    if not isinstance(data.get("splits"), dict):
        return values

    def absolute(spec):
        if isinstance(spec, str):
            return os.path.join(base_dir, os.path.expanduser(spec))
        return [absolute(item) for item in spec] if isinstance(spec, list) else spec

    splits = {name: absolute(spec) for name, spec in data["splits"].items()}
    return {**values, "data": {**data, "splits": splits}}


def load(name_or_path: str, overrides: list = ()) -> RunConfig:
    """Reads a shipped config by name ("seed", "best") or a YAML file by path.

    File paths in `data.splits` are relative to the config file (to the current
    folder in `--set` overrides and shipped configs) and come back absolute.
    """
    base_dir = os.getcwd()
    if os.path.exists(name_or_path):
        base_dir = os.path.dirname(os.path.abspath(name_or_path))
        with open(name_or_path, encoding="utf-8") as f:
            text = f.read()
    elif name_or_path in shipped_configs():
        folder = importlib.resources.files("tf_transformer") / "configs"
        text = (folder / f"{name_or_path}.yaml").read_text(encoding="utf-8")
    else:
        raise ConfigError(
            f"No config file {name_or_path!r}; give a YAML path or one of "
            f"{shipped_configs()}."
        )
    try:
        values = yaml.safe_load(text) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"{name_or_path} is not valid YAML: {error}") from None
    config = apply_overrides(from_dict(_absolute_splits(values, base_dir)), list(overrides))
    return from_dict(_absolute_splits(config.to_dict(), os.getcwd()))


def dump(config: RunConfig, path: str) -> None:
    """Writes `config` as YAML (atomically: a crash leaves no half-written file)."""
    atomic.write_text(path, yaml.safe_dump(config.to_dict(), sort_keys=False))
