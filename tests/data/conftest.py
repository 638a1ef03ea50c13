import pytest
import tensorflow_datasets as tfds

from tests.data.fixtures import FIXTURE_VOCAB_SIZE, PAIRS, real_data_dir, write_multi30k
from tf_transformer.data import build_tokenizer, load_tokenizers


@pytest.fixture
def source_dir(tmp_path, monkeypatch):
    """A fixture Multi30k folder with the three required splits, named by MULTI30K_DIR."""
    folder = write_multi30k(tmp_path / "raw")
    monkeypatch.setenv("MULTI30K_DIR", str(folder))
    return folder


@pytest.fixture(scope="session")
def fixture_tokenizers(tmp_path_factory):
    """(de, en) tokenizers trained on the fixture corpus."""
    folder = tmp_path_factory.mktemp("fixture_vocab")
    return tuple(
        build_tokenizer(
            [pair[i] for pair in PAIRS[:40]], str(folder / f"{lang}.model"), FIXTURE_VOCAB_SIZE
        )
        for i, lang in enumerate(("de", "en"))
    )


@pytest.fixture(scope="session")
def real_builder(tmp_path_factory):
    """The de-en builder, its dataset built from the real files in a temporary data dir."""
    builder = tfds.builder("multi30k/de-en", data_dir=str(tmp_path_factory.mktemp("tfds_real")))
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=real_data_dir())
    )
    return builder


@pytest.fixture(scope="session")
def real_tokenizers(real_builder, tmp_path_factory):
    """(de, en) tokenizers with the default settings, trained on the real train split."""
    return load_tokenizers(
        "de-en",
        data_dir=real_builder.data_dir_root,
        source_dir=str(real_data_dir()),
        vocab_dir=str(tmp_path_factory.mktemp("real_vocab")),
    )
