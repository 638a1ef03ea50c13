"""Input pipeline of a large own-data corpus: tokenizer training, pairs/s, peak memory (not a test).

For each size, in a fresh process (so that its peak RSS is its own):
1. writes a synthetic aligned TSV corpus of that many pairs (5-30 words per sentence
   from a 20,000-word made-up vocabulary; target = source words reversed, each word
   mapped to another made-up word);
2. runs `prepare_run`, what `tf-transformer prepare`/`train` run: one pass over the
   corpus that checks it and draws the reservoir sample, then SentencePiece training
   of both vocabularies on the sample (`tokenizer_s`);
3. iterates one epoch of `tf-transformer train`'s training dataset (tokenize, length
   buckets of `max_tokens`, shuffle buffers, batch; streamed, not cached) with 2 TF
   threads, and reports its pairs/s (`pipeline_pairs_per_s`);
4. reports the process's peak resident memory (`peak_rss_mb`) after step 2 and at
   the end.

Prints one JSON line per size. The tokenizer sample is the same for every size
(`--tokenizer-sample`, default 200,000 pairs), so that the memory of the larger corpus
shows what streaming holds, not a larger sample.

    python benchmarks/input_pipeline.py                       # 200,000 and 2,000,000 pairs
    python benchmarks/input_pipeline.py --sizes 20000         # a quick check
"""

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time

THREADS = 2
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write_corpus(path: str, pairs: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    letters = "abcdefghijklmnoprstuvwz"
    words = sorted({"".join(rng.choices(letters, k=rng.randint(2, 9))) for _ in range(20_000)})
    mapped = dict(zip(words, rng.sample(words, len(words))))
    with open(path, "w", encoding="utf-8") as f:
        for _ in range(pairs):
            source = rng.choices(words, k=rng.randint(5, 30))
            f.write(" ".join(source) + "\t" + " ".join(mapped[w] for w in reversed(source)) + "\n")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def measure(size: int, folder: str, tokenizer_sample: int, max_tokens: int) -> dict:
    """Steps 1-4 of the module docstring for one corpus size, in this process."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(THREADS)
    tf.config.threading.set_inter_op_parallelism_threads(THREADS)
    from tf_transformer.data.pipeline import make_dataset
    from tf_transformer.data.prepare import prepare_run
    from tf_transformer.training.config import from_dict

    corpus = os.path.join(folder, f"corpus-{size}.tsv")
    start = time.perf_counter()
    write_corpus(corpus, size)
    generate_s = time.perf_counter() - start
    config = from_dict({"data": {
        "source": "files", "source_language": "src", "target_language": "tgt",
        "splits": {"train": corpus, "validation": corpus}, "max_tokens": max_tokens,
        "tokenizer_sample": tokenizer_sample}})
    start = time.perf_counter()
    config, source, tokenizers, _ = prepare_run(config, os.path.join(folder, f"run-{size}"))
    tokenizer_s = time.perf_counter() - start
    rss_after_tokenizers = peak_rss_mb()
    data = config.data
    dataset = make_dataset(source.pairs("train"), *tokenizers, max_tokens=data.max_tokens,
                           max_length=data.max_length, shuffle=True, seed=1,
                           shuffle_buffer_size=data.shuffle_buffer, cache=False)
    start = time.perf_counter()
    pairs = batches = 0
    for (source_ids, _), _ in dataset:
        pairs += int(source_ids.shape[0])
        batches += 1
    pipeline_s = time.perf_counter() - start
    return {
        "pairs": size, "corpus_mb": round(os.path.getsize(corpus) / 2**20, 1),
        "generate_s": round(generate_s, 1), "tokenizer_sample": tokenizer_sample,
        "tokenizer_s": round(tokenizer_s, 1),
        "vocab_sizes": [t.vocab_size for t in tokenizers],
        "pipeline_pairs": pairs, "batches": batches, "max_tokens": max_tokens,
        "pipeline_s": round(pipeline_s, 1),
        "pipeline_pairs_per_s": round(pairs / pipeline_s),
        "threads": THREADS,
        "peak_rss_mb_tokenizers": round(rss_after_tokenizers),
        "peak_rss_mb": round(peak_rss_mb()),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[200_000, 2_000_000])
    parser.add_argument("--tokenizer-sample", type=int, default=200_000)
    parser.add_argument("--max-tokens", type=int, default=4096)
    parser.add_argument("--folder", default=None, help="for the corpora (default: a temp dir)")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # a child's size
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.folder, args.tokenizer_sample, args.max_tokens)))
        return
    with tempfile.TemporaryDirectory() as temporary:
        folder = args.folder or temporary
        for size in args.sizes:
            command = [sys.executable, __file__, "--one", str(size), "--folder", folder,
                       "--tokenizer-sample", str(args.tokenizer_sample),
                       "--max-tokens", str(args.max_tokens)]
            env = {**os.environ, "PYTHONPATH": ROOT}
            out = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
            print(out.stdout.strip().splitlines()[-1], flush=True)


if __name__ == "__main__":
    main()
