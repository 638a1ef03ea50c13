import keras
import numpy as np
import pytest

from tests.layers.harness import gradients, run_layer_test
from tf_transformer.layers.normalization import LayerNormalization


def pair(**kwargs):
    """Ours and Keras's layer norm with the same random gamma and beta."""
    rng = np.random.default_rng(0)
    ours, reference = LayerNormalization(**kwargs), keras.layers.LayerNormalization(**kwargs)
    for layer in (ours, reference):
        layer.build((None, 5, 8))
    weights = [rng.normal(size=w.shape).astype("float32") for w in ours.get_weights()]
    for layer in (ours, reference):
        layer.set_weights(weights)
    return ours, reference


def test_config_round_trip_and_shapes():
    run_layer_test(LayerNormalization(epsilon=1e-5), (np.ones((2, 5, 8), "float32"),),
                   expected_shapes=[(2, 5, 8)])


@pytest.mark.parametrize("axis", [-1, 1])  # axis 1 falls back to Keras's code
def test_matches_keras(axis):
    x = np.random.default_rng(1).normal(size=(3, 5, 8)).astype("float32") * 3 + 1
    ours, reference = pair(axis=axis, epsilon=1e-5)
    np.testing.assert_allclose(np.asarray(ours(x)), np.asarray(reference(x)), atol=1e-5)


def test_gradients_match_keras_autodiff():
    rng = np.random.default_rng(2)
    x = (rng.normal(size=(3, 5, 8)) * 3 + 1).astype("float32")
    upstream = rng.normal(size=(3, 5, 8)).astype("float32")
    results = [
        gradients(lambda x: keras.ops.sum(layer(x) * upstream), [x], [layer.gamma, layer.beta])
        for layer in pair(epsilon=1e-5)
    ]
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-5)
    assert len(results[0][1]) == 3
    for ours, reference in zip(results[0][1], results[1][1]):
        np.testing.assert_allclose(ours, reference, atol=1e-5, rtol=1e-5)
