"""The servable folder `export` writes: layout, the .keras copy, failures, refusals."""

import os
import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.export.conftest import MODEL_NAME
from tf_transformer.export import exporter
from tf_transformer.export.warmup import WARMUP_FILE

# Uses the trained, exported model of conftest.py (built once, ~20 s).
pytestmark = pytest.mark.slow


def test_the_servable_holds_one_version_and_the_keras_folder(exported):
    base = os.path.join(exported.output_dir, MODEL_NAME)
    assert sorted(os.listdir(base)) == ["1", "keras"]
    assert os.listdir(os.path.join(base, "keras")) == ["1.keras"]
    assert {"saved_model.pb", "variables", "assets", "assets.extra"} <= set(
        os.listdir(exported.path))
    assert os.path.isfile(os.path.join(exported.path, WARMUP_FILE))


def test_everything_exported_is_readable_by_other_users_under_umask_022(exported):
    # TF Serving often runs as another user (containers); mkdtemp's 0700 hid versions.
    umask = os.umask(0)
    os.umask(umask)
    assert umask & 0o055 == 0, "the test needs a umask that lets others read"
    base = os.path.join(exported.output_dir, MODEL_NAME)
    for folder, _, files in os.walk(base):
        assert os.stat(folder).st_mode & 0o755 == 0o755, folder
        for name in files:
            assert os.stat(os.path.join(folder, name)).st_mode & 0o644 == 0o644, name


def test_the_saved_model_stores_each_weight_once(exported, trained):
    checkpoint = os.path.join(exported.path, "variables", "variables")
    sizes = [int(np.prod(shape)) for name, shape in tf.train.list_variables(checkpoint)
             if name != "_CHECKPOINTABLE_OBJECT_GRAPH"]
    assert sum(sizes) == trained.model.count_params()


def test_the_keras_export_restores_the_same_model(exported, trained):
    restored = keras.saving.load_model(exported.keras_path)
    assert restored.get_config() == trained.model.get_config()
    source = trained.source_tokenizer.tokenize(["Ein Mann läuft am Strand entlang."])
    source = source.to_tensor().numpy()
    target_input = np.array([[2, 5, 6, 7]], np.int32)
    np.testing.assert_allclose(restored((source, target_input), training=False),
                               trained.model((source, target_input), training=False),
                               atol=1e-6)


@pytest.fixture
def servable_copy(exported, tmp_path):
    """A throwaway copy of saved_models/ (version 1 and keras/1.keras)."""
    output_dir = tmp_path / "saved_models"
    shutil.copytree(exported.output_dir, output_dir)
    return output_dir


def listing(output_dir):
    base = output_dir / MODEL_NAME
    return sorted(os.listdir(base)), sorted(os.listdir(base / "keras"))


def test_a_failed_export_leaves_version_1_as_it_was_and_nothing_else(servable_copy, trained,
                                                                     monkeypatch):
    before = listing(servable_copy)
    pb = servable_copy / MODEL_NAME / "1" / "saved_model.pb"
    pb_bytes = pb.read_bytes()

    def save_half_then_fail(module, export_dir, signatures=None):
        with open(os.path.join(export_dir, "saved_model.pb"), "wb") as f:
            f.write(b"half")
        raise OSError("No space left on device")

    monkeypatch.setattr(tf.saved_model, "save", save_half_then_fail)
    with pytest.raises(OSError, match="No space left"):
        exporter.export(trained.model, trained.source_tokenizer, trained.target_tokenizer,
                        str(servable_copy), MODEL_NAME, warmup_sentences=["Ein Hund."])
    assert listing(servable_copy) == before
    assert pb.read_bytes() == pb_bytes


def test_the_keras_copy_is_written_after_its_version_is_in_place(servable_copy, trained,
                                                                  monkeypatch):
    base = servable_copy / MODEL_NAME
    seen = []

    def save(path, *args, **kwargs):
        seen.append((os.path.basename(path), sorted(os.listdir(base))))
        raise OSError("killed")

    monkeypatch.setattr(trained.model, "save", save)
    with pytest.raises(OSError, match="killed"):
        exporter.export(trained.model, trained.source_tokenizer, trained.target_tokenizer,
                        str(servable_copy), MODEL_NAME, warmup_sentences=["Ein Hund."])
    (name, listed), = seen
    assert listed == ["1", "2", "keras"]  # version 2 complete, no temporary folder
    assert name.startswith(".tmp-") and name.endswith("-2.keras")
    assert sorted(os.listdir(base / "keras")) == ["1.keras"]


def test_an_existing_version_is_refused_and_kept(servable_copy, trained):
    before = listing(servable_copy)
    with pytest.raises(FileExistsError, match="--overwrite"):
        exporter.export(trained.model, trained.source_tokenizer, trained.target_tokenizer,
                        str(servable_copy), MODEL_NAME, warmup_sentences=["Ein Hund."],
                        version=1)
    assert listing(servable_copy) == before


@pytest.mark.parametrize("name", ["", "a/b", ".hidden"])
def test_servable_names_are_plain_folder_names(trained, tmp_path, name):
    with pytest.raises(ValueError, match="plain folder name"):
        exporter.export(trained.model, trained.source_tokenizer, trained.target_tokenizer,
                        str(tmp_path), name, warmup_sentences=["Ein Hund."])
