"""Reading what `tf-transformer train` leaves in a run directory, for decoding and export.

Layout used (written by `tf_transformer.training.trainer`):
  RUN/config.yaml                 the run config (`tf_transformer.training.config.dump`)
  RUN/vocab/<lang>.<cased|lowercase>.<size>.model   SentencePiece models of the run
  RUN/model.weights.h5            final weights (`callbacks.final_weights`)
"""
import os

import numpy as np

from tf_transformer.data.corpus import UnknownSplitError
from tf_transformer.training import config as run_config
from tf_transformer.training.trainer import CONFIG_FILE, VOCAB_DIR, WEIGHTS_FILE, build_model


def load_run_config(run_dir: str):
    """The `RunConfig` of a run directory; a clear error if it is not one."""
    path = os.path.join(run_dir, CONFIG_FILE)
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"{path} not found: --run must be a directory written by `tf-transformer train`.")
    return run_config.load(path)


def search_options(config, beam_size=None, alpha=None):
    """`(beam_size, alpha)`: the given values, or else the run config's `decoding` ones."""
    return (config.decoding.beam_size if beam_size is None else beam_size,
            config.decoding.alpha if alpha is None else alpha)


def model_files(config, vocab_dir: str) -> list:
    """Paths of the source and target SentencePiece models of `config` in `vocab_dir`."""
    from tf_transformer.data.prepare import vocabulary_files

    return vocabulary_files(config.data, vocab_dir)


def build_tokenizers(config, vocab_dir: str):
    """(source, target) `Tokenizer`s of `config` from the models in `vocab_dir`."""
    from tf_transformer.data.tokenizer import Tokenizer

    return tuple(Tokenizer(path, lowercase=config.data.lowercase)
                 for path in model_files(config, vocab_dir))


def build_from_config(config, vocab_dir: str):
    """(model with its variables created, source_tokenizer, target_tokenizer) of
    `config`, with the tokenizers of `vocab_dir` (see `model_files`); no weights loaded."""
    source_tokenizer, target_tokenizer = build_tokenizers(config, vocab_dir)
    model = build_model(config.model, source_tokenizer.vocab_size, target_tokenizer.vocab_size)
    model((np.ones((1, 2), np.int32), np.ones((1, 2), np.int32)))  # create the variables
    return model, source_tokenizer, target_tokenizer


def load_run(run_dir: str, weights: str | None = None):
    """(model, source_tokenizer, target_tokenizer) of a trained run.

    Args:
      run_dir: the run directory.
      weights: a `*.weights.h5` file (default RUN/model.weights.h5), e.g. a checkpoint.
    """
    config = load_run_config(run_dir)
    vocab_dir = os.path.join(run_dir, VOCAB_DIR)
    weights = weights or os.path.join(run_dir, WEIGHTS_FILE)
    for path in model_files(config, vocab_dir) + [weights]:
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path} not found: has the run finished training? "
                                    "(--weights takes a checkpoint instead)")
    model, source_tokenizer, target_tokenizer = build_from_config(config, vocab_dir)
    model.load_weights(weights)
    return model, source_tokenizer, target_tokenizer


def load_split_pairs(run_dir: str, split: str | None = None):
    """(split name, sources, references) of the run's corpus; see `split_pairs`."""
    return split_pairs(load_run_config(run_dir), split)


def split_pairs(config, split: str | None = None):
    """(split name, sources, references): a split of `config`'s corpus as two lists of
    str; split None: its first test split (Multi30k: test_2016_flickr).

    Raises:
        UserError: the corpus has no such split (the message lists its splits).
    """
    from tf_transformer.data.prepare import open_corpus

    corpus = open_corpus(config.data)
    if split is None:
        if not corpus.test_splits:
            raise UnknownSplitError(
                f"The corpus has no test split (only {', '.join(corpus.split_names)}); "
                "give --split or --source/--reference.")
        split = corpus.test_splits[0]
    return (split, *corpus.texts(split))
