"""The export under TF Serving 2.20's runtime (TensorFlow 2.20 + TF Text 2.20, the venv
`make serving-compat` creates): it loads in a fresh process and translates exactly as
TensorFlow 2.21 does."""

import os

import pytest

from tests.export.serving_compat import BAD_INPUTS, INPUTS, check

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SERVING_PYTHON = os.path.join(ROOT, ".venv-serving", "bin", "python")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.exists(SERVING_PYTHON),
                       reason="no .venv-serving: `make serving-compat` creates it "
                              "(tensorflow 2.20 + tensorflow-text 2.20 from PyPI)"),
]


def test_the_export_translates_identically_under_tensorflow_2_20(exported, tmp_path):
    reference, serving, problems = check(exported.path, SERVING_PYTHON, tmp_path)
    assert problems == []
    assert serving["versions"]["tensorflow"].startswith("2.20.")
    assert serving["versions"]["tensorflow_text"].startswith("2.20.")
    assert reference["versions"]["tensorflow"].startswith("2.21.")
    # The comparison covered real translations and the promised handling of bad inputs.
    translations = serving["outputs"]["beam"]["translations"]["values"]
    assert len(translations) == len(INPUTS)
    empty = ""  # base64 of b""
    blank = [INPUTS.index(s) for s in ("", "   ", "\t\n")]
    assert [translations[i] for i in blank] == [empty] * 3
    assert all(translations[i] != empty for i in range(len(INPUTS) - len(BAD_INPUTS)))
