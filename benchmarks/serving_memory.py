"""Peak memory of one large request to an exported SavedModel (serving_default, beam 4).

The request: 512 rows, 511 test_2016_flickr German sentences and one row of 20,000
characters (a sentence repeated), the case that took 11.2 GB before requests were
decoded in chunks of rows (`tf_transformer.export.serving.MAX_CHUNK_POSITIONS`).

The shipped model (saved_models/multi30k_de_en/1) is exported again with this
checkout's serving code into a temporary folder (`--max-chunk-positions` sets the chunk
size), then a fresh process with only TensorFlow and TF Text loads it, as a server
would, and sends the request once. Memory is that process' peak resident set
(`ru_maxrss`), with the resident set after loading for reference; it does not depend on
the machine's load, the seconds do.

Usage (from the repository root):
  .venv/bin/python benchmarks/serving_memory.py [--max-chunk-positions 4096]
Prints one JSON line.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import bench_env  # noqa: F401  (paths and environment; first)

ROWS, LONG_CHARACTERS = 512, 20_000


def request(sentences):
    """511 sentences and one row of LONG_CHARACTERS characters, in the middle."""
    rows = list(sentences[:ROWS - 1])
    long_row = (" ".join(rows[:50]) + " ") * (LONG_CHARACTERS // len(" ".join(rows[:50])) + 1)
    rows.insert(len(rows) // 2, long_row[:LONG_CHARACTERS])
    return rows


def serve_once(export_dir, rows):
    """In a fresh process: loads the SavedModel and runs the request once."""
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (registers the SentencePiece ops)

    signature = tf.saved_model.load(export_dir).signatures["serving_default"]
    with open("/proc/self/status") as f:
        loaded_kib = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    start = time.perf_counter()
    outputs = signature(inputs=tf.constant(rows))
    seconds = time.perf_counter() - start
    assert outputs["translations"].shape == (len(rows),)
    return {"rss_after_load_mb": loaded_kib / 1024,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "request_seconds": seconds}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--max-chunk-positions", type=int, default=None,
                        help="chunk size of the export (default: serving.MAX_CHUNK_POSITIONS)")
    parser.add_argument("--serve", nargs=2, metavar=("EXPORT_DIR", "ROWS_JSON"),
                        help=argparse.SUPPRESS)  # the fresh process
    args = parser.parse_args()
    if args.serve:
        with open(args.serve[1], encoding="utf-8") as f:
            print(json.dumps(serve_once(args.serve[0], json.load(f))))
        return

    import bench_common as bc
    import tensorflow as tf

    from tf_transformer.export import serving
    from tf_transformer.artifacts import load_export

    model, source, target = load_export(os.path.join(bench_env.ROOT, "saved_models",
                                                     "multi30k_de_en", "1"))
    chunk = args.max_chunk_positions or serving.MAX_CHUNK_POSITIONS
    module = serving.TranslationModule(model, source, target, beam_size=4, alpha=0.6,
                                       max_chunk_positions=chunk)
    rows = request(bc.read_lines("test_2016_flickr.de.gz"))
    with tempfile.TemporaryDirectory() as folder:
        export_dir = os.path.join(folder, "1")
        tf.saved_model.save(module, export_dir, signatures=module.signatures())
        rows_path = os.path.join(folder, "rows.json")
        with open(rows_path, "w", encoding="utf-8") as f:
            json.dump(rows, f)
        served = subprocess.run([sys.executable, __file__, "--serve", export_dir, rows_path],
                                capture_output=True, text=True, check=True)
    result = {"rows": len(rows), "longest_row_characters": max(map(len, rows)),
              "beam_size": 4, "max_chunk_positions": chunk,
              **json.loads(served.stdout.strip().splitlines()[-1])}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
