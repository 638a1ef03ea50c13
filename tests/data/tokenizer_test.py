import io
import json
import subprocess
import sys

import pytest
import sentencepiece
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from tests.data.fixtures import FIXTURE_VOCAB_SIZE, PAIRS, requires_real_data
from tf_transformer.data import Tokenizer, build_tokenizer, round_trip_failures
from tf_transformer.data.tokenizer import train_sentencepiece
from tf_transformer.special_tokens import BOS_ID, EOS_ID, PAD_ID, SPECIAL_TOKENS

ENGLISH = [en for _, en in PAIRS[:40]]
# Sentences the fixture tokenizers never saw, with characters absent from training.
UNSEEN_EN = ["A man, in a hat.", "Two dogs (one black) play: 3 - 1!", "Zoë's café: 5 €.", ""]
UNSEEN_DE = ["Ein Mann, mit Hut.", "Zwei Hunde „spielen“ im Schnee; 10 °C.", "Öl? Ja!"]


def strings(tensor):
    return [s.decode("utf-8") for s in tensor.numpy()]


def test_training_is_deterministic(tmp_path):
    paths = [tmp_path / "a.model", tmp_path / "b.model"]
    for path in paths:
        train_sentencepiece(ENGLISH, str(path), vocab_size=FIXTURE_VOCAB_SIZE)
    assert paths[0].read_bytes() == paths[1].read_bytes()


def test_build_tokenizer_reuses_the_cached_model(tmp_path):
    path = str(tmp_path / "vocab" / "en.model")
    first = build_tokenizer(ENGLISH, path, vocab_size=FIXTURE_VOCAB_SIZE)

    def must_not_be_read():
        raise AssertionError("the corpus was read although the model is cached")
        yield

    second = build_tokenizer(must_not_be_read(), path, vocab_size=FIXTURE_VOCAB_SIZE)
    assert second.vocab_size == first.vocab_size
    assert strings(second.id_to_token(tf.range(second.vocab_size))) == strings(
        first.id_to_token(tf.range(first.vocab_size))
    )


def test_vocab_size_is_configurable_and_a_maximum(tmp_path):
    small = build_tokenizer(ENGLISH, str(tmp_path / "small.model"), vocab_size=300)
    large = build_tokenizer(ENGLISH, str(tmp_path / "large.model"), vocab_size=100_000)
    assert small.vocab_size == 300
    # The corpus has fewer distinct pieces than asked for: the vocabulary stops there.
    assert 300 < large.vocab_size < 100_000


def test_special_tokens_have_the_shared_ids(fixture_tokenizers):
    for tokenizer in fixture_tokenizers:
        assert strings(tokenizer.id_to_token(tf.range(4))) == list(SPECIAL_TOKENS)


def test_tokenize_adds_bos_and_eos(fixture_tokenizers):
    _, en = fixture_tokenizers
    ids = en.tokenize(tf.constant(UNSEEN_EN))
    assert isinstance(ids, tf.RaggedTensor) and ids.dtype == tf.int32
    for row in ids.to_list():
        assert row[0] == BOS_ID and row[-1] == EOS_ID
        assert all(4 <= i < en.vocab_size for i in row[1:-1])
    assert ids.to_list()[-1] == [BOS_ID, EOS_ID]  # the empty string


@pytest.mark.parametrize("lang", [0, 1])
def test_unseen_sentences_round_trip_exactly(fixture_tokenizers, lang):
    tokenizer, sentences = fixture_tokenizers[lang], [UNSEEN_DE, UNSEEN_EN][lang]
    assert round_trip_failures(tokenizer, sentences) == []
    assert strings(tokenizer.detokenize(tokenizer.tokenize(tf.constant(sentences)))) == sentences


def test_round_trip_squeezes_runs_of_spaces(fixture_tokenizers):
    _, en = fixture_tokenizers
    assert round_trip_failures(en, ["A  man runs. ", "A man runs."]) == [
        ("A  man runs. ", "A man runs.")
    ]


def test_detokenize_drops_padding_and_stops_at_eos(fixture_tokenizers):
    _, en = fixture_tokenizers
    ids = en.tokenize(tf.constant(["A dog runs.", "A man, in a hat."]))
    junk = en.tokenize(tf.constant(["looks at the camera?"]))[0, 1:-1]
    # Row 0: tokens after EOS (a decoder may go on) and padding; row 1: no BOS, only padding.
    row0 = tf.concat([ids[0], junk, [PAD_ID, PAD_ID]], axis=0)
    row1 = ids[1, 1:]
    ragged = tf.ragged.stack([row0, row1])
    expected = ["A dog runs.", "A man, in a hat."]
    assert strings(en.detokenize(ragged)) == expected
    assert strings(en.detokenize(ragged.to_tensor(PAD_ID))) == expected
    assert strings(en.detokenize(tf.cast(ragged.to_tensor(PAD_ID), tf.int64))) == expected
    assert strings(en.detokenize(tf.cast(ragged, tf.int64))) == expected


def test_id_to_token_keeps_the_shape(fixture_tokenizers):
    _, en = fixture_tokenizers
    ids = en.tokenize(tf.constant(["A man, in a hat.", "A dog."])).to_tensor(PAD_ID)
    tokens = en.id_to_token(ids)
    assert tokens.shape == ids.shape
    assert strings(tokens[1])[:2] == ["[START]", "▁A"]
    assert "".join(strings(tokens[0])[1:-1]).replace("▁", " ").strip() == "A man, in a hat."


def test_lowercase_option(tmp_path):
    cased = build_tokenizer(ENGLISH, str(tmp_path / "cased.model"), FIXTURE_VOCAB_SIZE)
    lower = build_tokenizer(ENGLISH, str(tmp_path / "lower.model"), FIXTURE_VOCAB_SIZE, True)
    assert lower.lowercase and not cased.lowercase
    upper_ids = lower.tokenize(tf.constant(["A MAN Runs."])).to_list()
    assert upper_ids == lower.tokenize(tf.constant(["a man runs."])).to_list()
    assert strings(lower.detokenize(lower.tokenize(tf.constant(["Ein ÄRGER"])))) == ["ein ärger"]
    assert round_trip_failures(lower, ["A Man"]) == []  # compared with the lowercased text
    assert "▁A" not in strings(lower.id_to_token(tf.range(lower.vocab_size)))
    cased_ids = cased.tokenize(tf.constant(["A man", "a man"])).to_list()
    assert cased_ids[0] != cased_ids[1]
    assert strings(cased.detokenize(cased.tokenize(tf.constant(["A MAN"])))) == ["A MAN"]


def test_tokenizer_survives_tf_random_set_seed(fixture_tokenizers):
    """Seeding clears TF's eager kernel cache; the tokenizer must not depend on it."""
    _, en = fixture_tokenizers
    before = en.tokenize(tf.constant(["A dog runs."])).to_list()
    tf.random.set_seed(7)
    assert en.tokenize(tf.constant(["A dog runs."])).to_list() == before
    assert strings(en.detokenize(tf.ragged.constant(before))) == ["A dog runs."]


def test_model_without_the_special_tokens_is_rejected(tmp_path):
    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(ENGLISH), model_writer=model, vocab_size=60, minloglevel=2
    )
    path = tmp_path / "plain.model"
    path.write_bytes(model.getvalue())
    with pytest.raises(ValueError, match=r"\[PAD\]"):
        Tokenizer(str(path))


def test_empty_corpus_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="corpus is empty"):
        train_sentencepiece([], str(tmp_path / "x.model"))


RELOAD_SCRIPT = """
import json, sys
import tensorflow as tf
import tensorflow_text  # noqa: F401  registers the SentencePiece ops
path, jobs = json.loads(sys.argv[1])
both = tf.saved_model.load(path)
out = {}
for name, sentences in jobs:
    module = getattr(both, name)
    ids = module.tokenize(tf.constant(sentences))
    out[name] = {
        "ids": ids.to_list(),
        "text": [s.decode() for s in module.detokenize(ids.to_tensor()).numpy()],
        "asset": module.model_file.asset_path.numpy().decode(),
    }
out["modules"] = sorted(m for m in sys.modules if m.startswith("tf_transformer"))
print(json.dumps(out))
"""


def test_saved_model_reloads_in_a_fresh_process_with_only_tensorflow_text(
    fixture_tokenizers, tmp_path
):
    # One SavedModel holding both tokenizers, as an export does: each must keep its model.
    both = tf.Module()
    both.de, both.en = fixture_tokenizers
    tf.saved_model.save(both, str(tmp_path / "saved"))
    jobs = [("de", UNSEEN_DE), ("en", UNSEEN_EN)]
    result = subprocess.run(
        [sys.executable, "-c", RELOAD_SCRIPT, json.dumps([str(tmp_path / "saved"), jobs])],
        capture_output=True,
        text=True,
        check=True,
    )
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["modules"] == []
    for (name, sentences), tokenizer in zip(jobs, fixture_tokenizers):
        assert out[name]["text"] == sentences
        assert out[name]["ids"] == tokenizer.tokenize(tf.constant(sentences)).to_list()
        assert out[name]["asset"].endswith(f"{name}.model")


# The tensorflow-text ops that TF Serving's own TF.Text regression model runs in the model
# server (tensorflow_serving/servables/tensorflow/testdata/tf_text_regression).
SERVED_TF_TEXT_OPS = {
    "SentencepieceOp",
    "SentencepieceTokenizeOp",
    "SentencepieceDetokenizeOp",
    "SentencepieceIdToStringOp",
}


def test_saved_tokenizer_uses_only_core_ops_and_served_sentencepiece_ops(
    fixture_tokenizers, tmp_path
):
    module = tf.Module()
    module.de, module.en = fixture_tokenizers
    module.lower = build_tokenizer(ENGLISH, str(tmp_path / "lower.model"), FIXTURE_VOCAB_SIZE, True)
    tf.saved_model.save(module, str(tmp_path / "saved"))
    saved_model = (tmp_path / "saved" / "saved_model.pb").read_bytes()
    graph = saved_model_pb2.SavedModel.FromString(saved_model).meta_graphs[0].graph_def
    functions = {f.signature.name for f in graph.library.function}
    ops = {n.op for n in graph.node} | {n.op for f in graph.library.function for n in f.node_def}
    # tf.raw_ops lists core TensorFlow ops only; tensorflow-text's are loaded separately.
    custom = ops - functions - set(dir(tf.raw_ops))
    assert custom == SERVED_TF_TEXT_OPS
    assert "StringLower" in ops


@requires_real_data
def test_real_validation_round_trip_rate(real_builder, real_tokenizers):
    """Reports the rate; requires >= 99% of validation sentences back exactly as typed."""
    pairs = list(real_builder.as_dataset("validation", as_supervised=True).as_numpy_iterator())
    for lang, tokenizer in zip(("de", "en"), real_tokenizers):
        assert tokenizer.vocab_size == 8000
        sentences = [pair[lang == "en"].decode("utf-8") for pair in pairs]
        failures = round_trip_failures(tokenizer, sentences)
        rate = 1 - len(failures) / len(sentences)
        print(f"{lang} validation round trip: {rate:.2%}; differing: {failures[:5]}")
        assert rate >= 0.99, failures[:10]
