import collections

from tf_transformer.data.corpus import reservoir_sample


def test_reservoir_sample_keeps_everything_in_order_when_it_fits():
    assert reservoir_sample(iter(range(5)), 5) == [0, 1, 2, 3, 4]
    assert reservoir_sample(iter(range(3)), 10) == [0, 1, 2]


def test_reservoir_sample_is_uniform_and_seeded():
    # Every item of 20 lands in a sample of 5 with probability 1/4: over 4,000 seeds
    # each count is 1,000 +- 4 standard deviations (sqrt(4000 * 1/4 * 3/4) = 27).
    counts = collections.Counter()
    for seed in range(4000):
        sample = reservoir_sample(iter(range(20)), 5, seed)
        assert len(sample) == len(set(sample)) == 5
        counts.update(sample)
    assert all(abs(counts[i] - 1000) < 4 * 27.4 for i in range(20)), counts
    assert reservoir_sample(range(100), 5, seed=3) == reservoir_sample(range(100), 5, seed=3)
