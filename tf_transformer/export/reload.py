"""Reads an exported version back into Keras: the `Transformer` and its tokenizers.

TF Serving needs only the SavedModel's signatures; Python users who want more than
strings (scores of every hypothesis, attention weights, fine-tuning) get the Keras
model from the same folder, so a shipped version needs no second copy of its weights:

    >>> model, de, en = load_export("saved_models/multi30k_de_en/1")
    >>> Translator.from_export("saved_models/multi30k_de_en/1").translate(["Ein Hund."])

What it reads from VERSION/:
    assets/config.yaml        the run config: architecture and tokenizer settings
    assets/<lang>.*.model     the SentencePiece models (`data.prepare.tokenizer_path` names)
    variables/                the weights, tracked as `model_variables` by `weight_key`
"""

import os

import tensorflow as tf

from tf_transformer.decoding.run import build_from_config, model_files
from tf_transformer.errors import UserError
from tf_transformer.export.serving import weight_key
from tf_transformer.training import config as run_config
from tf_transformer.training.trainer import CONFIG_FILE


class ExportError(UserError, ValueError):
    """A folder that is not a complete export of this version of tf_transformer."""


def load_export_config(export_dir: str):
    """The run config an export records (assets/config.yaml): architecture, tokenizers,
    and in `decoding` the search its `serving_default` signature runs."""
    path = os.path.join(export_dir, "assets", CONFIG_FILE)
    if not os.path.exists(path):
        raise FileNotFoundError(_not_an_export(export_dir, [path]))
    return run_config.load(path)


def _not_an_export(export_dir, missing) -> str:
    return (f"{', '.join(missing)} not found: {export_dir} must be a version folder written "
            "by `tf-transformer export` (e.g. saved_models/multi30k_de_en/1).")


def load_export(export_dir: str):
    """(model, source_tokenizer, target_tokenizer) of a version written by `export`.

    Reads the weights from the SavedModel's checkpoint only: its functions are not
    loaded.

    Args:
      export_dir: a version folder, e.g. "saved_models/multi30k_de_en/1".

    Raises:
      FileNotFoundError: `export_dir` lacks the run config or a tokenizer asset.
      ValueError: the SavedModel does not hold every weight of the model.
    """
    config = load_export_config(export_dir)
    assets = os.path.join(export_dir, "assets")
    missing = [p for p in model_files(config, assets) if not os.path.exists(p)]
    if missing:
        raise FileNotFoundError(_not_an_export(export_dir, missing))
    model, source_tokenizer, target_tokenizer = build_from_config(config, assets)
    # The same object path as `TranslationModule.model_variables`, so the read matches
    # each saved variable to this model's by its key.
    checkpoint = tf.train.Checkpoint(
        model_variables={weight_key(v): v.value for v in model.weights})
    status = checkpoint.read(os.path.join(export_dir, "variables", "variables"))
    try:
        status.assert_existing_objects_matched()
    except AssertionError as error:
        raise ExportError(
            f"{export_dir} does not hold every weight of its model ({str(error)[:200]}); "
            "export it again with this version of tf_transformer.") from error
    return model, source_tokenizer, target_tokenizer
