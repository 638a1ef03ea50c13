"""`tf-transformer export` (the shared `exported` fixture runs it once) and its errors."""

import argparse
import dataclasses
import os

import pytest

from tests.export.conftest import ALPHA, BEAM_SIZE, MODEL_NAME
from tf_transformer import cli
from tf_transformer.export import cli_export
from tf_transformer.training import config as run_config
from tf_transformer.training.config import RunConfig

# Uses the trained, exported model of conftest.py (built once, ~20 s).
pytestmark = pytest.mark.slow


def test_export_prints_where_everything_went(exported):
    assert f"SavedModel: {exported.path} (serving_default: beam {BEAM_SIZE}" in exported.stdout
    assert f"Keras model: {exported.keras_path}" in exported.stdout
    base = os.path.abspath(os.path.join(exported.output_dir, MODEL_NAME))
    assert f"model base path {base}" in exported.stdout


def test_defaults():
    parser = argparse.ArgumentParser()
    cli_export.add_arguments(parser)
    parsed = parser.parse_args(["--run", "r", "--name", "n"])
    # No beam size or alpha given: the run config's decoding section decides.
    assert (parsed.version, parsed.beam_size, parsed.alpha, parsed.output_dir,
            parsed.overwrite) == (None, None, None, "saved_models", False)
    assert (RunConfig().decoding.beam_size, RunConfig().decoding.alpha) == (4, 0.6)


@pytest.mark.parametrize("extra, message", [
    (["--version", "1"], "Version 1 already exists"),
    (["--beam-size", "0"], "--beam-size must be >= 1, got 0"),
    (["--version", "0"], "from 1 to 2**63 - 1 (9223372036854775807), got 0"),
    (["--version", "99999999999999999999"], "got 99999999999999999999"),
    (["--output-dir", "/dev/null"], "/dev/null is a file"),
])
def test_errors_name_the_problem_and_change_nothing(exported, run_dir, capsys, extra, message):
    before = sorted(os.listdir(os.path.join(exported.output_dir, MODEL_NAME)))
    argv = ["export", "--run", str(run_dir), "--name", MODEL_NAME,
            "--output-dir", str(exported.output_dir)] + extra
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("tf-transformer: error: ") and message in err
    assert sorted(os.listdir(os.path.join(exported.output_dir, MODEL_NAME))) == before


def test_a_folder_that_is_not_a_run_is_reported(tmp_path, capsys):
    assert cli.main(["export", "--run", str(tmp_path), "--name", MODEL_NAME,
                     "--output-dir", str(tmp_path / "out")]) == 2
    assert "tf-transformer train" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_the_export_records_the_search_it_serves(exported, run_dir):
    recorded = run_config.load(os.path.join(exported.path, "assets", "config.yaml"))
    assert (recorded.decoding.beam_size, recorded.decoding.alpha) == (BEAM_SIZE, ALPHA)
    # Everything else is the run's config.
    run = run_config.load(os.path.join(run_dir, "config.yaml"))
    assert dataclasses.replace(recorded, decoding=run.decoding) == run
