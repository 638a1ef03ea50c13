"""The shipped model's versions, saved_models/multi30k_de_en/1, 2, ..., as TF Serving would
load them: a fresh process with only TensorFlow and TF Text, every op available, sensible
translations."""

import os

import pytest

from tests.export.conftest import decode_strings, run_reload_check
from tf_transformer import artifacts
from tf_transformer.demo import SERVABLE
from tf_transformer.export.versions import existing_versions

# Every version in the checkout: TF Serving serves the highest, and a client may pin any.
VERSIONS = sorted(existing_versions(artifacts.CHECKOUT_SHIPPED_MODEL).values(), key=int)

# Sentences not in Multi30k, each with words its translation must contain.
CHECKS = [
    ("Ein schwarzer Hund rennt durch den Schnee.", ("dog", "snow")),
    ("Zwei Frauen sitzen auf einer Bank im Park.", ("two", "women", "bench")),
    ("Ein kleines Mädchen isst einen Apfel.", ("girl", "apple")),
]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not VERSIONS, reason="no shipped model in saved_models/"),
]


@pytest.fixture(scope="module", params=VERSIONS)
def version_dir(request):
    return os.path.join(artifacts.CHECKOUT_SHIPPED_MODEL, request.param)


@pytest.fixture(scope="module")
def report(version_dir, tmp_path_factory):
    sentences = [sentence for sentence, _ in CHECKS]
    batches = {"beam": ("serving_default", sentences), "greedy": ("translate_greedy", sentences)}
    # The server's loader only: serving_test checks that tf.saved_model.load gives the
    # same outputs (on a small export), which here would load the model a second time.
    return run_reload_check(version_dir, batches, tmp_path_factory.mktemp("shipped"),
                            session_only=True)


def test_loads_with_only_tensorflow_and_tf_text(report):
    assert report["project_modules"] == []
    assert set(report["graph_ops"]) <= set(report["core_ops"]) | set(report["text_ops"])
    assert report["ops_without_cpu_kernel"] == []
    assert set(report["signatures"]) == {"serving_default", "translate_greedy", "tokenize"}


@pytest.mark.parametrize("label", ["beam", "greedy"])
def test_translates_unseen_sentences(report, label):
    translations = [t.decode("utf-8").lower()
                    for t in decode_strings(report["outputs"][label]["translations"])]
    assert report["errors"] == {} and len(translations) == len(CHECKS)
    for (sentence, words), translation in zip(CHECKS, translations):
        missing = [w for w in words if w not in translation]
        assert not missing, f"{sentence!r} -> {translation!r} lacks {missing}"


# The search each version's serving_default runs (the model card): beam, alpha, and how an
# ensemble's members combine.
SEARCHES = {"1": (4, 1.0, "linear"), "2": (4, 1.0, "linear"), "3": (8, 1.2, "log_linear")}


def test_records_the_search_it_serves_and_the_weights_it_holds(version_dir):
    config = artifacts.load_export_config(version_dir)
    decoding = config.decoding
    assert (decoding.beam_size, decoding.alpha, decoding.ensemble_mode) == \
        SEARCHES[os.path.basename(version_dir)]
    # The weights average 5 epochs.
    assert (config.callbacks.final_weights, config.callbacks.average_last) == ("average", 5)


def test_the_default_model_is_the_highest_version_and_the_demos():
    highest = os.path.join(artifacts.CHECKOUT_SHIPPED_MODEL, VERSIONS[-1])
    assert artifacts.locate(None) == artifacts.ModelLocation("export", highest)
    assert SERVABLE == highest
