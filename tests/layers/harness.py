"""A small layer-test harness (after keras-hub's `run_layer_test`)."""

import json

import keras
import numpy as np


def run_layer_test(layer, call_args, call_kwargs=None, expected_shapes=None):
    """Checks a built-by-call layer: shapes, config and weight round trips,
    a symbolic call, and determinism with training=False.

    Args:
        layer: a fresh layer instance.
        call_args: tuple of NumPy arrays (positional tensor inputs).
        call_kwargs: dict of non-tensor or keyword arguments.
        expected_shapes: list of output shapes, in `keras.tree.flatten` order.

    Returns:
        The eager outputs (as NumPy, same structure).
    """
    call_kwargs = dict(call_kwargs or {})
    outputs = keras.tree.map_structure(
        np.asarray, layer(*call_args, training=False, **call_kwargs)
    )
    if expected_shapes is not None:
        shapes = [tuple(x.shape) for x in keras.tree.flatten(outputs)]
        assert shapes == [tuple(s) for s in expected_shapes], shapes

    # Config round trip: JSON-equal config, same weights -> same outputs.
    config = layer.get_config()
    clone = layer.__class__.from_config(config)
    assert json.dumps(clone.get_config(), sort_keys=True) == json.dumps(
        config, sort_keys=True
    )
    clone(*call_args, training=False, **call_kwargs)
    assert len(clone.weights) == len(layer.weights)
    clone.set_weights(layer.get_weights())
    cloned = keras.tree.map_structure(
        np.asarray, clone(*call_args, training=False, **call_kwargs)
    )
    for a, b in zip(keras.tree.flatten(outputs), keras.tree.flatten(cloned)):
        np.testing.assert_allclose(a, b, atol=1e-6, rtol=1e-6)

    # Serialization through Keras' registry (the `.keras` format path).
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(layer)
    )
    assert type(restored) is type(layer)

    # Symbolic call with unknown batch size.
    symbolic_inputs = [
        keras.Input(batch_shape=(None, *a.shape[1:]), dtype=str(a.dtype))
        for a in call_args
    ]
    symbolic = layer(*symbolic_inputs, **call_kwargs)
    for out, sym in zip(keras.tree.flatten(outputs), keras.tree.flatten(symbolic)):
        assert tuple(sym.shape[1:]) == out.shape[1:]
    return outputs


def gradients(loss, inputs, variables=()):
    """`loss(*inputs)` and its gradients on the current backend, as NumPy.

    Args:
        loss: function of the `inputs` tensors returning a scalar; it may read
            `variables` (Keras variables, e.g. a layer's trainable weights).
        inputs: list of float NumPy arrays.
        variables: Keras variables to differentiate too.

    Returns:
        `(value, [d/d input for inputs] + [d/d variable for variables])`.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        inputs = [tf.convert_to_tensor(x) for x in inputs]
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            value = loss(*inputs)
        sources = [*inputs, *[v.value for v in variables]]
        grads = tape.gradient(value, sources, unconnected_gradients="zero")
        return float(value), [np.asarray(tf.convert_to_tensor(g)) for g in grads]
    if backend == "jax":
        import jax

        def function(input_values, variable_values):
            # Variables read the traced values inside the scope, so jax.grad sees them.
            with keras.StatelessScope(state_mapping=list(zip(variables, variable_values))):
                return loss(*input_values)

        value, grads = jax.value_and_grad(function, argnums=(0, 1))(
            [jax.numpy.asarray(x) for x in inputs], [v.value for v in variables])
        return float(value), [np.asarray(g) for g in (*grads[0], *grads[1])]
    raise NotImplementedError(f"gradients on the {backend} backend")
