"""Getting Multi30k ready: the TFDS dataset, the tokenizers, and `tf-transformer prepare`.

Training and decoding code calls `load_split` and `load_tokenizers`; both build what is
missing on first use (the TFDS dataset under `data_dir`, the SentencePiece models under
`vocab_dir`) and reuse it afterwards. `tf-transformer prepare` does the same ahead of
time and prints statistics (split sizes, tokens, round-trip rate).

Example:

```python
source_tokenizer, target_tokenizer = load_tokenizers("de-en")
train = make_dataset(load_split("train"), source_tokenizer, target_tokenizer, max_tokens=4096)
```
"""

import argparse
import os
import socket
import time
import urllib.parse

import tensorflow as tf
import tensorflow_datasets as tfds
from etils import epath
from tqdm import tqdm

from tf_transformer.data import multi30k
from tf_transformer.data.pipeline import DEFAULT_MAX_LENGTH
from tf_transformer.data.tokenizer import (
    DEFAULT_VOCAB_SIZE,
    Tokenizer,
    build_tokenizer,
    round_trip_failures,
)
from tf_transformer.errors import UserError


class DataError(UserError, ValueError):
    """Data that cannot be found or built as asked (a missing file, an unknown split)."""


CONFIGS = tuple(config.name for config in multi30k.Multi30k.BUILDER_CONFIGS)


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
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=source_dir)
    )
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
    """Cache file of a tokenizer, e.g. `<vocab_dir>/de.cased.8000.model`."""
    casing = "lowercase" if lowercase else "cased"
    return os.path.join(vocab_dir, f"{lang}.{casing}.{vocab_size}.model")


def load_tokenizers(
    config: str = "de-en",
    *,
    data_dir: str | None = None,
    source_dir: str | None = None,
    vocab_dir: str | None = None,
    vocab_size: int = DEFAULT_VOCAB_SIZE,
    lowercase: bool = False,
) -> tuple[Tokenizer, Tokenizer]:
    """(source, target) tokenizers, trained on the train split on first use and cached.

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
    """Pairs, tokens (BOS and EOS included), pairs over max_length and round-trip rates."""
    sources, targets = [], []
    for source_batch, target_batch in tfds.as_numpy(pairs.batch(4096)):
        sources += [s.decode("utf-8") for s in source_batch]
        targets += [t.decode("utf-8") for t in target_batch]
    source_lengths = source_tokenizer.tokenize(tf.constant(sources)).row_lengths().numpy()
    target_lengths = target_tokenizer.tokenize(tf.constant(targets)).row_lengths().numpy()
    longest = [max(s, t) for s, t in zip(source_lengths, target_lengths)]
    return {
        "pairs": len(sources),
        "source_tokens": int(source_lengths.sum()),
        "target_tokens": int(target_lengths.sum()),
        "longest": int(max(longest)),
        "over_max_length": sum(length > max_length for length in longest),
        "source_round_trip": 1 - len(round_trip_failures(source_tokenizer, sources)) / len(sources),
        "target_round_trip": 1 - len(round_trip_failures(target_tokenizer, targets)) / len(targets),
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Data flags of `tf-transformer prepare`; other subcommands may reuse them."""
    parser.add_argument("--config", choices=CONFIGS, default="de-en", help="translation direction")
    parser.add_argument(
        "--data-dir", help="TFDS data folder (default: $TFDS_DATA_DIR or ~/tensorflow_datasets)"
    )
    parser.add_argument(
        "--source-dir",
        help=f"folder with the raw Multi30k .gz files (default: ${multi30k.MULTI30K_DIR_ENV}, "
        "else download the official files)",
    )
    parser.add_argument(
        "--vocab-dir", help="tokenizer cache folder (default: <data-dir>/multi30k_tokenizers)"
    )
    parser.add_argument(
        "--vocab-size", type=int, default=DEFAULT_VOCAB_SIZE, help="maximum ids per language"
    )
    parser.add_argument(
        "--lowercase", action="store_true", help="lowercase text (default: cased)"
    )
    parser.add_argument(
        "--max-length",
        type=int,
        default=DEFAULT_MAX_LENGTH,
        help="longest tokenized sentence training keeps (prepare counts the longer ones)",
    )


def run(args: argparse.Namespace) -> int:
    """Builds the dataset and tokenizers and prints statistics; returns the exit status."""
    start = time.perf_counter()
    try:
        print(f"Building TFDS dataset multi30k/{args.config} ...", flush=True)
        builder = prepared_builder(args.config, args.data_dir, args.source_dir)
        print(f"Dataset: {builder.data_dir}")
        print("Training or loading tokenizers ...", flush=True)
        tokenizers = load_tokenizers(
            args.config,
            data_dir=args.data_dir,
            source_dir=args.source_dir,
            vocab_dir=args.vocab_dir,
            vocab_size=args.vocab_size,
            lowercase=args.lowercase,
        )
    except (FileNotFoundError, ValueError) as e:  # missing or malformed Multi30k files
        raise DataError(str(e)) from e
    langs = (builder.builder_config.source, builder.builder_config.target)
    for lang, tokenizer in zip(langs, tokenizers):
        path = tokenizer.model_file.asset_path.numpy().decode()
        print(f"Tokenizer {lang}: vocab_size {tokenizer.vocab_size}, {path}")
    splits = list(builder.info.splits)
    for split in tqdm(splits, desc="Statistics", unit="split"):
        stats = split_statistics(
            builder.as_dataset(split=split, as_supervised=True), *tokenizers, args.max_length
        )
        tqdm.write(
            f"{split}: {stats['pairs']} pairs, {stats['source_tokens']} source and "
            f"{stats['target_tokens']} target tokens, longest {stats['longest']}, "
            f"{stats['over_max_length']} over --max-length {args.max_length}, round trip "
            f"{stats['source_round_trip']:.2%} / {stats['target_round_trip']:.2%}"
        )
    print(f"Prepared in {time.perf_counter() - start:.1f} s.")
    return 0
