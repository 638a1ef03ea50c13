"""Faster layouts of the same attention on full sequences (the one seam for speed-ups).

`MultiHeadAttention` computes the article's attention with the reference
`PaddedLayout`. These subclasses compute the same values faster when whole
sequences are at hand (training, teacher forcing, the encoder, projecting a
memory once for decoding); tests/layers/layouts_test.py checks them against the
reference, values and gradients, on every backend.

- `FusedLayout`: the projections of one input run as one matrix product with
  their kernels side by side (fewer, larger products; one gradient product for
  the input), and the queries carry the 1/√Dh of the scores in their kernel (a
  multiply of D·D weights rather than of every `(B, H, T_q, T_k)` score). The
  variables stay per `Dense` layer. Incremental decoding (one position per
  call) uses the reference: there the per-call concatenation and scaling of the
  kernels cost more than they save.
- `PackedLayout`: fused, on the real tokens of a padded batch only (see
  `packing.py`): training skips the padding in every position-wise layer.
"""

from keras import ops

from tf_transformer.layers.attention import PaddedLayout, split_heads


class FusedLayout(PaddedLayout):
    """Padded tokens `(B, T, D)`, projections fused, the score scale in the query kernel."""

    score_scale = 1.0  # the queries come scaled

    def project(self, attention, x, layers):
        y = ops.matmul(x, _side_by_side(attention, layers, "kernel", x.dtype))
        if attention.use_bias:
            y = ops.add(y, _side_by_side(attention, layers, "bias", x.dtype))
        return self._split(attention, y, len(layers))

    def _split(self, attention, y, parts):
        return split_heads(y, attention.num_heads, parts)


class PackedLayout(FusedLayout):
    """The `(N, D)` real tokens of a `TokenPacking`, moved straight to and from the
    `(B, H, T, Dh)` head layout (one gather each way, no transposes).

    Args:
        packing: the `TokenPacking` of this layout's tokens.
        memory: the layout of cross-attention's `key_value` (the packed source).
    """

    def __init__(self, packing, memory=None):
        super().__init__(memory)
        self.packing = packing

    def tokens(self, x):
        return self.packing.pack(x)

    def _split(self, attention, y, parts):
        y = self.packing.unpack_heads(y, attention.num_heads, parts=parts)
        return list(y) if parts > 1 else [y]

    def merge(self, heads):
        return self.packing.pack_heads(heads)


def _side_by_side(attention, layers, name, dtype):
    """The `name` weights ("kernel" or "bias") of `layers`, concatenated on the
    last axis, the query's scaled by 1/√Dh."""
    weights = []
    for layer in layers:
        weight = ops.cast(getattr(layer, name), dtype)
        if layer is attention.query_dense:
            weight = weight * ops.cast(attention.head_dim**-0.5, dtype)
        weights.append(weight)
    return ops.concatenate(weights, axis=-1) if len(weights) > 1 else weights[0]
