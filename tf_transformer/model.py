"""The encoder-decoder Transformer, its frozen config and presets.

Notation: B batch, S source length, T target length, D model width, V target
vocabulary, H heads, L decoder layers, Dh = D / H. Token id 0 is padding.
"""

import dataclasses

import keras
from keras import ops

from tf_transformer.architecture import PRESETS, TransformerConfig, preset_config
from tf_transformer.layers import Decoder, Encoder
from tf_transformer.layers.initializers import dense_initializers
from tf_transformer.layers.layouts import FusedLayout, PackedLayout
from tf_transformer.layers.masks import (
    attention_mask, beam_history_mask, causal_mask, padding_mask,
)
from tf_transformer.layers.packing import TokenPacking

__all__ = ["PRESETS", "Transformer", "TransformerConfig"]


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
        float32 logits `(B, T, V)` (float32 also under mixed precision).

    With `config.remove_padding` the position-wise layers (projections,
    feed-forward, norms, dropout) run on the real tokens only, their count
    rounded up to a multiple of `config.packing_multiple` (see
    `layers/packing.py`): about half the work on batches of 128 Multi30k
    pairs, the same logits at the real tokens (arbitrary ones at padding). It
    needs dynamic shapes (TensorFlow graph mode, not XLA). The train step
    (`training/packed_step.py`) keeps the logits packed, `packed_logits`.

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
            layer_norm_epsilon=config.layer_norm_epsilon,
            qkv_init_scale=config.qkv_init_scale, linear_init=config.linear_init,
            dtype=self.dtype_policy,
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
        self.output_projection = None
        if not (config.tie_embeddings or config.tie_all_embeddings):
            self.output_projection = keras.layers.Dense(
                config.tgt_vocab_size, dtype=self.dtype_policy, name="output_projection",
                **dense_initializers(config.linear_init, config.d_model),
            )

    @classmethod
    def from_preset(cls, name, src_vocab_size, tgt_vocab_size, **overrides):
        """Builds a preset architecture, e.g. `from_preset("seed", 8000, 6000)`.

        `overrides` replace preset fields (`dropout=0.3`, `tie_embeddings=True`).
        """
        return cls(preset_config(name, src_vocab_size, tgt_vocab_size, **overrides))

    def encode(self, source_ids, training=None, layout=None):
        """Source ids `(B, S)` -> `(memory (B, S, D), self-attention weights:
        list of L (B, H, S, S))`.

        `layout` (see `MultiHeadAttention`) defaults to `FusedLayout`, the
        same values as the reference, faster; memory is `(N_s, D)` with a
        `PackedLayout` of the source."""
        source_mask = padding_mask(source_ids)
        return self.encoder(
            source_ids, attention_mask(ops.shape(source_ids)[1], source_mask),
            layout=layout or FusedLayout(), training=training,
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

    def decode(self, target_input_ids, memory, source_ids, training=None, layout=None):
        """Teacher-forced decoder pass.

        Args:
            target_input_ids: int `(B, T)`, BOS first.
            memory: `(B, S, D)` from `encode`, or `(N_s, D)` packed.
            source_ids: int `(B, S)`, for the source padding mask.
            layout: defaults to `FusedLayout`; a `PackedLayout` of
                `target_input_ids` whose `memory` packs the source makes the
                decoder skip (most of) the padding and return the logits of
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
            target_input_ids, memory, self_mask, cross_mask,
            layout=layout or FusedLayout(), training=training,
        )
        return self._logits(hidden), self_weights, cross_weights

    def call(self, inputs, training=None):
        if self.config.remove_padding:
            logits, packing = self.packed_logits(inputs, training)
            return packing.unpack(logits)
        source_ids, target_input_ids = inputs
        memory, _ = self.encode(source_ids, training)
        logits, _, _ = self.decode(target_input_ids, memory, source_ids, training)
        return logits

    def packed_logits(self, inputs, training=None):
        """The forward pass on the real tokens only (see `config.remove_padding`).

        Args:
            inputs: `(source_ids (B, S), target_input_ids (B, T))`; targets
                right-padded (decoding masks no padded keys: see `decode`).

        Returns:
            `(logits (N, V) float32, packing)`: the logits of the N packed
            target tokens, the rows of `packing.select(labels (B, T))`.
        """
        source_ids, target_input_ids = inputs
        source = PackedLayout(self.token_packing(source_ids))
        target = PackedLayout(self.token_packing(target_input_ids), memory=source)
        memory, _ = self.encode(source_ids, training, source)
        logits, _, _ = self.decode(target_input_ids, memory, source_ids, training, target)
        return logits, target.packing

    def token_packing(self, token_ids):
        """The `TokenPacking` of ids `(B, T)` that `remove_padding` uses."""
        return TokenPacking(padding_mask(token_ids), self.config.packing_multiple)

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
                layer.cross_attention.project_key_value(memory, FusedLayout())
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
            # The K beams of a sentence are K queries of its cache row, all at
            # position `index`; beam k writes slot k · T + index.
            token_ids = ops.reshape(token_ids, (-1, beam_size))
            positions = ops.zeros((beam_size,), "int32") + index
            cache_positions = ops.arange(beam_size) * length + index
        else:
            slots = ops.shape(cache["self"][0][0])[2]
            self_mask = causal_mask(ops.shape(token_ids)[0], 1, slots, index)
            positions = cache_positions = ops.reshape(index, (1,))
        cross_mask = ops.expand_dims(cache["source_mask"], 1)
        hidden, _, _, self_caches, _ = self.decoder(
            token_ids, None, self_mask, cross_mask,
            self_caches=cache["self"], cross_caches=cache["cross"],
            positions=positions, cache_positions=cache_positions, training=False,
        )
        cache["self"] = tuple(self_caches)
        logits = self._logits(hidden)  # (B, K, V); K = 1 without beams
        return ops.reshape(logits, (-1, ops.shape(logits)[-1])), cache

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
