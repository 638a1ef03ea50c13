"""`export --run A --run B`: one SavedModel that decodes two runs as an ensemble (here
combined log-linearly, as the shipped version 3; linear is the default). The second
member is an epoch checkpoint of its run (`--run B/checkpoints/FILE.weights.h5`), not
that run's final weights."""

import argparse
import contextlib
import io
import os
import shutil
import types

import numpy as np
import pytest

from tests.export.conftest import ALPHA, BEAM_SIZE, MODEL_NAME, SENTENCES, run_reload_check
from tests.export.serving_test import texts
from tf_transformer.artifacts import SAMPLE_INPUTS, WEIGHTS_FILE, keyed_weights, load_export
from tf_transformer.decoding.translator import Translator
from tf_transformer.ensemble import Ensemble
from tf_transformer.export import cli_export
from tf_transformer.model import Transformer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def second(trained, run_dir, tmp_path_factory):
    """A second member: the trained model with noise on every weight, an epoch checkpoint
    of a copy of run_dir (whose final weights stay the trained model's)."""
    folder = tmp_path_factory.mktemp("second") / "run"
    shutil.copytree(run_dir, folder)
    model = Transformer.from_config(trained.model.get_config())
    model(SAMPLE_INPUTS)
    model.set_weights(trained.model.get_weights())
    rng = np.random.default_rng(1)
    for variable in model.weights:
        variable.assign(variable.numpy() + rng.normal(0, 0.05, variable.shape))
    checkpoint = folder / "checkpoints" / "epoch-002.weights.h5"
    checkpoint.parent.mkdir()
    model.save_weights(str(checkpoint))
    return types.SimpleNamespace(run=folder, checkpoint=checkpoint, model=model)


@pytest.fixture(scope="module")
def exported_ensemble(run_dir, second, tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("ensemble") / "saved_models"
    parser = argparse.ArgumentParser()
    cli_export.add_arguments(parser)
    args = parser.parse_args(["--run", str(run_dir), "--run", str(second.checkpoint), "--name",
                              MODEL_NAME, "--beam-size", str(BEAM_SIZE), "--alpha",
                              str(ALPHA), "--ensemble-mode", "log_linear",
                              "--output-dir", str(output_dir)])
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        assert cli_export.run(args) == 0
    return types.SimpleNamespace(path=str(output_dir / MODEL_NAME / "1"),
                                 keras=output_dir / MODEL_NAME / "keras",
                                 stdout=stdout.getvalue())


def test_the_server_runs_the_ensemble_search(exported_ensemble, trained, second,
                                             tmp_path):
    assert "an ensemble of 2 members, log_linear" in exported_ensemble.stdout
    assert sorted(os.listdir(exported_ensemble.keras)) == ["1-member1.keras",
                                                           "1-member2.keras"]
    # TF Serving's loader in a fresh process, against the in-memory ensemble.
    report = run_reload_check(exported_ensemble.path,
                              {"beam": ("serving_default", SENTENCES),
                               "greedy": ("translate_greedy", SENTENCES)},
                              tmp_path, session_only=True)
    ensemble = Translator(Ensemble([trained.model, second.model], "log_linear"),
                          trained.source_tokenizer, trained.target_tokenizer,
                          beam_size=BEAM_SIZE, alpha=ALPHA)
    for label, beam_size in (("beam", BEAM_SIZE), ("greedy", 1)):
        expected = ensemble.translate_detailed(SENTENCES, beam_size)
        output = report["outputs"][label]
        assert texts(output["translations"]) == [t.text for t in expected]
        np.testing.assert_allclose(output["scores"]["values"],
                                   [t.score for t in expected], atol=1e-4)
    # Not just one member's output: the members alone score differently.
    alone = Translator(second.model, trained.source_tokenizer, trained.target_tokenizer)
    assert [t.score for t in alone.translate_detailed(SENTENCES, BEAM_SIZE, ALPHA)] != \
        pytest.approx(report["outputs"]["beam"]["scores"]["values"], abs=1e-4)


def test_load_export_gives_back_the_ensemble(exported_ensemble, trained, second):
    model, _, _ = load_export(exported_ensemble.path)
    assert isinstance(model, Ensemble) and len(model.members) == 2
    assert model.mode == "log_linear"  # as its signatures combine them
    expected = keyed_weights(Ensemble([trained.model, second.model]))
    weights = keyed_weights(model)
    assert weights.keys() == expected.keys()
    for key, variable in weights.items():
        np.testing.assert_array_equal(variable.numpy(), expected[key].numpy())


def test_weights_are_named_once_per_member(run_dir, second, tmp_path, capsys):
    parser = argparse.ArgumentParser()
    cli_export.add_arguments(parser)
    args = parser.parse_args(["--run", str(run_dir), "--run", str(second.run), "--name",
                              MODEL_NAME, "--weights", str(second.run / WEIGHTS_FILE),
                              "--output-dir", str(tmp_path)])
    with pytest.raises(cli_export.ExportError, match="--weights takes a single --run"):
        cli_export.run(args)
    args = parser.parse_args(["--run", str(run_dir), "--name", MODEL_NAME,
                              "--ensemble-mode", "log_linear", "--output-dir", str(tmp_path)])
    with pytest.raises(cli_export.ExportError, match="--ensemble-mode combines several runs"):
        cli_export.run(args)
    args = parser.parse_args(["--run", str(second.checkpoint), "--name", MODEL_NAME,
                              "--weights", str(second.run / WEIGHTS_FILE),
                              "--output-dir", str(tmp_path)])
    with pytest.raises(cli_export.ExportError, match="both name weights"):
        cli_export.run(args)
    assert os.listdir(tmp_path) == []
