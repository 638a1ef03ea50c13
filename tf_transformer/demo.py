"""`make demo`: the shipped model translates German, is scored on test_2016_flickr and
draws its attention, in a few minutes on a CPU.

1. loads saved_models/multi30k_de_en/3 as TF Serving does (a SavedModel: strings in,
   strings out) and translates a handful of German sentences, beam and greedy;
2. translates the 1,000 sentences of test_2016_flickr with beam search and prints cased
   sacreBLEU with its signature, lowercased BLEU, chrF and the tutorial-comparable BLEU,
   when the data can be found: `MULTI30K_DIR`, a prepared TFDS dataset, or a download
   of the official files (skipped with a message otherwise);
3. writes a heat-map of the last decoder layer's cross-attention (one panel per head).

    python -m tf_transformer.demo [--servable DIR] [--output-dir DIR] [--no-bleu]
"""

import argparse
import os
import sys
import time

from tf_transformer.artifacts import CHECKOUT_SHIPPED_MODEL

SERVABLE = os.path.join(CHECKOUT_SHIPPED_MODEL, "3")
SPLIT = "test_2016_flickr"
SENTENCES = [
    "Ein Mann fährt mit dem Fahrrad eine Straße entlang.",
    "Zwei kleine Kinder spielen im Sand am Strand.",
    "Eine Frau in einem roten Kleid hält einen Regenschirm.",
    "Ein brauner Hund rennt über eine grüne Wiese.",
    "Eine Gruppe von Menschen steht vor einem großen Gebäude.",
]
_BATCH = 64


def _translate(signature, sentences, progress: bool = False) -> list:
    """Translations through a SavedModel signature, in batches of similar length."""
    import tensorflow as tf
    from tqdm import tqdm

    order = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))
    results = [None] * len(sentences)
    with tqdm(total=len(sentences), unit="sent", disable=not progress) as bar:
        for start in range(0, len(order), _BATCH):
            rows = order[start:start + _BATCH]
            out = signature(inputs=tf.constant([sentences[i] for i in rows]))
            for i, text in zip(rows, out["translations"].numpy()):
                results[i] = text.decode("utf-8")
            bar.update(len(rows))
    return results


def _test_split():
    """(sources, references) of test_2016_flickr, or None with the reason printed."""
    from tf_transformer.data.multi30k import multi30k_dir
    from tf_transformer.data.prepare import load_split_texts

    try:
        return load_split_texts(SPLIT, "de-en", source_dir=multi30k_dir())
    except Exception as error:  # noqa: BLE001 - any failure to find the data skips BLEU
        print(f"\nBLEU skipped: Multi30k {SPLIT} is not available here "
              f"({type(error).__name__}: {str(error).splitlines()[0][:300]}).\n"
              "Point MULTI30K_DIR at a folder with the official files (test_2016_flickr.de.gz,"
              " test_2016_flickr.en.gz, ...) or run with internet access to download them.")
        return None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--servable", default=SERVABLE, help="exported version folder")
    parser.add_argument("--output-dir", default="demo_output", help="folder for the heat-map")
    parser.add_argument("--no-bleu", action="store_true", help="skip the test-set BLEU")
    args = parser.parse_args(argv)
    if not os.path.exists(os.path.join(args.servable, "saved_model.pb")):
        print(f"error: no SavedModel at {os.path.relpath(args.servable)}. The release model "
              "is missing from this checkout (README, Results); make one with `make train` and "
              "`tf-transformer export --run runs/best --name multi30k_de_en`, or pass "
              "--servable VERSION_DIR.", file=sys.stderr)
        return 1
    start = time.perf_counter()
    import tensorflow as tf
    import tensorflow_text  # noqa: F401 - registers the SentencePiece ops of the SavedModel

    servable = tf.saved_model.load(args.servable)
    beam, greedy = servable.signatures["serving_default"], servable.signatures["translate_greedy"]
    print(f"Loaded {os.path.relpath(args.servable)} in {time.perf_counter() - start:.1f} s "
          "(SavedModel: serving_default = beam search, translate_greedy).\n")
    for source, best, fast in zip(SENTENCES, _translate(beam, SENTENCES),
                                  _translate(greedy, SENTENCES)):
        print(f"  de:     {source}\n  beam:   {best}\n  greedy: {fast}\n")

    data = None if args.no_bleu else _test_split()
    if data:
        from tf_transformer.decoding.evaluate import corpus_scores

        sources, references = data
        print(f"Translating {SPLIT} ({len(sources):,} sentences) with beam search:")
        began = time.perf_counter()
        scores = corpus_scores(_translate(beam, sources, progress=True), references)
        print(f"  cased BLEU {scores['bleu']:.2f} | lowercased {scores['bleu_lowercase']:.2f} | "
              f"chrF {scores['chrf']:.2f} | tutorial BLEU {scores['bleu_tutorial']:.2f} "
              f"({len(sources) / (time.perf_counter() - began):.0f} sentences/s)\n"
              f"  {scores['bleu_signature']}\n")

    from tf_transformer.decoding.plot import plot_attention_heads
    from tf_transformer.decoding.translator import Translator

    translator = Translator.from_export(args.servable)
    (result,) = translator.translate_detailed(SENTENCES[:1], beam_size=4,
                                              with_attention=True)
    layers = len(result.cross_attention)
    figure = plot_attention_heads(result.cross_attention[-1], result.target_tokens,
                                  result.source_tokens,
                                  f"decoder layer {layers} cross-attention: {result.text}")
    os.makedirs(args.output_dir, exist_ok=True)
    path = os.path.join(args.output_dir, "cross_attention.png")
    figure.savefig(path, dpi=100)
    print(f"Attention heat-map: {path}")
    print(f"Demo done in {time.perf_counter() - start:.0f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
