"""A toy Translator shared by the decoding tests: tiny random model, toy tokenizers."""
import numpy as np
import pytest
import tensorflow as tf

from tf_transformer.data.tokenizer import build_tokenizer
from tf_transformer.decoding.translator import Translator
from tf_transformer.model import Transformer
from tf_transformer.special_tokens import EOS_ID

WORDS = ["ein", "Mann", "eine", "Frau", "fährt", "Fahrrad", "läuft", "Hund", "im", "Park",
         "der", "die", "das", "Kind", "spielt", "mit", "einem", "Ball", "auf", "Straße"]


def toy_corpus(seed, n=300):
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, rng.integers(2, 9))) + "." for _ in range(n)]


@pytest.fixture(scope="session")
def toy_translator(tmp_path_factory):
    """Tiny model (40 positions), German-like source, upper-case target vocabulary."""
    folder = tmp_path_factory.mktemp("vocab")
    source = build_tokenizer(toy_corpus(0), str(folder / "src.model"), vocab_size=360)
    target = build_tokenizer([s.upper() for s in toy_corpus(1)], str(folder / "tgt.model"),
                             vocab_size=360)
    tf.keras.utils.set_random_seed(0)
    model = Transformer.from_preset("tiny", src_vocab_size=source.vocab_size,
                                    tgt_vocab_size=target.vocab_size, max_length=40)
    model((np.ones((1, 3), np.int32), np.ones((1, 2), np.int32)))
    # This EOS bias mixes immediate EOS, later EOS and truncation (checked for seed 0).
    model.output_projection.bias.assign(tf.one_hot(EOS_ID, target.vocab_size) * 1.3)
    return Translator(model, source, target, max_length_ratio=1.0, max_length_offset=4)


