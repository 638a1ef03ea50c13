"""The fast layouts compute the reference attention: values and gradients, every backend."""

import numpy as np
import pytest
from keras import ops

from tests.layers.harness import gradients
from tf_transformer.layers import (
    FusedLayout, MultiHeadAttention, PackedLayout, PaddedLayout, TokenPacking,
)

TOKENS = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]], bool)  # right-padded
MEMORY = np.array([[1, 1, 0, 0], [1, 1, 1, 1], [1, 1, 1, 0]], bool)


def inputs(seed=0, d_model=16):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(*TOKENS.shape, d_model)).astype("float32")
    memory = rng.normal(size=(*MEMORY.shape, d_model)).astype("float32")
    upstream = rng.normal(size=x.shape).astype("float32")
    return x, memory, upstream


def attention_loss(layer, layout, mask, packed_query, packed_memory=None, cross=False):
    """loss(x, memory): attention outputs at the real tokens · a fixed upstream."""
    upstream = inputs()[2] * TOKENS[..., None]

    def loss(x, memory):
        query = packed_query.pack(x) if packed_query else x
        key_value = None
        if cross:
            key_value = packed_memory.pack(memory) if packed_memory else memory
        out, _, _ = layer(query, key_value, attention_mask=mask, layout=layout)
        if packed_query is not None:
            out = packed_query.unpack(out)
        return ops.sum(out * upstream)

    return loss


@pytest.mark.parametrize("cross", [False, True])
@pytest.mark.parametrize("multiple", [1, 4])
def test_fused_and_packed_layouts_equal_the_reference(cross, multiple):
    x, memory, _ = inputs()
    layer = MultiHeadAttention(16, 4)
    keys = MEMORY if cross else TOKENS
    mask = np.broadcast_to(keys[:, None, :], (*TOKENS.shape, keys.shape[1]))
    layer(x, memory if cross else None)
    variables = layer.trainable_variables
    target, source = TokenPacking(TOKENS, multiple), TokenPacking(MEMORY, multiple)
    packed = PackedLayout(target, memory=PackedLayout(source))
    cases = {
        "reference": attention_loss(layer, PaddedLayout(), mask, None, cross=cross),
        "fused": attention_loss(layer, FusedLayout(), mask, None, cross=cross),
        "packed": attention_loss(layer, packed, mask, target, source, cross=cross),
    }
    results = {name: gradients(loss, [x, memory], variables) for name, loss in cases.items()}
    value, reference = results.pop("reference")
    assert len(reference) == 2 + 8 and np.abs(reference[0]).sum() > 0
    for name, (fast_value, fast) in results.items():
        np.testing.assert_allclose(fast_value, value, rtol=1e-5, err_msg=name)
        for i, (a, b) in enumerate(zip(fast, reference)):
            np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-4, err_msg=f"{name} #{i}")
    # Padded tokens get no gradient: as queries they are dropped, as keys masked.
    np.testing.assert_array_equal(reference[0][~TOKENS], 0.0)
