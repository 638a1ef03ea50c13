"""Token embedding scaled by √d_model plus fixed sinusoidal positions."""

import math

import keras
import numpy as np
from keras import ops

from tf_transformer.layers.attention import REFERENCE
from tf_transformer.layers.dropout import Dropout


def sinusoidal_table(length, d_model):
    """Fixed positional encodings, interleaved as in the PyTorch walkthrough.

    PE[pos, 2i] = sin(pos / 10000^(2i/d)), PE[pos, 2i+1] = cos(pos / 10000^(2i/d)).

    Returns:
        NumPy float32 array `(length, d_model)`.
    """
    positions = np.arange(length, dtype=np.float64)[:, None]
    rates = np.exp(np.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
    table = np.zeros((length, d_model))
    table[:, 0::2] = np.sin(positions * rates)
    table[:, 1::2] = np.cos(positions * rates)[:, : d_model // 2]
    return table.astype("float32")


@keras.saving.register_keras_serializable(package="tf_transformer")
class PositionalEmbedding(keras.layers.Layer):
    """`dropout(embedding(ids) · √d_model + PE[positions])`.

    Args:
        vocab_size: int, number of token ids.
        d_model: int, embedding width D.
        max_length: int, number of positions with an encoding. Defaults to 256.
        dropout: float, dropout on the sum. Defaults to 0.
        embeddings_initializer: initializer of the token table. Defaults to
            normal with stddev D^-0.5, so that the scaled embedding has unit
            variance (and a tied output projection starts small).
        token_embedding: optional `keras.layers.Embedding` (vocab_size, D) to
            use instead of a table of its own: one table shared by the
            encoder and the decoder (`Transformer` `tie_all_embeddings`).

    Call arguments:
        token_ids: int `(B, T)`.
        positions: optional int `(T,)`, the position of each column of
            `token_ids` (incremental decoding); defaults to `0 .. T - 1`.
        layout: the attention layout the result is for (see
            `MultiHeadAttention`): `(N, D)` packed tokens for a
            `layouts.PackedLayout`.
        training: bool.

    Returns:
        `(B, T, D)`, or the tokens of `layout`.

    Example:
    >>> emb = PositionalEmbedding(vocab_size=100, d_model=16)
    >>> emb(np.array([[5, 6, 0]])).shape
    (1, 3, 16)
    """

    def __init__(
        self,
        vocab_size,
        d_model,
        max_length=256,
        dropout=0.0,
        embeddings_initializer=None,
        token_embedding=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if vocab_size <= 0 or d_model <= 0 or max_length <= 0:
            raise ValueError(
                "vocab_size, d_model and max_length must be positive, got "
                f"vocab_size={vocab_size}, d_model={d_model}, max_length={max_length}."
            )
        self.vocab_size = vocab_size
        self.d_model = d_model
        self.max_length = max_length
        self.dropout = dropout
        self.embeddings_initializer = keras.initializers.get(
            embeddings_initializer
            or keras.initializers.RandomNormal(stddev=d_model**-0.5)
        )
        self.table = sinusoidal_table(max_length, d_model)
        self._shared_embedding = token_embedding

    def build(self, token_ids_shape):
        self.token_embedding = self._shared_embedding or keras.layers.Embedding(
            self.vocab_size,
            self.d_model,
            embeddings_initializer=self.embeddings_initializer,
            dtype=self.dtype_policy,
            name="token_embedding",
        )
        if not self.token_embedding.built:
            self.token_embedding.build(token_ids_shape)
        self.dropout_layer = Dropout(
            self.dropout, dtype=self.dtype_policy, name="embedding_dropout"
        )
        self.built = True

    @property
    def embeddings(self):
        """The `(vocab_size, D)` token table, for a tied output projection."""
        return self.token_embedding.embeddings

    def call(self, token_ids, positions=None, layout=REFERENCE, training=None):
        x = self.token_embedding(token_ids) * ops.cast(
            math.sqrt(self.d_model), self.compute_dtype
        )
        if positions is None:
            positions = ops.arange(ops.shape(token_ids)[1])
        x = x + ops.cast(ops.take(self.table, positions, axis=0), self.compute_dtype)
        return self.dropout_layer(layout.tokens(x), training=training)

    def get_config(self):
        return {
            **super().get_config(),
            "vocab_size": self.vocab_size,
            "d_model": self.d_model,
            "max_length": self.max_length,
            "dropout": self.dropout,
            "embeddings_initializer": keras.initializers.serialize(
                self.embeddings_initializer
            ),
        }
