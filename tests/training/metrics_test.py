import numpy as np

from tf_transformer.training.metrics import MaskedAccuracy, Perplexity


def test_accuracy_counts_only_real_tokens_over_batches():
    logits = np.eye(4, dtype="float32")[[[1, 2, 3], [1, 1, 0]]]  # predicts 1 2 3 / 1 1 0
    metric = MaskedAccuracy()
    metric.update_state(np.array([[1, 2, 0], [1, 3, 0]]), logits)  # 3 of 4 right
    metric.update_state(np.array([[2, 0, 0], [0, 0, 0]]), logits)  # 0 of 1 right
    np.testing.assert_allclose(float(metric.result()), 3 / 5, rtol=1e-6)
    metric.reset_state()
    assert float(metric.result()) == 0.0


def test_perplexity_is_exp_of_token_mean_nll():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 3, 7)).astype("float32")
    labels = np.array([[1, 2, 0], [4, 0, 0]])
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    nll = -np.take_along_axis(log_probs, labels[..., None], -1)[..., 0]
    expected = np.exp(nll[labels != 0].mean())
    metric = Perplexity()
    metric.update_state(labels, logits)
    np.testing.assert_allclose(float(metric.result()), expected, rtol=1e-5)


def test_uniform_prediction_has_perplexity_equal_to_vocab_size():
    metric = Perplexity()
    metric.update_state(np.array([[1, 5, 0]]), np.zeros((1, 3, 9), "float32"))
    np.testing.assert_allclose(float(metric.result()), 9.0, rtol=1e-5)
