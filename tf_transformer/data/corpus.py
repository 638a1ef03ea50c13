"""The one interface every data source of a run implements: named splits of sentence pairs.

A `Corpus` (`data.source` in the run config) knows its two languages and its splits
("train", "validation" and any number of test splits) and yields a split's
(source, target) string pairs, streamed: as a Python iterator (`iter_pairs`, for
scanning and sampling) or as a `tf.data.Dataset` of scalar string pairs (`pairs`, for
training). Implementations: `text_files.FilesCorpus` (TSV or aligned files) and
`tfds_corpus.TfdsCorpus` (any TFDS translation dataset, Multi30k included);
`prepare.open_corpus` picks one from the run config.
"""

import abc
import random
from collections.abc import Iterator

import tensorflow as tf

from tf_transformer.errors import UserError

REQUIRED_SPLITS = ("train", "validation")
# Pairs per element of the generator behind `Corpus.pairs` (amortizes Python overhead).
_CHUNK = 1024


class UnknownSplitError(UserError, ValueError):
    """A split name the run's corpus does not have."""


class Corpus(abc.ABC):
    """Named splits of (source, target) sentence pairs in two languages.

    Attributes:
        source_language, target_language: str codes, e.g. "en", "pt"; they name the
            vocabulary files and the reports.
        split_names: list of str, "train" and "validation" first, then the test splits.
    """

    source_language: str
    target_language: str
    split_names: list

    @property
    def test_splits(self) -> list:
        """Split names other than train and validation, in the config's order."""
        return [name for name in self.split_names if name not in REQUIRED_SPLITS]

    def check_split(self, split: str) -> None:
        """Raises `UnknownSplitError` naming the known splits if `split` is not one."""
        if split not in self.split_names:
            raise UnknownSplitError(
                f"Unknown split {split!r}; this run's splits are {', '.join(self.split_names)}.")

    @abc.abstractmethod
    def iter_pairs(self, split: str, report=None) -> Iterator[tuple[str, str]]:
        """Yields the (source, target) str pairs of `split`; skipped lines are counted
        in `report` (a `text_files.Report`) where the source skips any."""

    def pairs(self, split: str) -> tf.data.Dataset:
        """The split as a dataset of scalar (source, target) tf.string pairs, streamed."""
        self.check_split(split)

        def chunks():
            pairs = self.iter_pairs(split)
            while chunk := [pair for _, pair in zip(range(_CHUNK), pairs)]:
                yield tuple(zip(*chunk))

        spec = tf.TensorSpec([None], tf.string)
        return tf.data.Dataset.from_generator(chunks, output_signature=(spec, spec)).unbatch()

    def texts(self, split: str) -> tuple[list, list]:
        """(sources, references) of `split` as two aligned lists of str (for evaluation)."""
        self.check_split(split)
        pairs = list(self.iter_pairs(split))
        return [s for s, _ in pairs], [t for _, t in pairs]


def reservoir_sample(items, size: int, seed: int = 0) -> list:
    """A uniform random sample of at most `size` items from an iterable read once
    (Algorithm R). With no more than `size` items, all of them in their order."""
    rng = random.Random(seed)
    sample = []
    for index, item in enumerate(items):
        if index < size:
            sample.append(item)
        else:
            slot = rng.randint(0, index)
            if slot < size:
                sample[slot] = item
    return sample
