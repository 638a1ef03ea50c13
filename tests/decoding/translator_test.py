"""Translator on a tiny random model with toy SentencePiece tokenizers (conftest.py)."""
import logging

import numpy as np
import pytest

from tf_transformer.decoding.translator import Translator

SENTENCES = ["ein Mann fährt Fahrrad.", "", "die Frau läuft im Park mit einem Hund.",
             "   ", "Kind.", "der Hund spielt mit einem Ball auf der Straße im Park."]


@pytest.mark.parametrize("beam_size", [1, 2])
def test_batch_equals_one_by_one_and_empty_inputs_give_empty_outputs(toy_translator, beam_size):
    translator = toy_translator
    batch = translator.translate_detailed(SENTENCES, beam_size=beam_size, batch_size=4)
    assert [t.text for t in batch] == translator.translate(SENTENCES, beam_size=beam_size)
    for sentence, got in zip(SENTENCES, batch):
        (alone,) = translator.translate_detailed([sentence], beam_size=beam_size)
        assert (got.text, got.target_tokens) == (alone.text, alone.target_tokens)
        np.testing.assert_allclose(got.score, alone.score, atol=1e-4)
        if not sentence.strip():
            assert got.text == "" and got.source_tokens == []
            continue
        assert got.source_tokens[0] == "[START]" and got.source_tokens[-1] == "[END]"
        limit = len(got.source_tokens) + 4
        assert 1 <= len(got.target_tokens) <= limit
        assert got.target_tokens[-1] == "[END]" or len(got.target_tokens) == limit
        assert len(got.nbest) == beam_size and got.nbest[0] == (got.text, got.score)
        assert all(a[1] >= b[1] for a, b in zip(got.nbest, got.nbest[1:]))
    assert any(t.text for t in batch)


def test_overlong_input_is_truncated_with_a_warning(toy_translator, caplog):
    translator = toy_translator
    sentence = "der Hund spielt mit einem Ball auf der Straße im Park. " * 6
    with caplog.at_level(logging.WARNING):
        _, _, result = translator.translate_detailed(["Kind.", " \u3000", sentence])
    assert "truncated" in caplog.text
    assert "first: line 3," in caplog.text  # 1-based, counting the blank line
    assert result.truncated and len(result.source_tokens) == 40
    assert result.source_tokens[-1] == "[END]"
    assert 1 <= len(result.target_tokens) <= 40
    (short,) = translator.translate_detailed(["Kind."])
    assert not short.truncated


def test_attention_weights_match_the_tokens(toy_translator):
    translator = toy_translator
    results = translator.translate_detailed(SENTENCES[:3], beam_size=2, with_attention=True)
    for result in results[:1] + results[2:]:
        s, t = len(result.source_tokens), len(result.target_tokens)
        assert result.cross_attention.shape == (2, 4, t, s)  # tiny: 2 layers, 4 heads
        assert result.encoder_attention.shape == (2, 4, s, s)
        np.testing.assert_allclose(result.cross_attention.sum(-1), 1.0, atol=1e-5)
        np.testing.assert_allclose(result.encoder_attention.sum(-1), 1.0, atol=1e-5)
    assert results[1].cross_attention is None


def test_uncached_translator_gives_the_same_translations(toy_translator):
    uncached = Translator(toy_translator.model, toy_translator.source_tokenizer,
                          toy_translator.target_tokenizer, max_length_ratio=1.0,
                          max_length_offset=4, use_cache=False)
    for beam_size in (1, 2):
        cached = toy_translator.translate_detailed(SENTENCES, beam_size)
        reference = uncached.translate_detailed(SENTENCES, beam_size)
        assert [t.text for t in cached] == [t.text for t in reference]
        np.testing.assert_allclose([t.score for t in cached], [t.score for t in reference],
                                   atol=1e-4)
