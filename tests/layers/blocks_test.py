import keras_hub
import numpy as np
import pytest

from tests.layers.harness import run_layer_test
from tests.layers.reference import copy_block
from tf_transformer.layers import DecoderLayer, EncoderLayer, FeedForward, causal_mask

D, HEADS, FF = 16, 4, 32


def inputs(seed=0, batch=2, target=5, source=6):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(batch, target, D)).astype("float32")
    memory = rng.normal(size=(batch, source, D)).astype("float32")
    source_mask = np.ones((batch, source), bool)
    source_mask[0, 4:] = False  # padded source row
    return x, memory, source_mask


def test_feed_forward_matches_numpy():
    x = np.random.default_rng(0).normal(size=(2, 3, D)).astype("float32")
    layer = FeedForward(D, FF)
    out = np.asarray(layer(x))
    w1, b1 = (np.asarray(v) for v in (layer.hidden.kernel, layer.hidden.bias))
    w2, b2 = (np.asarray(v) for v in (layer.projection.kernel, layer.projection.bias))
    np.testing.assert_allclose(out, np.maximum(x @ w1 + b1, 0) @ w2 + b2, atol=1e-5)
    run_layer_test(FeedForward(D, FF, dropout=0.1, linear_init="pytorch"), (x,), expected_shapes=[(2, 3, D)])


@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_layer_matches_keras_hub(norm_first):
    _, x, mask = inputs()
    ours = EncoderLayer(D, HEADS, FF, dropout=0.0, norm_first=norm_first)
    reference = keras_hub.layers.TransformerEncoder(
        FF, HEADS, dropout=0.0, normalize_first=norm_first
    )
    reference(x)
    ours(x)
    copy_block(ours, reference)
    attention_mask = np.repeat(mask[:, None], x.shape[1], axis=1)
    out, weights = ours(x, attention_mask=attention_mask)
    expected = reference(x, padding_mask=mask)
    np.testing.assert_allclose(np.asarray(out), np.asarray(expected), atol=1e-5)
    assert np.asarray(weights)[0, :, :, 4:].max() < 1e-6  # padded keys unused


@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_layer_matches_keras_hub(norm_first):
    x, memory, mask = inputs(1)
    ours = DecoderLayer(D, HEADS, FF, dropout=0.0, norm_first=norm_first)
    reference = keras_hub.layers.TransformerDecoder(
        FF, HEADS, dropout=0.0, normalize_first=norm_first
    )
    reference(x, memory)
    ours(x, memory)
    copy_block(ours, reference)
    batch, length = x.shape[:2]
    out, *_ = ours(
        x, memory,
        self_attention_mask=causal_mask(batch, length, length),
        cross_attention_mask=np.repeat(mask[:, None], length, axis=1),
    )
    expected = reference(x, memory, encoder_padding_mask=mask)
    np.testing.assert_allclose(np.asarray(out), np.asarray(expected), atol=1e-5)


def test_decoder_layer_cached_steps_equal_full_pass():
    x, memory, mask = inputs(2)
    layer = DecoderLayer(D, HEADS, FF)
    batch, length = x.shape[:2]
    cross_mask = np.repeat(mask[:, None], length, axis=1)
    full, _, _, _, cross_kv = layer(
        x, memory, self_attention_mask=causal_mask(batch, length, length),
        cross_attention_mask=cross_mask,
    )
    cache = (np.zeros((batch, HEADS, 7, D // HEADS), "float32"),) * 2
    for i in range(length):
        step, _, _, cache, _ = layer(
            x[:, i : i + 1], self_attention_mask=causal_mask(batch, 1, 7, i),
            cross_attention_mask=cross_mask[:, i : i + 1], self_cache=cache,
            cross_cache=cross_kv, cache_positions=np.array([i]),
        )
        np.testing.assert_allclose(np.asarray(step)[:, 0], np.asarray(full)[:, i], atol=1e-5)


def test_block_harnesses_and_training_dropout():
    x, memory, _ = inputs(3)
    encoder = EncoderLayer(D, HEADS, FF, dropout=0.1)
    run_layer_test(encoder, (memory,), expected_shapes=[(2, 6, D), (2, HEADS, 6, 6)])
    assert not np.allclose(
        np.asarray(encoder(memory, training=True)[0]),
        np.asarray(encoder(memory, training=False)[0]),
    )
    run_layer_test(
        DecoderLayer(D, HEADS, FF, norm_first=True), (x, memory),
        expected_shapes=[(2, 5, D), (2, HEADS, 5, 5), (2, HEADS, 5, 6),
                         *[(2, HEADS, 5, D // HEADS)] * 2,  # self keys, values
                         *[(2, HEADS, 6, D // HEADS)] * 2],  # cross keys, values
    )


def test_block_bad_arguments_quote_values():
    with pytest.raises(ValueError, match="d_model=30 and num_heads=4"):
        EncoderLayer(30, 4, 64)
    with pytest.raises(ValueError, match="dropout=1.5"):
        DecoderLayer(16, 4, 64, dropout=1.5)
    with pytest.raises(ValueError, match="ff_dim=0"):
        DecoderLayer(16, 4, 0)
