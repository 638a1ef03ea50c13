"""`load_export` / `Translator.from_export`: the Keras model back from a SavedModel alone."""

import os
import shutil

import numpy as np
import pytest

from tests.export.conftest import SENTENCES
from tf_transformer.decoding.translator import Translator
from tf_transformer import artifacts
from tf_transformer.artifacts import load_export, weight_key

pytestmark = pytest.mark.slow


def test_every_weight_comes_back_exactly(exported, trained):
    model, source_tokenizer, target_tokenizer = load_export(exported.path)
    assert model.get_config() == trained.model.get_config()
    expected = {weight_key(v): v.numpy() for v in trained.model.weights}
    assert {weight_key(v) for v in model.weights} == expected.keys()
    for variable in model.weights:
        np.testing.assert_array_equal(variable.numpy(), expected[weight_key(variable)])
    assert (source_tokenizer.vocab_size, target_tokenizer.vocab_size) == (
        trained.source_tokenizer.vocab_size, trained.target_tokenizer.vocab_size)


def test_from_export_translates_like_the_serving_signatures(exported, loaded):
    translator = Translator.from_export(exported.path)
    # By default with the search serving_default runs (recorded in the export).
    for signature, beam_size in (("serving_default", None), ("translate_greedy", 1)):
        served = loaded.signatures[signature](inputs=SENTENCES)["translations"]
        assert translator.translate(SENTENCES, beam_size) == [
            t.decode("utf-8") for t in served.numpy()]


def test_a_folder_without_the_run_config_is_refused(exported, tmp_path):
    copy = tmp_path / "1"
    shutil.copytree(exported.path, copy)
    os.remove(copy / "assets" / "config.yaml")
    with pytest.raises(FileNotFoundError, match="written by `tf-transformer export`"):
        load_export(str(copy))


def test_weights_the_saved_model_lacks_are_refused(exported, monkeypatch):
    # Keys the export never wrote, as for an export made before weights were keyed.
    monkeypatch.setattr(artifacts, "weight_key", lambda variable: "other/" + weight_key(variable))
    with pytest.raises(artifacts.ExportError, match="does not hold every weight of its model"):
        load_export(exported.path)
