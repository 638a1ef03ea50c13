"""Ensembles of tiny random Transformers: the mean of the members' probabilities (or their
normalized geometric mean), through teacher forcing, cached steps and both searches."""
import numpy as np
import pytest
import tensorflow as tf

from tf_transformer.decoding.generate import translate_ids
from tf_transformer.ensemble import MODES, Ensemble
from tf_transformer.model import Transformer
from tf_transformer.special_tokens import BOS_ID, EOS_ID
from tf_transformer.training.config import ENSEMBLE_MODES

SOURCE = np.array([[BOS_ID, 5, 9, 7, 11, 6, EOS_ID],
                   [BOS_ID, 8, EOS_ID, 0, 0, 0, 0],
                   [BOS_ID, 4, 4, 12, EOS_ID, 0, 0]], np.int32)
TARGET = np.array([[BOS_ID, 4, 5, 6, 7, 8], [BOS_ID, 9, 10, 3, 0, 0],
                   [BOS_ID, 12, 4, 4, 4, 13]], np.int32)


def _member(seed, **overrides):
    tf.keras.utils.set_random_seed(seed)
    model = Transformer.from_preset("tiny", src_vocab_size=16, tgt_vocab_size=14,
                                    max_length=24, **overrides)
    model((SOURCE, TARGET))
    # Ends hypotheses at different steps (as in generate_test).
    model.output_projection.bias.assign(tf.one_hot(EOS_ID, 14) * (1.0 + seed))
    return model


def _softmax(logits):
    """Probabilities in float64, straight from the definition (the reference)."""
    e = np.exp(logits.astype(np.float64) - logits.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@pytest.fixture(scope="module")
def members():
    # Different sizes too: members share vocabularies and positions, nothing else.
    return _member(0), _member(1, num_decoder_layers=1, ff_dim=48)


def test_teacher_forced_ensemble_is_the_mean_of_the_members_probabilities(members):
    ensemble = Ensemble(members)
    memory, _ = ensemble.encode(SOURCE, training=False)
    log_probs, _, cross = ensemble.decode(TARGET, memory, SOURCE, training=False)
    logits = [m.decode(TARGET, m.encode(SOURCE)[0], SOURCE)[0].numpy() for m in members]
    expected = np.log(np.mean([_softmax(z) for z in logits], axis=0))
    np.testing.assert_allclose(log_probs.numpy(), expected, atol=1e-5)
    np.testing.assert_allclose(np.exp(log_probs.numpy()).sum(-1), 1.0, atol=1e-5)
    # The attention weights shown are the first member's.
    first = members[0].decode(TARGET, memory[0], SOURCE, training=False)[2]
    np.testing.assert_allclose(cross[0].numpy(), first[0].numpy(), atol=1e-6)


def test_log_linear_ensemble_is_the_normalized_geometric_mean(members):
    ensemble = Ensemble(members, mode="log_linear")
    memory, _ = ensemble.encode(SOURCE, training=False)
    log_probs, _, _ = ensemble.decode(TARGET, memory, SOURCE, training=False)
    logits = [m.decode(TARGET, m.encode(SOURCE)[0], SOURCE)[0].numpy() for m in members]
    geometric = np.prod([_softmax(z) for z in logits], axis=0) ** (1 / len(members))
    expected = np.log(geometric / geometric.sum(-1, keepdims=True))
    np.testing.assert_allclose(log_probs.numpy(), expected, atol=1e-5)
    # Not the linear mode's distribution: the modes differ on these members.
    linear, _, _ = Ensemble(members).decode(TARGET, memory, SOURCE, training=False)
    assert np.abs(linear.numpy() - expected).max() > 1e-3


@pytest.mark.parametrize("mode", ["linear", "log_linear"])
def test_cached_steps_give_the_teacher_forced_ensemble_at_every_position(members, mode):
    ensemble = Ensemble(members, mode)
    memory, _ = ensemble.encode(SOURCE, training=False)
    full, _, _ = ensemble.decode(TARGET, memory, SOURCE, training=False)
    cache = ensemble.init_cache(memory, SOURCE, 8)
    for index in range(TARGET.shape[1]):
        log_probs, cache = ensemble.decode_step(TARGET[:, index:index + 1], cache,
                                                tf.constant(index))
        rows = [0, 2] if index >= 4 else [0, 1, 2]  # row 1 is padding from position 4
        np.testing.assert_allclose(log_probs.numpy()[rows], full.numpy()[rows, index],
                                   atol=1e-4)


def test_cached_ensemble_search_equals_uncached_search(members):
    # Beam search: the uncached step repeats every member's memory for the beams.
    ensemble = Ensemble(members)
    cached = translate_ids(ensemble, SOURCE, beam_size=3, alpha=0.6)
    uncached = translate_ids(ensemble, SOURCE, beam_size=3, alpha=0.6, use_cache=False)
    np.testing.assert_array_equal(cached.ids, uncached.ids)
    np.testing.assert_allclose(cached.scores, uncached.scores, atol=1e-4)


@pytest.mark.parametrize("mode", ["linear", "log_linear"])
def test_an_ensemble_of_copies_of_one_model_searches_as_that_model(members, mode):
    model = members[0]
    alone = translate_ids(model, SOURCE, beam_size=3, alpha=0.6)
    together = translate_ids(Ensemble([model, model], mode), SOURCE, beam_size=3, alpha=0.6)
    np.testing.assert_array_equal(together.ids, alone.ids)
    np.testing.assert_array_equal(together.lengths, alone.lengths)
    np.testing.assert_allclose(together.scores, alone.scores, atol=1e-5)


def test_members_must_share_vocabularies_and_positions(members):
    other = Transformer.from_preset("tiny", src_vocab_size=16, tgt_vocab_size=15,
                                    max_length=24)
    with pytest.raises(ValueError, match="share tgt_vocab_size: member 1 has 14, member 2 15"):
        Ensemble([members[0], other])
    with pytest.raises(ValueError, match="at least one member"):
        Ensemble([])
    with pytest.raises(ValueError, match="Unknown ensemble mode 'log'"):
        Ensemble(members, mode="log")
    # The modes a config and the CLIs accept are the ones an Ensemble has.
    assert sorted(MODES) == sorted(ENSEMBLE_MODES)


def test_counts_the_parameters_of_every_member(members):
    sizes = [sum(int(np.prod(v.shape)) for v in member.weights) for member in members]
    assert sizes[0] != sizes[1]
    assert Ensemble(members).count_params() == sum(sizes)
