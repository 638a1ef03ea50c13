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

import numpy as np
import tensorflow as tf

from tf_transformer.export.serving import weight_key
from tf_transformer.training import config as run_config
from tf_transformer.training.trainer import CONFIG_FILE, build_model


def load_export(export_dir: str):
    """(model, source_tokenizer, target_tokenizer) of a version written by `export`.

    Args:
      export_dir: a version folder, e.g. "saved_models/multi30k_de_en/1".

    Raises:
      FileNotFoundError: `export_dir` lacks the run config or a tokenizer asset.
      ValueError: the SavedModel does not hold every weight of the model.
    """
    from tf_transformer.data.prepare import tokenizer_path
    from tf_transformer.data.tokenizer import Tokenizer

    assets = os.path.join(export_dir, "assets")
    config_path = os.path.join(assets, CONFIG_FILE)
    data = None
    if os.path.exists(config_path):
        config = run_config.load(config_path)
        data = config.data
        paths = [tokenizer_path(assets, lang, data.vocab_size, data.lowercase)
                 for lang in data.pair.split("-")]
    missing = [p for p in ([config_path] + (paths if data else [])) if not os.path.exists(p)]
    if missing:
        raise FileNotFoundError(
            f"{', '.join(missing)} not found: {export_dir} must be a version folder written "
            "by `tf-transformer export` (e.g. saved_models/multi30k_de_en/1).")
    source_tokenizer, target_tokenizer = (Tokenizer(p, lowercase=data.lowercase) for p in paths)
    model = build_model(config.model, source_tokenizer.vocab_size, target_tokenizer.vocab_size)
    model((np.ones((1, 2), np.int32), np.ones((1, 2), np.int32)))  # create the variables
    saved = getattr(tf.saved_model.load(export_dir), "model_variables", {})
    absent = [weight_key(v) for v in model.weights if weight_key(v) not in saved]
    if absent:
        raise ValueError(
            f"{export_dir} lacks {len(absent)} of the model's {len(model.weights)} weights "
            f"(first: {absent[0]}); export it again with this version of tf_transformer.")
    for variable in model.weights:
        variable.assign(saved[weight_key(variable)])
    return model, source_tokenizer, target_tokenizer
