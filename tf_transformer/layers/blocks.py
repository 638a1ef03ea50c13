"""Feed-forward network and the encoder/decoder layers built from attention.

Notation: B batch, T target length, S source length, D model width, H heads,
Dh = D / H. Masks are boolean, True = may attend (see `masks.py`).

Both layers are post-norm by default, as in the original Transformer and the
PyTorch seed (`x = norm(x + dropout(sublayer(x)))`); `norm_first=True` gives
the pre-norm variant (`x = x + dropout(sublayer(norm(x)))`), which trains more
stably for deep stacks and needs a final norm after the stack (see `stacks.py`).
"""

import keras

from tf_transformer.architecture import check_dimensions, check_linear_init
from tf_transformer.layers.attention import REFERENCE, MultiHeadAttention
from tf_transformer.layers.dropout import Dropout
from tf_transformer.layers.initializers import dense_initializers
from tf_transformer.layers.normalization import LayerNormalization


def _layer_norm(layer, epsilon, name):
    return LayerNormalization(
        epsilon=epsilon, dtype=layer.dtype_policy, name=name
    )


@keras.saving.register_keras_serializable(package="tf_transformer")
class FeedForward(keras.layers.Layer):
    """Position-wise `dense(dropout(activation(dense(x))))`.

    Args:
        d_model: int, input and output width D.
        ff_dim: int, hidden width.
        dropout: float, dropout after the activation. Defaults to 0.
        activation: activation of the hidden layer. Defaults to "relu".
        linear_init: "keras" (zero biases) or "pytorch" (nn.Linear's biases,
            U(±1/√fan_in)); the kernels are Glorot uniform either way. Defaults
            to "keras".

    Call arguments:
        x: `(B, T, D)`; training: bool.

    Returns:
        `(B, T, D)`.
    """

    def __init__(self, d_model, ff_dim, dropout=0.0, activation="relu", linear_init="keras",
                 **kwargs):
        super().__init__(**kwargs)
        check_linear_init(linear_init)
        if d_model <= 0 or ff_dim <= 0:
            raise ValueError(
                f"d_model and ff_dim must be positive, got d_model={d_model}, "
                f"ff_dim={ff_dim}."
            )
        self.d_model = d_model
        self.ff_dim = ff_dim
        self.dropout = dropout
        self.activation = keras.activations.get(activation)
        self.linear_init = linear_init

    def build(self, x_shape):
        self.hidden = keras.layers.Dense(
            self.ff_dim, activation=self.activation, dtype=self.dtype_policy,
            name="hidden",
            **dense_initializers(self.linear_init, self.d_model, kernel=False),
        )
        self.hidden.build(x_shape)
        self.hidden_dropout = Dropout(
            self.dropout, dtype=self.dtype_policy, name="hidden_dropout"
        )
        self.projection = keras.layers.Dense(
            self.d_model, dtype=self.dtype_policy, name="projection",
            **dense_initializers(self.linear_init, self.ff_dim, kernel=False),
        )
        self.projection.build((*x_shape[:-1], self.ff_dim))
        self.built = True

    def call(self, x, training=None):
        return self.projection(self.hidden_dropout(self.hidden(x), training=training))

    def get_config(self):
        return {
            **super().get_config(),
            "d_model": self.d_model,
            "ff_dim": self.ff_dim,
            "dropout": self.dropout,
            "activation": keras.activations.serialize(self.activation),
            "linear_init": self.linear_init,
        }


class _Block(keras.layers.Layer):
    """Shared constructor, residual wiring and config of the two layer types."""

    def __init__(
        self,
        d_model,
        num_heads,
        ff_dim,
        dropout=0.1,
        norm_first=False,
        activation="relu",
        layer_norm_epsilon=1e-5,
        qkv_init_scale=1.0,
        linear_init="keras",
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_dimensions(d_model, num_heads, dropout)
        check_linear_init(linear_init)
        if ff_dim <= 0:
            raise ValueError(f"ff_dim must be positive, got ff_dim={ff_dim}.")
        self.d_model = d_model
        self.num_heads = num_heads
        self.ff_dim = ff_dim
        self.dropout = dropout
        self.norm_first = norm_first
        self.activation = activation
        self.layer_norm_epsilon = layer_norm_epsilon
        self.qkv_init_scale = qkv_init_scale
        self.linear_init = linear_init

    def _attention(self, name):
        qkv_initializer = None  # the default Glorot uniform, drawn as before
        if self.qkv_init_scale != 1.0:
            qkv_initializer = keras.initializers.VarianceScaling(
                self.qkv_init_scale, mode="fan_avg", distribution="uniform")
        layer = MultiHeadAttention(
            self.d_model, self.num_heads, dropout=self.dropout,
            qkv_initializer=qkv_initializer, dtype=self.dtype_policy, name=name,
        )
        layer.build((None, None, self.d_model))
        return layer

    def _sublayer_parts(self, name):
        """A layer norm and a residual dropout for one sublayer."""
        norm = _layer_norm(self, self.layer_norm_epsilon, f"{name}_layer_norm")
        norm.build((None, None, self.d_model))
        dropout = Dropout(
            self.dropout, dtype=self.dtype_policy, name=f"{name}_dropout"
        )
        return norm, dropout

    def _build_feed_forward(self):
        self.feed_forward = FeedForward(
            self.d_model, self.ff_dim, self.dropout, self.activation, self.linear_init,
            dtype=self.dtype_policy, name="feed_forward",
        )
        self.feed_forward.build((None, None, self.d_model))
        self.ff_norm, self.ff_dropout = self._sublayer_parts("feed_forward")

    def _residual(self, x, norm, dropout, sublayer, training):
        """Applies `sublayer` with residual, dropout and norm; returns its extras.

        `sublayer(h)` returns `(y, *extras)`; the extras (attention weights,
        caches) are passed through unchanged.
        """
        y, *extras = sublayer(norm(x) if self.norm_first else x)
        x = x + dropout(y, training=training)
        return (x if self.norm_first else norm(x)), extras

    def _feed_forward_sublayer(self, x, training):
        x, _ = self._residual(
            x, self.ff_norm, self.ff_dropout,
            lambda h: (self.feed_forward(h, training=training),), training,
        )
        return x

    def get_config(self):
        return {
            **super().get_config(),
            "d_model": self.d_model,
            "num_heads": self.num_heads,
            "ff_dim": self.ff_dim,
            "dropout": self.dropout,
            "norm_first": self.norm_first,
            "activation": self.activation,
            "layer_norm_epsilon": self.layer_norm_epsilon,
            "qkv_init_scale": self.qkv_init_scale,
            "linear_init": self.linear_init,
        }


@keras.saving.register_keras_serializable(package="tf_transformer")
class EncoderLayer(_Block):
    """Self-attention and feed-forward, each with residual, dropout and norm.

    Args:
        d_model: int, width D (a multiple of `num_heads`).
        num_heads: int, attention heads H.
        ff_dim: int, feed-forward hidden width.
        dropout: float, dropout on attention weights, the feed-forward hidden
            layer and each residual branch. Defaults to 0.1.
        norm_first: bool, pre-norm instead of post-norm. Defaults to False.
        activation: feed-forward activation. Defaults to "relu".
        layer_norm_epsilon: float. Defaults to 1e-5 (PyTorch's).
        qkv_init_scale: float, variance scale of the query/key/value kernels'
            Glorot-uniform initialization; 0.5 is PyTorch's. Defaults to 1.
        linear_init: the feed-forward biases: "keras" (zeros) or "pytorch"
            (see `FeedForward`). Defaults to "keras".

    Call arguments:
        x: `(B, S, D)`.
        attention_mask: bool `(B, S, S)`, True = attend.
        layout: how attention holds and projects tokens (see
            `MultiHeadAttention`); with a `layouts.PackedLayout`, `x` and the
            output are its `(N, D)` packed tokens.
        training: bool.

    Returns:
        `(output (B, S, D), attention_weights (B, H, S, S))`.
    """

    def build(self, x_shape):
        self.self_attention = self._attention("self_attention")
        self.self_attention_norm, self.self_attention_dropout = self._sublayer_parts(
            "self_attention"
        )
        self._build_feed_forward()
        self.built = True

    def call(self, x, attention_mask=None, layout=REFERENCE, training=None):
        x, (weights, _) = self._residual(
            x, self.self_attention_norm, self.self_attention_dropout,
            lambda h: self.self_attention(
                h, attention_mask=attention_mask, layout=layout, training=training
            ),
            training,
        )
        return self._feed_forward_sublayer(x, training), weights


@keras.saving.register_keras_serializable(package="tf_transformer")
class DecoderLayer(_Block):
    """Causal self-attention, cross-attention over the encoder output, feed-forward.

    Args: as `EncoderLayer`.

    Call arguments:
        x: `(B, T, D)`.
        memory: `(B, S, D)` encoder output; unused when `cross_cache` is given.
        self_attention_mask: bool `(B, T, T_k)`; causal (and padding) mask.
        cross_attention_mask: bool `(B, T, S)`; source padding mask.
        self_cache: optional fixed-size cache `(keys, values)`, each
            `(B, H, T_k, Dh)`; `x`'s keys/values are written at `cache_positions`.
        cross_cache: optional `(keys, values)` of `memory`, each `(B, H, S, Dh)`.
        cache_positions: int `(T,)`, the self-attention cache slots of `x`.
        layout: how attention holds and projects tokens (see
            `MultiHeadAttention`); its `memory` is the layout of `memory`.
        training: bool.

    Returns:
        `(output (B, T, D), self_attention_weights (B, H, T, T_k),
        cross_attention_weights (B, H, T, S), self_cache (keys, values) each
        (B, H, T_k, Dh), cross_cache (keys, values) each (B, H, S, Dh))`;
        without caches the returned caches
        hold this call's keys/values.
    """

    def build(self, x_shape):
        self.self_attention = self._attention("self_attention")
        self.self_attention_norm, self.self_attention_dropout = self._sublayer_parts(
            "self_attention"
        )
        self.cross_attention = self._attention("cross_attention")
        self.cross_attention_norm, self.cross_attention_dropout = (
            self._sublayer_parts("cross_attention")
        )
        self._build_feed_forward()
        self.built = True

    def call(
        self,
        x,
        memory=None,
        self_attention_mask=None,
        cross_attention_mask=None,
        self_cache=None,
        cross_cache=None,
        cache_positions=None,
        layout=REFERENCE,
        training=None,
    ):
        x, (self_weights, self_cache) = self._residual(
            x, self.self_attention_norm, self.self_attention_dropout,
            lambda h: self.self_attention(
                h, attention_mask=self_attention_mask, cache=self_cache,
                cache_positions=cache_positions, layout=layout, training=training,
            ),
            training,
        )
        x, (cross_weights, cross_cache) = self._residual(
            x, self.cross_attention_norm, self.cross_attention_dropout,
            lambda h: self.cross_attention(
                h, memory, attention_mask=cross_attention_mask, cache=cross_cache,
                layout=layout, training=training,
            ),
            training,
        )
        x = self._feed_forward_sublayer(x, training)
        return x, self_weights, cross_weights, self_cache, cross_cache
