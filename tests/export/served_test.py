"""Decoding through an export: `ServedTranslator` and `tf-transformer translate --model`
return what the SavedModel's signatures (TF Serving) return."""

import io
import os
import shutil
import sys

import pytest
import tensorflow as tf

from tests.export.conftest import ALPHA, BEAM_SIZE, MODEL_NAME, SENTENCES
from tf_transformer import cli
from tf_transformer.artifacts import build_tokenizers, load_export_config
from tf_transformer.decoding.translator import Translator
from tf_transformer.export.served import ServedTranslator

pytestmark = pytest.mark.slow
LINES = SENTENCES[:6] + ["", "   "]


def served_outputs(loaded, signature, sentences):
    outputs = loaded.signatures[signature](inputs=tf.constant(sentences))
    return [t.decode("utf-8") for t in outputs["translations"].numpy()]


@pytest.fixture(scope="module")
def served(exported):
    config = load_export_config(exported.path)
    _, target_tokenizer = build_tokenizers(config, os.path.join(exported.path, "assets"))
    return ServedTranslator(exported.path, BEAM_SIZE, ALPHA, target_tokenizer)


def translate_cli(monkeypatch, capsys, argv, lines=LINES):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO("\n".join(lines).encode())))
    capsys.readouterr()
    assert cli.main(["translate"] + argv) == 0
    return capsys.readouterr().out.splitlines()


def test_served_translator_returns_the_signatures_outputs(served, loaded):
    # Batches of 4, sorted by length: still each row's own result.
    assert served.translate(LINES, batch_size=4) == served_outputs(loaded, "serving_default", LINES)
    assert served.translate(LINES, beam_size=1) == served_outputs(loaded, "translate_greedy", LINES)
    detailed = served.translate_detailed(LINES[:1])[0]
    assert detailed.target_tokens[-1] == "[END]" and len(detailed.target_tokens) > 1
    with pytest.raises(ValueError, match=f"serves beam {BEAM_SIZE} with alpha {ALPHA}"):
        served.translate(LINES, beam_size=2)


def test_cli_translate_through_a_version_or_a_model_folder(exported, loaded, monkeypatch,
                                                           capsys):
    expected = served_outputs(loaded, "serving_default", LINES)
    assert translate_cli(monkeypatch, capsys, ["--model", exported.path]) == expected
    # The servable folder: its highest version.
    model_folder = os.path.join(exported.output_dir, MODEL_NAME)
    assert translate_cli(monkeypatch, capsys, ["--model", model_folder]) == expected
    greedy = served_outputs(loaded, "translate_greedy", LINES)
    assert translate_cli(monkeypatch, capsys, ["--model", exported.path, "--beam-size", "1"]) \
        == greedy


def test_a_search_the_export_does_not_serve_uses_its_keras_model(exported, monkeypatch, capsys):
    keras_translator = Translator.from_export(exported.path)
    assert (keras_translator.beam_size, keras_translator.alpha) == (BEAM_SIZE, ALPHA)
    got = translate_cli(monkeypatch, capsys, ["--model", exported.path, "--beam-size", "2"])
    assert got == keras_translator.translate(LINES, beam_size=2)


def test_an_unreadable_saved_model_is_one_error_line(exported, tmp_path, monkeypatch, capsys):
    copy = tmp_path / "1"
    shutil.copytree(exported.path, copy)
    (copy / "saved_model.pb").write_bytes(b"not a SavedModel")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"Ein Hund.")))
    assert cli.main(["translate", "--model", str(copy)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"tf-transformer: error: {copy} is not a readable SavedModel")
    assert err.count("\n") == 1
