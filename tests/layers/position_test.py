import numpy as np
import pytest

from tests.layers.harness import run_layer_test
from tf_transformer.layers import PositionalEmbedding, sinusoidal_table


def test_sinusoidal_golden_values():
    # d_model 4: rates 1 and 1/100; PE[p] = [sin p, cos p, sin p/100, cos p/100].
    expected = [
        [0.0, 1.0, 0.0, 1.0],
        [0.84147098, 0.54030231, 0.00999983, 0.99995],
        [0.90929743, -0.41614684, 0.01999867, 0.99980001],
    ]
    np.testing.assert_allclose(sinusoidal_table(3, 4), expected, atol=1e-6)


def test_embedding_is_scaled_table_plus_positions():
    layer = PositionalEmbedding(vocab_size=11, d_model=8, max_length=16)
    ids = np.array([[3, 7, 0, 5]])
    out = np.asarray(layer(ids))
    table = np.asarray(layer.embeddings)
    expected = table[ids] * np.sqrt(8) + sinusoidal_table(16, 8)[:4]
    np.testing.assert_allclose(out, expected, atol=1e-6)

    shifted = np.asarray(layer(ids[:, 2:], positions=np.array([2, 3])))
    np.testing.assert_allclose(shifted, out[:, 2:], atol=1e-6)
    # Beams: several tokens at one position (decoding K beams of one sentence).
    same = np.asarray(layer(ids[:, 1:], positions=np.array([1, 1, 1])))
    np.testing.assert_allclose(same[0, 2], table[5] * np.sqrt(8) + sinusoidal_table(16, 8)[1],
                               atol=1e-6)


def test_embedding_harness():
    ids = np.array([[3, 7, 0], [1, 2, 9]], dtype="int32")
    run_layer_test(PositionalEmbedding(11, 8, max_length=16, dropout=0.1), (ids,),
                   expected_shapes=[(2, 3, 8)])


def test_embedding_rejects_bad_sizes():
    with pytest.raises(ValueError, match="vocab_size=0"):
        PositionalEmbedding(vocab_size=0, d_model=8)
