"""Start-up shared by the benchmark scripts; import it before anything else.

Quiets TensorFlow's logs, selects the TensorFlow backend, and puts the peer
benchmarks (../shared/bench, or $BENCH_DIR, for `bench_common`) and this
repository on `sys.path`.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.environ.get("BENCH_DIR", os.path.join(ROOT, "..", "shared", "bench")))
sys.path.insert(0, ROOT)
