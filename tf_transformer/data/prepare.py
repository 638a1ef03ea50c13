"""Getting a run's data ready: its corpus, checked, and its tokenizers (`tf-transformer prepare`).

`prepare_run(config, run_dir)` is what `tf-transformer prepare --config FILE` and
`tf-transformer train --config FILE` both call: it opens the corpus of `data.source`
(`open_corpus`), reads every split once to check it (bad lines skipped and counted,
see `text_files`) while sampling `data.tokenizer_sample` training pairs, trains the
tokenizers on that sample into RUN/vocab/ and records the counts and a few validation
sentences (the export's warm-up requests) in RUN/data.json. What is already there is
reused, so `train` after `prepare` starts training at once.

The Multi30k helpers (`load_split`, `load_tokenizers`) serve the notebooks and tests.

Example:

```python
source_tokenizer, target_tokenizer = load_tokenizers("de-en")
train = make_dataset(load_split("train"), source_tokenizer, target_tokenizer, max_tokens=4096)
```
"""

import dataclasses
import itertools
import json
import logging
import os
import socket
import urllib.parse

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds
from etils import epath

from tf_transformer import atomic
from tf_transformer.data import multi30k
from tf_transformer.data.corpus import Corpus, reservoir_sample
from tf_transformer.data.pipeline import DEFAULT_MAX_LENGTH
from tf_transformer.data.text_files import FilesCorpus, Report
from tf_transformer.data.tfds_corpus import TfdsCorpus
from tf_transformer.data.tokenizer import (
    DEFAULT_VOCAB_SIZE,
    Tokenizer,
    build_tokenizer,
    round_trip_failures,
)
from tf_transformer.errors import UserError


class DataError(UserError, ValueError):
    """Data that cannot be found or built as asked (a missing file, an unknown split)."""


logger = logging.getLogger(__name__)

DATA_FILE = "data.json"
VOCAB_DIR = "vocab"
# Validation sentences kept in RUN/data.json for the exported model's warm-up requests.
WARMUP_COUNT = 3


def prepared_builder(
    config: str = "de-en", data_dir: str | None = None, source_dir: str | None = None
) -> tfds.core.DatasetBuilder:
    """The `multi30k/<config>` builder, its dataset built under `data_dir` if not yet there.

    Args:
        config: "de-en" or "en-de".
        data_dir: TFDS data folder (default: TFDS's own, `$TFDS_DATA_DIR` or
            ~/tensorflow_datasets).
        source_dir: folder with the raw files, used as TFDS manual_dir (default:
            `$MULTI30K_DIR`, else download).
    """
    if source_dir is not None:
        # An explicit folder must hold the files: never fall back to a download.
        if not os.path.isdir(source_dir):
            raise DataError(f"--source-dir {source_dir} is not a folder: give the folder that "
                            "holds the Multi30k files (train.de.gz, train.en.gz, val.de.gz, ...).")
        try:
            multi30k.local_paths(epath.Path(source_dir))
        except FileNotFoundError as error:
            raise DataError(str(error)) from None
    builder = tfds.builder(f"multi30k/{config}", data_dir=data_dir)
    if not builder.is_prepared() and source_dir is None and multi30k.multi30k_dir() is None:
        _check_download_possible()
    try:
        builder.download_and_prepare(
            download_config=tfds.download.DownloadConfig(manual_dir=source_dir)
        )
    except (FileNotFoundError, ValueError) as error:  # missing or malformed Multi30k files
        raise DataError(str(error)) from error
    return builder


def _check_download_possible() -> None:
    """Fails at once, instead of after minutes of retries, when the download host is
    unreachable."""
    host = urllib.parse.urlparse(multi30k.URL_TEMPLATE).hostname
    try:
        socket.create_connection((host, 443), timeout=10).close()
    except OSError as error:
        raise DataError(
            f"Multi30k is not prepared yet and {host} cannot be reached to download it "
            f"({error}). Put the Multi30k .gz files in a folder and pass --source-dir DIR "
            f"(or set {multi30k.MULTI30K_DIR_ENV}=DIR), or connect to the internet.") from None


def load_split(
    split: str,
    config: str = "de-en",
    data_dir: str | None = None,
    source_dir: str | None = None,
) -> tf.data.Dataset:
    """Scalar (source, target) string pairs of a split ("train", "validation", ...)."""
    builder = prepared_builder(config, data_dir, source_dir)
    if split.split("[")[0] not in builder.info.splits:
        raise DataError(f"Unknown split {split!r}; multi30k/{config} has "
                        f"{', '.join(builder.info.splits)}.")
    return builder.as_dataset(split=split, as_supervised=True, shuffle_files=False)


def load_split_texts(split: str, config: str = "de-en", data_dir: str | None = None,
                     source_dir: str | None = None) -> tuple[list, list]:
    """(sources, references) of a split as two aligned lists of str (TFDS order)."""
    sources, references = [], []
    for source, reference in tfds.as_numpy(load_split(split, config, data_dir, source_dir)):
        sources.append(source.decode("utf-8"))
        references.append(reference.decode("utf-8"))
    return sources, references


def tokenizer_path(vocab_dir: str, lang: str, vocab_size: int, lowercase: bool) -> str:
    """Cache file of a tokenizer, e.g. `<vocab_dir>/de.cased.8000.model`; a joint
    vocabulary is named by both languages, e.g. `<vocab_dir>/en+pt.cased.8000.model`."""
    casing = "lowercase" if lowercase else "cased"
    return os.path.join(vocab_dir, f"{lang}.{casing}.{vocab_size}.model")


def languages(data) -> tuple[str, str]:
    """(source, target) language codes of a `DataConfig` (Multi30k: from `pair`)."""
    if data.source == "multi30k" and not (data.source_language and data.target_language):
        return tuple(data.pair.split("-"))
    if not (data.source_language and data.target_language):
        raise UserError(f"data.source={data.source} needs data.source_language and "
                        "data.target_language (tf-transformer train fills them in for TFDS).")
    return data.source_language, data.target_language


def vocabulary_files(data, vocab_dir: str) -> list:
    """[source model path, target model path] of a `DataConfig` (one file twice when joint)."""
    names = languages(data)
    if data.joint_vocabulary:
        names = ("+".join(names),) * 2
    return [tokenizer_path(vocab_dir, name, data.vocab_size, data.lowercase) for name in names]


def open_corpus(data) -> Corpus:
    """The `Corpus` of a `DataConfig` (`data.source`: multi30k | files | tfds:NAME/CONFIG)."""
    if data.source == "multi30k":
        prepared_builder(data.pair, data.tfds_dir, data.data_dir)  # clear errors first
        corpus = TfdsCorpus(f"multi30k/{data.pair}", splits=data.splits,
                            data_dir=data.tfds_dir, manual_dir=data.data_dir)
        if (data.source_language or corpus.source_language,
                data.target_language or corpus.target_language) != languages(data):
            raise UserError(f"data.source_language/target_language contradict data.pair="
                            f"{data.pair}; for Multi30k set only data.pair.")
        return corpus
    if data.source == "files":
        return FilesCorpus(data.splits, data.source_language, data.target_language)
    return TfdsCorpus(data.source[len("tfds:"):], data.source_language, data.target_language,
                      data.splits, data_dir=data.tfds_dir, manual_dir=data.data_dir)


def with_languages(config, corpus: Corpus):
    """`config` with `data.source_language/target_language` set from `corpus` when null
    (TFDS's supervised_keys), so that decoding and export know them without the data."""
    if config.data.source == "multi30k":
        return config
    data = dataclasses.replace(config.data, source_language=corpus.source_language,
                               target_language=corpus.target_language)
    return dataclasses.replace(config, data=data)


def resolve_languages(config):
    """`with_languages` of the run's corpus (Multi30k: `config` itself, nothing opened)."""
    if config.data.source == "multi30k":
        return config
    return with_languages(config, open_corpus(config.data))


def train_tokenizers(data, vocab_dir: str, sample) -> tuple[Tokenizer, Tokenizer]:
    """(source, target) tokenizers of `data` in `vocab_dir`, trained on `sample` (a list
    of (source, target) pairs, or a callable returning one) where not there yet."""
    paths = vocabulary_files(data, vocab_dir)
    if not all(os.path.exists(path) for path in paths):
        pairs = sample() if callable(sample) else sample
        sides = [[s for s, _ in pairs], [t for _, t in pairs]]
        if data.joint_vocabulary:
            sides = [sides[0] + sides[1]] * 2
        for path, sentences in zip(paths, sides):
            build_tokenizer(sentences, path, vocab_size=data.vocab_size, lowercase=data.lowercase)
    return tuple(Tokenizer(path, lowercase=data.lowercase) for path in paths)


def scan(corpus: Corpus, sample_size: int, seed: int = 0):
    """Reads every split once: ({split: Report}, reservoir sample of the train pairs).

    Raises:
        text_files.BadDataError: a split has too many bad lines (`Report.check`).
    """
    reports, sample = {}, []
    for split in corpus.split_names:
        reports[split] = Report()
        pairs = corpus.iter_pairs(split, reports[split])
        if split == "train":
            sample = reservoir_sample(pairs, sample_size, seed)
        else:
            for _ in pairs:
                pass
        reports[split].check(split)
        for line in reports[split].examples:
            logger.warning("%s: skipped %s", split, line)
    return reports, sample


def prepare_run(config, run_dir: str):
    """Gets the data of a run ready (module docstring).

    Returns:
        (config with its languages filled in, corpus, (source tokenizer, target
        tokenizer), {split: {"pairs", "skipped", "examples"}}).
    """
    corpus = open_corpus(config.data)
    config = with_languages(config, corpus)
    path = os.path.join(run_dir, DATA_FILE)
    record = None
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            record = json.load(f)
    if record is None or record["data"] != _prepared_fields(config.data):
        reports, sample = scan(corpus, config.data.tokenizer_sample, config.training.seed)
        record = {
            "data": _prepared_fields(config.data),
            "splits": {split: dataclasses.asdict(report) for split, report in reports.items()},
            "warmup": _first_sources(corpus, "validation", WARMUP_COUNT),
        }
        atomic.write_json(record, path)
    else:  # prepared before: the sample is only read if a vocabulary was deleted since
        def sample():
            return scan(corpus, config.data.tokenizer_sample, config.training.seed)[1]
    tokenizers = train_tokenizers(config.data, os.path.join(run_dir, VOCAB_DIR), sample)
    return config, corpus, tokenizers, record["splits"]


def _prepared_fields(data) -> dict:
    """The `DataConfig` fields that `prepare_run` depends on (not the batching ones), as
    JSON reads them back."""
    fields = {key: value for key, value in dataclasses.asdict(data).items()
              if key not in ("max_length", "batch_size", "max_tokens", "shuffle_buffer")}
    return json.loads(json.dumps(fields))


def warmup_sentences(run_dir: str, config) -> list:
    """Source sentences for the exported model's warm-up requests: those RUN/data.json
    recorded, else (runs prepared before it existed) the first of the validation split."""
    path = os.path.join(run_dir, DATA_FILE)
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            return json.load(f)["warmup"]
    return _first_sources(open_corpus(config.data), "validation", WARMUP_COUNT)


def _first_sources(corpus: Corpus, split: str, count: int) -> list:
    return [source for source, _ in itertools.islice(corpus.iter_pairs(split), count)]


def load_tokenizers(
    config: str = "de-en",
    *,
    data_dir: str | None = None,
    source_dir: str | None = None,
    vocab_dir: str | None = None,
    vocab_size: int = DEFAULT_VOCAB_SIZE,
    lowercase: bool = False,
) -> tuple[Tokenizer, Tokenizer]:
    """Multi30k's (source, target) tokenizers, trained on the train split on first use
    and cached.

    Args:
        config, data_dir, source_dir: as `prepared_builder`.
        vocab_dir: cache folder of the SentencePiece models (default:
            `<data_dir>/multi30k_tokenizers`). Both configs share it.
        vocab_size: int, maximum ids per language, special tokens included.
        lowercase: bool, lowercased tokenizers (the seed's setup) instead of cased.
    """
    builder = prepared_builder(config, data_dir, source_dir)
    vocab_dir = vocab_dir or os.path.join(builder.data_dir_root, "multi30k_tokenizers")
    train = builder.as_dataset(split="train", shuffle_files=False)
    langs = (builder.builder_config.source, builder.builder_config.target)
    return tuple(
        build_tokenizer(
            # Lazy: only read when the model is not cached yet.
            (s.decode("utf-8") for batch in tfds.as_numpy(train.batch(4096)) for s in batch[lang]),
            tokenizer_path(vocab_dir, lang, vocab_size, lowercase),
            vocab_size=vocab_size,
            lowercase=lowercase,
        )
        for lang in langs
    )


def split_statistics(
    pairs: tf.data.Dataset,
    source_tokenizer: Tokenizer,
    target_tokenizer: Tokenizer,
    max_length: int = DEFAULT_MAX_LENGTH,
) -> dict:
    """Pairs, tokens (BOS and EOS included), pairs over max_length and round-trip rates;
    one streamed pass in batches of 4096 pairs."""
    stats = dict(pairs=0, source_tokens=0, target_tokens=0, longest=0, over_max_length=0,
                 source_failures=0, target_failures=0)
    for sources, targets in pairs.batch(4096):
        source_lengths = source_tokenizer.tokenize(sources).row_lengths().numpy()
        target_lengths = target_tokenizer.tokenize(targets).row_lengths().numpy()
        longest = np.maximum(source_lengths, target_lengths)
        stats["pairs"] += len(longest)
        stats["source_tokens"] += int(source_lengths.sum())
        stats["target_tokens"] += int(target_lengths.sum())
        stats["longest"] = max(stats["longest"], int(longest.max()))
        stats["over_max_length"] += int((longest > max_length).sum())
        for side, tokenizer, texts in (("source", source_tokenizer, sources),
                                       ("target", target_tokenizer, targets)):
            texts = [t.decode("utf-8") for t in texts.numpy()]
            stats[f"{side}_failures"] += len(round_trip_failures(tokenizer, texts))
    for side in ("source", "target"):
        stats[f"{side}_round_trip"] = 1 - stats.pop(f"{side}_failures") / max(stats["pairs"], 1)
    return stats

