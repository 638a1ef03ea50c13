"""One small trained model, exported once for every export test (session fixtures).

The model is the tiny preset cut to one layer per side, trained for a few seconds on
the fixture corpus until it reproduces its training sentences: translations are then
real sentences, and the distributions are peaked enough that float noise cannot flip
a search decision between two runs of the same graph.
"""

import argparse
import base64
import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import types

import keras
import pytest
import tensorflow as tf

from tests.data.fixtures import FIXTURE_VOCAB_SIZE, PAIRS
from tf_transformer.artifacts import CONFIG_FILE, WEIGHTS_FILE
from tf_transformer.data.prepare import DATA_FILE, VOCAB_DIR, tokenizer_path
from tf_transformer.data.tokenizer import build_tokenizer
from tf_transformer.export import cli_export
from tf_transformer.model import Transformer
from tf_transformer.training import config as run_config

HERE = os.path.dirname(os.path.abspath(__file__))
MODEL_NAME = "toy_de_en"
BEAM_SIZE = 3
ALPHA = 0.7  # not the config default, so that tests see which alpha is used
MAX_LENGTH = 48  # model positions: small, so that truncation is cheap to test
# 20 sentences for the reload check: 12 seen in training, 8 unseen.
SENTENCES = [de for de, _ in PAIRS[28:48]]
# The run's validation sentences that `tf-transformer prepare` records for the warm-up.
WARMUP = [de for de, _ in PAIRS[40:43]]
# Bad inputs (serving.py documents what each gives).
INVALID_UTF8 = "Ein Hund l\xe4uft am Strand entlang.".encode("latin-1") + b" \xff\xfe"
TOO_LONG = "Ein Mann " * 40 + "läuft am Strand entlang."
BAD = ["", "   ", INVALID_UTF8, TOO_LONG, SENTENCES[0], "\u00a0\u3000", "\u2028\u200b\t"]
# label -> (signature, inputs) that reload_check.py runs in the fresh process.
BATCHES = {
    "beam": ("serving_default", SENTENCES),
    "greedy": ("translate_greedy", SENTENCES),
    "tokenize": ("tokenize", SENTENCES),
    "bad": ("serving_default", BAD),
    "bad_tokenize": ("tokenize", BAD),
    "replaced_tokenize": ("tokenize", [INVALID_UTF8.decode("utf-8", errors="replace")]),
    "empty_batch": ("serving_default", []),
    "empty_batch_greedy": ("translate_greedy", []),
    "empty_batch_tokenize": ("tokenize", []),
}


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """namespace(model, source_tokenizer, target_tokenizer), trained on PAIRS[:40]."""
    folder = tmp_path_factory.mktemp("export_vocab")
    train = PAIRS[:40]
    source_tokenizer, target_tokenizer = (
        build_tokenizer([pair[i] for pair in train], str(folder / f"{lang}.model"),
                        FIXTURE_VOCAB_SIZE)
        for i, lang in enumerate(("de", "en")))
    source = source_tokenizer.tokenize(tf.constant([de for de, _ in train])).to_tensor()
    target = target_tokenizer.tokenize(tf.constant([en for _, en in train])).to_tensor()
    keras.utils.set_random_seed(0)
    model = Transformer.from_preset(
        "tiny", source_tokenizer.vocab_size, target_tokenizer.vocab_size,
        num_encoder_layers=1, num_decoder_layers=1, dropout=0.0, max_length=MAX_LENGTH)
    model.compile(optimizer=keras.optimizers.Adam(1e-2),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True,
                                                                  ignore_class=0))
    model.fit((source, target[:, :-1]), target[:, 1:], batch_size=40, epochs=40, verbose=0)
    return types.SimpleNamespace(model=model, source_tokenizer=source_tokenizer,
                                 target_tokenizer=target_tokenizer)


@pytest.fixture(scope="session")
def run_dir(trained, tmp_path_factory):
    """A run directory of the trained model, laid out as `tf-transformer train` writes it."""
    folder = tmp_path_factory.mktemp("run")
    config = run_config.from_dict({
        "model": {"preset": "tiny", "num_encoder_layers": 1, "num_decoder_layers": 1,
                  "dropout": 0.0, "max_length": MAX_LENGTH},
        "data": {"pair": "de-en", "vocab_size": FIXTURE_VOCAB_SIZE, "max_length": MAX_LENGTH}})
    run_config.dump(config, str(folder / CONFIG_FILE))
    (folder / DATA_FILE).write_text(json.dumps({"warmup": WARMUP}), encoding="utf-8")
    for lang, tokenizer in (("de", trained.source_tokenizer), ("en", trained.target_tokenizer)):
        path = tokenizer_path(str(folder / VOCAB_DIR), lang, FIXTURE_VOCAB_SIZE, False)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        shutil.copy(tokenizer.model_file.asset_path.numpy().decode(), path)
    trained.model.save_weights(str(folder / WEIGHTS_FILE))
    return folder


@pytest.fixture(scope="session")
def exported(run_dir, tmp_path_factory):
    """Version 1 of MODEL_NAME, written by `tf-transformer export` from `run_dir`.

    namespace(output_dir, path (NAME/1), keras_path, stdout of the command).
    """
    output_dir = tmp_path_factory.mktemp("out") / "saved_models"
    parser = argparse.ArgumentParser()
    cli_export.add_arguments(parser)
    args = parser.parse_args(["--run", str(run_dir), "--name", MODEL_NAME, "--beam-size",
                              str(BEAM_SIZE), "--alpha", str(ALPHA),
                              "--output-dir", str(output_dir)])
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        assert cli_export.run(args) == 0
    return types.SimpleNamespace(
        output_dir=output_dir, path=str(output_dir / MODEL_NAME / "1"),
        keras_path=str(output_dir / MODEL_NAME / "keras" / "1.keras"), stdout=stdout.getvalue())


@pytest.fixture(scope="session")
def reload_report(exported, tmp_path_factory):
    """What `reload_check.py` reports from a fresh process (tensorflow + tensorflow_text),
    with XLA off as in a model server started without --xla_cpu_compilation_enabled:
    the default export must not need that flag."""
    return run_reload_check(exported.path, BATCHES, tmp_path_factory.mktemp("reload"),
                            disable_xla=True)


def run_reload_check(export_dir, batches, folder, python=sys.executable, disable_xla=False,
                     session_only=False, timeout=300):
    """Runs `reload_check.py` on `batches` ({label: (signature, inputs)}) in a fresh
    process of `python` (e.g. another venv's), with XLA off as in a model server without
    --xla_cpu_compilation_enabled if `disable_xla`, without `tf.saved_model.load` if
    `session_only`; returns its report."""
    request = folder / "request.json"
    report = folder / "report.json"
    batches = {label: {"signature": signature,
                       "inputs": [base64.b64encode(_bytes(s)).decode("ascii") for s in inputs]}
               for label, (signature, inputs) in batches.items()}
    request.write_text(json.dumps({"batches": batches, "disable_xla": disable_xla,
                                   "session_only": session_only}), encoding="utf-8")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    completed = subprocess.run(
        [python, os.path.join(HERE, "reload_check.py"), str(export_dir),
         str(request), str(report)],
        capture_output=True, text=True, env=env, timeout=timeout, cwd=folder)
    assert completed.returncode == 0, completed.stderr[-4000:]
    return json.loads(report.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def loaded(exported):
    """The SavedModel loaded in this process (as TF Serving would run its signatures)."""
    return tf.saved_model.load(exported.path)


def _bytes(text):
    return text.encode("utf-8") if isinstance(text, str) else text


def decode_strings(output):
    """Byte strings of a reload_check.py output (base64 in the report)."""
    return [base64.b64decode(v) for v in output["values"]]
