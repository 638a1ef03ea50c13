"""Scaled dot-product attention and multi-head attention with a fixed-size cache.

Notation: B batch, H heads, T_q query length, T_k key length, D model width,
Dh = D / H per-head width.
"""

import keras
from keras import ops

from tf_transformer.architecture import check_dimensions
from tf_transformer.layers.dropout import Dropout

# Scores are masked and soft-maxed in float32 whatever the compute dtype: a
# float32 -1e9 neither overflows (as it would in float16) nor produces NaN for a
# fully masked row (as -inf would), and bfloat16 softmax loses too much precision.
MASK_VALUE = -1e9


def scaled_dot_product_attention(
    query, key, value, mask=None, dropout=None, training=None, scale=None
):
    """softmax(q·kᵀ/√d_k)·v, as in "Attention Is All You Need", eq. 1.

    Args:
        query: `(..., T_q, d_k)`.
        key: `(..., T_k, d_k)`.
        value: `(..., T_k, d_v)`.
        mask: optional, broadcastable to `(..., T_q, T_k)`; keys where it is
            0/False get -1e9 added to their score (in float32) before softmax.
        dropout: optional callable applied to the attention weights, e.g. a
            `keras.layers.Dropout`; called with `training=training`.
        training: forwarded to `dropout`.
        scale: float multiplying the scores; defaults to `1 / √d_k`. Pass 1.0
            for queries already scaled (`MultiHeadAttention` folds the scale
            into its query projection).

    Returns:
        `(output, attention_weights)`: output `(..., T_q, d_v)` and weights
        `(..., T_q, T_k)`, both in the dtype of `query`. Each row of the weights
        sums to 1.

    Example:
    >>> q = k = v = keras.random.normal((2, 5, 16))
    >>> out, weights = scaled_dot_product_attention(q, k, v)
    >>> out.shape, weights.shape
    ((2, 5, 16), (2, 5, 5))
    """
    # An einsum rather than matmul(q, kᵀ): its gradient needs no transposes.
    scores = ops.cast(ops.einsum("...qd,...kd->...qk", query, key), "float32")
    if scale is None:
        scores = scores / ops.sqrt(ops.cast(ops.shape(query)[-1], "float32"))
    elif scale != 1.0:
        scores = scores * scale
    if mask is not None:
        # Added rather than selected: the gradient of an addition needs no pass
        # over the scores (softmax gives masked keys exactly 0 either way).
        scores = scores + ops.where(ops.cast(mask, "bool"), 0.0, MASK_VALUE)
    weights = ops.cast(ops.softmax(scores, axis=-1), query.dtype)
    if dropout is not None:
        weights = dropout(weights, training=training)
    return ops.matmul(weights, value), weights


@keras.saving.register_keras_serializable(package="tf_transformer")
class ScaledDotProductAttention(keras.layers.Layer):
    """`scaled_dot_product_attention` as a layer that owns its dropout.

    Args:
        dropout: float, dropout rate on the attention weights. Defaults to 0.

    Call arguments:
        query `(..., T_q, d_k)`, key `(..., T_k, d_k)`, value `(..., T_k, d_v)`,
        attention_mask broadcastable to `(..., T_q, T_k)`, training, scale
        (see `scaled_dot_product_attention`).

    Returns:
        `(output (..., T_q, d_v), attention_weights (..., T_q, T_k))`.
    """

    def __init__(self, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got dropout={dropout}.")
        self.dropout = dropout
        self.weights_dropout = Dropout(
            dropout, dtype=self.dtype_policy, name="attention_dropout"
        )

    def call(self, query, key, value, attention_mask=None, training=None, scale=None):
        # Not named `mask`: Keras reserves that argument for implicit masking.
        return scaled_dot_product_attention(
            query, key, value, attention_mask, self.weights_dropout, training, scale
        )

    def get_config(self):
        return {**super().get_config(), "dropout": self.dropout}


def split_heads(y, num_heads, parts=1):
    """`(B, T, P · H · Dh)` -> list of P `(B, H, T, Dh)` (P projections side by side)."""
    batch, length, width = ops.shape(y)
    y = ops.reshape(y, (batch, length, parts * num_heads, width // (parts * num_heads)))
    y = ops.transpose(y, (0, 2, 1, 3))  # (B, P·H, T, Dh)
    return ops.split(y, parts, axis=1) if parts > 1 else [y]


def merge_heads(heads):
    """`(B, H, T, Dh)` -> `(B, T, H · Dh)`."""
    batch, num_heads, length, head_dim = (ops.shape(heads)[i] for i in range(4))
    return ops.reshape(ops.transpose(heads, (0, 2, 1, 3)), (batch, length, num_heads * head_dim))


class PaddedLayout:
    """How an attention call projects its tokens: the reference, and the seam for speed-ups.

    Tokens are `(B, T, D)`; each projection is its own `Dense` layer, split into
    heads by a reshape; `scaled_dot_product_attention` scales the scores. Faster
    layouts of the same math (fused projections, packed tokens) subclass it in
    `layers/layouts.py`, and tests check them against this one.

    Args:
        memory: the layout of cross-attention's `key_value`; defaults to this one.
    """

    score_scale = None  # scaled_dot_product_attention's default: 1/√Dh

    def __init__(self, memory=None):
        self.memory = memory or self

    def tokens(self, x):
        """`(B, T, D)` -> the tokens as this layout holds them (here unchanged)."""
        return x

    def project(self, attention, x, layers):
        """`x` projected by each of `layers` (`Dense`), as P tensors `(B, H, T, Dh)`."""
        return [split_heads(layer(x), attention.num_heads)[0] for layer in layers]

    def merge(self, heads):
        """`(B, H, T, Dh)` -> tokens `(B, T, D)`."""
        return merge_heads(heads)


REFERENCE = PaddedLayout()


@keras.saving.register_keras_serializable(package="tf_transformer")
class MultiHeadAttention(keras.layers.Layer):
    """Multi-head attention with our own projections and an optional KV cache.

    Queries, keys and values are projected to `D`, split into `H` heads of
    `Dh = D / H`, attended with `ScaledDotProductAttention`, merged and
    projected back ("Attention Is All You Need", section 3.2.2).

    The keys/values of a call are returned as a pair `(keys, values)`, each
    `(B, H, T_k, Dh)`. That pair is the cache format (two tensors rather than
    one stacked tensor: splitting a stack on a non-leading axis copies it at
    every decoding step). A call is one of:

    - self-attention (no `key_value`, no `cache`): keys/values from `query`;
    - cross-attention (`key_value`): keys/values projected from it;
    - cached self-attention (`cache` and `cache_positions`): the keys/values
      of the `T_q` new positions are written into the fixed-size cache at
      slots `cache_positions` and attention runs over all `T_k` slots; the
      caller's mask hides the slots a query may not see (see `masks.py`);
    - cached cross-attention (`cache` alone): the keys/values of a memory,
      projected once (`project_key_value`), read as they are.

    Args:
        d_model: int, model width D; must be divisible by `num_heads`.
        num_heads: int, number of heads H.
        dropout: float, dropout on the attention weights. Defaults to 0.
        use_bias: bool, whether the projections have biases. Defaults to True.
        kernel_initializer: initializer of the projection kernels.
        bias_initializer: initializer of the projection biases.
        qkv_initializer: initializer of the query/key/value kernels, if not
            `kernel_initializer` (PyTorch draws them as one stacked (3D, D)
            matrix, with a smaller Glorot bound than the output kernel's).

    Call arguments:
        query: `(B, T_q, D)`.
        key_value: `(B, T_k, D)` or None.
        attention_mask: bool, broadcastable to `(B, T_q, T_k)`; True = attend.
        cache: optional pair `(keys, values)`, each `(B, H, T_k, Dh)`.
        cache_positions: optional int `(T_q,)`, the cache slots of the queries.
        layout: a `PaddedLayout` (default): how tokens are held and projected.
            `layouts.PackedLayout` takes `(N, D)` packed tokens as `query` (and
            `key_value`) and returns them.
        training: bool.

    Returns:
        Always `(output (B, T_q, D), attention_weights (B, H, T_q, T_k),
        key_value_cache (keys, values), each (B, H, T_k, Dh))`.

    Example:
    >>> mha = MultiHeadAttention(d_model=64, num_heads=8)
    >>> x = keras.random.normal((2, 7, 64))
    >>> out, weights, (keys, values) = mha(x)
    >>> out.shape, weights.shape, keys.shape
    ((2, 7, 64), (2, 8, 7, 7), (2, 8, 7, 8))
    """

    def __init__(
        self,
        d_model,
        num_heads,
        dropout=0.0,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        qkv_initializer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_dimensions(d_model, num_heads, dropout)
        self.d_model = d_model
        self.num_heads = num_heads
        self.head_dim = d_model // num_heads
        self.dropout = dropout
        self.use_bias = use_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.qkv_initializer = keras.initializers.get(qkv_initializer)

    def _dense(self, name, kernel_initializer):
        return keras.layers.Dense(
            self.d_model,
            use_bias=self.use_bias,
            kernel_initializer=kernel_initializer.__class__.from_config(
                kernel_initializer.get_config()
            ),
            bias_initializer=self.bias_initializer.__class__.from_config(
                self.bias_initializer.get_config()
            ),
            dtype=self.dtype_policy,
            name=name,
        )

    def build(self, query_shape, key_value_shape=None):
        width = (None, None, self.d_model)
        qkv_initializer = self.qkv_initializer or self.kernel_initializer
        self.query_dense = self._dense("query", qkv_initializer)
        self.key_dense = self._dense("key", qkv_initializer)
        self.value_dense = self._dense("value", qkv_initializer)
        self.output_dense = self._dense("attention_output", self.kernel_initializer)
        for layer in (self.query_dense, self.key_dense, self.value_dense):
            layer.build(width)
        self.output_dense.build(width)
        self.attention = ScaledDotProductAttention(
            self.dropout, dtype=self.dtype_policy, name="scaled_dot_product"
        )
        self.built = True

    def project_key_value(self, x, layout=REFERENCE):
        """`(B, T, D)` -> `(keys, values)`, each `(B, H, T, Dh)`: the cache format."""
        return tuple(layout.project(self, x, (self.key_dense, self.value_dense)))

    def call(self, query, key_value=None, attention_mask=None, cache=None,
             cache_positions=None, layout=REFERENCE, training=None):
        if key_value is not None and cache is not None:
            raise ValueError("Pass key_value or a cache of its keys/values, not both.")
        if cache_positions is not None and cache is None:
            raise ValueError("cache_positions are slots of a cache: pass the cache too.")
        if key_value is None and (cache is None or cache_positions is not None):
            queries, keys, values = layout.project(
                self, query, (self.query_dense, self.key_dense, self.value_dense))
            if cache is not None:  # this call's positions join the earlier ones
                keys, values = write_cache(cache, (keys, values), cache_positions)
        else:  # cross-attention
            (queries,) = layout.project(self, query, (self.query_dense,))
            if cache is None:
                cache = self.project_key_value(key_value, layout.memory)
            keys, values = cache
        mask = None if attention_mask is None else attention_mask[:, None]  # all heads
        heads, weights = self.attention(
            queries, keys, values, attention_mask=mask, training=training,
            scale=layout.score_scale,
        )
        return self.output_dense(layout.merge(heads)), weights, (keys, values)

    def get_config(self):
        return {
            **super().get_config(),
            "d_model": self.d_model,
            "num_heads": self.num_heads,
            "dropout": self.dropout,
            "use_bias": self.use_bias,
            "kernel_initializer": keras.initializers.serialize(
                self.kernel_initializer
            ),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            "qkv_initializer": keras.initializers.serialize(self.qkv_initializer),
        }


def write_cache(cache, new, positions):
    """Writes `new` into slots `positions` of `cache` and returns the updated pair.

    `cache`: pair `(keys, values)`, each `(B, H, T_max, Dh)`; `new`: the pair
    for T new positions, each `(B, H, T, Dh)`; `positions`: int `(T,)`.

    A scatter of the B·H·T rows rather than `ops.slice_update`: on the
    TensorFlow backend the latter lowers to the XLA-only
    `XlaDynamicUpdateSlice` op, which TF Serving does not link, and a scatter
    (unlike a select over all slots) lets XLA update the cache in place.
    """
    batch, heads = ops.shape(new[0])[:2]
    indices = ops.stack(
        ops.meshgrid(ops.arange(batch), ops.arange(heads), ops.cast(positions, "int32"),
                     indexing="ij"),
        axis=-1,
    )  # (B, H, T, 3), shared by keys and values
    indices = ops.reshape(indices, (-1, 3))
    return tuple(
        ops.scatter_update(part, indices, ops.reshape(rows, (-1, ops.shape(rows)[-1])))
        for part, rows in zip(cache, new)  # rows: (B·H·T, Dh)
    )
