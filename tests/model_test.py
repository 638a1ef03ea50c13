import dataclasses

import keras
import numpy as np
import pytest

from tf_transformer import PRESETS, Transformer, TransformerConfig
from tests.layers.harness import gradients
from tf_transformer.layers import Decoder, Encoder, PaddedLayout

SRC_VOCAB, TGT_VOCAB = 50, 40


def tiny(**overrides):
    return Transformer.from_preset("tiny", SRC_VOCAB, TGT_VOCAB, **overrides)


def batch(seed=0, batch_size=3, source=7, target=6):
    rng = np.random.default_rng(seed)
    src = rng.integers(4, SRC_VOCAB, (batch_size, source)).astype("int32")
    tgt = rng.integers(4, TGT_VOCAB, (batch_size, target)).astype("int32")
    src[0, 5:] = 0  # one padded source row
    tgt[1, 4:] = 0  # one padded target row
    return src, tgt


def logits(model, src, tgt):
    return np.asarray(model((src, tgt), training=False))


@pytest.mark.tf_backend_only
def test_seed_preset_parameter_count_equals_pytorch():
    model = Transformer.from_preset("seed", src_vocab_size=8000, tgt_vocab_size=6000)
    model((np.ones((1, 3), "int32"), np.ones((1, 3), "int32")))
    d, ff, layers = 256, 1024, 6
    attention = 4 * (d * d + d)  # q, k, v, out projections with biases
    feed_forward = (d * ff + ff) + (ff * d + d)
    norm = 2 * d
    encoder_layer = attention + feed_forward + 2 * norm  # 789,760
    decoder_layer = 2 * attention + feed_forward + 3 * norm  # 1,053,440
    embeddings = 8000 * d + 6000 * d  # sinusoidal positions have no weights
    generator = d * 6000 + 6000
    expected = layers * (encoder_layer + decoder_layer) + embeddings + generator
    assert expected == 16_185_200
    assert model.count_params() == expected


@pytest.mark.tf_backend_only
@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_qkv_init_scale_gives_pytorchs_stacked_xavier_bound(scale):
    """nn.MultiheadAttention draws query/key/value as one Xavier-uniform (3D, D)
    matrix, bound sqrt(6 / 4D); each output kernel, like ours, is Glorot's
    sqrt(6 / 2D). Scale 0.5 must give the former, 1 (the default) the latter."""
    d_model = 64
    model = tiny(d_model=d_model, qkv_init_scale=scale)
    model(batch())  # builds the weights
    qkv_bound = (6 * scale / (2 * d_model)) ** 0.5
    glorot_bound = (6 / (2 * d_model)) ** 0.5
    attentions = [layer for stack in (model.encoder, model.decoder) for block in stack.blocks
                  for layer in (block.self_attention, getattr(block, "cross_attention", None))
                  if layer is not None]
    assert len(attentions) == 6  # 2 encoder + 2 decoder self, 2 cross
    for attention in attentions:
        for dense, bound in ((attention.query_dense, qkv_bound), (attention.key_dense, qkv_bound),
                             (attention.value_dense, qkv_bound),
                             (attention.output_dense, glorot_bound)):
            kernel = np.asarray(dense.kernel)
            assert np.abs(kernel).max() <= bound
            assert kernel.std() == pytest.approx(bound / 3**0.5, rel=0.05)  # uniform


@pytest.mark.tf_backend_only
@pytest.mark.parametrize("linear_init", ["keras", "pytorch"])
def test_linear_init_pytorch_gives_nn_linears_output_kernel_and_biases(linear_init):
    """PyTorch's seed keeps nn.Linear's U(±1/√fan_in) for its generator's kernel and
    for the feed-forward and generator biases (nn.Transformer redraws only matrices);
    Keras's Dense has Glorot kernels and zero biases. The other weights do not change."""
    d_model, ff_dim, vocab = 64, 256, 500
    model = Transformer.from_preset("tiny", SRC_VOCAB, vocab, d_model=d_model, ff_dim=ff_dim,
                                    linear_init=linear_init)
    model(batch())  # builds the weights

    def assert_uniform(values, bound):
        values = np.asarray(values)
        assert np.abs(values).max() <= bound
        assert values.std() == pytest.approx(bound / 3**0.5, rel=0.1)

    output = model.output_projection
    glorot = (6 / (d_model + vocab)) ** 0.5
    blocks = model.encoder.blocks + model.decoder.blocks
    # Pooled over the 4 layers: 1,024 hidden and 256 projection biases.
    hidden_biases = np.concatenate([block.feed_forward.hidden.bias for block in blocks])
    projection_biases = np.concatenate([block.feed_forward.projection.bias for block in blocks])
    if linear_init == "pytorch":
        assert_uniform(output.kernel, d_model**-0.5)
        assert_uniform(output.bias, d_model**-0.5)
        assert_uniform(hidden_biases, d_model**-0.5)
        assert_uniform(projection_biases, ff_dim**-0.5)
    else:
        assert_uniform(output.kernel, glorot)
        assert not np.any(output.bias)
        assert not np.any(hidden_biases) and not np.any(projection_biases)
    for block in blocks:  # attention biases stay zero, feed-forward kernels Glorot
        assert not np.any(block.self_attention.query_dense.bias)
        assert_uniform(block.feed_forward.hidden.kernel, (6 / (d_model + ff_dim)) ** 0.5)


def test_linear_init_rejects_unknown_names():
    with pytest.raises(ValueError, match="linear_init must be 'keras' or 'pytorch', got 'torch'"):
        tiny(linear_init="torch")


@pytest.mark.tf_backend_only
def test_tied_and_pre_norm_variants_parameter_counts():
    base = tiny()
    tied = tiny(tie_embeddings=True)
    pre_norm = tiny(norm_first=True)
    src, tgt = batch()
    for model in (base, tied, pre_norm):
        model((src, tgt))
    d = PRESETS["tiny"]["d_model"]
    assert base.count_params() - tied.count_params() == d * TGT_VOCAB + TGT_VOCAB
    assert pre_norm.count_params() - base.count_params() == 2 * 2 * d  # final norms


def test_causality():
    model = tiny()
    src, tgt = batch(1)
    reference = logits(model, src, tgt)
    for t in range(tgt.shape[1] - 1):
        changed = tgt.copy()
        changed[:, t + 1 :] = np.random.default_rng(t).integers(4, TGT_VOCAB, changed[:, t + 1 :].shape)
        out = logits(model, src, changed)
        np.testing.assert_allclose(out[:, : t + 1], reference[:, : t + 1], atol=1e-5)
        assert not np.allclose(out[:, t + 1 :], reference[:, t + 1 :], atol=1e-5)


def test_padding_invariance():
    model = tiny()
    src, tgt = batch(2)
    reference = logits(model, src, tgt)
    padded_src = np.pad(src, ((0, 0), (0, 4)))
    np.testing.assert_allclose(logits(model, padded_src, tgt), reference, atol=1e-5)
    padded_tgt = np.pad(tgt, ((0, 0), (0, 3)))
    np.testing.assert_allclose(
        logits(model, src, padded_tgt)[:, : tgt.shape[1]], reference, atol=1e-5
    )


@pytest.mark.parametrize("tie_embeddings", [False, True])
def test_cached_decoding_equals_teacher_forcing(tie_embeddings):
    model = tiny(tie_embeddings=tie_embeddings)
    src, tgt = batch(3)
    memory, _ = model.encode(src)
    full, _, _ = model.decode(tgt, memory, src)
    cache = model.init_cache(memory, src, max_length=10)
    for i in range(tgt.shape[1]):
        step, cache = model.decode_step(tgt[:, i : i + 1], cache, i)
        np.testing.assert_allclose(np.asarray(step), np.asarray(full)[:, i], atol=1e-5)


def test_beam_cache_reordered_at_random_equals_teacher_forcing_of_each_beam():
    # The K beams of a sentence share one cache row; after every step each beam
    # continues a random parent. Its logits must be those of the teacher-forced
    # decoder on the beam's own token history.
    model, beams, rng = tiny(), 3, np.random.default_rng(0)
    src, tgt = batch(5)
    logits(model, src, tgt)  # build
    memory, _ = model.encode(src)
    cache = model.init_cache(memory, src, max_length=8, beam_size=beams)
    # Each beam's history so far, PAD after it: one shape for every teacher-forced pass
    # (JAX compiles each new shape), and causal, so position i sees tokens 0..i only.
    steps = 6
    history = np.zeros((3, beams, steps), "int32")
    for i in range(steps):
        tokens = rng.integers(4, TGT_VOCAB, (3, beams, 1)).astype("int32")
        history[:, :, i:i + 1] = tokens
        step, cache = model.decode_step(tokens.reshape(-1, 1), cache, i)
        full, _, _ = model.decode(
            history.reshape(3 * beams, -1),
            np.repeat(np.asarray(memory), beams, axis=0), np.repeat(src, beams, axis=0),
        )
        np.testing.assert_allclose(np.asarray(step), np.asarray(full)[:, i], atol=1e-5)
        parents = rng.integers(0, beams, (3, beams)).astype("int32")
        cache = model.reorder_cache(cache, parents)
        history = np.take_along_axis(history, parents[:, :, None], axis=1)


def test_attention_weights_have_documented_shapes():
    model = tiny()
    src, tgt = batch(4)
    memory, encoder_weights = model.encode(src)
    _, self_weights, cross_weights = model.decode(tgt, memory, src)
    heads, layers = PRESETS["tiny"]["num_heads"], PRESETS["tiny"]["num_encoder_layers"]
    assert [w.shape for w in encoder_weights] == [(3, heads, 7, 7)] * layers
    assert [w.shape for w in self_weights] == [(3, heads, 6, 6)] * layers
    assert [w.shape for w in cross_weights] == [(3, heads, 6, 7)] * layers
    assert np.asarray(cross_weights[0])[0, :, :, 5:].max() < 1e-6  # padded source


@pytest.mark.tf_backend_only  # on JAX, the tie_all_embeddings test saves and loads a model
def test_config_and_keras_round_trips(tmp_path):
    model = tiny(tie_embeddings=True)
    src, tgt = batch(5)
    reference = logits(model, src, tgt)
    config = model.get_config()
    assert config == dataclasses.asdict(model.config)
    clone = Transformer.from_config(config)
    clone((src, tgt))
    clone.set_weights(model.get_weights())
    np.testing.assert_array_equal(logits(clone, src, tgt), reference)

    path = tmp_path / "model.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    assert restored.config == model.config
    np.testing.assert_array_equal(logits(restored, src, tgt), reference)


def test_fit_reduces_loss():
    model = tiny(dropout=0.0, num_encoder_layers=1, num_decoder_layers=1)  # half the tracing
    src, tgt = batch(6, batch_size=8)
    target_out = np.roll(tgt, -1, axis=1)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    history = model.fit((src, tgt), target_out, epochs=5, batch_size=8, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.8 * losses[0]


@pytest.mark.tf_backend_only
def test_stack_config_round_trip():
    for layer in (Encoder(2, 30, 16, 4, 32), Decoder(2, 30, 16, 4, 32, norm_first=True,
                                                      linear_init="pytorch")):
        assert type(layer).from_config(layer.get_config()).get_config() == layer.get_config()


@pytest.mark.tf_backend_only
def test_bad_presets_and_configs_raise_clear_errors():
    with pytest.raises(ValueError, match="Unknown preset 'huge'.*'seed'"):
        Transformer.from_preset("huge", 10, 10)
    with pytest.raises(ValueError, match=r"\['d_modle'\]"):
        Transformer.from_preset("tiny", 10, 10, d_modle=8)
    with pytest.raises(ValueError, match="d_model=30 and num_heads=4"):
        TransformerConfig(10, 10, d_model=30, num_heads=4)
    with pytest.raises(ValueError, match="tgt_vocab_size must be positive"):
        TransformerConfig(10, 0)
    model = tiny()
    memory, _ = model.encode(np.ones((1, 3), "int32"))
    with pytest.raises(ValueError, match="max_length=200"):
        model.init_cache(memory, np.ones((1, 3), "int32"), max_length=200)


def padded_and_packed(multiple, **overrides):
    """Two models with the same weights, without and with padding removal."""
    model, packed = tiny(**overrides), tiny(remove_padding=True, packing_multiple=multiple,
                                             **overrides)
    src, tgt = batch(7)
    for m in (model, packed):
        m((src, tgt))
    packed.set_weights(model.get_weights())
    return model, packed


# Multiple 1 packs the real tokens alone; 64 (the default) here packs every
# position of these small batches, padding included.
# Only TensorFlow trains with the packed model (training/packed_step.py), so these and
# the gradient test below run on TensorFlow; on JAX, layouts_test covers the packed layouts.
@pytest.mark.tf_backend_only
@pytest.mark.parametrize("multiple", [1, 64])
@pytest.mark.parametrize("overrides", [{}, dict(norm_first=True, tie_embeddings=True)])
def test_remove_padding_changes_no_logits(overrides, multiple):
    model, packed = padded_and_packed(multiple, **overrides)
    src, tgt = batch(7)
    reference, out = logits(model, src, tgt), logits(packed, src, tgt)
    real = tgt != 0
    np.testing.assert_allclose(out[real], reference[real], atol=1e-5)
    assert packed.get_config()["remove_padding"] and packed.get_config()["packing_multiple"] == multiple
    # The public call has one contract, in training too: (B, T, V).
    assert tuple(packed((src, tgt), training=True).shape) == reference.shape


@pytest.mark.tf_backend_only
@pytest.mark.parametrize("multiple", [1, 4])
def test_packed_logits_give_the_gradients_of_the_padded_model(multiple):
    model, packed = padded_and_packed(multiple, dropout=0.0)
    src, tgt = batch(8)
    labels = np.roll(tgt, -1, axis=1)
    real = ((tgt != 0) & (labels != 0)).astype("float32")  # the loss's tokens

    def padded_loss():
        losses = keras.losses.sparse_categorical_crossentropy(
            labels, model((src, tgt), training=True), from_logits=True)
        return keras.ops.sum(losses * real)

    def packed_loss():
        logits, packing = packed.packed_logits((src, tgt), training=True)
        losses = keras.losses.sparse_categorical_crossentropy(
            packing.select(labels), logits, from_logits=True)
        return keras.ops.sum(losses * packing.select(real))

    value, reference = gradients(padded_loss, [], model.trainable_variables)
    packed_value, grads = gradients(packed_loss, [], packed.trainable_variables)
    np.testing.assert_allclose(packed_value, value, rtol=1e-5)
    assert len(reference) == len(model.trainable_variables)
    for variable, a, b in zip(model.trainable_variables, reference, grads):
        np.testing.assert_allclose(b, a, atol=1e-5, rtol=1e-4, err_msg=variable.path)


def test_fast_layouts_equal_the_reference_path_through_the_model():
    model = tiny()
    src, tgt = batch(9)
    memory, _ = model.encode(src)  # FusedLayout
    fast, _, _ = model.decode(tgt, memory, src)
    reference_memory, _ = model.encode(src, layout=PaddedLayout())
    reference, _, _ = model.decode(tgt, reference_memory, src, layout=PaddedLayout())
    np.testing.assert_allclose(np.asarray(fast), np.asarray(reference), atol=1e-5)


def test_tie_all_embeddings_shares_one_table_and_round_trips(tmp_path):
    vocab = 50
    shared = Transformer.from_preset("tiny", vocab, vocab, tie_all_embeddings=True)
    tied = Transformer.from_preset("tiny", vocab, vocab, tie_embeddings=True)
    src, tgt = batch(4)
    src, tgt = np.minimum(src, vocab - 1), np.minimum(tgt, vocab - 1)
    reference = logits(shared, src, tgt)
    tied((src, tgt))
    assert shared.encoder.embedding.embeddings is shared.decoder.embedding.embeddings
    assert tied.count_params() - shared.count_params() == vocab * PRESETS["tiny"]["d_model"]
    path = tmp_path / "shared.keras"
    shared.save(path)
    restored = keras.saving.load_model(path)
    assert restored.encoder.embedding.embeddings is restored.decoder.embedding.embeddings
    np.testing.assert_array_equal(logits(restored, src, tgt), reference)
    with pytest.raises(ValueError, match="tie_all_embeddings needs one vocabulary"):
        Transformer.from_preset("tiny", vocab, vocab + 1, tie_all_embeddings=True)
