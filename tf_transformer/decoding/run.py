"""Reading what `tf-transformer train` leaves in a run directory, for decoding.

Layout used (written by `tf_transformer.training`):
  RUN/config.yaml                 the run config (`tf_transformer.training.config.dump`)
  RUN/vocab/<lang>.<cased|lowercase>.<size>.model   SentencePiece models of the run
  RUN/model.weights.h5            final weights (`callbacks.final_weights`)
When RUN/vocab is missing, the tokenizers come from the data cache
(`tf_transformer.data.load_tokenizers`), which yields the same models for the same config.
"""
import os

import numpy as np

CONFIG_FILE = "config.yaml"
VOCAB_DIR = "vocab"
WEIGHTS_FILE = "model.weights.h5"


def load_run_config(run_dir: str):
    """The `RunConfig` of a run directory; a clear error if it is not one."""
    from tf_transformer.training import config as run_config

    path = os.path.join(run_dir, CONFIG_FILE)
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"{path} not found: --run must be a directory written by `tf-transformer train`.")
    return run_config.load(path)


def load_run(run_dir: str, weights: str | None = None):
    """(model, source_tokenizer, target_tokenizer) of a trained run.

    Args:
      run_dir: the run directory.
      weights: a `*.weights.h5` file (default RUN/model.weights.h5), e.g. a checkpoint.
    """
    from tf_transformer.data.prepare import load_tokenizers, tokenizer_path
    from tf_transformer.data.tokenizer import Tokenizer
    from tf_transformer.training.trainer import build_model

    config = load_run_config(run_dir)
    data = config.data
    vocab_dir = os.path.join(run_dir, VOCAB_DIR)
    if os.path.isdir(vocab_dir):
        tokenizers = tuple(
            Tokenizer(tokenizer_path(vocab_dir, lang, data.vocab_size, data.lowercase),
                      lowercase=data.lowercase)
            for lang in data.pair.split("-"))
    else:
        tokenizers = load_tokenizers(data.pair, data_dir=data.tfds_dir,
                                     source_dir=data.data_dir, vocab_size=data.vocab_size,
                                     lowercase=data.lowercase)
    source_tokenizer, target_tokenizer = tokenizers
    weights = weights or os.path.join(run_dir, WEIGHTS_FILE)
    if not os.path.exists(weights):
        raise FileNotFoundError(f"{weights} not found: has the run finished training? "
                                "Pass --weights with a checkpoint otherwise.")
    model = build_model(config.model, source_tokenizer.vocab_size, target_tokenizer.vocab_size)
    model((np.ones((1, 2), np.int32), np.ones((1, 2), np.int32)))  # create the variables
    model.load_weights(weights)
    return model, source_tokenizer, target_tokenizer


def load_split_pairs(run_dir: str, split: str):
    """(sources, references): the split of the run's dataset as two lists of str."""
    import tensorflow_datasets as tfds

    from tf_transformer.data.prepare import load_split

    data = load_run_config(run_dir).data
    pairs = load_split(split, data.pair, data_dir=data.tfds_dir, source_dir=data.data_dir)
    sources, references = [], []
    for source, reference in tfds.as_numpy(pairs):
        sources.append(source.decode("utf-8"))
        references.append(reference.decode("utf-8"))
    return sources, references
