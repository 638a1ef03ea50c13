"""`data.source: tfds:NAME/CONFIG` on a tiny translation dataset built by this test."""

import pytest
import tensorflow_datasets as tfds

from tf_transformer.data.prepare import open_corpus, scan
from tf_transformer.errors import UserError
from tf_transformer.training.config import DataConfig

# One pair in 11 with an empty side: under the 10 % of bad pairs a split may have.
ROWS = {"train": [(f"frase {i}", f"sentence {i}") for i in range(10)] + [("", "empty")],
        "validation": [("quatro", "four")], "test": [("cinco", "five"), ("seis", "six")]}


class FakeTranslate(tfds.core.GeneratorBasedBuilder):
    """Like ted_hrlr_translate/pt_to_en: a Translation feature, supervised (pt, en)."""

    VERSION = tfds.core.Version("1.0.0")
    BUILDER_CONFIGS = [tfds.core.BuilderConfig(name="pt_to_en")]

    def _info(self):
        return self.dataset_info_from_configs(
            features=tfds.features.Translation(languages=("en", "pt")),
            supervised_keys=("pt", "en"))

    def _split_generators(self, dl_manager):
        return {split: self._generate_examples(rows) for split, rows in ROWS.items()}

    def _generate_examples(self, rows):
        for index, (pt, en) in enumerate(rows):
            yield index, {"pt": pt, "en": en}


@pytest.fixture(scope="module")
def tfds_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("tfds"))


def test_supervised_keys_give_the_languages_and_every_split_is_there(tfds_dir):
    corpus = open_corpus(DataConfig(source="tfds:fake_translate/pt_to_en", tfds_dir=tfds_dir))
    assert (corpus.source_language, corpus.target_language) == ("pt", "en")
    assert corpus.split_names == ["train", "validation", "test"]
    assert sorted(corpus.texts("test")[0]) == ["cinco", "seis"]
    # The pair with an empty source is skipped, in the dataset and in the scan's count.
    got = sorted((s.decode(), t.decode()) for s, t in corpus.pairs("train").as_numpy_iterator())
    assert got == sorted(pair for pair in ROWS["train"] if pair[0])
    reports, sample = scan(corpus, sample_size=10)
    assert reports["train"].pairs == 10 and reports["train"].skipped == {"empty source": 1}
    assert sorted(sample) == got


def test_language_keys_and_split_names_are_chosen_by_the_config(tfds_dir):
    corpus = open_corpus(DataConfig(
        source="tfds:fake_translate/pt_to_en", source_language="en", target_language="pt",
        splits={"train": "train[:2]", "validation": "validation", "test_2024": "test"},
        tfds_dir=tfds_dir))
    assert corpus.split_names == ["train", "validation", "test_2024"]
    assert len(corpus.texts("train")[0]) == 2
    assert sorted(corpus.texts("test_2024")[0]) == ["five", "six"]
    with pytest.raises(UserError, match="no text feature 'de'.*en, pt"):
        open_corpus(DataConfig(source="tfds:fake_translate/pt_to_en", source_language="de",
                               tfds_dir=tfds_dir))
    with pytest.raises(UserError, match="data.splits needs validation"):
        open_corpus(DataConfig(source="tfds:fake_translate/pt_to_en", splits={"train": "train"},
                               tfds_dir=tfds_dir))
