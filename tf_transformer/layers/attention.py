"""Scaled dot-product attention and multi-head attention with a fixed-size cache.

Notation: B batch, H heads, T_q query length, T_k key length, D model width,
Dh = D / H per-head width.
"""

import keras
from keras import ops

from tf_transformer.layers.dropout import Dropout

# Scores are masked and soft-maxed in float32 whatever the compute dtype: a
# float32 -1e9 neither overflows (as it would in float16) nor produces NaN for a
# fully masked row (as -inf would), and bfloat16 softmax loses too much precision.
MASK_VALUE = -1e9


def check_dimensions(d_model, num_heads, dropout=0.0):
    """Raises a `ValueError` quoting the values unless they make valid heads."""
    if d_model <= 0 or num_heads <= 0 or d_model % num_heads:
        raise ValueError(
            "d_model must be a positive multiple of num_heads, got "
            f"d_model={d_model} and num_heads={num_heads}."
        )
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got dropout={dropout}.")


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


@keras.saving.register_keras_serializable(package="tf_transformer")
class MultiHeadAttention(keras.layers.Layer):
    """Multi-head attention with our own projections and an optional KV cache.

    Queries, keys and values are projected to `D`, split into `H` heads of
    `Dh = D / H`, attended with `ScaledDotProductAttention` and merged by the
    output projection.

    The keys/values of a call are returned as a pair `(keys, values)`, each
    `(B, H, T_k, Dh)`. That pair is the cache format (two tensors rather than
    one stacked tensor: splitting a stack on a non-leading axis copies it at
    every decoding step):

    - no `cache`: keys/values are projected from `key_value` (self-attention
      when it is omitted) and returned, ready to seed a cache;
    - `cache` without `cache_index`: the cached keys/values are used as they
      are (cross-attention during decoding: projected once per source);
    - `cache` with `cache_index`: keys/values of the one new position
      (`T_q` = 1) are written into the fixed-size cache at slot `cache_index`
      and attention runs
      over all `T_k` slots; the caller masks the slots not yet written
      (see `masks.causal_mask`).

    With `beam_size=K`, `query` holds K consecutive rows (the beams of one
    sentence) for every row of the cache, and those K queries attend to that
    row's keys together. A self-attention cache then holds `K · T_max` slots:
    beam k writes its position `cache_index` at slot `k · T_max + cache_index`
    and the mask says which beam's slots make up each beam's history (see
    `Transformer.decode_step`). Beams never copy each other's keys/values, and
    cross-attention keys/values are stored once per sentence, not per beam.

    Args:
        d_model: int, model width D; must be divisible by `num_heads`.
        num_heads: int, number of heads H.
        dropout: float, dropout on the attention weights. Defaults to 0.
        use_bias: bool, whether the projections have biases. Defaults to True.
        kernel_initializer: initializer of the projection kernels.
        bias_initializer: initializer of the projection biases.

    Call arguments:
        query: `(B, T_q, D)`.
        key_value: `(B, T_k, D)` or None for self-attention.
        attention_mask: bool, broadcastable to `(B, T_q, T_k)`; True = attend.
        cache: optional pair `(keys, values)`, each `(B, H, T_k, Dh)`.
        cache_index: optional int scalar, position of the first query.
        beam_size: int K, queries per row of keys/values. Defaults to 1.
        packing: optional `TokenPacking` of the queries (no cache): `query`
            (and `key_value` when omitted) are its `(N, D)` packed tokens,
            and so is the output (see `packing.py`).
        key_packing: optional `TokenPacking` of a packed `key_value` `(N_k, D)`.
        training: bool.

    Returns:
        Always `(output (B, T_q, D), attention_weights (B, H, T_q, T_k),
        key_value_cache (keys, values), each (B, H, T_k, Dh))`. With
        `beam_size` K, B counts the rows of `query`; the weights are
        `(B / K, H, K · T_q, T_k)` and the cache has B / K rows.

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

    def _dense(self, name):
        return keras.layers.Dense(
            self.d_model,
            use_bias=self.use_bias,
            kernel_initializer=self.kernel_initializer.__class__.from_config(
                self.kernel_initializer.get_config()
            ),
            bias_initializer=self.bias_initializer.__class__.from_config(
                self.bias_initializer.get_config()
            ),
            dtype=self.dtype_policy,
            name=name,
        )

    def build(self, query_shape, key_value_shape=None):
        width = (None, None, self.d_model)
        self.query_dense = self._dense("query")
        self.key_dense = self._dense("key")
        self.value_dense = self._dense("value")
        self.output_dense = self._dense("attention_output")
        for layer in (self.query_dense, self.key_dense, self.value_dense):
            layer.build(width)
        self.output_dense.build(width)
        self.attention = ScaledDotProductAttention(
            self.dropout, dtype=self.dtype_policy, name="scaled_dot_product"
        )
        self.built = True

    def _project_heads(self, x, layers, packing=None, fused=True):
        """Projects `x` by each of `layers` and splits each result into heads.

        `fused` (full sequences): several projections of the same input run as
        one matrix product with their kernels side by side (fewer, larger
        products; one gradient product for `x`), and the queries carry the
        1/√Dh of the scores in their kernel (a multiply of D·D weights rather
        than of every (B, H, T_q, T_k) score); the variables stay per layer.
        Incremental decoding (one position per call) instead calls the layers
        as they are: there the per-call concatenation and scaling of the
        kernels cost more than they save.

        Args:
            x: `(B, T, D)`, or `(N, D)` packed tokens of `packing`.
            layers: sequence of P `Dense` layers among query/key/value.
            fused: bool, see above; the caller scales the scores when False.

        Returns:
            list of P tensors `(B, H, T, Dh)`.
        """
        def scaled(layer, weight):
            weight = ops.cast(weight, x.dtype)
            if layer is self.query_dense:
                weight = weight * ops.cast(self.head_dim**-0.5, x.dtype)
            return weight

        def side_by_side(name):
            weights = [scaled(layer, getattr(layer, name)) for layer in layers]
            return ops.concatenate(weights, axis=-1) if len(weights) > 1 else weights[0]

        if not fused:
            return [self._split_heads(layer(x))[0] for layer in layers]
        y = ops.matmul(x, side_by_side("kernel"))
        if self.use_bias:
            y = ops.add(y, side_by_side("bias"))
        parts = len(layers)
        if packing is not None:
            y = packing.unpack_heads(y, self.num_heads, parts=parts)
            return list(y) if parts > 1 else [y]
        return self._split_heads(y, parts)

    def _split_heads(self, y, parts=1):
        """`(B, T, P·D)` -> list of P `(B, H, T, Dh)`."""
        batch, length = ops.shape(y)[0], ops.shape(y)[1]
        y = ops.reshape(y, (batch, length, parts * self.num_heads, self.head_dim))
        y = ops.transpose(y, (0, 2, 1, 3))  # (B, P·H, T, Dh)
        return ops.split(y, parts, axis=1) if parts > 1 else [y]

    def project_key_value(self, x, packing=None):
        """`(B, T, D)` -> `(keys, values)`, each `(B, H, T, Dh)`: the cache format.

        With a `packing`, `x` is its `(N, D)` packed tokens.
        """
        return tuple(self._project_heads(x, (self.key_dense, self.value_dense), packing))

    def call(
        self,
        query,
        key_value=None,
        attention_mask=None,
        cache=None,
        cache_index=None,
        beam_size=1,
        packing=None,
        key_packing=None,
        training=None,
    ):
        if packing is not None and cache is not None:
            raise ValueError("Packed tokens are for full sequences, not a cache.")
        batch, length = ops.shape(query)[0], ops.shape(query)[1]
        if beam_size > 1:  # the K beams of a row become K queries of that row
            if cache is None:
                raise ValueError(
                    "beam_size > 1 needs a cache (incremental decoding); "
                    "without one, fold the beams into the batch instead."
                )
            query = ops.reshape(query, (-1, beam_size * length, self.d_model))
        fused = cache is None  # see `_project_heads`
        if cache is not None and cache_index is None:
            keys, values = cache  # cross-attention keys/values, projected once
            (queries,) = self._project_heads(query, (self.query_dense,), fused=fused)
        elif key_value is None or cache is not None:  # self-attention
            if cache is not None and query.shape[1] not in (beam_size, None):
                raise ValueError(
                    "A cache with cache_index is written one position per call "
                    "(incremental decoding); got a query of length "
                    f"{query.shape[1] // beam_size}."
                )
            queries, keys, values = self._project_heads(
                query, (self.query_dense, self.key_dense, self.value_dense), packing,
                fused=fused,
            )
            if cache is not None:
                keys, values = _write_cache(cache, (keys, values), cache_index)
        else:
            (queries,) = self._project_heads(query, (self.query_dense,), packing)
            keys, values = self.project_key_value(key_value, key_packing)
        mask = None if attention_mask is None else attention_mask[:, None]
        heads, weights = self.attention(
            queries, keys, values, attention_mask=mask, training=training,
            scale=1.0 if fused else None,
        )
        if packing is not None:
            heads = packing.pack_heads(heads)
        else:
            heads = ops.reshape(
                ops.transpose(heads, (0, 2, 1, 3)), (batch, length, self.d_model)
            )
        return self.output_dense(heads), weights, (keys, values)

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
        }


def _write_cache(cache, new, index):
    """Writes `new` into slot `index` of `cache` and returns the updated pair.

    `cache`: pair `(keys, values)`, each `(B, H, K · T_max, Dh)`; `new`: the
    pair for one position of K beams, each `(B, H, K, Dh)` (K = 1 without
    beams). Beam k's row goes to slot `k · T_max + index`.

    A scatter of the B·H·K rows rather than `ops.slice_update`: on the
    TensorFlow backend the latter lowers to the XLA-only
    `XlaDynamicUpdateSlice` op, which TF Serving does not link, and a scatter
    (unlike a select over all slots) lets XLA update the cache in place.
    """
    batch, heads, beams = ops.shape(new[0])[:3]
    slots = ops.arange(beams) * (ops.shape(cache[0])[2] // beams) + index
    indices = ops.stack(
        ops.meshgrid(ops.arange(batch), ops.arange(heads), slots, indexing="ij"),
        axis=-1,
    )  # (B, H, K, 3), shared by keys and values
    indices = ops.reshape(indices, (-1, 3))
    return tuple(
        ops.scatter_update(part, indices, ops.reshape(rows, (-1, ops.shape(rows)[-1])))
        for part, rows in zip(cache, new)  # rows: (B·H·K, Dh)
    )
