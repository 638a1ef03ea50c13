import keras
import numpy as np
import pytest
from keras import ops

from tests.layers.harness import run_layer_test
from tests.layers.reference import copy_attention
from tf_transformer.layers import (
    MultiHeadAttention,
    ScaledDotProductAttention,
    causal_mask,
    scaled_dot_product_attention,
)


def numpy_attention(q, k, v, mask=None):
    """Independent reference: float64 NumPy, -inf for masked keys."""
    scores = q.astype(np.float64) @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    scores -= scores.max(axis=-1, keepdims=True)
    weights = np.exp(scores)
    weights /= weights.sum(axis=-1, keepdims=True)
    return weights @ v, weights


def random_mask(rng, shape):
    mask = rng.random(shape) > 0.4
    mask[..., 0] = True  # every query keeps at least one key
    return mask


@pytest.mark.parametrize("with_mask", [False, True])
def test_sdpa_matches_numpy(with_mask):
    rng = np.random.default_rng(0)
    q = rng.normal(size=(2, 3, 5, 8)).astype("float32")
    k = rng.normal(size=(2, 3, 6, 8)).astype("float32")
    v = rng.normal(size=(2, 3, 6, 7)).astype("float32")
    mask = random_mask(rng, (2, 1, 5, 6)) if with_mask else None

    out, weights = scaled_dot_product_attention(q, k, v, mask)
    ref_out, ref_weights = numpy_attention(q, k, v, mask)

    np.testing.assert_allclose(np.asarray(weights), ref_weights, atol=1e-6)
    np.testing.assert_allclose(np.asarray(out), ref_out, atol=1e-6)
    np.testing.assert_allclose(np.asarray(weights).sum(-1), 1.0, atol=1e-6)
    if with_mask:
        masked = np.broadcast_to(~mask, weights.shape)
        assert np.asarray(weights)[masked].max() < 1e-6


def test_sdpa_scale_argument():
    # scale=1.0 on pre-scaled queries (what FusedLayout passes) is the default.
    rng = np.random.default_rng(4)
    q, k, v = (rng.normal(size=(2, 3, 5, 8)).astype("float32") for _ in range(3))
    ref_out, ref_weights = numpy_attention(q, k, v)
    out, weights = scaled_dot_product_attention(q / np.sqrt(8), k, v, scale=1.0)
    np.testing.assert_allclose(np.asarray(weights), ref_weights, atol=1e-6)
    np.testing.assert_allclose(np.asarray(out), ref_out, atol=1e-6)
    _, doubled = scaled_dot_product_attention(q, k, v, scale=2 / np.sqrt(8))
    np.testing.assert_allclose(np.asarray(doubled), numpy_attention(2 * q, k, v)[1], atol=1e-6)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_sdpa_low_precision_has_no_nan(dtype):
    rng = np.random.default_rng(1)
    q = ops.cast(rng.normal(size=(2, 4, 8)) * 30, dtype)  # large scores
    k = ops.cast(rng.normal(size=(2, 4, 8)) * 30, dtype)
    v = ops.cast(rng.normal(size=(2, 4, 8)), dtype)
    mask = random_mask(rng, (2, 4, 4))
    mask[0, 2] = False  # a fully masked row must not produce NaN either
    out, weights = scaled_dot_product_attention(q, k, v, mask)
    assert keras.backend.standardize_dtype(out.dtype) == dtype
    assert keras.backend.standardize_dtype(weights.dtype) == dtype
    out32 = np.asarray(ops.cast(out, "float32"))
    weights32 = np.asarray(ops.cast(weights, "float32"))
    assert np.isfinite(out32).all() and np.isfinite(weights32).all()
    np.testing.assert_allclose(weights32.sum(-1), 1.0, atol=2e-2)
    assert weights32[1][~mask[1]].max() < 1e-6


def test_sdpa_dropout_applies_to_weights_only_in_training():
    q = k = v = np.random.default_rng(2).normal(size=(1, 6, 4)).astype("float32")
    layer = ScaledDotProductAttention(dropout=0.5)
    _, eval_weights = layer(q, k, v, training=False)
    _, train_weights = layer(q, k, v, training=True)
    eval_weights, train_weights = np.asarray(eval_weights), np.asarray(train_weights)
    kept = train_weights != 0
    assert 0 < kept.mean() < 1
    np.testing.assert_allclose(train_weights[kept], eval_weights[kept] * 2, rtol=1e-5)


def test_sdpa_layer_harness():
    rng = np.random.default_rng(3)
    q, k, v = (rng.normal(size=(2, 5, 8)).astype("float32") for _ in range(3))
    run_layer_test(
        ScaledDotProductAttention(dropout=0.1), (q, k, v),
        expected_shapes=[(2, 5, 8), (2, 5, 5)],
    )


@pytest.mark.parametrize("qkv_initializer", [None, "he_uniform"])
def test_mha_harness_and_return_structure(qkv_initializer):
    x = np.random.default_rng(4).normal(size=(2, 7, 16)).astype("float32")
    layer = MultiHeadAttention(16, 4, dropout=0.1, qkv_initializer=qkv_initializer)
    run_layer_test(layer, (x,),
                   expected_shapes=[(2, 7, 16), (2, 4, 7, 7), (2, 4, 7, 4), (2, 4, 7, 4)])
    assert len(layer.trainable_weights) == 8  # 4 kernels + 4 biases


def test_mha_matches_keras_multi_head_attention():
    rng = np.random.default_rng(5)
    d_model, heads = 32, 4
    query = rng.normal(size=(2, 5, d_model)).astype("float32")
    memory = rng.normal(size=(2, 6, d_model)).astype("float32")
    mask = random_mask(rng, (2, 5, 6))

    ours = MultiHeadAttention(d_model, heads)
    ours(query, memory)
    reference = keras.layers.MultiHeadAttention(heads, key_dim=d_model // heads)
    reference(query, memory)
    copy_attention(ours, reference)

    out, weights, _ = ours(query, memory, attention_mask=mask)
    ref_out, ref_weights = reference(
        query, memory, attention_mask=mask, return_attention_scores=True
    )
    max_error = np.abs(np.asarray(out) - np.asarray(ref_out)).max()
    print(f"MHA vs keras.layers.MultiHeadAttention max abs error: {max_error:.2e}")
    assert max_error < 1e-5
    np.testing.assert_allclose(np.asarray(weights), np.asarray(ref_weights), atol=1e-6)


def test_mha_incremental_cache_equals_full_causal_pass():
    rng = np.random.default_rng(6)
    batch, length, max_length, d_model, heads = 2, 5, 8, 16, 4
    x = rng.normal(size=(batch, length, d_model)).astype("float32")
    layer = MultiHeadAttention(d_model, heads)
    full, _, full_kv = layer(x, attention_mask=causal_mask(batch, length, length))

    zeros = np.zeros((batch, heads, max_length, d_model // heads), "float32")
    cache = (zeros, zeros)
    for i in range(length):
        step, _, cache = layer(
            x[:, i : i + 1], attention_mask=causal_mask(batch, 1, max_length, i),
            cache=cache, cache_positions=np.array([i]),
        )
        np.testing.assert_allclose(np.asarray(step)[:, 0], np.asarray(full)[:, i], atol=1e-5)
    for slots, full_slots in zip(cache, full_kv):  # keys, then values
        slots = np.asarray(slots)
        np.testing.assert_allclose(slots[:, :, :length], np.asarray(full_slots), atol=1e-6)
        assert not slots[:, :, length:].any()  # unwritten slots stay zero


def test_mha_cross_attention_cache_is_reused_unchanged():
    rng = np.random.default_rng(7)
    query = rng.normal(size=(2, 1, 16)).astype("float32")
    memory = rng.normal(size=(2, 6, 16)).astype("float32")
    layer = MultiHeadAttention(16, 2)
    direct, _, kv = layer(query, memory)
    cached, _, kv_again = layer(query, cache=kv)
    np.testing.assert_allclose(np.asarray(cached), np.asarray(direct), atol=1e-6)
    for again, first in zip(kv_again, kv, strict=True):
        np.testing.assert_array_equal(np.asarray(again), np.asarray(first))


def test_mha_writes_several_positions_at_their_cache_slots():
    # K queries written at K slots in one call (beam search's K beams of one
    # sentence) give what K calls of one position each give.
    rng = np.random.default_rng(8)
    x = rng.normal(size=(2, 3, 8)).astype("float32")
    layer = MultiHeadAttention(8, 2)
    zeros = np.zeros((2, 2, 9, 4), "float32")
    slots = np.array([0, 3, 6])  # three regions of 3 slots each
    mask = np.zeros((2, 3, 9), bool)
    mask[:, np.arange(3), slots] = True  # each query sees its own slot only
    out, _, cache = layer(x, attention_mask=mask, cache=(zeros, zeros), cache_positions=slots)
    one_by_one = (zeros, zeros)
    for i, slot in enumerate(slots):
        step, _, one_by_one = layer(x[:, i:i + 1], attention_mask=mask[:, i:i + 1],
                                    cache=one_by_one, cache_positions=slots[i:i + 1])
        np.testing.assert_allclose(np.asarray(step)[:, 0], np.asarray(out)[:, i], atol=1e-6)
    for together, apart in zip(cache, one_by_one):
        np.testing.assert_allclose(np.asarray(together), np.asarray(apart), atol=1e-6)
        assert np.asarray(together)[:, :, [1, 2, 4, 5, 7, 8]].max() == 0  # unwritten


def test_mha_rejects_ambiguous_cache_arguments():
    layer = MultiHeadAttention(8, 2)
    x, cache = np.zeros((1, 1, 8), "float32"), (np.zeros((1, 2, 4, 4), "float32"),) * 2
    with pytest.raises(ValueError, match="not both"):
        layer(x, x, cache=cache)
    with pytest.raises(ValueError, match="pass the cache too"):
        layer(x, cache_positions=np.array([0]))


@pytest.mark.parametrize("d_model,heads", [(10, 4), (0, 2), (8, 0)])
def test_mha_bad_dimensions_quote_values(d_model, heads):
    with pytest.raises(ValueError, match=f"d_model={d_model} and num_heads={heads}"):
        MultiHeadAttention(d_model, heads)
