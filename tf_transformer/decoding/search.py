"""Model-agnostic greedy and beam search over an incremental decoder step.

Notation: B batch, K beam size, T size of the output buffer (most tokens any row may
generate), V target vocabulary.

Both searches drive a step function

    next_fn(tokens, cache, index) -> (logits, cache)

where `tokens` (B, 1) int32 are the tokens at position `index` (position 0 holds BOS),
`logits` (B, V) score the token at position `index + 1`, and `cache` is any nest of
tensors with a leading batch axis whose shapes never change (a fixed-size KV cache).
Each search fills a fixed (B, T) buffer inside `tf.while_loop(maximum_iterations=T)`,
so it runs eagerly, inside `tf.function` and under XLA (`jit_compile=True`) alike.

Outputs hold the generated tokens (EOS included when produced; BOS excluded) followed by
PAD. A row that reaches its maximum length without EOS is truncated there.

References:
  Wu et al., 2016, "Google's Neural Machine Translation System" (length penalty).
  Beam bookkeeping after tensor2tensor / flax `examples/wmt` (alive and finished beams
  folded into the batch) and fairseq (EOS only counts within the top K candidates).
"""
from typing import NamedTuple

import tensorflow as tf

from tf_transformer.special_tokens import BOS_ID, EOS_ID, PAD_ID

# Log-probability of impossible beams; finite so that sums and ratios never give NaN.
NEG_INF = -1e9


class SearchResult(NamedTuple):
    """What `greedy_search` (shapes (B, ...)) and `beam_search` (shapes (B, K, ...)) return."""

    ids: tf.Tensor  # (B, T) / (B, K, T) int32: generated tokens, then PAD
    lengths: tf.Tensor  # (B,) / (B, K) int32: generated tokens, EOS included
    # (B,) / (B, K) float32. Greedy: sum of token log-probs. Beam: that sum divided by
    # length_penalty(lengths, alpha), sorted best first; NEG_INF in empty slots.
    scores: tf.Tensor


def length_penalty(length, alpha: float) -> tf.Tensor:
    """GNMT length penalty `((5 + length) / 6) ** alpha`; alpha 0 disables it."""
    return ((5.0 + tf.cast(length, tf.float32)) / 6.0) ** alpha


def max_lengths_for_source(source_ids, ratio: float = 1.5, offset: int = 10,
                           cap: int = 256):
    """Output-length limits relative to the source: `min(cap, ceil(ratio * S) + offset)`.

    Args:
      source_ids: (B, S) int32 source ids, PAD (0) padded.
      ratio, offset: the limit grows as `ratio * source tokens + offset`.
      cap: absolute limit (e.g. the model's number of positions).

    Returns:
      `(max_lengths, buffer_length)`: (B,) int32 per-row limits, counted over the
      non-pad source tokens, and a scalar int32 buffer size computed the same way from
      the padded width S. The buffer size depends only on the input shape, so it is a
      compile-time constant under XLA, and it is never smaller than any row's limit.
    """

    def limit(source_length):
        scaled = tf.math.ceil(ratio * tf.cast(source_length, tf.float32))
        return tf.minimum(cap, tf.cast(scaled, tf.int32) + offset)

    source_lengths = tf.reduce_sum(tf.cast(source_ids != PAD_ID, tf.int32), axis=1)
    return limit(source_lengths), limit(tf.shape(source_ids)[1])


def _write_column(buffer, index, values):
    """buffer[..., index] = values; a select keeps every shape static (B*T is tiny)."""
    return tf.where(tf.range(tf.shape(buffer)[-1]) == index, values[..., None], buffer)


def greedy_search(next_fn, initial_cache, batch_size, max_length, max_lengths=None,
                  start_id: int = BOS_ID, end_id: int = EOS_ID) -> SearchResult:
    """Batched greedy search; stops once every row has produced `end_id` or its limit.

    Args:
      next_fn: `next_fn(tokens (B, 1), cache, index) -> (logits (B, V), cache)`.
      initial_cache: nest of (B, ...) tensors passed to the first `next_fn` call.
      batch_size: B, Python int or scalar int32 tensor.
      max_length: T, buffer size and most steps (Python int or scalar int32 tensor).
      max_lengths: optional (B,) int32 per-row limits <= T (default: T for every row).
      start_id: token fed at position 0.
      end_id: token that finishes a row.

    Returns:
      `SearchResult` with ids (B, T), lengths (B,) and log-probability sums (B,).

    Example:
      >>> result = greedy_search(model.decode_step, cache, batch_size=2, max_length=20)
    """
    if max_lengths is None:
        max_lengths = tf.fill([batch_size], max_length)

    def body(index, tokens, ids, lengths, scores, finished, cache):
        logits, cache = next_fn(tokens, cache, index)
        log_probs = tf.nn.log_softmax(tf.cast(logits, tf.float32))  # (B, V)
        next_tokens = tf.argmax(log_probs, axis=-1, output_type=tf.int32)
        next_tokens = tf.where(finished, PAD_ID, next_tokens)
        token_log_probs = tf.gather(log_probs, next_tokens, batch_dims=1)
        scores += tf.where(finished, 0.0, token_log_probs)
        lengths += tf.cast(~finished, tf.int32)
        ids = _write_column(ids, index, next_tokens)
        finished |= (next_tokens == end_id) | (index + 1 >= max_lengths)
        return index + 1, next_tokens[:, None], ids, lengths, scores, finished, cache

    def cond(index, tokens, ids, lengths, scores, finished, cache):
        return ~tf.reduce_all(finished)

    initial = (tf.constant(0), tf.fill([batch_size, 1], start_id),
               tf.fill([batch_size, max_length], PAD_ID), tf.zeros([batch_size], tf.int32),
               tf.zeros([batch_size]), max_lengths <= 0, initial_cache)
    _, _, ids, lengths, scores, _, _ = tf.while_loop(
        cond, body, initial, maximum_iterations=max_length)
    return SearchResult(ids, lengths, scores)


class _BeamState(NamedTuple):
    index: tf.Tensor  # () int32: position of the alive beams' last token
    alive_ids: tf.Tensor  # (B, K, T) int32
    alive_last: tf.Tensor  # (B, K) int32: token at position `index`
    alive_log_probs: tf.Tensor  # (B, K) float32, sorted best first
    finished_ids: tf.Tensor  # (B, K, T) int32
    finished_lengths: tf.Tensor  # (B, K) int32
    finished_scores: tf.Tensor  # (B, K) float32, penalised, sorted best first
    cache: object  # nest of (B * K, ...) tensors, beam k of row b at b * K + k


def _gather_beams(nest, beam_indices):
    """Selects beams per row: (B, K', ...) tensors indexed by (B, K) ints -> (B, K, ...)."""
    return tf.nest.map_structure(lambda x: tf.gather(x, beam_indices, batch_dims=1), nest)


def reorder_rows(nest, parents):
    """The default cache reorder: (B * K, ...) tensors, beam k of row b at b * K + k,
    take the rows of their parent beams `parents` (B, K) int32."""
    k = parents.shape[1]
    flat = tf.reshape(parents + tf.range(tf.shape(parents)[0])[:, None] * k, [-1])
    return tf.nest.map_structure(lambda x: tf.gather(x, flat), nest)


def beam_search(next_fn, initial_cache, batch_size, max_length, beam_size: int,
                alpha: float = 0.6, max_lengths=None, start_id: int = BOS_ID,
                end_id: int = EOS_ID, reorder_cache=None) -> SearchResult:
    """Batched beam search with the GNMT length penalty and an exact early stop.

    Beams are folded into the batch: `next_fn` sees B * K rows (beam k of row b at
    b * K + k). By default the cache is tiled to match and its rows are gathered after
    each step so that every beam keeps its parent's cache; a `reorder_cache` lets the
    cache's owner do that more cheaply. Each step takes the 2K best extensions
    of the K alive beams. Those ending in `end_id` (or reaching the row's limit) become
    finished hypotheses, scored `log_prob / length_penalty(length, alpha)`, when they
    rank within the top K (so beam size 1 is greedy search when alpha is 0); the K best
    others stay alive. A row stops when no alive beam can still beat its K-th finished
    hypothesis (log-probs only fall and the penalty is largest at the row's limit), so
    early stopping never changes the result.

    Args:
      next_fn: `next_fn(tokens (B*K, 1), cache, index) -> (logits (B*K, V), cache)`.
      initial_cache: nest of (B, ...) tensors for the B rows, tiled K times here;
        with `reorder_cache`, a cache already laid out for the K beams, used as given.
      batch_size: B, Python int or scalar int32 tensor.
      max_length: T, buffer size and most steps (Python int or scalar int32 tensor).
      beam_size: K, a Python int; the vocabulary must have at least 2K entries.
      alpha: length-penalty exponent (>= 0); 0 ranks by plain log-probability.
      max_lengths: optional (B,) int32 per-row limits <= T (default: T for every row).
      start_id: token fed at position 0.
      end_id: token that finishes a hypothesis.
      reorder_cache: optional `reorder_cache(cache, parents) -> cache`, called after
        every step with parents (B, K) int32: beam k of row b continues old beam
        `parents[b, k]` (e.g. `Transformer.reorder_cache`, which moves a small table
        instead of the keys and values). Default: `reorder_rows` on the tiled cache.

    Returns:
      `SearchResult` with the K best finished hypotheses per row: ids (B, K, T),
      lengths (B, K) and penalised scores (B, K), best first.

    Example:
      >>> result = beam_search(model.decode_step, cache, 2, 20, beam_size=4, alpha=0.6)
      >>> best = result.ids[:, 0]  # (B, T)
    """
    k = beam_size
    if max_lengths is None:
        max_lengths = tf.fill([batch_size], max_length)
    limits = max_lengths[:, None]  # (B, 1)
    # Upper bound of any future score of a beam with log-prob x <= 0: x / best_penalty.
    best_penalty = length_penalty(limits, alpha)
    if reorder_cache is None:
        reorder_cache = reorder_rows
        initial_cache = tf.nest.map_structure(lambda x: tf.repeat(x, k, axis=0),
                                              initial_cache)

    def body(state):
        index = state.index
        logits, cache = next_fn(tf.reshape(state.alive_last, [-1, 1]), state.cache, index)
        log_probs = tf.nn.log_softmax(tf.cast(logits, tf.float32))  # (B*K, V)
        # -1 for the batch axis keeps static shapes static inside the loop.
        vocab_size = log_probs.shape[-1] or tf.shape(log_probs)[-1]
        log_probs = tf.reshape(log_probs, [-1, k, vocab_size])
        totals = tf.reshape(state.alive_log_probs[:, :, None] + log_probs, [-1, k * vocab_size])
        top_log_probs, top_indices = tf.math.top_k(totals, k=2 * k)  # (B, 2K)
        top_beams, top_tokens = top_indices // vocab_size, top_indices % vocab_size
        top_ids = _write_column(_gather_beams(state.alive_ids, top_beams), index, top_tokens)
        ends = (top_tokens == end_id) | (index + 1 >= limits)  # (B, 2K)

        # Alive: the K best extensions that continue.
        alive_log_probs, keep = tf.math.top_k(tf.where(ends, NEG_INF, top_log_probs), k=k)
        parents = tf.gather(top_beams, keep, batch_dims=1)  # (B, K) into the old beams
        cache = reorder_cache(cache, parents)

        # Finished: endings ranked in the top K, real (not from an impossible beam) and
        # within the row's limit, merged with the earlier ones (which win ties).
        rank_ok = tf.range(2 * k) < k
        new = ends & rank_ok & (top_log_probs > NEG_INF / 2) & (index < limits)
        new_scores = tf.where(new, top_log_probs / length_penalty(index + 1, alpha), NEG_INF)
        finished_scores, best = tf.math.top_k(
            tf.concat([state.finished_scores, new_scores], axis=1), k=k)
        new_lengths = tf.fill(tf.shape(new_scores), index + 1)
        finished_ids, finished_lengths = _gather_beams(
            (tf.concat([state.finished_ids, top_ids], axis=1),
             tf.concat([state.finished_lengths, new_lengths], axis=1)), best)
        return (_BeamState(
            index + 1, _gather_beams(top_ids, keep), _gather_beams(top_tokens, keep),
            alive_log_probs, finished_ids, finished_lengths, finished_scores, cache),)

    def cond(state):
        best_alive = state.alive_log_probs[:, :1] / best_penalty
        worst_finished = state.finished_scores[:, -1:]
        done = ((worst_finished > NEG_INF / 2) & (worst_finished >= best_alive)
                | (state.index >= limits))
        return ~tf.reduce_all(done)

    buffer = tf.fill([batch_size, k, max_length], PAD_ID)
    first_beam_only = tf.where(tf.range(k) == 0, 0.0, NEG_INF)  # one live beam at start
    initial = _BeamState(
        index=tf.constant(0), alive_ids=buffer, alive_last=tf.fill([batch_size, k], start_id),
        alive_log_probs=tf.tile(first_beam_only[None], [batch_size, 1]),
        finished_ids=buffer, finished_lengths=tf.zeros([batch_size, k], tf.int32),
        finished_scores=tf.fill([batch_size, k], NEG_INF),
        cache=initial_cache)

    (final,) = tf.while_loop(cond, body, (initial,), maximum_iterations=max_length)
    return SearchResult(final.finished_ids, final.finished_lengths, final.finished_scores)
