"""`prepare_sources`, the one source preparation of `Translator` and the SavedModel,
against the tokenizer's own ids cut in NumPy (what `Translator` did before)."""

import unicodedata

import numpy as np
import pytest
import tensorflow as tf

from tf_transformer.decoding.sources import prepare_sources
from tf_transformer.export.serving import TranslationModule
from tf_transformer.special_tokens import EOS_ID, PAD_ID
from tf_transformer.text import BLANK_CATEGORIES

MAX_LENGTH = 12
LONG = "der Hund spielt mit einem Ball auf der Straße im Park."
INPUTS = ["ein Mann fährt Fahrrad.", "", LONG, "   ", "\u00a0\u3000\u200b", "Kind.",
          LONG + " " + LONG]


def reference(tokenizer, sentences, max_length):
    """(ids, token counts, blank) per sentence, from Python and NumPy only."""
    rows = [np.asarray(row, np.int32) for row in
            tokenizer.tokenize(tf.constant(sentences, tf.string)).numpy()]
    ids = [np.append(row[:max_length - 1], EOS_ID) if len(row) > max_length else row
           for row in rows]
    blank = [all(unicodedata.category(c) in BLANK_CATEGORIES for c in s) for s in sentences]
    return ids, [len(row) for row in rows], blank


def test_ids_truncation_and_blanks_match_the_reference(toy_translator):
    tokenizer = toy_translator.source_tokenizer
    sources = prepare_sources(tf.constant(INPUTS), tokenizer, MAX_LENGTH)
    ids, lengths, blank = reference(tokenizer, INPUTS, MAX_LENGTH)
    assert [row.tolist() for row in sources.ids.numpy()] == [row.tolist() for row in ids]
    assert sources.lengths.numpy().tolist() == lengths
    assert sources.blank.numpy().tolist() == blank == [False, True, False, True, True, False,
                                                       False]
    assert max(lengths) > MAX_LENGTH >= max(len(row) for row in ids)  # some were cut


def test_invalid_utf8_is_read_as_replacement_characters(toy_translator):
    tokenizer = toy_translator.source_tokenizer
    bad = "Kind ".encode() + b"\xff\xfe" + " spielt.".encode()
    got = prepare_sources(tf.constant([bad]), tokenizer, MAX_LENGTH).ids.numpy()
    expected = tokenizer.tokenize(tf.constant([bad.decode("utf-8", errors="replace")]))
    assert got.tolist() == expected.numpy().tolist()


def test_a_batch_of_rank_2_is_refused_naming_the_rule(toy_translator):
    # As a server runs the graph: the shape is only known when the request comes.
    prepare = tf.function(
        lambda inputs: prepare_sources(inputs, toy_translator.source_tokenizer, MAX_LENGTH),
        input_signature=[tf.TensorSpec(None, tf.string)])
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match="inputs_must_be_a_vector_of_strings"):
        prepare(tf.constant([["Kind."]]))


def test_translator_and_saved_model_module_feed_the_encoder_the_same_ids(toy_translator):
    translator = toy_translator
    limit = translator.model.config.max_length
    sentences = INPUTS + [" ".join([LONG] * 4)]
    module = TranslationModule(translator.model, translator.source_tokenizer,
                               translator.target_tokenizer, beam_size=1)
    served = module.tokenize(tf.constant(sentences))
    results = translator.translate_detailed(sentences)
    ids, lengths, blank = reference(translator.source_tokenizer, sentences, limit)
    for i, result in enumerate(results):
        n = int(served["lengths"][i])
        tokens = [t.decode() for t in served["tokens"][i, :n].numpy()]
        assert served["ids"][i, :n].numpy().tolist() == ids[i].tolist()
        assert set(served["ids"][i, n:].numpy().tolist()) <= {PAD_ID}
        assert result.source_tokens == ([] if blank[i] else tokens)
        assert result.truncated == (lengths[i] > limit and not blank[i])
    assert results[-1].truncated
