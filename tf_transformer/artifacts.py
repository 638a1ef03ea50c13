"""Where a model lives and how it is read back: a training run, an exported version, or
the shipped model.

Training writes these folders, decoding and export read them; all three import this
module, and none of them imports another for it.

A run directory (`tf-transformer train`, `tf_transformer.training.trainer`):

    RUN/config.yaml            the resolved run config
    RUN/vocab/*.model          the SentencePiece models of both languages (or the joint
                               one), named by `data.prepare.tokenizer_path`
    RUN/data.json              what `prepare` found: pairs and skipped lines per split
    RUN/model.weights.h5       final weights (`callbacks.final_weights`), no optimizer
    RUN/checkpoints/           best.weights.h5 (+ .json score), epoch-NNN.weights.h5
    RUN/backup/                full training state for resuming (`TrainingBackup`)
    RUN/logs/                  TensorBoard event files
    RUN/training_log.csv       one row of metrics per epoch
    RUN/.lock                  the pid of the process training RUN (`lock.run_lock`)

An exported version (`tf-transformer export`, `tf_transformer.export.exporter`):

    VERSION/saved_model.pb     the signatures of `export.serving.TranslationModule`
    VERSION/variables/         the weights, tracked as `model_variables` by `weight_key`
    VERSION/assets/config.yaml the run config; its `decoding` section is the search
                               `serving_default` runs
    VERSION/assets/*.model     the SentencePiece models (same names as in RUN/vocab/)
    VERSION/assets/member2.yaml, member3.yaml ...  an ensemble's other runs' configs
                               (`tf_transformer.ensemble`; config.yaml is the first member's)

`tf-transformer translate | evaluate | plot --model PATH` accept any of

    RUN/                        a `tf-transformer train` run (has config.yaml)
    RUN/checkpoints/FILE.weights.h5   that run with other weights (or RUN/FILE.weights.h5):
                                an epoch checkpoint as an ensemble member
    saved_models/NAME/VERSION/  an exported version (has saved_model.pb)
    saved_models/NAME/          a servable folder: its highest version

and without --model they use the shipped model, `saved_models/multi30k_de_en` of the
source checkout. It is not part of the wheel (68 MB): an installed wheel looks for it
in the current folder (a checkout) and otherwise asks for --model.

Importing this module does not import TensorFlow (`--help` answers at once); the
functions that build or load a model import it when called.

Example:
  >>> model, de, en = load_export("saved_models/multi30k_de_en/1")
  >>> model, de, en = load_run("runs/seed", weights="runs/seed/checkpoints/best.weights.h5")
"""

import filecmp
import os
from typing import NamedTuple

import numpy as np

from tf_transformer.errors import UserError
from tf_transformer.export.versions import existing_versions

SHIPPED_MODEL = os.path.join("saved_models", "multi30k_de_en")
CONFIG_FILE = "config.yaml"  # of a run; an export has it under ASSETS_DIR
WEIGHTS_FILE = "model.weights.h5"
WEIGHTS_SUFFIX = ".weights.h5"  # what Keras requires of `save_weights` files
SAVED_MODEL = "saved_model.pb"
ASSETS_DIR = "assets"
# Where a source checkout (or an editable install) has it.
CHECKOUT_SHIPPED_MODEL = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), SHIPPED_MODEL)
# Ids that create a model's variables: one pair of two tokens.
SAMPLE_INPUTS = (np.ones((1, 2), np.int32), np.ones((1, 2), np.int32))
_WHAT_MODEL_TAKES = ("--model takes a training run directory, a weights file in one "
                     "(RUN/checkpoints/*.weights.h5), an export version folder "
                     "(saved_models/NAME/VERSION) or a model folder (saved_models/NAME)")


class ExportError(UserError, ValueError):
    """A folder that is not a complete export of this version of tf_transformer."""


class ModelLocation(NamedTuple):
    kind: str  # "run" or "export"
    path: str  # the run directory or the version folder
    weights: str | None = None  # a run's weights file; None: its final weights


def shipped_model_dir() -> str:
    """The shipped model's folder, from a checkout (editable install) or the current folder."""
    for folder in (CHECKOUT_SHIPPED_MODEL, SHIPPED_MODEL):
        if existing_versions(folder):
            return folder
    raise UserError(
        f"The shipped model ({SHIPPED_MODEL}) comes with the source checkout, not with the "
        "wheel: run this in a clone of the project, or pass --model PATH.")


def locate(path: str | None) -> ModelLocation:
    """The run or export version at `path` (None: the shipped model); a weights file
    in a run (RUN/FILE.weights.h5, RUN/checkpoints/FILE.weights.h5) is that run with
    those weights."""
    path = shipped_model_dir() if path is None else path
    run_dir, weights = run_and_weights(path)
    if weights:
        return ModelLocation("run", run_dir, weights)
    if not os.path.isdir(path):
        raise UserError(f"{path} is not a folder: {_WHAT_MODEL_TAKES}.")
    if os.path.isfile(os.path.join(path, CONFIG_FILE)):
        return ModelLocation("run", path)
    if os.path.isfile(os.path.join(path, SAVED_MODEL)):
        return ModelLocation("export", path)
    versions = {number: name for number, name in existing_versions(path).items()
                if os.path.isfile(os.path.join(path, name, SAVED_MODEL))}
    if versions:
        return ModelLocation("export", os.path.join(path, versions[max(versions)]))
    raise UserError(f"{path} holds no {CONFIG_FILE} and no {SAVED_MODEL}: {_WHAT_MODEL_TAKES}.")


def run_and_weights(path: str) -> tuple:
    """(run directory, weights file) of a path naming a run: a weights file in a run
    (RUN/FILE.weights.h5 or RUN/checkpoints/FILE.weights.h5) gives (RUN, path); any other
    path (RUN, None): the run with its final weights."""
    if not path.endswith(WEIGHTS_SUFFIX):
        return path, None
    if not os.path.isfile(path):
        raise UserError(f"{path} not found.")
    folder = os.path.dirname(path) or os.curdir
    for run_dir in (folder, os.path.normpath(os.path.join(folder, os.pardir))):
        if os.path.isfile(os.path.join(run_dir, CONFIG_FILE)):
            return run_dir, path
    raise UserError(f"{path} is not in a training run: a weights file must lie in RUN/ or "
                    f"RUN/checkpoints/ of a `tf-transformer train` run (RUN/{CONFIG_FILE}).")


def build_model(config, src_vocab_size: int, tgt_vocab_size: int, model_class=None,
                **fields):
    """The `Transformer` of a `ModelConfig`: its preset with the config's non-null fields
    (and `fields`) as overrides, its variables created (freshly initialized; no weights
    loaded). `model_class` is a `Transformer` subclass to build instead (the trainer's
    `TrainingTransformer`)."""
    from tf_transformer.model import Transformer

    model = (model_class or Transformer).from_preset(
        config.preset, src_vocab_size=src_vocab_size, tgt_vocab_size=tgt_vocab_size,
        **config.overrides(), **fields)
    model(SAMPLE_INPUTS, training=False)
    return model


def weight_key(variable) -> str:
    """A Keras variable's path without the model's own name ("transformer_2/"), which
    depends on how many models the process has built."""
    return variable.path.split("/", 1)[-1]


def keyed_weights(model) -> dict:
    """A `Transformer`'s weights by `weight_key`; an `Ensemble`'s by "member1/" ...
    "memberN/" + `weight_key`: the keys under which an export stores them."""
    members = getattr(model, "members", None)
    if members is None:
        return {weight_key(v): v for v in model.weights}
    return {f"member{i}/{weight_key(v)}": v
            for i, member in enumerate(members, 1) for v in member.weights}


def member_config_file(index: int) -> str:
    """The assets file with the run config of an exported ensemble's member `index`
    (2, 3, ...; member 1's is config.yaml)."""
    return f"member{index}.yaml"


def build_tokenizers(config, vocab_dir: str):
    """(source, target) `Tokenizer`s of a run config from the models in `vocab_dir`."""
    from tf_transformer.data.prepare import vocabulary_files
    from tf_transformer.data.tokenizer import Tokenizer

    return tuple(Tokenizer(path, lowercase=config.data.lowercase)
                 for path in vocabulary_files(config.data, vocab_dir))


def _build(config, vocab_dir: str) -> tuple:
    """(model with fresh variables, source_tokenizer, target_tokenizer) of a run config."""
    source_tokenizer, target_tokenizer = build_tokenizers(config, vocab_dir)
    model = build_model(config.model, source_tokenizer.vocab_size, target_tokenizer.vocab_size)
    return model, source_tokenizer, target_tokenizer


def load_run_config(run_dir: str):
    """The `RunConfig` of a run directory; a clear error if it is not one."""
    from tf_transformer.training import config as run_config

    path = os.path.join(run_dir, CONFIG_FILE)
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"{path} not found: --run must be a directory written by `tf-transformer train`.")
    return run_config.load(path)


class RunFiles(NamedTuple):
    config: object  # the run's `RunConfig`
    vocab_dir: str  # RUN/vocab
    vocabularies: list  # its SentencePiece model paths (source, target)
    weights: str  # the weights file to load


def run_files(run_dir: str, weights: str | None = None) -> RunFiles:
    """The config, vocabulary and weights files of a trained run, each checked to exist.

    Args:
      run_dir: the run directory.
      weights: a `*.weights.h5` file (default RUN/model.weights.h5), e.g. a checkpoint.
    """
    from tf_transformer.data.prepare import VOCAB_DIR, vocabulary_files

    config = load_run_config(run_dir)
    vocab_dir = os.path.join(run_dir, VOCAB_DIR)
    vocabularies = vocabulary_files(config.data, vocab_dir)
    weights = weights or os.path.join(run_dir, WEIGHTS_FILE)
    for path in vocabularies + [weights]:
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path} not found: has the run finished training? "
                                    "(--weights takes a checkpoint instead)")
    return RunFiles(config, vocab_dir, vocabularies, weights)


def load_run(run_dir: str, weights: str | None = None):
    """(model, source_tokenizer, target_tokenizer) of a trained run.

    Args:
      run_dir: the run directory.
      weights: a `*.weights.h5` file (default RUN/model.weights.h5), e.g. a checkpoint.
    """
    files = run_files(run_dir, weights)
    model, source_tokenizer, target_tokenizer = _build(files.config, files.vocab_dir)
    model.load_weights(files.weights)
    return model, source_tokenizer, target_tokenizer


def load_ensemble(run_dirs, mode: str | None = None, weights=None):
    """(`Ensemble` of the runs, source_tokenizer, target_tokenizer).

    The runs must have learned the same vocabularies (their `RUN/vocab` models are
    compared byte for byte): one pair of tokenizers translates for every member. Runs on
    the same data with the same `data` settings learn identical ones. `mode`: how the
    members combine (`Ensemble`); default: the first run config's
    `decoding.ensemble_mode`. `weights`: one weights file per run (None: that run's final
    weights); a run may appear several times with different checkpoints.
    """
    from tf_transformer.ensemble import Ensemble

    weights = weights or [None] * len(run_dirs)
    members = [run_files(run_dir, w) for run_dir, w in zip(run_dirs, weights, strict=True)]
    first = members[0]
    for run_dir, member in zip(run_dirs[1:], members[1:]):
        same = member.config.data.lowercase == first.config.data.lowercase and all(
            filecmp.cmp(a, b, shallow=False)
            for a, b in zip(first.vocabularies, member.vocabularies))
        if not same:
            raise UserError(
                f"{run_dir} and {run_dirs[0]} tokenize differently "
                f"({', '.join(member.vocabularies)} vs {', '.join(first.vocabularies)}, "
                f"lowercase {member.config.data.lowercase} vs "
                f"{first.config.data.lowercase}): ensemble members need the same "
                "vocabularies. Train them with the same data section.")
    source_tokenizer, target_tokenizer = build_tokenizers(first.config, first.vocab_dir)
    models = []
    for member in members:
        model = build_model(member.config.model, source_tokenizer.vocab_size,
                            target_tokenizer.vocab_size)
        model.load_weights(member.weights)
        models.append(model)
    return (Ensemble(models, mode or first.config.decoding.ensemble_mode), source_tokenizer,
            target_tokenizer)


def _not_an_export(export_dir, missing) -> str:
    return (f"{', '.join(missing)} not found: {export_dir} must be a version folder written "
            "by `tf-transformer export` (e.g. saved_models/multi30k_de_en/1).")


def load_export_config(export_dir: str):
    """The run config an export records (assets/config.yaml): architecture, tokenizers,
    and in `decoding` the search its `serving_default` signature runs."""
    from tf_transformer.training import config as run_config

    path = os.path.join(export_dir, ASSETS_DIR, CONFIG_FILE)
    if not os.path.exists(path):
        raise FileNotFoundError(_not_an_export(export_dir, [path]))
    return run_config.load(path)


def export_config_files(export_dir: str) -> list:
    """The run configs an export holds: `assets/config.yaml`, then an ensemble's other
    members' `assets/member2.yaml`, ... (what `export` needs again to write the same
    model)."""
    assets = os.path.join(export_dir, ASSETS_DIR)
    paths = [os.path.join(assets, CONFIG_FILE)]
    while os.path.exists(path := os.path.join(assets, member_config_file(len(paths) + 1))):
        paths.append(path)
    return paths


def load_export(export_dir: str):
    """(model, source_tokenizer, target_tokenizer) of a version written by `export`; the
    model is an `Ensemble` when the version was exported from several runs, combining
    them as its signatures do (`decoding.ensemble_mode` of its config).

    TF Serving needs only the SavedModel's signatures; Python users who want more than
    strings (scores of every hypothesis, attention weights, fine-tuning) get the Keras
    model from the same folder, so a shipped version needs no second copy of its
    weights. Reads the weights from the SavedModel's checkpoint only: its functions are
    not loaded.

    Args:
      export_dir: a version folder, e.g. "saved_models/multi30k_de_en/1".

    Raises:
      FileNotFoundError: `export_dir` lacks the run config or a tokenizer asset.
      ExportError: the SavedModel does not hold every weight of the model.
    """
    import tensorflow as tf

    from tf_transformer.data.prepare import vocabulary_files
    from tf_transformer.training import config as run_config

    config = load_export_config(export_dir)
    assets = os.path.join(export_dir, ASSETS_DIR)
    missing = [p for p in vocabulary_files(config.data, assets) if not os.path.exists(p)]
    if missing:
        raise FileNotFoundError(_not_an_export(export_dir, missing))
    model, source_tokenizer, target_tokenizer = _build(config, assets)
    members = [model] + [
        build_model(run_config.load(path).model, source_tokenizer.vocab_size,
                    target_tokenizer.vocab_size)
        for path in export_config_files(export_dir)[1:]]
    if len(members) > 1:
        from tf_transformer.ensemble import Ensemble

        model = Ensemble(members, config.decoding.ensemble_mode)
    # The same object path as `TranslationModule.model_variables`, so the read matches
    # each saved variable to this model's by its key.
    checkpoint = tf.train.Checkpoint(
        model_variables={key: v.value for key, v in keyed_weights(model).items()})
    status = checkpoint.read(os.path.join(export_dir, "variables", "variables"))
    try:
        status.assert_existing_objects_matched()
    except AssertionError as error:
        raise ExportError(
            f"{export_dir} does not hold every weight of its model ({str(error)[:200]}); "
            "export it again with this version of tf_transformer.") from error
    return model, source_tokenizer, target_tokenizer
