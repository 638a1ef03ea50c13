"""Encoder and decoder: a positional embedding and a stack of layers.

Notation: B batch, S source length, T target length, D model width, H heads,
L layers, Dh = D / H.
"""

import keras

from tf_transformer.architecture import check_dimensions
from tf_transformer.layers.attention import REFERENCE
from tf_transformer.layers.blocks import DecoderLayer, EncoderLayer
from tf_transformer.layers.normalization import LayerNormalization
from tf_transformer.layers.position import PositionalEmbedding


class _Stack(keras.layers.Layer):
    """Shared constructor and config of `Encoder` and `Decoder`."""

    layer_class = None

    def __init__(
        self,
        num_layers,
        vocab_size,
        d_model,
        num_heads,
        ff_dim,
        dropout=0.1,
        norm_first=False,
        max_length=256,
        activation="relu",
        layer_norm_epsilon=1e-5,
        qkv_init_scale=1.0,
        linear_init="keras",
        token_embedding=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.token_embedding = token_embedding  # shared table (PositionalEmbedding)
        if num_layers <= 0:
            raise ValueError(f"num_layers must be positive, got num_layers={num_layers}.")
        self.num_layers = num_layers
        self.vocab_size = vocab_size
        self.d_model = d_model
        self.num_heads = num_heads
        self.ff_dim = ff_dim
        self.dropout = dropout
        self.norm_first = norm_first
        self.max_length = max_length
        self.activation = activation
        self.layer_norm_epsilon = layer_norm_epsilon
        self.qkv_init_scale = qkv_init_scale
        self.linear_init = linear_init
        check_dimensions(d_model, num_heads, dropout)

    def build(self, token_ids_shape):
        self.embedding = PositionalEmbedding(
            self.vocab_size, self.d_model, self.max_length, self.dropout,
            token_embedding=self.token_embedding, dtype=self.dtype_policy, name="embedding",
        )
        self.embedding.build(token_ids_shape)
        self.blocks = []
        for i in range(self.num_layers):
            layer = self.layer_class(
                self.d_model, self.num_heads, self.ff_dim, self.dropout,
                self.norm_first, self.activation, self.layer_norm_epsilon,
                self.qkv_init_scale, self.linear_init,
                dtype=self.dtype_policy, name=f"layer_{i}",
            )
            layer.build((None, None, self.d_model))
            self.blocks.append(layer)
        # Pre-norm leaves the residual stream unnormalized: normalize it once.
        self.final_norm = None
        if self.norm_first:
            self.final_norm = LayerNormalization(
                epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy,
                name="final_layer_norm",
            )
            self.final_norm.build((None, None, self.d_model))
        self.built = True

    def _finish(self, x):
        return x if self.final_norm is None else self.final_norm(x)

    def get_config(self):
        return {
            **super().get_config(),
            "num_layers": self.num_layers,
            "vocab_size": self.vocab_size,
            "d_model": self.d_model,
            "num_heads": self.num_heads,
            "ff_dim": self.ff_dim,
            "dropout": self.dropout,
            "norm_first": self.norm_first,
            "max_length": self.max_length,
            "activation": self.activation,
            "layer_norm_epsilon": self.layer_norm_epsilon,
            "qkv_init_scale": self.qkv_init_scale,
            "linear_init": self.linear_init,
        }


@keras.saving.register_keras_serializable(package="tf_transformer")
class Encoder(_Stack):
    """Source embedding and `num_layers` `EncoderLayer`s.

    Args:
        num_layers: int, L. Other arguments: as `EncoderLayer`, plus
        vocab_size (source vocabulary) and max_length (positions).

    Call arguments:
        source_ids: int `(B, S)`.
        attention_mask: bool `(B, S, S)`, True = attend.
        layout: how attention holds and projects tokens (see
            `MultiHeadAttention`); a `layouts.PackedLayout` of `source_ids`
            skips the padding in position-wise layers and returns packed
            memory `(N_s, D)`.
        training: bool.

    Returns:
        `(memory (B, S, D), attention_weights: list of L (B, H, S, S))`.
    """

    layer_class = EncoderLayer

    def call(self, source_ids, attention_mask=None, layout=REFERENCE, training=None):
        x = self.embedding(source_ids, layout=layout, training=training)
        weights = []
        for layer in self.blocks:
            x, layer_weights = layer(
                x, attention_mask=attention_mask, layout=layout, training=training
            )
            weights.append(layer_weights)
        return self._finish(x), weights


@keras.saving.register_keras_serializable(package="tf_transformer")
class Decoder(_Stack):
    """Target embedding and `num_layers` `DecoderLayer`s (no output projection).

    Args: as `Encoder`, with vocab_size the target vocabulary.

    Call arguments:
        target_ids: int `(B, T)`.
        memory: `(B, S, D)` encoder output (unused with `cross_caches`).
        self_attention_mask: bool `(B, T, T_k)`.
        cross_attention_mask: bool `(B, T, S)`.
        self_caches: optional list of L `(keys, values)`, each `(B, H, T_k, Dh)`.
        cross_caches: optional list of L `(keys, values)`, each `(B, H, S, Dh)`.
        positions: optional int `(T,)`, the target positions of `target_ids`
            (their positional encodings); defaults to `0 .. T - 1`.
        cache_positions: int `(T,)`, the self-attention cache slots of
            `target_ids` (with `self_caches`).
        layout: how attention holds and projects tokens (see
            `MultiHeadAttention`); a `layouts.PackedLayout` of `target_ids`
            (memory packed as its `memory`) skips the padding in position-wise
            layers and returns packed hidden states `(N, D)`.
        training: bool.

    Returns:
        `(hidden (B, T, D), self_attention_weights: list of L (B, H, T, T_k),
        cross_attention_weights: list of L (B, H, T, S), self_caches: list of L,
        cross_caches: list of L)`.
    """

    layer_class = DecoderLayer

    def call(
        self,
        target_ids,
        memory=None,
        self_attention_mask=None,
        cross_attention_mask=None,
        self_caches=None,
        cross_caches=None,
        positions=None,
        cache_positions=None,
        layout=REFERENCE,
        training=None,
    ):
        x = self.embedding(target_ids, positions, layout=layout, training=training)
        outputs = ([], [], [], [])
        for i, layer in enumerate(self.blocks):
            x, *layer_outputs = layer(
                x, memory,
                self_attention_mask=self_attention_mask,
                cross_attention_mask=cross_attention_mask,
                self_cache=None if self_caches is None else self_caches[i],
                cross_cache=None if cross_caches is None else cross_caches[i],
                cache_positions=cache_positions, layout=layout, training=training,
            )
            for collected, value in zip(outputs, layer_outputs):
                collected.append(value)
        return (self._finish(x), *outputs)
