import collections
import logging

import numpy as np
import pytest
import tensorflow as tf

from tests.data.fixtures import PAIRS, requires_real_data
from tf_transformer.data import make_dataset, pipeline
from tf_transformer.special_tokens import BOS_ID, EOS_ID, PAD_ID

TRAIN = PAIRS[:40]


def pair_dataset(pairs=TRAIN):
    return tf.data.Dataset.from_tensor_slices(([de for de, _ in pairs], [en for _, en in pairs]))


def tokenized(tokenizers, pairs=TRAIN):
    de, en = tokenizers
    sources = de.tokenize(tf.constant([p[0] for p in pairs])).to_list()
    targets = en.tokenize(tf.constant([p[1] for p in pairs])).to_list()
    return list(zip(sources, targets))


def unpadded(row):
    row = list(row)
    while row and row[-1] == PAD_ID:
        row.pop()
    return row


def epoch_pairs(dataset):
    """(source ids, target ids) of every pair in one epoch, padding removed."""
    pairs = []
    for (source, target_input), target_output in dataset.as_numpy_iterator():
        for s, ti, to in zip(source, target_input, target_output):
            pairs.append((tuple(unpadded(s)), tuple(unpadded(ti)) + (EOS_ID,)))
    return pairs


def test_batch_structure_shapes_and_dtypes(fixture_tokenizers):
    dataset = make_dataset(pair_dataset(), *fixture_tokenizers, batch_size=8)
    (source, target_input), target_output = next(iter(dataset))
    first = tokenized(fixture_tokenizers)[:8]
    longest_source = max(len(s) for s, _ in first)
    longest_target = max(len(t) for _, t in first) - 1
    assert {
        "source_ids": (tuple(source.shape), source.dtype),
        "target_input_ids": (tuple(target_input.shape), target_input.dtype),
        "target_output_ids": (tuple(target_output.shape), target_output.dtype),
    } == {
        "source_ids": ((8, longest_source), tf.int32),
        "target_input_ids": ((8, longest_target), tf.int32),
        "target_output_ids": ((8, longest_target), tf.int32),
    }


def test_rows_are_bos_y_and_y_eos_padded_with_zeros(fixture_tokenizers):
    dataset = make_dataset(pair_dataset(), *fixture_tokenizers, batch_size=8)
    expected = iter(tokenized(fixture_tokenizers))
    for (source, target_input), target_output in dataset.as_numpy_iterator():
        for s, ti, to in zip(source, target_input, target_output):
            source_ids, target_ids = next(expected)
            assert unpadded(s) == source_ids
            assert unpadded(ti) == target_ids[:-1] and ti[0] == BOS_ID
            assert unpadded(to) == target_ids[1:] and unpadded(to)[-1] == EOS_ID
            assert np.all(ti[len(target_ids) - 1 :] == PAD_ID)


@pytest.mark.parametrize("batching", [{"batch_size": 7}, {"max_tokens": 64, "max_length": 32}])
def test_one_epoch_yields_every_pair_exactly_once(fixture_tokenizers, batching):
    dataset = make_dataset(pair_dataset(), *fixture_tokenizers, shuffle=True, seed=3, **batching)
    expected = collections.Counter((tuple(s), tuple(t)) for s, t in tokenized(fixture_tokenizers))
    for _ in range(2):
        got = epoch_pairs(dataset)
        assert len(got) == len(TRAIN)
        assert collections.Counter(got) == expected


def test_token_budget_bounds_every_batch(fixture_tokenizers):
    max_tokens = 64
    dataset = make_dataset(
        pair_dataset(), *fixture_tokenizers, max_tokens=max_tokens, max_length=32
    )
    sizes = []
    for (source, target_input), _ in dataset.as_numpy_iterator():
        width = max(source.shape[1], target_input.shape[1])
        assert source.shape[0] * width <= max_tokens
        sizes.append(source.shape[0])
    assert max(sizes) > 1 and sum(sizes) == len(TRAIN)


def test_pairs_longer_than_max_length_are_dropped_and_counted(fixture_tokenizers, caplog):
    max_length = 18
    lengths = [max(len(s), len(t)) for s, t in tokenized(fixture_tokenizers)]
    too_long = sum(length > max_length for length in lengths)
    assert 0 < too_long < len(TRAIN)  # the fixture has both kinds
    with caplog.at_level(logging.WARNING, logger=pipeline.__name__):
        dataset = make_dataset(
            pair_dataset(), *fixture_tokenizers, batch_size=4, max_length=max_length
        )
    assert f"Dropped {too_long} of {len(TRAIN)} pairs longer than max_length=18" in caplog.text
    got = epoch_pairs(dataset)
    assert len(got) == len(TRAIN) - too_long
    assert all(len(s) <= max_length and len(t) <= max_length for s, t in got)


def test_shuffle_is_seeded_and_reshuffles_each_epoch(fixture_tokenizers):
    def first_epochs(seed):
        dataset = make_dataset(
            pair_dataset(), *fixture_tokenizers, batch_size=4, shuffle=True, seed=seed
        )
        return epoch_pairs(dataset), epoch_pairs(dataset)

    epoch1, epoch2 = first_epochs(seed=5)
    assert first_epochs(seed=5) == (epoch1, epoch2)
    assert first_epochs(seed=6)[0] != epoch1
    assert epoch2 != epoch1
    ordered = epoch_pairs(make_dataset(pair_dataset(), *fixture_tokenizers, batch_size=4))
    assert ordered == [(tuple(s), tuple(t)) for s, t in tokenized(fixture_tokenizers)]


def test_partial_batches_are_shuffled_into_the_epoch(fixture_tokenizers):
    # Bucketing flushes the partial batch of every bucket once the pairs run out;
    # unshuffled, an epoch would end with those few-pair batches sorted by length.
    max_tokens = 32
    dataset = make_dataset(pair_dataset(PAIRS * 5), *fixture_tokenizers, max_tokens=max_tokens,
                           max_length=max_tokens, shuffle=True, seed=2)
    partial = []
    for (source, target_input), _ in dataset.as_numpy_iterator():
        length = max(source.shape[1], target_input.shape[1] + 1)
        partial.append(source.shape[0] < max_tokens // length)
    assert 0 < sum(partial) < len(partial)
    assert partial != sorted(partial), "every partial batch comes after every full one"


class CountingTokenizer(tf.Module):
    """Counts calls to tokenize, to show that tokenized pairs are cached."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.calls = tf.Variable(0, dtype=tf.int64)

    def tokenize(self, strings):
        self.calls.assign_add(1)
        return self.inner.tokenize(strings)


def test_tokenization_runs_once_and_is_cached(fixture_tokenizers):
    de, en = (CountingTokenizer(t) for t in fixture_tokenizers)
    dataset = make_dataset(pair_dataset(), de, en, batch_size=8, shuffle=True, seed=1)
    for _ in range(3):
        epoch_pairs(dataset)
    # 40 pairs are one chunk: one call per language in the counting pass, none after.
    assert (int(de.calls), int(en.calls)) == (1, 1)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({}, "exactly one of batch_size and max_tokens"),
        ({"batch_size": 4, "max_tokens": 64}, "exactly one of batch_size and max_tokens"),
        ({"max_tokens": 16, "max_length": 32}, "max_tokens=16 is smaller than max_length=32"),
        ({"batch_size": 4, "max_length": 1}, "max_length must be >= 2"),
    ],
)
def test_invalid_arguments(fixture_tokenizers, kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_dataset(pair_dataset(), *fixture_tokenizers, **kwargs)


@requires_real_data
def test_real_train_bucketing_keeps_most_tokens_non_padding(real_builder, real_tokenizers):
    train = real_builder.as_dataset("train", as_supervised=True)
    dataset = make_dataset(train, *real_tokenizers, max_tokens=4096, shuffle=True, seed=0)

    def count(totals, batch):
        (source, target_input), _ = batch
        return totals + tf.stack(
            [
                tf.math.count_nonzero(source, dtype=tf.int32)
                + tf.math.count_nonzero(target_input, dtype=tf.int32),
                tf.size(source) + tf.size(target_input),
                tf.shape(source)[0],
            ]
        )

    tokens, slots, pairs = dataset.reduce(tf.zeros([3], tf.int32), count).numpy()
    print(f"padding efficiency {tokens / slots:.2%}, {tokens} non-pad tokens per epoch")
    assert pairs == 29_000
    assert tokens / slots >= 0.85
