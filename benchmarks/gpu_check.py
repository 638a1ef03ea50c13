"""`make gpu-check`: what a GPU changes, checked on the GPU; nothing without one.

With TensorFlow and a GPU it runs, one step after the other:
  1. the layer/model tests (`tests/layers`, `tests/model_test.py`) on the GPU;
  2. `model.fit` training throughput of the seed preset, float32 and mixed_float16,
     with and without XLA, ~45 s each (`fit_throughput.py`, one JSON line per run);
  3. the decode benchmark (`decode_throughput.py`; needs its workload, $BENCH_DIR);
  4. test_2016_flickr through the shipped SavedModel's signatures
     (`tf-transformer evaluate`; needs Multi30k: $MULTI30K_DIR or a download).
Where TensorFlow is missing but JAX sees a GPU (a machine with JAX and no package
index), it runs the Keras-on-JAX part: the layer/model tests and the `model.fit`
throughput (XLA, as JAX always compiles). Without a GPU it says so and exits 0.

Ends with one JSON line per step ({"step", "status", "seconds"}) and exit status 1
if a step failed.
"""

import importlib.util
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = sys.executable
LAYER_TESTS = ["-m", "pytest", "-q", "tests/layers", "tests/model_test.py"]
BENCH_DIR = os.environ.get("BENCH_DIR", os.path.join(ROOT, "..", "shared", "bench"))


def gpu_count(backend: str) -> int:
    """GPUs the backend sees, asked in a child process (0 if it is not installed)."""
    if importlib.util.find_spec(backend) is None:
        return 0
    code = {"tensorflow": "import tensorflow as tf; "
                          "print(len(tf.config.list_physical_devices('GPU')))",
            "jax": "import jax; print(sum(d.platform == 'gpu' for d in jax.devices()))"}[backend]
    result = subprocess.run([PY, "-c", code], capture_output=True, text=True,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    lines = result.stdout.split()
    return int(lines[-1]) if result.returncode == 0 and lines else 0


def steps_for(backend: str) -> list:
    """(name, argv, extra environment) of each check; None argv: skipped, with why."""
    env = {"KERAS_BACKEND": backend}
    fit = [os.path.join("benchmarks", "fit_throughput.py")]
    if backend == "jax":
        # Test files that import TensorFlow themselves fail to collect there; the
        # others still run.
        return [("layer/model tests (Keras on JAX)",
                 LAYER_TESTS + ["--continue-on-collection-errors"], env),
                ("fit throughput (Keras on JAX)", fit + ["--jit", "on"], env)]
    decode = ([os.path.join("benchmarks", "decode_throughput.py")]
              if os.path.isdir(BENCH_DIR) else f"no benchmark workload at {BENCH_DIR}")
    return [("layer/model tests", LAYER_TESTS, env),
            ("fit throughput", fit, env),
            ("decode benchmark", decode, env),
            ("test_2016_flickr through the SavedModel",
             ["-m", "tf_transformer.cli", "evaluate", "--split", "test_2016_flickr"], env)]


def main() -> int:
    backend = next((b for b in ("tensorflow", "jax") if gpu_count(b)), None)
    if backend is None:
        found = [b for b in ("tensorflow", "jax") if importlib.util.find_spec(b)]
        print(f"gpu-check: no GPU here (asked: {', '.join(found) or 'no backend installed'}); "
              "nothing to check.")
        return 0
    print(f"gpu-check: {gpu_count(backend)} GPU(s) seen by {backend}.", flush=True)
    summary = []
    for name, argv, env in steps_for(backend):
        print(f"\n== {name}", flush=True)
        if isinstance(argv, str):
            print(f"skipped: {argv}")
            summary.append({"step": name, "status": "skipped", "seconds": 0})
            continue
        start = time.perf_counter()
        rc = subprocess.run([PY] + argv, cwd=ROOT, env={**os.environ, **env}).returncode
        summary.append({"step": name, "status": "ok" if rc == 0 else f"failed ({rc})",
                        "seconds": round(time.perf_counter() - start, 1)})
    print()
    for line in summary:
        print(json.dumps(line))
    return int(any(line["status"].startswith("failed") for line in summary))


if __name__ == "__main__":
    sys.exit(main())
