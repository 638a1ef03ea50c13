"""Copies our weights into Keras / keras-hub layers, the independent references."""

from keras import ops


def copy_attention(ours, reference):
    """Our `MultiHeadAttention` -> `keras.layers.MultiHeadAttention` (built)."""
    heads, head_dim = ours.num_heads, ours.head_dim
    for name in ("query", "key", "value"):
        dense, ref = getattr(ours, f"{name}_dense"), getattr(reference, f"_{name}_dense")
        ref.kernel.assign(ops.reshape(dense.kernel, (ours.d_model, heads, head_dim)))
        ref.bias.assign(ops.reshape(dense.bias, (heads, head_dim)))
    reference._output_dense.kernel.assign(
        ops.reshape(ours.output_dense.kernel, (heads, head_dim, ours.d_model))
    )
    reference._output_dense.bias.assign(ours.output_dense.bias)


def _copy_norm(ours, reference):
    reference.gamma.assign(ours.gamma)
    reference.beta.assign(ours.beta)


def _copy_dense(ours, reference):
    reference.kernel.assign(ours.kernel)
    reference.bias.assign(ours.bias)


def copy_block(ours, reference):
    """Our `EncoderLayer`/`DecoderLayer` -> keras-hub `TransformerEncoder/Decoder`."""
    copy_attention(ours.self_attention, reference._self_attention_layer)
    _copy_norm(ours.self_attention_norm, reference._self_attention_layer_norm)
    if hasattr(ours, "cross_attention"):
        copy_attention(ours.cross_attention, reference._cross_attention_layer)
        _copy_norm(ours.cross_attention_norm, reference._cross_attention_layer_norm)
    _copy_dense(ours.feed_forward.hidden, reference._feedforward_intermediate_dense)
    _copy_dense(ours.feed_forward.projection, reference._feedforward_output_dense)
    _copy_norm(ours.ff_norm, reference._feedforward_layer_norm)
