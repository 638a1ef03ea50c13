import pytest
import tensorflow_datasets as tfds

from tests.data.fixtures import real_data_dir, write_multi30k


@pytest.fixture
def source_dir(tmp_path, monkeypatch):
    """A fixture Multi30k folder with the three required splits, named by MULTI30K_DIR."""
    folder = write_multi30k(tmp_path / "raw")
    monkeypatch.setenv("MULTI30K_DIR", str(folder))
    return folder


@pytest.fixture(scope="session")
def real_builder(tmp_path_factory):
    """The de-en builder, its dataset built from the real files in a temporary data dir."""
    builder = tfds.builder("multi30k/de-en", data_dir=str(tmp_path_factory.mktemp("tfds_real")))
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=real_data_dir())
    )
    return builder

