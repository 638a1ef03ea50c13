import keras
import numpy as np
import pytest
from keras import ops

from tests.layers.harness import gradients, run_layer_test
from tf_transformer.layers.dropout import Dropout, random_bits


def test_config_round_trip_and_identity_at_inference():
    x = np.random.default_rng(0).normal(size=(2, 5, 8)).astype("float32")
    outputs = run_layer_test(Dropout(0.3, seed=1), (x,), expected_shapes=[(2, 5, 8)])
    np.testing.assert_array_equal(outputs, x)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_rate_and_scale_are_exact(dtype):
    # 2M draws: the kept fraction's standard deviation is 2e-4. A bfloat16
    # uniform draw (7 random bits, Keras's dropout) keeps 0.8984 at rate 0.1.
    layer = Dropout(0.1, seed=3, dtype=dtype)
    y = ops.convert_to_numpy(ops.cast(layer(ops.ones((1000, 2000), dtype), training=True), "float32"))
    kept = y != 0
    assert abs(kept.mean() - 0.9) < 1e-3, kept.mean()
    scale = float(ops.convert_to_numpy(ops.cast(ops.cast(65536 / (65536 - 6554), dtype), "float32")))
    np.testing.assert_array_equal(np.unique(y), [0.0, scale])


def test_neighbours_are_independent():
    # Two draws share each 32-bit word on TensorFlow: neighbours must not agree
    # more often than chance (0.5² + 0.5² = 0.5 at rate 0.5).
    y = ops.convert_to_numpy(Dropout(0.5, seed=4)(ops.ones((500, 2000)), training=True))
    agree = (y[:, 0::2] != 0) == (y[:, 1::2] != 0)
    assert abs(agree.mean() - 0.5) < 3e-3, agree.mean()


def test_odd_widths_and_fresh_masks_per_call():
    layer = Dropout(0.5, seed=5)
    x = ops.ones((3, 7, 5))
    first, second = (ops.convert_to_numpy(layer(x, training=True)) for _ in range(2))
    assert first.shape == (3, 7, 5)
    assert set(np.unique(first)) <= {0.0, 2.0}
    assert (first != second).any()


def test_random_bits_cover_16_bits():
    generator = keras.random.SeedGenerator(6)
    bits = ops.convert_to_numpy(random_bits((400, 301), generator)).astype(np.int64)
    assert bits.shape == (400, 301)
    assert bits.min() >= 0 and bits.max() < 2**16
    assert bits.max() > 2**16 - 100 and bits.min() < 100  # the full range is used


def test_gradient_is_the_mask():
    # d sum(dropout(x)) / dx is the mask of the forward pass: 0 or the scale,
    # and sum(x · mask) is the loss itself.
    layer = Dropout(0.4, seed=7)
    x = np.random.default_rng(3).normal(size=(64, 33)).astype("float32")
    loss, (mask,) = gradients(lambda x: ops.sum(layer(x, training=True)), [x])
    scale = 2**16 / (2**16 - round(0.4 * 2**16))
    assert set(np.unique(mask)) == {0.0, np.float32(scale)}
    assert 0.55 < (mask > 0).mean() < 0.65
    np.testing.assert_allclose(loss, float((x * mask).sum()), rtol=1e-5)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="tf.function")
def test_compiles_with_xla():
    import tensorflow as tf

    layer = Dropout(0.5, seed=8)
    y = tf.function(lambda x: layer(x, training=True), jit_compile=True)(tf.ones((64, 33)))
    assert set(np.unique(y.numpy())) == {0.0, 2.0}
