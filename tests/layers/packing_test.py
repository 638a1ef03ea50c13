import numpy as np
import pytest
from keras import ops

from tests.layers.harness import gradients
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


@pytest.mark.parametrize("zero_padding", [False, True])
def test_heads_move_straight_between_packed_tokens_and_the_head_layout(zero_padding):
    heads, head_dim = 2, 3
    rows = np.random.default_rng(2).normal(size=(int(MASK.sum()), heads * head_dim))
    packing = TokenPacking(MASK)
    split = np.asarray(packing.unpack_heads(rows.astype("float32"), heads, zero_padding))
    padded = np.zeros((3, 4, heads * head_dim))
    padded[MASK] = rows
    expected = padded.reshape(3, 4, heads, head_dim).transpose(0, 2, 1, 3)
    real = np.broadcast_to(MASK[:, None, :, None], expected.shape)
    np.testing.assert_allclose(split[real], expected[real], rtol=1e-6)
    if zero_padding:
        np.testing.assert_array_equal(split[~real], 0.0)
    else:  # copies of real rows: finite
        assert np.all(np.isin(split[~real], rows.astype("float32")))
    np.testing.assert_allclose(np.asarray(packing.pack_heads(split)), rows, rtol=1e-6)


@pytest.mark.parametrize("zero_padding", [False, True])
def test_parts_side_by_side_unpack_to_separate_head_layouts(zero_padding):
    # (N, P·H·Dh) with P projections side by side -> P tensors (B, H, T, Dh),
    # each equal to unpacking its own columns alone.
    heads, head_dim, parts = 2, 3, 3
    rows = np.random.default_rng(3).normal(size=(int(MASK.sum()), parts * heads * head_dim))
    rows = rows.astype("float32")
    packing = TokenPacking(MASK)
    unpacked = packing.unpack_heads(rows, heads, zero_padding, parts=parts)
    assert len(unpacked) == parts
    width = heads * head_dim
    for part, tensor in enumerate(unpacked):
        alone = packing.unpack_heads(rows[:, part * width:(part + 1) * width], heads, zero_padding)
        np.testing.assert_array_equal(np.asarray(tensor), np.asarray(alone))
    stacked = np.stack([np.asarray(t) for t in unpacked])
    np.testing.assert_array_equal(np.asarray(packing.pack_heads(stacked, parts)), rows)


# The custom gradients (one gather back) on every backend; the packing is made
# inside the differentiated function, as the model makes it in its forward pass.
def test_gradient_of_unpacking_parts_packs_each_part_back():
    heads, head_dim, parts = 2, 3, 3
    rng = np.random.default_rng(4)
    rows = rng.normal(size=(int(MASK.sum()), parts * heads * head_dim)).astype("float32")
    upstreams = [rng.normal(size=(3, heads, 4, head_dim)).astype("float32") for _ in range(parts)]

    def loss(rows):
        outputs = TokenPacking(MASK).unpack_heads(rows, heads, parts=parts)
        return sum(ops.sum(o * u) for o, u in zip(outputs, upstreams))

    # Each part's gradient: its upstream at the real tokens, heads merged.
    expected = np.concatenate(
        [u.transpose(0, 2, 1, 3)[MASK].reshape(-1, heads * head_dim) for u in upstreams], axis=1)
    np.testing.assert_allclose(gradients(loss, [rows])[1][0], expected, rtol=1e-6)


def test_gradients_of_pack_and_unpack_move_the_rows_back():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 4, 5)).astype("float32")
    rows = rng.normal(size=(int(MASK.sum()), 5)).astype("float32")
    upstream_packed = rng.normal(size=(int(MASK.sum()), 5)).astype("float32")
    upstream_padded = rng.normal(size=(3, 4, 5)).astype("float32")
    _, (grad_x,) = gradients(lambda x: ops.sum(TokenPacking(MASK).pack(x) * upstream_packed), [x])
    expected = np.zeros((3, 4, 5), "float32")
    expected[MASK] = upstream_packed
    np.testing.assert_array_equal(grad_x, expected)
    _, (grad_rows,) = gradients(
        lambda rows: ops.sum(TokenPacking(MASK).unpack(rows) * upstream_padded), [rows])
    np.testing.assert_array_equal(grad_rows, upstream_padded[MASK])


def test_rounding_up_adds_the_first_padding_positions():
    packing = TokenPacking(MASK, multiple_of=4)  # 7 real tokens -> 8 rows
    x = np.arange(12, dtype="float32").reshape(3, 4, 1)
    packed = np.asarray(packing.pack(x))[:, 0]
    np.testing.assert_array_equal(packed, [0, 1, 2, 4, 8, 9, 10, 11])  # + position (0, 2)
    assert np.asarray(TokenPacking(MASK, multiple_of=16).pack(x)).shape == (12, 1)  # all
