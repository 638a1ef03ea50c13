"""The exported SavedModel, reloaded in a fresh process with only TensorFlow and TF Text."""

import glob
import os

import numpy as np
import pytest
import tensorflow as tf

from tests.data.fixtures import PAIRS
from tests.export.conftest import (
    ALPHA, BAD, BEAM_SIZE, MAX_LENGTH, SENTENCES, TOO_LONG, decode_strings)
from tf_transformer.decoding.translator import Translator
from tf_transformer.export.serving import TranslationModule
from tf_transformer.special_tokens import BOS_ID, EOS_ID, PAD_ID

# Uses the trained, exported model of conftest.py (built once, ~20 s).
pytestmark = pytest.mark.slow

# The TF Text ops inside TF Serving >= 2.20. Where this comes from:
# - tensorflow/serving, tensorflow_serving/model_servers/BUILD: SUPPORTED_TENSORFLOW_OPS,
#   linked into the model server, is "@org_tensorflow_text//tensorflow_text:ops_lib"
#   (plus the TF Decision Forests inference ops); tensorflow_serving/workspace.bzl pins
#   org_tensorflow_text to text-2.20.0.
# - tensorflow/text, tensorflow_text/BUILD: cc_library "ops_lib" depends on the *_cc
#   targets named below. The op names are those each target's kernel library
#   (tensorflow_text/python/ops/_<target>.so of tensorflow-text 2.21.1) registers.
#   ops_lib also lists sentencepiece_mobile_tokenizer_cc and text_similarity_metric_ops_cc,
#   which the pip package does not ship; we use neither.
# - tensorflow/text oss_scripts/model_server/save_models.py builds TF Serving's
#   tf_text_regression model, which runs the SentencePiece ops we use.
TF_SERVING_TEXT_OPS = {
    "boise_offset_converter": ["TFText>BoiseTagsToOffsets", "TFText>OffsetsToBoiseTags"],
    "byte_splitter": ["TFText>ByteSplitByOffsets", "TFText>ByteSplitWithOffsets"],
    "constrained_sequence_op": ["ConstrainedSequence"],
    "fast_bert_normalizer": ["FastBertNormalize"],
    "fast_sentencepiece_tokenizer": ["TFText>FastSentencepieceDetokenize",
                                     "TFText>FastSentencepieceTokenize"],
    "fast_wordpiece_tokenizer": ["FastWordpieceTokenizeWithOffsets",
                                 "TFText>FastWordpieceDetokenize"],
    "mst_ops": ["MaxSpanningTree"],
    "ngrams_op": ["TFText>NgramsStringJoin"],
    "normalize_ops": ["CaseFoldUTF8", "FindSourceOffsets", "NormalizeUTF8",
                      "NormalizeUTF8WithOffsetsMap"],
    "phrase_tokenizer": ["PhraseTokenize", "TFText>PhraseDetokenize"],
    "regex_split_ops": ["RegexSplitWithOffsets"],
    "sentence_breaking_ops": ["SentenceFragments"],
    "sentencepiece_tokenizer": [
        "SentencepieceDetokenizeOp", "SentencepieceIdToStringOp", "SentencepieceOp",
        "SentencepieceStringToIdOp", "SentencepieceTokenizeOp",
        "SentencepieceTokenizeWithOffsetsOp", "SentencepieceVocabSizeOp"],
    "split_merge_from_logits_tokenizer": ["TokenizerFromLogits"],
    "split_merge_tokenizer": ["SplitMergeTokenizeWithOffsets"],
    "state_based_sentence_breaker_op": ["SentenceFragmentsV2"],
    "trimmer_ops": ["TFText>RoundRobinGenerateMasks", "TFText>RoundRobinTrim"],
    "unicode_script_tokenizer": ["UnicodeScriptTokenizeWithOffsets"],
    "utf8_binarize_op": ["TFText>Utf8Binarize"],
    "whitespace_tokenizer": ["WhitespaceTokenizeWithOffsets"],
    "whitespace_tokenizer_v2": ["TFText>WhitespaceTokenizeWithOffsetsV2"],
    "wordpiece_tokenizer": ["WordpieceTokenizeWithOffsets"],
}


def is_xla_op(name):
    """XLA-only ops (XlaDynamicUpdateSlice, _XlaCompile, ...): no kernels in TF Serving."""
    return name.lstrip("_").startswith("Xla")


@pytest.fixture(scope="module")
def translator(trained):
    return Translator(trained.model, trained.source_tokenizer, trained.target_tokenizer)


def texts(output):
    return [t.decode("utf-8") for t in decode_strings(output)]


def test_the_fresh_process_needs_no_project_code(reload_report):
    assert reload_report["project_modules"] == []


def test_a_graph_session_as_tf_serving_runs_it_equals_tf_saved_model_load(reload_report):
    # "outputs" come from the session path TF Serving uses; tf.saved_model.load takes
    # another (it rebinds variables through the object graph), which once hid a bug.
    for label, outputs in reload_report["outputs"].items():
        python = reload_report["python_outputs"][label]
        assert set(python) == set(outputs), label
        for name, output in outputs.items():
            assert python[name]["shape"] == output["shape"], (label, name)
            if name in ("translations", "tokens"):  # strings (base64)
                assert python[name]["values"] == output["values"], (label, name)
            else:
                np.testing.assert_allclose(python[name]["values"], output["values"],
                                           atol=1e-5, err_msg=f"{label} {name}")


@pytest.mark.parametrize("label, beam_size", [("beam", BEAM_SIZE), ("greedy", 1)])
def test_reloaded_translations_equal_the_in_memory_translator(reload_report, translator,
                                                              label, beam_size):
    expected = translator.translate_detailed(SENTENCES, beam_size=beam_size, alpha=ALPHA)
    output = reload_report["outputs"][label]
    assert texts(output["translations"]) == [t.text for t in expected]
    # Same graph ops, different batching (the Translator sorts by length): float noise only.
    np.testing.assert_allclose(output["scores"]["values"], [t.score for t in expected],
                               atol=1e-4)


def test_the_export_translates_like_the_trained_model(reload_report):
    # The fixture model learns its 40 training pairs; SENTENCES[:12] are among them.
    # A tolerance of 2 sentences leaves room for a slightly different training run.
    references = dict(PAIRS)
    got = texts(reload_report["outputs"]["beam"]["translations"])[:12]
    assert sum(g == references[s] for g, s in zip(got, SENTENCES)) >= 10


def test_every_signature_takes_a_batch_of_strings(reload_report):
    signatures = reload_report["signatures"]
    assert set(signatures) == {"serving_default", "translate_greedy", "tokenize"}
    for key in signatures:
        assert signatures[key]["inputs"] == {"inputs": ["string", [None]]}, key
    for key in ("serving_default", "translate_greedy"):
        assert signatures[key]["outputs"] == {"translations": ["string", [None]],
                                              "scores": ["float32", [None]]}
    assert signatures["tokenize"]["outputs"] == {
        "ids": ["int32", [None, None]], "tokens": ["string", [None, None]],
        "lengths": ["int32", [None]]}


def test_every_op_is_core_tensorflow_or_a_tf_text_op_of_tf_serving(reload_report):
    core = {op for op in reload_report["core_ops"] if not is_xla_op(op)}
    linked_text_ops = {op for ops in TF_SERVING_TEXT_OPS.values() for op in ops}
    foreign = set(reload_report["graph_ops"]) - core - linked_text_ops
    assert not foreign, f"ops TF Serving 2.20 may lack: {sorted(foreign)}"
    # The allowlist names real TF Text ops, and the graph does use some of them.
    assert linked_text_ops <= set(reload_report["text_ops"])
    assert {"SentencepieceOp", "SentencepieceTokenizeOp",
            "SentencepieceDetokenizeOp"} <= set(reload_report["graph_ops"])


def test_every_op_runs_on_cpu_and_the_decoding_loop_is_in_the_graph(reload_report):
    assert reload_report["ops_without_cpu_kernel"] == []
    assert "While" in reload_report["graph_ops"]
    assert not [op for op in reload_report["graph_ops"] if is_xla_op(op)]


def test_empty_and_blank_inputs_give_empty_translations(reload_report, translator):
    output = reload_report["outputs"]["bad"]
    blank = [0, 1, 5, 6]  # "", ASCII spaces, NBSP + U+3000, U+2028 + U+200B + tab
    assert [decode_strings(output["translations"])[i] for i in blank] == [b""] * 4
    assert [output["scores"]["values"][i] for i in blank] == [0.0] * 4
    assert translator.translate([BAD[i] for i in blank]) == [""] * 4


def test_a_request_of_rank_2_is_refused_with_invalid_argument(loaded):
    for key in ("serving_default", "translate_greedy", "tokenize"):
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match="inputs_must_be_a_vector_of_strings"):
            loaded.signatures[key](inputs=tf.constant([[SENTENCES[0]]]))


def test_chunks_of_rows_give_the_one_by_one_translations(reload_report, trained):
    # max_chunk_positions=1: every row is decoded alone (a chunk has at least one row).
    one_by_one = TranslationModule(trained.model, trained.source_tokenizer,
                                   trained.target_tokenizer, beam_size=BEAM_SIZE,
                                   alpha=ALPHA, max_chunk_positions=1)
    # 20 tokens per beam: chunks of 1 to 4 rows in this batch of mixed lengths.
    chunked = TranslationModule(trained.model, trained.source_tokenizer,
                                trained.target_tokenizer, beam_size=BEAM_SIZE, alpha=ALPHA,
                                max_chunk_positions=20 * BEAM_SIZE)
    inputs = tf.constant(BAD + SENTENCES)
    expected = reload_report["outputs"]["bad"], reload_report["outputs"]["beam"]
    for module in (one_by_one, chunked):
        got = module.translate(inputs)
        assert [t.decode() for t in got["translations"].numpy()] == (
            texts(expected[0]["translations"]) + texts(expected[1]["translations"]))
        np.testing.assert_allclose(got["scores"].numpy(), expected[0]["scores"]["values"]
                                   + expected[1]["scores"]["values"], rtol=1e-5, atol=1e-6)


def test_invalid_utf8_is_read_with_replacement_characters(reload_report):
    bad_ids = reload_report["outputs"]["bad_tokenize"]["ids"]
    width = bad_ids["shape"][1]
    invalid_row = bad_ids["values"][2 * width:3 * width]
    replaced = reload_report["outputs"]["replaced_tokenize"]["ids"]["values"]
    assert invalid_row[:len(replaced)] == replaced
    assert set(invalid_row[len(replaced):]) <= {PAD_ID}
    decode_strings(reload_report["outputs"]["bad"]["translations"])[2].decode("utf-8")


def test_too_long_inputs_are_truncated_to_the_model_positions(reload_report, translator,
                                                              trained):
    tokenized = reload_report["outputs"]["bad_tokenize"]
    assert tokenized["lengths"]["values"][3] == MAX_LENGTH
    width = tokenized["ids"]["shape"][1]
    row = tokenized["ids"]["values"][3 * width:4 * width]
    full = trained.source_tokenizer.tokenize([TOO_LONG])[0].numpy().tolist()
    assert len(full) > MAX_LENGTH
    assert row == full[:MAX_LENGTH - 1] + [EOS_ID]
    # The Translator truncates the same way.
    got = texts(reload_report["outputs"]["bad"]["translations"])[3]
    assert got == translator.translate([TOO_LONG], beam_size=BEAM_SIZE, alpha=ALPHA)[0]


def test_bad_rows_do_not_change_the_good_rows(reload_report):
    bad = texts(reload_report["outputs"]["bad"]["translations"])
    assert BAD[4] == SENTENCES[0]
    assert bad[4] == texts(reload_report["outputs"]["beam"]["translations"])[0]


@pytest.mark.parametrize("label", ["empty_batch", "empty_batch_greedy", "empty_batch_tokenize"])
def test_an_empty_batch_gives_empty_outputs(reload_report, label):
    outputs = reload_report["outputs"][label]
    assert all(output["shape"][0] == 0 for output in outputs.values())


def test_tokenize_shows_the_subwords_the_encoder_sees(reload_report, trained):
    output = reload_report["outputs"]["tokenize"]
    ids = np.reshape(output["ids"]["values"], output["ids"]["shape"])
    tokens = np.reshape(decode_strings(output["tokens"]), output["tokens"]["shape"])
    expected = trained.source_tokenizer.tokenize(SENTENCES).to_tensor(PAD_ID).numpy()
    np.testing.assert_array_equal(ids, expected)
    assert output["lengths"]["values"] == [int((row != PAD_ID).sum()) for row in expected]
    assert (ids[:, 0] == BOS_ID).all()
    pieces = trained.source_tokenizer.id_to_token(ids).numpy()
    np.testing.assert_array_equal(tokens, np.where(ids == PAD_ID, b"", pieces))


def test_assets_hold_the_tokenizer_models_and_the_run_config(exported, run_dir):
    expected = {os.path.basename(p): p for p in glob.glob(f"{run_dir}/vocab/*.model")}
    expected["config.yaml"] = f"{run_dir}/config.yaml"
    assets = f"{exported.path}/assets"
    assert sorted(os.listdir(assets)) == sorted(expected)
    # config.yaml records the served search instead of the run's (cli_export_test checks it).
    for name, original in expected.items() - {("config.yaml", expected["config.yaml"])}:
        with open(original, "rb") as a, open(f"{assets}/{name}", "rb") as b:
            assert a.read() == b.read(), name


def test_bad_settings_are_refused(trained):
    with pytest.raises(ValueError, match="beam_size must be >= 1, got 0"):
        TranslationModule(trained.model, trained.source_tokenizer, trained.target_tokenizer,
                          beam_size=0)
