"""Source ids -> target ids with a `Transformer`: encode once, then greedy or beam search.

Graph-friendly (no strings), so the same code runs in `Translator`, in the benchmarks
and inside an exported serving function, with or without XLA.

Notation: B batch, K beam size, S source length, T output buffer, V target vocabulary.
"""
import tensorflow as tf

from tf_transformer.decoding.search import (
    SearchResult, beam_search, greedy_search, length_penalty, max_lengths_for_source,
    reorder_rows)


def uncached_step(model):
    """A `next_fn` that re-runs the whole decoder on the prefix (no KV cache).

    The reference for the cached `model.decode_step` (same ids, same logits up to
    float error) and the slow baseline of the benchmark. Its cache holds the token
    buffer, the encoder memory and the source ids; see `uncached_cache`.
    """

    def next_fn(tokens, cache, index):
        buffer = cache["tokens"]
        buffer = tf.where(tf.range(tf.shape(buffer)[1]) == index, tokens, buffer)
        # The causal mask hides the buffer's unwritten tail from position `index`.
        logits, _, _ = model.decode(buffer, cache["memory"], cache["source_ids"],
                                    training=False)
        return tf.gather(logits, index, axis=1), {**cache, "tokens": buffer}

    return next_fn


def uncached_cache(memory, source_ids, max_length, beam_size: int = 1):
    """The initial cache of `uncached_step(model)`: (B * K, T) tokens, memory (a tensor,
    or a nest of them for an `Ensemble`) and source ids, each row repeated for the K
    beams (see `uncached_reorder`)."""
    memory, source_ids = tf.nest.map_structure(lambda x: tf.repeat(x, beam_size, axis=0),
                                               (memory, source_ids))
    tokens = tf.zeros([tf.shape(source_ids)[0], max_length], tf.int32)
    return {"tokens": tokens, "memory": memory, "source_ids": source_ids}


def uncached_reorder(cache, parents):
    """Beam search's reorder hook for `uncached_cache`: only the tokens differ by beam."""
    return {**cache, "tokens": reorder_rows(cache["tokens"], parents)}


def translate_ids(model, source_ids, beam_size: int = 1, alpha: float = 0.6,
                  max_length_ratio: float = 1.5, max_length_offset: int = 10,
                  use_cache: bool = True) -> SearchResult:
    """Encodes `source_ids` and searches; always returns beam-shaped results.

    Args:
      model: a `Transformer` (anything with `encode`, `init_cache`, `decode_step`,
        `decode` and `config.max_length`).
      source_ids: (B, S) int32 with BOS/EOS, PAD (0) padded.
      beam_size: K; 1 runs greedy search.
      alpha: length-penalty exponent; with K = 1 it only rescales the score.
      max_length_ratio, max_length_offset: each row generates at most
        `ceil(ratio * source tokens) + offset` tokens, capped at the model's positions.
      use_cache: False decodes with `uncached_step` (reference and baseline only).

    Returns:
      `SearchResult` with ids (B, K, T), lengths (B, K) and length-penalised scores
      (B, K), best first; T = `min(config.max_length, ceil(ratio * S) + offset)`.
    """
    source_ids = tf.convert_to_tensor(source_ids, tf.int32)
    batch_size = tf.shape(source_ids)[0]
    max_lengths, buffer_length = max_lengths_for_source(
        source_ids, max_length_ratio, max_length_offset, cap=model.config.max_length)
    memory, _ = model.encode(source_ids, training=False)
    if use_cache:
        next_fn, reorder = model.decode_step, model.reorder_cache
        cache = model.init_cache(memory, source_ids, buffer_length, beam_size)
    else:
        next_fn, reorder = uncached_step(model), uncached_reorder
        cache = uncached_cache(memory, source_ids, buffer_length, beam_size)
    if beam_size > 1:
        return beam_search(next_fn, cache, batch_size, buffer_length, beam_size, alpha,
                           max_lengths, reorder_cache=reorder)
    ids, lengths, scores = greedy_search(next_fn, cache, batch_size, buffer_length, max_lengths)
    return SearchResult(ids[:, None], lengths[:, None],
                        (scores / length_penalty(lengths, alpha))[:, None])
