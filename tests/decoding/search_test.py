"""Greedy and beam search against fake-logit step functions and pure-Python oracles."""
import itertools

import numpy as np
import pytest
import tensorflow as tf

from tf_transformer.decoding.search import (
    NEG_INF, beam_search, greedy_search, length_penalty, max_lengths_for_source,
    reorder_rows)
from tf_transformer.special_tokens import BOS_ID, EOS_ID, PAD_ID


def scripted_model(rows):
    """Row b emits rows[b][index] (then EOS) with log-prob ~0, any other token costs 30.

    The cache carries the row number, so beam reordering must keep it aligned.
    """
    width = max(len(r) for r in rows) + 8
    table = np.full((len(rows), width), EOS_ID, np.int32)
    for b, row in enumerate(rows):
        table[b, :len(row)] = row
    table = tf.constant(table)
    calls = tf.Variable(0)

    def next_fn(tokens, cache, index):
        calls.assign_add(1)
        targets = tf.gather(table[:, index], cache["row"])
        return tf.one_hot(targets, 10) * 30.0, cache

    return next_fn, {"row": tf.range(len(rows))}, calls


class HashModel:
    """Logits are a fixed function of a hash of the whole prefix, kept in the cache.

    A wrong cache gather (beam reordering) changes the hash and hence the logits, and
    `log_probs(row, prefix)` recomputes the same distribution in NumPy for the oracles.
    """

    def __init__(self, vocab_size, seed=0, buckets=97):
        self.buckets = buckets
        self.table = np.random.default_rng(seed).normal(0, 2, (buckets, vocab_size))

    def initial_cache(self, batch_size):
        # "row" is constant, like a model's cross-attention keys/values.
        return {"hash": tf.range(batch_size) * 13, "row": tf.range(batch_size)[:, None],
                "nested": {"steps": tf.zeros([batch_size, 2, 3])}}

    def _update(self, h, token):
        return (h * 31 + token + 1) % self.buckets

    def next_fn(self, tokens, cache, index):
        h = self._update(cache["hash"], tokens[:, 0])
        logits = tf.gather(tf.constant(self.table, tf.float32), h)
        logits += tf.one_hot(cache["row"][:, 0] % logits.shape[-1], logits.shape[-1])
        return logits, {**cache, "hash": h,
                        "nested": {"steps": cache["nested"]["steps"] + 1.0}}

    def log_probs(self, row, prefix):
        h = row * 13
        for token in (BOS_ID,) + tuple(prefix):
            h = self._update(h, token)
        logits = self.table[h] + np.eye(len(self.table[h]))[row % len(self.table[h])]
        return logits - np.log(np.sum(np.exp(logits - logits.max()))) - logits.max()


def hypotheses(result, row):
    """[(ids tuple, score)] of one beam-search row, empty slots dropped."""
    ids, lengths, scores = (x.numpy()[row] for x in result)
    return [(tuple(ids[k, :lengths[k]]), scores[k]) for k in range(len(scores))
            if scores[k] > NEG_INF / 2]


def reference_beam_search(model, row, beam_size, alpha, limit):
    """List-based beam search with the rules documented in `beam_search`."""
    penalty = lambda n: ((5.0 + n) / 6.0) ** alpha
    alive, finished = [((), 0.0)], []
    for i in range(limit):
        candidates = sorted(
            ((prefix + (t,), lp + step_lp) for prefix, lp in alive
             for t, step_lp in enumerate(model.log_probs(row, prefix))),
            key=lambda c: -c[1])[:2 * beam_size]
        ends = [seq[-1] == EOS_ID or i + 1 == limit for seq, _ in candidates]
        finished += [(seq, lp / penalty(i + 1)) for rank, ((seq, lp), end)
                     in enumerate(zip(candidates, ends)) if end and rank < beam_size]
        finished = sorted(finished, key=lambda f: -f[1])[:beam_size]
        alive = [c for c, end in zip(candidates, ends) if not end][:beam_size]
        if not alive or (len(finished) == beam_size
                         and finished[-1][1] >= alive[0][1] / penalty(limit)):
            break
    return finished


def test_greedy_exact_ids_eos_and_truncation():
    next_fn, cache, calls = scripted_model([[4, 5, 6, EOS_ID], [7, EOS_ID], [8] * 9])
    result = greedy_search(next_fn, cache, batch_size=3, max_length=5)
    np.testing.assert_array_equal(
        result.ids, [[4, 5, 6, EOS_ID, PAD_ID], [7, EOS_ID, 0, 0, 0], [8, 8, 8, 8, 8]])
    np.testing.assert_array_equal(result.lengths, [4, 2, 5])
    np.testing.assert_allclose(result.scores, [0, 0, 0], atol=1e-9)
    assert int(calls.numpy()) == 5


def test_greedy_stops_when_every_row_has_ended_and_per_row_limits():
    next_fn, cache, calls = scripted_model([[4, 5, 6, EOS_ID], [7, EOS_ID], [8] * 9])
    result = greedy_search(next_fn, cache, 3, max_length=20, max_lengths=tf.constant([2, 9, 3]))
    np.testing.assert_array_equal(result.ids[:, :5], [[4, 5, 0, 0, 0], [7, EOS_ID, 0, 0, 0],
                                                       [8, 8, 8, 0, 0]])
    np.testing.assert_array_equal(result.ids[:, 5:], np.zeros((3, 15)))
    np.testing.assert_array_equal(result.lengths, [2, 2, 3])
    assert int(calls.numpy()) == 3  # not 20: the loop ends with the last row


def test_greedy_scores_are_log_prob_sums():
    model = HashModel(vocab_size=9)
    result = greedy_search(model.next_fn, model.initial_cache(4), 4, max_length=6)
    for row in range(4):
        ids = tuple(result.ids[row, :result.lengths[row]].numpy())
        expected = sum(model.log_probs(row, ids[:i])[t] for i, t in enumerate(ids))
        assert ids[-1] == EOS_ID or len(ids) == 6
        assert ids == tuple(int(np.argmax(model.log_probs(row, ids[:i])))
                            for i in range(len(ids)))
        np.testing.assert_allclose(result.scores[row], expected, rtol=1e-5)


def test_beam_size_1_equals_greedy_without_length_penalty():
    model = HashModel(vocab_size=9, seed=1)
    greedy = greedy_search(model.next_fn, model.initial_cache(5), 5, max_length=7)
    beam = beam_search(model.next_fn, model.initial_cache(5), 5, 7, beam_size=1, alpha=0.0)
    np.testing.assert_array_equal(beam.ids[:, 0], greedy.ids)
    np.testing.assert_array_equal(beam.lengths[:, 0], greedy.lengths)
    np.testing.assert_allclose(beam.scores[:, 0], greedy.scores, rtol=1e-5)


@pytest.mark.parametrize("alpha", [0.0, 0.6, 2.0])
def test_beam_matches_reference_with_per_row_limits(alpha):
    model, limits = HashModel(vocab_size=8, seed=2), [7, 3, 5, 7]
    result = beam_search(model.next_fn, model.initial_cache(4), 4, 7, beam_size=3,
                         alpha=alpha, max_lengths=tf.constant(limits))
    # A cache laid out for the beams by its owner, whose hook leaves "row" in place.
    tiled = tf.nest.map_structure(lambda x: tf.repeat(x, 3, axis=0), model.initial_cache(4))
    own = beam_search(model.next_fn, tiled, 4, 7, beam_size=3, alpha=alpha,
                      max_lengths=tf.constant(limits),
                      reorder_cache=lambda cache, parents: {
                          **reorder_rows({k: v for k, v in cache.items() if k != "row"},
                                         parents),
                          "row": cache["row"]})
    for got, want in zip(own, result):
        np.testing.assert_array_equal(got, want)
    for row, limit in enumerate(limits):
        got = hypotheses(result, row)
        want = reference_beam_search(model, row, 3, alpha, limit)
        assert [ids for ids, _ in got] == [ids for ids, _ in want]
        np.testing.assert_allclose([s for _, s in got], [s for _, s in want], rtol=1e-5)
        scores = result.scores[row].numpy()
        assert np.all(np.diff(scores) <= 0), "n-best must be sorted best first"
        assert len(set(ids for ids, _ in got)) == 3, "n-best must be distinct"
        for ids, _ in got:
            assert ids[-1] == EOS_ID or len(ids) == limit
            assert EOS_ID not in ids[:-1]
    after_end = np.arange(7)[None, None] >= result.lengths.numpy()[..., None]
    np.testing.assert_array_equal(result.ids.numpy()[after_end], PAD_ID)


def test_beam_as_wide_as_the_search_space_finds_the_exact_n_best():
    # V=4, limit 3: at most 9 alive prefixes and 36 endings per step, so a beam of 36
    # keeps every hypothesis and must return the brute-force 36 best.
    model, alpha, limit, k = HashModel(vocab_size=4, seed=3), 0.6, 3, 36
    result = beam_search(model.next_fn, model.initial_cache(2), 2, limit, beam_size=k,
                         alpha=alpha)
    for row in range(2):
        every = []
        for length in range(1, limit + 1):
            for seq in itertools.product(range(4), repeat=length):
                if EOS_ID in seq[:-1] or (seq[-1] != EOS_ID and length < limit):
                    continue
                lp = sum(model.log_probs(row, seq[:i])[t] for i, t in enumerate(seq))
                every.append((seq, lp / length_penalty(length, alpha).numpy()))
        every.sort(key=lambda h: -h[1])
        got = hypotheses(result, row)
        assert [ids for ids, _ in got] == [ids for ids, _ in every[:k]]
        np.testing.assert_allclose([s for _, s in got], [s for _, s in every[:k]], rtol=1e-5)


def test_beam_search_stops_early_once_no_alive_beam_can_win():
    next_fn, cache, calls = scripted_model([[4, 5, EOS_ID], [EOS_ID]])
    result = beam_search(next_fn, cache, 2, max_length=30, beam_size=2, alpha=0.0)
    np.testing.assert_array_equal(result.ids[:, 0, :3], [[4, 5, EOS_ID], [EOS_ID, 0, 0]])
    np.testing.assert_allclose(result.scores, [[0, -30], [0, -30]], atol=1e-4)
    # Row 0 finds its second ending, [4, 5, 0, EOS] at -30, on step 4; then every alive
    # beam is at -60 or worse and can no longer win: 4 of the 30 steps run.
    assert int(calls.numpy()) == 4


def test_max_lengths_for_source():
    source = tf.constant([[2, 5, 6, 7, 3], [2, 5, 3, 0, 0]])
    limits, buffer = max_lengths_for_source(source, ratio=1.5, offset=2, cap=9)
    np.testing.assert_array_equal(limits, [9, 7])  # min(9, 8 + 2), ceil(4.5) + 2
    assert int(buffer) == 9


def test_searches_compile_with_xla_and_match_eager():
    model = HashModel(vocab_size=9, seed=4)
    source = tf.constant([[2, 5, 6, 3], [2, 3, 0, 0], [2, 4, 4, 3]])

    def run(source_ids):
        limits, buffer = max_lengths_for_source(source_ids, ratio=1.0, offset=1, cap=16)
        batch = tf.shape(source_ids)[0]
        cache = model.initial_cache(batch)
        return (greedy_search(model.next_fn, cache, batch, buffer, limits),
                beam_search(model.next_fn, cache, batch, buffer, 3, 0.6, limits))

    compiled = tf.function(run, jit_compile=True)(source)
    for got, want in zip(tf.nest.flatten(compiled), tf.nest.flatten(run(source))):
        np.testing.assert_allclose(got, want, rtol=1e-5)

