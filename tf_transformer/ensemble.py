"""Several trained `Transformer`s searched as one model: an ensemble.

At every step each member predicts the next token from its own encoder memory and KV
cache, and the ensemble's next-token distribution combines the members' (`mode`, the
two of Sockeye's `--ensemble-mode`):
- "linear": the mean of the members' probabilities, `log(1/N * sum_i softmax(z_i))`, the
  usual ensemble of NMT systems (e.g. Sennrich et al., 2016, "Edinburgh Neural Machine
  Translation Systems for WMT 16"; fairseq's `EnsembleModel`);
- "log_linear": their normalized geometric mean, `log_softmax(1/N * sum_i
  log_softmax(z_i))`, a product of experts: a token needs every member's support (the
  shipped version 3 decodes so; docs/history.md).

`Ensemble` has the decoding interface of a `Transformer` (`encode`, `decode`,
`init_cache`, `decode_step`, `reorder_cache`, `config.max_length`), so `translate_ids`,
both searches, `Translator` and the exported `TranslationModule` take it where they take
one model. The members must share both vocabularies (one pair of
tokenizers translates for all); their sizes may differ.

Notation: N members, B batch (B * K rows with beams), S source, T target, V vocabulary.
"""
import math

from keras import ops


class Ensemble:
    """`Transformer`s decoded together, combining their next-token distributions.

    Args:
      members: built `Transformer`s with the same vocabulary sizes and positions.
      mode: "linear" (mean of the probabilities) or "log_linear" (normalized geometric
        mean); see the module doc.

    Attention weights (`encode`'s and `decode`'s, which `plot` draws) are the first
    member's: heads of different models do not correspond, so they are not averaged.
    """

    def __init__(self, members, mode: str = "linear"):
        self.members = tuple(members)
        if not self.members:
            raise ValueError("An ensemble needs at least one member.")
        if mode not in MODES:
            raise ValueError(f"Unknown ensemble mode {mode!r}: one of {sorted(MODES)}.")
        self.mode = mode
        self._combine = MODES[mode]
        first = self.members[0].config
        for i, member in enumerate(self.members[1:], 2):
            for field in ("src_vocab_size", "tgt_vocab_size", "max_length"):
                if getattr(member.config, field) != getattr(first, field):
                    raise ValueError(
                        f"Ensemble members must share {field}: member 1 has "
                        f"{getattr(first, field)}, member {i} "
                        f"{getattr(member.config, field)}. Members are trained with the "
                        "same vocabularies (data section) and max_length.")

    @property
    def config(self):
        """The first member's config: what the searches read of it (`max_length`) is
        the same for every member."""
        return self.members[0].config

    def count_params(self) -> int:
        """All members' parameters together (what `Transformer.count_params` gives for one)."""
        return sum(member.count_params() for member in self.members)

    def encode(self, source_ids, training=None):
        """`(memories: N-tuple of (B, S, D), the first member's self-attention weights)`."""
        encoded = [member.encode(source_ids, training=training) for member in self.members]
        return tuple(memory for memory, _ in encoded), encoded[0][1]

    def decode(self, target_input_ids, memory, source_ids, training=None):
        """Teacher-forced pass: `(the combined log-probabilities (B, T, V), the first
        member's self- and cross-attention weights)`."""
        outputs = [member.decode(target_input_ids, m, source_ids, training=training)
                   for member, m in zip(self.members, memory)]
        return (self._combine([logits for logits, _, _ in outputs]), *outputs[0][1:])

    def init_cache(self, memory, source_ids, max_length, beam_size=1):
        """The members' caches (see `Transformer.init_cache`), one per memory."""
        return tuple(member.init_cache(m, source_ids, max_length, beam_size)
                     for member, m in zip(self.members, memory))

    def decode_step(self, token_ids, cache, index):
        """`(the combined next-token log-probabilities (B, V), the members' caches)`."""
        steps = [member.decode_step(token_ids, c, index)
                 for member, c in zip(self.members, cache)]
        return (self._combine([logits for logits, _ in steps]),
                tuple(c for _, c in steps))

    def reorder_cache(self, cache, parents):
        return tuple(member.reorder_cache(c, parents)
                     for member, c in zip(self.members, cache))


def _log_probabilities(logits):
    return ops.stack([ops.log_softmax(ops.cast(z, "float32"), axis=-1) for z in logits])


def mean_probabilities(logits):
    """`log(1/N * sum_i softmax(z_i))` over the last axis of N logit tensors, computed
    from log-probabilities (no underflow for unlikely tokens); float32."""
    return ops.logsumexp(_log_probabilities(logits), axis=0) - math.log(len(logits))


def geometric_mean_probabilities(logits):
    """`log_softmax(1/N * sum_i log_softmax(z_i))` over the last axis of N logit
    tensors: the members' geometric mean, renormalized; float32."""
    return ops.log_softmax(ops.mean(_log_probabilities(logits), axis=0), axis=-1)


# Ensemble(mode=...): how the members' next-token distributions combine.
MODES = {"linear": mean_probabilities, "log_linear": geometric_mean_probabilities}
