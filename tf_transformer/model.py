"""The encoder-decoder Transformer, its frozen config and presets.

Notation: B batch, S source length, T target length, D model width, V target
vocabulary, H heads, L decoder layers, Dh = D / H. Token id 0 is padding.
"""

import dataclasses

import keras
from keras import ops

from tf_transformer.layers import Decoder, Encoder
from tf_transformer.layers.masks import (
    attention_mask, beam_history_mask, causal_mask, padding_mask,
)
from tf_transformer.layers.packing import TokenPacking

# Packed token counts are rounded up to a multiple of this (see `TokenPacking`):
# a few shapes for the kernel caches, at most 63 extra rows per batch.
PACKING_MULTIPLE = 64


@dataclasses.dataclass(frozen=True)
class TransformerConfig:
    """Architecture of a `Transformer`; presets are instances of it."""

    src_vocab_size: int  # source token ids, specials included
    tgt_vocab_size: int  # target token ids, specials included
    d_model: int = 256  # width of embeddings and every residual stream
    num_heads: int = 8  # attention heads; must divide d_model
    num_encoder_layers: int = 6
    num_decoder_layers: int = 6
    ff_dim: int = 1024  # hidden width of the position-wise feed-forward
    dropout: float = 0.1  # on embeddings, attention weights, residuals, ff hidden
    norm_first: bool = False  # False: post-norm (the seed); True: pre-norm
    max_length: int = 256  # positions with an encoding, per side
    tie_embeddings: bool = False  # output projection = target embedding table
    tie_all_embeddings: bool = False  # one table: source = target = output projection
    activation: str = "relu"  # feed-forward activation
    layer_norm_epsilon: float = 1e-5  # PyTorch's default

    def __post_init__(self):
        for name in ("src_vocab_size", "tgt_vocab_size", "max_length", "ff_dim"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}.")
        if self.tie_all_embeddings and self.src_vocab_size != self.tgt_vocab_size:
            raise ValueError(
                "tie_all_embeddings needs one vocabulary for both languages, got "
                f"src_vocab_size={self.src_vocab_size} and tgt_vocab_size={self.tgt_vocab_size}."
            )
        if self.d_model <= 0 or self.num_heads <= 0 or self.d_model % self.num_heads:
            raise ValueError(
                "d_model must be a positive multiple of num_heads, got "
                f"d_model={self.d_model} and num_heads={self.num_heads}."
            )


# The architectures; vocabulary sizes come from the tokenizers.
PRESETS = {
    # The PyTorch walkthrough this project ports.
    "seed": dict(d_model=256, num_heads=8, num_encoder_layers=6,
                 num_decoder_layers=6, ff_dim=1024, dropout=0.1),
    # "Attention Is All You Need", base model.
    "base": dict(d_model=512, num_heads=8, num_encoder_layers=6,
                 num_decoder_layers=6, ff_dim=2048, dropout=0.1),
    # For tests and quick experiments; 128 positions, the default data.max_length, so
    # that `--set model.preset=tiny` alone is a valid run config.
    "tiny": dict(d_model=32, num_heads=4, num_encoder_layers=2,
                 num_decoder_layers=2, ff_dim=64, dropout=0.1, max_length=128),
}


@keras.saving.register_keras_serializable(package="tf_transformer")
class Transformer(keras.Model):
    """Encoder-decoder Transformer for translation.

    Args:
        config: a `TransformerConfig`.

    Call arguments:
        inputs: `(source_ids (B, S), target_input_ids (B, T))`, int, 0 = pad;
            target_input_ids starts with BOS (teacher forcing).
        training: bool.

    Returns:
        float32 logits `(B, T, V)` (float32 also under mixed precision), or
        `(N, V)` in training with `remove_padding` (below).

    Attributes:
        remove_padding: bool, default False. When True, `call` runs the
            position-wise layers (projections, feed-forward, norms, dropout)
            on the real tokens only, their count rounded up to a multiple of
            `PACKING_MULTIPLE` (see `layers/packing.py`): about half the work
            on batches of 128 Multi30k pairs. With `training=True` it then
            returns the logits of those N packed tokens, `(N, V)` (rows of
            `token_packing(target_input_ids)`), and `compute_loss` /
            `compute_metrics` pack the labels alike; otherwise `(B, T, V)`
            with arbitrary logits at padding. It needs dynamic shapes
            (TensorFlow graph mode, not XLA); `tf-transformer train` sets it
            from `training.remove_padding`.

    Example:
    >>> model = Transformer.from_preset("tiny", src_vocab_size=100, tgt_vocab_size=90)
    >>> logits = model((np.array([[5, 6, 3]]), np.array([[2, 7]])))
    >>> logits.shape
    (1, 2, 90)
    """

    def __init__(self, config, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        stack = dict(
            d_model=config.d_model, num_heads=config.num_heads,
            ff_dim=config.ff_dim, dropout=config.dropout,
            norm_first=config.norm_first, max_length=config.max_length,
            activation=config.activation,
            layer_norm_epsilon=config.layer_norm_epsilon, dtype=self.dtype_policy,
        )
        if config.tie_all_embeddings:
            # One table for a joint vocabulary (Press & Wolf 2017), as the encoder's and
            # decoder's default: normal with stddev D^-0.5.
            stack["token_embedding"] = keras.layers.Embedding(
                config.src_vocab_size, config.d_model,
                embeddings_initializer=keras.initializers.RandomNormal(
                    stddev=config.d_model**-0.5),
                dtype=self.dtype_policy, name="shared_token_embedding",
            )
        self.encoder = Encoder(
            config.num_encoder_layers, config.src_vocab_size, name="encoder", **stack
        )
        self.decoder = Decoder(
            config.num_decoder_layers, config.tgt_vocab_size, name="decoder", **stack
        )
        self.remove_padding = False
        self.output_projection = None
        if not (config.tie_embeddings or config.tie_all_embeddings):
            self.output_projection = keras.layers.Dense(
                config.tgt_vocab_size, dtype=self.dtype_policy, name="output_projection"
            )

    @classmethod
    def from_preset(cls, name, src_vocab_size, tgt_vocab_size, **overrides):
        """Builds a preset architecture, e.g. `from_preset("seed", 8000, 6000)`.

        `overrides` replace preset fields (`dropout=0.3`, `tie_embeddings=True`).
        """
        if name not in PRESETS:
            raise ValueError(
                f"Unknown preset {name!r}; choose one of {sorted(PRESETS)}."
            )
        fields = {f.name for f in dataclasses.fields(TransformerConfig)}
        unknown = sorted(set(overrides) - fields)
        if unknown:
            raise ValueError(
                f"Unknown TransformerConfig field(s) {unknown}; valid: {sorted(fields)}."
            )
        config = TransformerConfig(
            src_vocab_size=src_vocab_size, tgt_vocab_size=tgt_vocab_size,
            **{**PRESETS[name], **overrides},
        )
        return cls(config)

    def encode(self, source_ids, training=None, packing=None):
        """Source ids `(B, S)` -> `(memory (B, S, D), self-attention weights:
        list of L (B, H, S, S))`; memory is `(N_s, D)` with a `TokenPacking`
        of the source."""
        source_mask = padding_mask(source_ids)
        return self.encoder(
            source_ids, attention_mask(ops.shape(source_ids)[1], source_mask),
            packing=packing, training=training,
        )

    def _logits(self, hidden):
        if self.output_projection is None:
            logits = ops.matmul(
                hidden, ops.transpose(ops.cast(self.decoder.embedding.embeddings,
                                               hidden.dtype))
            )
        else:
            logits = self.output_projection(hidden)
        return ops.cast(logits, "float32")

    def decode(self, target_input_ids, memory, source_ids, training=None,
               packing=None, memory_packing=None):
        """Teacher-forced decoder pass.

        Args:
            target_input_ids: int `(B, T)`, BOS first.
            memory: `(B, S, D)` from `encode`, or `(N_s, D)` packed by
                `memory_packing`.
            source_ids: int `(B, S)`, for the source padding mask.
            packing: optional `TokenPacking` of `target_input_ids`: the
                decoder skips (most of) the padding and returns the logits of
                the packed tokens, `(N, V)`.

        Returns:
            `(logits (B, T, V) float32, self-attention weights: list of L
            (B, H, T, T), cross-attention weights: list of L (B, H, T, S))`.
        """
        batch, length = ops.shape(target_input_ids)[0], ops.shape(target_input_ids)[1]
        # Causal alone suffices: targets are right-padded, so a real token never
        # sees a pad key, and pad positions (ignored by the loss) then match
        # what cached decoding computes for them.
        self_mask = causal_mask(batch, length, length)
        cross_mask = attention_mask(length, padding_mask(source_ids))
        hidden, self_weights, cross_weights, _, _ = self.decoder(
            target_input_ids, memory, self_mask, cross_mask, packing=packing,
            memory_packing=memory_packing, training=training,
        )
        return self._logits(hidden), self_weights, cross_weights

    def call(self, inputs, training=None):
        source_ids, target_input_ids = inputs
        source_packing = target_packing = None
        if self.remove_padding:
            source_packing = self.token_packing(source_ids)
            target_packing = self.token_packing(target_input_ids)
        memory, _ = self.encode(source_ids, training, source_packing)
        logits, _, _ = self.decode(
            target_input_ids, memory, source_ids, training, target_packing,
            source_packing,
        )
        # Training keeps the logits packed: the loss and metrics then read N
        # rows of V logits rather than B·T (see `compute_loss`).
        if target_packing is None or training:
            return logits
        return target_packing.unpack(logits)

    @staticmethod
    def token_packing(token_ids):
        """The `TokenPacking` that `remove_padding` uses for ids `(B, T)`."""
        return TokenPacking(padding_mask(token_ids), PACKING_MULTIPLE)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        return super().compute_loss(
            x, self._labels_like(x, y, y_pred), y_pred, sample_weight, training=training
        )

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        return super().compute_metrics(x, self._labels_like(x, y, y_pred), y_pred, sample_weight)

    def _labels_like(self, x, y, y_pred):
        """Labels `(B, T)`, packed `(N,)` like the target tokens when `y_pred`
        holds packed logits `(N, V)` (`remove_padding`, training)."""
        if y is None or len(y_pred.shape) != 2:
            return y
        return self.token_packing(x[1]).select(y)

    def init_cache(self, memory, source_ids, max_length, beam_size=1):
        """The decoding state for `decode_step`, all of fixed shape.

        Args:
            memory: `(B, S, D)` from `encode`.
            source_ids: int `(B, S)`.
            max_length: int, target positions the self-attention cache holds
                (at most `config.max_length`).
            beam_size: int K, beams per sentence. With K > 1, `decode_step`
                takes the K beams of each sentence as consecutive rows
                (B · K tokens) and beam search reorders them with
                `reorder_cache` instead of copying caches.

        Returns:
            dict with "self": tuple of L `(keys, values)` pairs of zeros, each
            `(B, H, K · max_length, Dh)` (beam k's positions from slot
            `k · max_length`); "cross": tuple of L `(keys, values)` pairs of
            `memory`, each `(B, H, S, Dh)` (computed once here, shared by the
            beams); "source_mask": bool `(B, S)`; with K > 1, "ancestors":
            int `(B, K, max_length)`, which beam's slots hold each position
            of each beam's hypothesis (see `masks.beam_history_mask`); each
            step sets its own position, the rest are masked.
        """
        if isinstance(max_length, int) and max_length > self.config.max_length:
            raise ValueError(
                f"max_length={max_length} exceeds the model's "
                f"max_length={self.config.max_length} positions."
            )
        if not isinstance(beam_size, int) or beam_size < 1:
            raise ValueError(f"beam_size must be a positive int, got {beam_size!r}.")
        batch = ops.shape(memory)[0]
        head_dim = self.config.d_model // self.config.num_heads
        zeros = ops.zeros(
            (batch, self.config.num_heads, beam_size * max_length, head_dim),
            dtype=memory.dtype,
        )
        cache = {
            "self": tuple((zeros, zeros) for _ in self.decoder.blocks),
            "cross": tuple(
                layer.cross_attention.project_key_value(memory)
                for layer in self.decoder.blocks
            ),
            "source_mask": padding_mask(source_ids),
        }
        if beam_size > 1:
            cache["ancestors"] = ops.zeros((batch, beam_size, max_length), "int32")
        return cache

    def decode_step(self, token_ids, cache, index):
        """One incremental decoding step (the search functions' `next_fn`).

        Args:
            token_ids: int `(B, 1)`, the tokens at position `index`; `(B · K,
                1)` for a cache from `init_cache(..., beam_size=K)`.
            cache: from `init_cache` or the previous step.
            index: int scalar, position of `token_ids`.

        Returns:
            `(logits (B, V) float32 for position index + 1, updated cache)`;
            B · K rows with beams.
        """
        cache = dict(cache)
        if "ancestors" in cache:
            ancestors = cache["ancestors"]
            beam_size, length = ancestors.shape[1], ops.shape(ancestors)[2]
            # This step writes each beam's position `index` into its own slots.
            own = ops.reshape(ops.arange(beam_size, dtype=ancestors.dtype), (1, -1, 1))
            ancestors = ops.where(ops.arange(length) == index, own, ancestors)
            cache["ancestors"] = ancestors
            self_mask = beam_history_mask(ancestors, index)
        else:
            beam_size = 1
            self_mask = causal_mask(
                ops.shape(token_ids)[0], 1, ops.shape(cache["self"][0][0])[2], index
            )
        cross_mask = ops.expand_dims(cache["source_mask"], 1)
        hidden, _, _, self_caches, _ = self.decoder(
            token_ids, None, self_mask, cross_mask,
            self_caches=cache["self"], cross_caches=cache["cross"],
            cache_index=index, beam_size=beam_size, training=False,
        )
        cache["self"] = tuple(self_caches)
        return self._logits(hidden)[:, 0], cache

    @staticmethod
    def reorder_cache(cache, parents):
        """Beam search's reorder hook for a cache from `init_cache(..., beam_size=K)`.

        Beam k of sentence b continues beam `parents[b, k]`: it inherits that
        beam's table of ancestors; no keys or values move.

        Args:
            cache: the decoding state.
            parents: int `(B, K)`.

        Returns:
            The reordered cache.
        """
        if "ancestors" not in cache:  # one beam: nothing to reorder
            return cache
        ancestors = cache["ancestors"]
        rows = ops.broadcast_to(
            ops.expand_dims(ops.cast(parents, ancestors.dtype), -1), ops.shape(ancestors)
        )
        return {**cache, "ancestors": ops.take_along_axis(ancestors, rows, axis=1)}

    def get_config(self):
        return dataclasses.asdict(self.config)

    @classmethod
    def from_config(cls, config):
        return cls(TransformerConfig(**config))
