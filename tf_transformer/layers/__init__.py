"""Transformer layers written with `keras.ops` (any Keras 3 backend).

The one exception: `dropout.random_bits` draws its random bits with TensorFlow
ops (`tf.random.stateless_uniform`, `tf.bitcast`) on the TensorFlow backend;
other backends draw them with `keras.random.randint`.
"""

from tf_transformer.layers.attention import (
    MultiHeadAttention,
    PaddedLayout,
    ScaledDotProductAttention,
    scaled_dot_product_attention,
)
from tf_transformer.layers.blocks import DecoderLayer, EncoderLayer, FeedForward
from tf_transformer.layers.dropout import Dropout
from tf_transformer.layers.layouts import FusedLayout, PackedLayout
from tf_transformer.layers.masks import attention_mask, causal_mask, padding_mask
from tf_transformer.layers.normalization import LayerNormalization
from tf_transformer.layers.packing import TokenPacking
from tf_transformer.layers.position import PositionalEmbedding, sinusoidal_table
from tf_transformer.layers.stacks import Decoder, Encoder

__all__ = [
    "Decoder",
    "DecoderLayer",
    "Dropout",
    "Encoder",
    "EncoderLayer",
    "FeedForward",
    "FusedLayout",
    "LayerNormalization",
    "MultiHeadAttention",
    "PackedLayout",
    "PaddedLayout",
    "PositionalEmbedding",
    "ScaledDotProductAttention",
    "TokenPacking",
    "attention_mask",
    "causal_mask",
    "padding_mask",
    "scaled_dot_product_attention",
    "sinusoidal_table",
]
