"""A tiny random Transformer: KV-cached decoding against full re-runs, batch against rows."""
import numpy as np
import pytest
import tensorflow as tf

from tf_transformer.decoding.generate import translate_ids, uncached_cache, uncached_step
from tf_transformer.model import Transformer
from tf_transformer.special_tokens import BOS_ID, EOS_ID

# Rows of different lengths (PAD-padded) so that masks matter.
SOURCE = np.array([[BOS_ID, 5, 9, 7, 11, 6, EOS_ID],
                   [BOS_ID, 8, EOS_ID, 0, 0, 0, 0],
                   [BOS_ID, 4, 4, 12, EOS_ID, 0, 0]], np.int32)


@pytest.fixture(scope="module")
def model():
    tf.keras.utils.set_random_seed(0)
    model = Transformer.from_preset("tiny", src_vocab_size=16, tgt_vocab_size=14,
                                    max_length=24)
    model((SOURCE, SOURCE[:, :3]))
    # A random model rarely ends; this EOS bias mixes early EOS, later EOS and
    # truncated hypotheses in greedy and beam outputs (checked for seed 0).
    model.output_projection.bias.assign(tf.one_hot(EOS_ID, 14) * 2.0)
    return model


def test_cached_steps_give_the_teacher_forced_logits_at_every_position(model):
    target = np.array([[BOS_ID, 4, 5, 6, 7, 8], [BOS_ID, 9, 10, 3, 0, 0],
                       [BOS_ID, 12, 4, 4, 4, 13]], np.int32)
    memory, _ = model.encode(SOURCE, training=False)
    full, _, _ = model.decode(target, memory, SOURCE, training=False)
    steps = [(model.decode_step, model.init_cache(memory, SOURCE, 8)),
             (uncached_step(model), uncached_cache(memory, SOURCE, 8))]
    for next_fn, cache in steps:
        for index in range(target.shape[1]):
            logits, cache = next_fn(target[:, index:index + 1], cache, tf.constant(index))
            # Row 1 is padded from position 4 on, where teacher forcing masks it.
            rows = [0, 2] if index >= 4 else [0, 1, 2]
            np.testing.assert_allclose(logits.numpy()[rows], full.numpy()[rows, index],
                                       atol=1e-4)


@pytest.mark.parametrize("beam_size", [1, 3])
def test_cached_search_equals_uncached_search(model, beam_size):
    cached = translate_ids(model, SOURCE, beam_size, alpha=0.6)
    uncached = translate_ids(model, SOURCE, beam_size, alpha=0.6, use_cache=False)
    np.testing.assert_array_equal(cached.ids, uncached.ids)
    np.testing.assert_array_equal(cached.lengths, uncached.lengths)
    np.testing.assert_allclose(cached.scores, uncached.scores, atol=1e-4)


@pytest.mark.parametrize("beam_size", [1, 3])
def test_batch_equals_one_by_one(model, beam_size):
    batch = translate_ids(model, SOURCE, beam_size, alpha=0.6, max_length_ratio=1.0,
                          max_length_offset=3)
    assert batch.ids.shape == (3, beam_size, 10)  # 1.0 * 7 + 3 positions
    for row, source in enumerate(SOURCE):
        alone = translate_ids(model, source[None, :np.count_nonzero(source)], beam_size,
                              alpha=0.6, max_length_ratio=1.0, max_length_offset=3)
        width = alone.ids.shape[-1]
        np.testing.assert_array_equal(batch.ids[row, :, :width], alone.ids[0])
        np.testing.assert_array_equal(batch.ids[row, :, width:], 0)
        np.testing.assert_array_equal(batch.lengths[row], alone.lengths[0])
        np.testing.assert_allclose(batch.scores[row], alone.scores[0], atol=1e-4)
        assert np.all(batch.lengths[row] <= np.count_nonzero(source) + 3)


def test_xla_compiled_decoding_equals_graph_decoding(model):
    def run(source_ids):
        return translate_ids(model, source_ids, beam_size=2, alpha=0.6)

    xla = tf.function(run, jit_compile=True)(SOURCE)
    graph = tf.function(run)(SOURCE)
    np.testing.assert_array_equal(xla.ids, graph.ids)
    np.testing.assert_allclose(xla.scores, graph.scores, atol=1e-4)
