"""What decoding takes from a run config besides the model: the search to run by
default and the corpus split to evaluate. (Reading a run directory or an export back
is `tf_transformer.artifacts`.)"""

from tf_transformer.artifacts import load_run_config
from tf_transformer.data.corpus import UnknownSplitError


def search_options(config, beam_size=None, alpha=None):
    """`(beam_size, alpha)`: the given values, or else the run config's `decoding` ones."""
    return (config.decoding.beam_size if beam_size is None else beam_size,
            config.decoding.alpha if alpha is None else alpha)


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
