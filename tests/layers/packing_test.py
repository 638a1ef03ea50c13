import keras
import numpy as np
import pytest

from tf_transformer.layers.packing import TokenPacking

MASK = np.array([[1, 1, 0, 0], [1, 0, 0, 0], [1, 1, 1, 1]], bool)


def test_pack_takes_the_real_tokens_in_row_order_and_unpack_puts_them_back():
    x = np.random.default_rng(0).normal(size=(3, 4, 5)).astype("float32")
    packing = TokenPacking(MASK)
    packed = np.asarray(packing.pack(x))
    np.testing.assert_array_equal(packed, x[MASK])  # NumPy's row-major order
    np.testing.assert_array_equal(
        np.asarray(packing.unpack(packed)), np.where(MASK[..., None], x, 0.0)
    )


def test_all_real_and_ranks_beyond_three():
    x = np.arange(2 * 3 * 2 * 2, dtype="float32").reshape(2, 3, 2, 2)
    packing = TokenPacking(np.ones((2, 3), bool))
    np.testing.assert_array_equal(np.asarray(packing.unpack(packing.pack(x))), x)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="tf.GradientTape")
def test_gradients_of_pack_and_unpack_move_the_rows_back():
    import tensorflow as tf

    rng = np.random.default_rng(1)
    x = tf.constant(rng.normal(size=(3, 4, 5)), tf.float32)
    rows = tf.constant(rng.normal(size=(int(MASK.sum()), 5)), tf.float32)
    upstream_packed = rng.normal(size=(int(MASK.sum()), 5)).astype("float32")
    upstream_padded = rng.normal(size=(3, 4, 5)).astype("float32")
    packing = TokenPacking(MASK)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([x, rows])
        packed_loss = tf.reduce_sum(packing.pack(x) * upstream_packed)
        unpacked_loss = tf.reduce_sum(packing.unpack(rows) * upstream_padded)
    grad_x = tape.gradient(packed_loss, x).numpy()
    expected = np.zeros((3, 4, 5), "float32")
    expected[MASK] = upstream_packed
    np.testing.assert_array_equal(grad_x, expected)
    np.testing.assert_array_equal(tape.gradient(unpacked_loss, rows).numpy(),
                                  upstream_padded[MASK])
