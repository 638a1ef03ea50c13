"""`data.source: tfds:NAME/CONFIG` (and `multi30k`): a TFDS translation dataset as a `Corpus`.

The dataset is built (downloaded and prepared) under `data.tfds_dir` on first use.
The languages pick two text features of an example (default: the dataset's
`supervised_keys`, e.g. ("pt", "en") for `ted_hrlr_translate/pt_to_en`); both plain
`Text` features and the `Translation` feature of the WMT datasets work. `data.splits`
maps the run's split names to TFDS split names (default: every split of the dataset
under its own name). Pairs with an empty side are skipped (and counted by
`tf-transformer prepare`).
"""

import tensorflow as tf
import tensorflow_datasets as tfds

from tf_transformer.data import multi30k  # noqa: F401  (registers the `multi30k` builder)
from tf_transformer.data.corpus import REQUIRED_SPLITS, Corpus
from tf_transformer.errors import UserError


class TfdsCorpus(Corpus):
    """A TFDS dataset with two text features.

    Args:
        name: "NAME/CONFIG" (or "NAME"), e.g. "ted_hrlr_translate/pt_to_en".
        source_language, target_language: feature names; None: `supervised_keys`.
        splits: dict, run split name -> TFDS split (e.g. {"test": "test[:1000]"});
            None: every split of the dataset under its own name.
        data_dir: TFDS data folder (None: TFDS's default).
        manual_dir: TFDS manual folder (Multi30k: the raw files).
    """

    def __init__(self, name, source_language=None, target_language=None, splits=None,
                 data_dir=None, manual_dir=None):
        try:
            self.builder = tfds.builder(name, data_dir=data_dir)
        except tfds.core.registered.DatasetNotFoundError as error:
            raise UserError(f"data.source=tfds:{name}: {error}") from None
        self.builder.download_and_prepare(
            download_config=tfds.download.DownloadConfig(manual_dir=manual_dir))
        info = self.builder.info
        keys = info.supervised_keys or (None, None)
        self.source_language = source_language or keys[0]
        self.target_language = target_language or keys[1]
        features = _text_features(info.features)
        for role, lang in (("source", self.source_language), ("target", self.target_language)):
            if lang not in features:
                raise UserError(
                    f"tfds:{name} has no text feature {lang!r} for data.{role}_language; "
                    f"its text features: {', '.join(sorted(features))}.")
        self._splits = dict(splits) if splits else {split: split for split in info.splits}
        missing = [name for name in REQUIRED_SPLITS if name not in self._splits]
        if missing:
            raise UserError(
                f"tfds:{name}: data.splits needs {' and '.join(missing)} (TFDS splits: "
                f"{', '.join(info.splits)}).")
        self.split_names = list(REQUIRED_SPLITS) + [
            split for split in self._splits if split not in REQUIRED_SPLITS]

    def pairs(self, split):
        self.check_split(split)
        source, target = self.source_language, self.target_language
        dataset = self.builder.as_dataset(split=self._splits[split], shuffle_files=False)
        dataset = dataset.map(lambda example: (example[source], example[target]))
        return dataset.filter(
            lambda s, t: tf.logical_and(tf.strings.length(s) > 0, tf.strings.length(t) > 0))

    def iter_pairs(self, split, report=None):
        self.check_split(split)
        dataset = self.builder.as_dataset(split=self._splits[split], shuffle_files=False)
        languages = (self.source_language, self.target_language)
        examples = (pair for batch in tfds.as_numpy(dataset.batch(4096))
                    for pair in zip(*(batch[lang] for lang in languages)))
        for number, (source, target) in enumerate(examples, start=1):
            if source and target:
                if report is not None:
                    report.pairs += 1
                yield source.decode("utf-8"), target.decode("utf-8")
            elif report is not None:
                report.skip(f"{self.builder.name}:{split}", number,
                            "empty source" if not source else "empty target")


def _text_features(features) -> set:
    """Names of the string features of an example (Text, or the languages of Translation)."""
    names = set()
    for key, feature in features.items():
        if isinstance(feature, tfds.features.Translation):
            names.update(feature.languages)
        elif isinstance(feature, tfds.features.Text):
            names.add(key)
    return names
