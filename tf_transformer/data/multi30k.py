"""TFDS builder for Multi30k task 1 (German-English image captions).

Importing this module registers the builder `multi30k` with TensorFlow Datasets,
with the configs `de-en` and `en-de` (same data, different `supervised_keys`).

Where the raw files come from, first match wins:

1. the TFDS manual folder (`tfds build --manual_dir DIR`, or
   `tfds.download.DownloadConfig(manual_dir=DIR)`) when it holds Multi30k files;
2. the folder named by the environment variable `MULTI30K_DIR`;
3. otherwise the official files are downloaded from the multi30k/dataset
   repository and checked against `checksums.tsv` beside this module.

`checksums.tsv` records sha256 and size for the six files of train, validation and
test_2016_flickr. The 2017 and 2018 test files have no recorded checksum yet: TFDS
downloads them without verification (it only verifies URLs it has a record for).
Record them with `tfds build --register_checksums` on a machine with internet access.

In a local folder the train, validation and test_2016_flickr files are required; the
2017/2018 test splits are optional and skipped, with one logged line, when absent.

Text: each line is stripped of surrounding whitespace and kept otherwise verbatim
(cased, untokenized). An empty line is an error, not skipped: the official files have
none, and one would shift the German/English alignment of every later line.

Example:

```python
import tensorflow_datasets as tfds
import tf_transformer.data  # registers `multi30k`

train = tfds.load("multi30k/de-en", split="train", as_supervised=True)
```
"""

import dataclasses
import gzip
import logging
import os
import zlib

import tensorflow_datasets as tfds
from etils import epath

from tf_transformer.text import BOM

logger = logging.getLogger(__name__)

MULTI30K_DIR_ENV = "MULTI30K_DIR"
URL_TEMPLATE = "https://github.com/multi30k/dataset/raw/master/data/task1/raw/{stem}.{lang}.gz"
LANGUAGES = ("de", "en")
# TFDS split name -> file stem; official number of sentence pairs per split.
REQUIRED_SPLITS = {"train": "train", "validation": "val", "test_2016_flickr": "test_2016_flickr"}
OPTIONAL_SPLITS = {
    "test_2017_flickr": "test_2017_flickr",
    "test_2017_mscoco": "test_2017_mscoco",
    "test_2018_flickr": "test_2018_flickr",
}
ALL_SPLITS = {**REQUIRED_SPLITS, **OPTIONAL_SPLITS}
SPLIT_SIZES = {
    "train": 29_000,
    "validation": 1_014,
    "test_2016_flickr": 1_000,
    "test_2017_flickr": 1_000,
    "test_2017_mscoco": 461,
    "test_2018_flickr": 1_071,
}

_DESCRIPTION = """\
Multi30K task 1: German translations of English Flickr30K image descriptions
(Elliott et al., 2016). One caption per line, untokenized and cased; line i of the
German file translates line i of the English file. Splits: train (29,000 pairs),
validation (1,014), test_2016_flickr (1,000), test_2017_flickr (1,000),
test_2017_mscoco (461) and test_2018_flickr (1,071). Multi30K is partly derived from
Flickr30K; its authors provide it for non-commercial research and educational purposes.
"""

_CITATION = """\
@inproceedings{elliott-etal-2016-multi30k,
    title = "{M}ulti30{K}: Multilingual {E}nglish-{G}erman Image Descriptions",
    author = "Elliott, Desmond and Frank, Stella and Sima{'}an, Khalil and Specia, Lucia",
    booktitle = "Proceedings of the 5th Workshop on Vision and Language",
    year = "2016",
    publisher = "Association for Computational Linguistics",
    pages = "70--74",
    doi = "10.18653/v1/W16-3210",
}
"""


def multi30k_dir() -> str | None:
    """Returns the local Multi30k folder named by `MULTI30K_DIR`, or None when unset."""
    return os.environ.get(MULTI30K_DIR_ENV) or None


def file_name(stem: str, lang: str) -> str:
    """Name of an official raw file, e.g. `train.de.gz`."""
    return f"{stem}.{lang}.gz"


def _how_to_provide(stem: str, lang: str) -> str:
    return (
        f"Provide {file_name(stem, lang)} in one of two ways: put the official file "
        f"({URL_TEMPLATE.format(stem=stem, lang=lang)}) in a folder and point the environment "
        f"variable {MULTI30K_DIR_ENV} at that folder, or pass the folder as the TFDS manual_dir "
        "(`tfds build --manual_dir DIR` or `tfds.download.DownloadConfig(manual_dir=DIR)`)."
    )


def read_lines(path: epath.PathLike) -> list[str]:
    """Reads one gzipped Multi30k file into stripped lines.

    Raises:
        ValueError: if the file is not valid gzip or UTF-8, or has an empty line.
    """
    path = epath.Path(path)
    try:
        with path.open("rb") as f, gzip.GzipFile(fileobj=f) as gz:
            text = gz.read().decode("utf-8")
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as e:
        raise ValueError(
            f"{path} is not a valid gzipped UTF-8 text file ({e}): the file is damaged. Replace "
            "it with a fresh copy of the official file (data/task1/raw/ of "
            "https://github.com/multi30k/dataset)."
        ) from e
    lines = text.removeprefix(BOM).split("\n")  # not splitlines(): it splits on U+2028 too
    if lines[-1] == "":
        lines.pop()  # the final newline ends the last line; it does not start a new one
    lines = [line.strip() for line in lines]
    for number, line in enumerate(lines, start=1):
        if not line:
            raise ValueError(
                f"{path}: line {number} is empty. Multi30k has no empty captions, so the file "
                "is damaged or misaligned; replace it with the official file."
            )
    return lines


def read_pairs(de_path: epath.PathLike, en_path: epath.PathLike) -> list[tuple[str, str]]:
    """Reads aligned German/English files into (de, en) pairs.

    Raises:
        ValueError: as `read_lines`, or if the two files have different line counts.
    """
    de, en = read_lines(de_path), read_lines(en_path)
    if len(de) != len(en):
        raise ValueError(
            f"German and English files differ in length: {de_path} has {len(de)} lines, "
            f"{en_path} has {len(en)}. Line i of one must translate line i of the other; "
            "replace them with the official files."
        )
    return list(zip(de, en))


@dataclasses.dataclass
class Multi30kConfig(tfds.core.BuilderConfig):
    """A translation direction; both configs hold the same sentence pairs."""

    source: str = "de"
    target: str = "en"


class Multi30k(tfds.core.GeneratorBasedBuilder):
    """Multi30k task 1, German-English."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release: raw task 1 files, six splits."}
    BUILDER_CONFIGS = [
        Multi30kConfig(name="de-en", description="German to English.", source="de", target="en"),
        Multi30kConfig(name="en-de", description="English to German.", source="en", target="de"),
    ]
    # TFDS lets a builder read dl_manager.manual_dir only when this is set.
    MANUAL_DOWNLOAD_INSTRUCTIONS = f"""\
    Optional (the builder downloads the files otherwise). Put the official files
    data/task1/raw/<stem>.<lang>.gz of https://github.com/multi30k/dataset, for stems
    train, val, test_2016_flickr (required) and test_2017_flickr, test_2017_mscoco,
    test_2018_flickr (optional) and languages de, en, in this folder, or point the
    environment variable {MULTI30K_DIR_ENV} at a folder holding them.
    """

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            description=_DESCRIPTION,
            features=tfds.features.FeaturesDict(
                {lang: tfds.features.Text() for lang in LANGUAGES}
            ),
            supervised_keys=(self.builder_config.source, self.builder_config.target),
            homepage="https://github.com/multi30k/dataset",
            citation=_CITATION,
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        folder = _local_folder(dl_manager)
        if folder is None:
            urls = {
                file_name(stem, lang): URL_TEMPLATE.format(stem=stem, lang=lang)
                for stem in ALL_SPLITS.values()
                for lang in LANGUAGES
            }
            paths = dl_manager.download(urls)
        else:
            paths = local_paths(folder)
        return {
            split: self._generate_examples(
                paths[file_name(stem, "de")], paths[file_name(stem, "en")]
            )
            for split, stem in ALL_SPLITS.items()
            if file_name(stem, "de") in paths
        }

    def _generate_examples(self, de_path, en_path):
        for index, (de, en) in enumerate(read_pairs(de_path, en_path)):
            yield index, {"de": de, "en": en}


def _has_multi30k_files(folder: epath.Path) -> bool:
    return any(
        (folder / file_name(stem, lang)).exists()
        for stem in ALL_SPLITS.values()
        for lang in LANGUAGES
    )


def _local_folder(dl_manager) -> epath.Path | None:
    """The manual folder if it holds Multi30k files, else $MULTI30K_DIR, else None."""
    try:
        manual = dl_manager.manual_dir
    except AssertionError:  # TFDS: no manual folder, or it is missing or empty
        manual = None
    if manual is not None and _has_multi30k_files(manual):
        return manual
    env = multi30k_dir()
    if env is None:
        return None
    folder = epath.Path(env)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"{MULTI30K_DIR_ENV}={env} is not a folder. Point it at the folder that holds "
            "the Multi30k files (train.de.gz, ...), or unset it to download them."
        )
    return folder


def local_paths(folder: epath.Path) -> dict[str, epath.Path]:
    """Paths of the Multi30k files in `folder`: all required ones, the optional ones found."""
    paths = {}
    for stem in REQUIRED_SPLITS.values():
        for lang in LANGUAGES:
            path = folder / file_name(stem, lang)
            if not path.exists():
                raise FileNotFoundError(f"{path} not found. {_how_to_provide(stem, lang)}")
            paths[path.name] = path
    skipped = []
    for split, stem in OPTIONAL_SPLITS.items():
        found = [(folder / file_name(stem, lang)).exists() for lang in LANGUAGES]
        if all(found):
            for lang in LANGUAGES:
                paths[file_name(stem, lang)] = folder / file_name(stem, lang)
        elif any(found):
            lang = LANGUAGES[found.index(False)]
            raise FileNotFoundError(
                f"{folder / file_name(stem, lang)} not found, but its translation is there. "
                f"{_how_to_provide(stem, lang)}"
            )
        else:
            skipped.append(split)
    if skipped:
        logger.warning(
            "Multi30k: optional test splits %s not in %s; skipping them.",
            ", ".join(skipped),
            folder,
        )
    return paths
