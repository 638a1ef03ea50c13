import pytest

from tests.data.fixtures import FIXTURE_VOCAB_SIZE, write_multi30k
from tf_transformer.training.config import from_dict


@pytest.fixture(scope="session")
def fixture_data(tmp_path_factory):
    """(raw Multi30k fixture folder, TFDS folder shared by the session's runs)."""
    root = tmp_path_factory.mktemp("training_data")
    return str(write_multi30k(root / "raw")), str(root / "tfds")


@pytest.fixture(scope="session")
def tiny_config(fixture_data):
    """`tiny_config(section={key: value}, ...)`: a tiny 1+1-layer model on the fixture
    corpus (40 training pairs, batches of 8: 5 steps per epoch)."""
    raw, tfds_dir = fixture_data

    def make(**sections):
        values = {
            "model": {"preset": "tiny", "num_encoder_layers": 1, "num_decoder_layers": 1},
            "data": {"data_dir": raw, "tfds_dir": tfds_dir, "vocab_size": FIXTURE_VOCAB_SIZE,
                     "batch_size": 8, "max_length": 64},
            "training": {"epochs": 1},
        }
        for section, entries in sections.items():
            values[section] = {**values.get(section, {}), **entries}
        return from_dict(values)

    return make
