"""`export --xla`: the search compiled with XLA, on bucketed shapes; what a model server
does with it with and without --xla_cpu_compilation_enabled."""

import argparse
import contextlib
import io
import types

import numpy as np
import pytest
import tensorflow as tf

from tests.export.conftest import ALPHA, BATCHES, BEAM_SIZE, MODEL_NAME, run_reload_check
from tests.export.serving_test import is_xla_op
from tf_transformer.decoding.generate import translate_ids
from tf_transformer.export import cli_export
from tf_transformer.export.compiled_search import bucket, compiled_translate_ids, width_bucket
from tf_transformer.special_tokens import BOS_ID, EOS_ID

# Uses the trained model of conftest.py; exports it once more with --xla.
pytestmark = pytest.mark.slow

# Each batch shape is one more XLA compilation in each of the two loaders.
XLA_BATCHES = {label: BATCHES[label] for label in ("beam", "greedy", "bad", "empty_batch")}


@pytest.fixture(scope="module")
def exported_xla(run_dir, tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("xla") / "saved_models"
    parser = argparse.ArgumentParser()
    cli_export.add_arguments(parser)
    args = parser.parse_args(["--run", str(run_dir), "--name", MODEL_NAME, "--beam-size",
                              str(BEAM_SIZE), "--alpha", str(ALPHA), "--output-dir",
                              str(output_dir), "--xla"])
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        assert cli_export.run(args) == 0
    return types.SimpleNamespace(path=str(output_dir / MODEL_NAME / "1"),
                                 stdout=stdout.getvalue())


@pytest.fixture(scope="module")
def xla_report(exported_xla, tmp_path_factory):
    # The server's loader only: `--xla` exports are for TF Serving (serving_test runs
    # tf.saved_model.load on the default export), and each loader compiles every shape.
    return run_reload_check(exported_xla.path, XLA_BATCHES, tmp_path_factory.mktemp("xla_on"),
                            session_only=True)


@pytest.mark.parametrize("size, expected", [
    (0, 0), (1, 1), (2, 2), (3, 4), (8, 8), (9, 16), (1000, 1024)])
def test_batches_are_padded_to_the_next_power_of_two(size, expected):
    assert int(bucket(tf.constant(size))) == expected


@pytest.mark.parametrize("width, cap, expected", [
    (1, 256, 8), (8, 256, 8), (9, 256, 16), (57, 256, 64), (64, 256, 64), (65, 256, 128),
    (200, 256, 256), (40, 48, 40), (41, 44, 44), (70, 100, 100)])
def test_widths_are_padded_to_multiples_of_8_then_powers_of_two_up_to_the_cap(width, cap,
                                                                               expected):
    assert int(width_bucket(tf.constant(width), cap)) == expected


# Beam search on repeated rows is compared through the export below (20 rows -> 32).
@pytest.mark.parametrize("beam_size, rows, width", [(1, 3, 5), (BEAM_SIZE, 1, 9), (1, 0, 4)])
def test_the_compiled_search_equals_the_graph_search(trained, beam_size, rows, width):
    # Odd shapes: rows are repeated up to a power of two, columns padded, both dropped.
    rng = np.random.default_rng(rows * 10 + width)
    lengths = rng.integers(1, width - 1, size=rows) if width > 2 else np.zeros(rows, int)
    source = np.zeros((rows, width), np.int32)
    for row, length in enumerate(lengths):
        source[row, :length + 2] = [BOS_ID, *rng.integers(4, 50, size=length), EOS_ID]
    options = dict(beam_size=beam_size, alpha=0.6)
    expected = tf.function(translate_ids)(trained.model, source, **options)
    got = compiled_translate_ids(trained.model, source, **options)
    assert got.ids.shape[:2] == expected.ids.shape[:2]
    buffer = expected.ids.shape[-1]
    np.testing.assert_array_equal(got.ids[..., :buffer], expected.ids)
    np.testing.assert_array_equal(got.ids[..., buffer:], 0)  # the longer buffer is PAD
    np.testing.assert_array_equal(got.lengths, expected.lengths)
    np.testing.assert_allclose(got.scores, expected.scores, atol=1e-4)


def test_the_xla_export_translates_like_the_graph_export(xla_report, reload_report):
    for label in XLA_BATCHES:
        for name, output in reload_report["outputs"][label].items():
            got = xla_report["outputs"][label][name]
            assert got["shape"] == output["shape"], (label, name)
            if name == "scores":
                np.testing.assert_allclose(got["values"], output["values"], atol=1e-4)
            else:
                assert got["values"] == output["values"], (label, name)
    assert xla_report["errors"] == {}


def test_only_the_two_searches_are_compiled_and_no_xla_op_is_in_the_graph(xla_report,
                                                                          reload_report):
    # jit_compile leaves ordinary ops in a function marked _XlaMustCompile; the server
    # compiles it when it runs it. Neither export holds an XLA-only op.
    assert reload_report["xla_functions"] == []
    assert {name.rsplit("_", 1)[0] for name in xla_report["xla_functions"]} == {
        "__inference_search"}
    for report in (xla_report, reload_report):
        assert not [op for op in report["graph_ops"] if is_xla_op(op)]
        assert report["ops_without_cpu_kernel"] == []


def test_without_xla_compilation_the_xla_export_fails_and_the_default_export_works(
        exported_xla, reload_report, tmp_path):
    # As tensorflow_model_server without --xla_cpu_compilation_enabled: the compiled
    # searches answer "XLA compilation disabled" (and so do their warm-up requests,
    # which keeps the version from loading); the graph-mode export is unaffected
    # (reload_report runs it that way).
    batches = {label: BATCHES[label] for label in ("beam", "greedy", "tokenize")}
    # Only the server switches XLA off process-wide: its loader is the one to run.
    xla = run_reload_check(exported_xla.path, batches, tmp_path, disable_xla=True,
                           session_only=True)
    assert set(xla["errors"]) == {"beam", "greedy"}
    assert all("XLA compilation disabled" in e for e in xla["errors"].values()), xla["errors"]
    assert set(xla["outputs"]) == {"tokenize"}
    assert reload_report["errors"] == reload_report["python_errors"] == {}
    assert set(reload_report["outputs"]) == set(BATCHES)


def test_the_command_says_which_server_flag_an_xla_export_needs(exported_xla):
    assert "--xla_cpu_compilation_enabled" in exported_xla.stdout
