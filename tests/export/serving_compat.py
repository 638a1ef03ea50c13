"""An export under TF Serving's runtime: TensorFlow 2.20 + TF Text 2.20 must translate
exactly as TensorFlow 2.21 (what we export with) does.

Usage (`make serving-compat [EXPORT=saved_models/NAME/VERSION]` creates the venv):
  python -m tests.export.serving_compat --python .venv-serving/bin/python EXPORT_DIR...

For each export, `reload_check.py` runs in a fresh process of each interpreter (this
one and --python) on a fixed set of sentences, with the bad inputs the README promises
to handle; the outputs of every signature (graph session as the model server runs it,
and `tf.saved_model.load`) must be equal, strings byte for byte and scores within
SCORE_ATOL, and every op of the graph must be registered, with a CPU kernel, under the
older runtime. Exit status 0 when everything matches, 1 otherwise (the differences
are printed).
"""
import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from tests.export.conftest import INVALID_UTF8, SENTENCES, TOO_LONG, run_reload_check

# Float noise between two TensorFlow builds (oneDNN versions); the strings must be equal.
SCORE_ATOL = 1e-4
ORDINARY = [
    "Ein Mann fährt Fahrrad.", "Zwei Hunde spielen im Schnee.",
    "Eine Frau mit einem roten Hut liest ein Buch auf einer Bank im Park.",
    "Ein kleines Mädchen isst einen Apfel.",
] + SENTENCES[:4]
BAD_INPUTS = [
    "", "   ", "\t\n", INVALID_UTF8, TOO_LONG,
    "Мужчина едет на велосипеде.", "一个男人在骑自行车。", "رجل يركب دراجة",  # non-Latin
    "Ein Hund 🐶 rennt 🎉🎉", "🙂",  # emoji
    "Cafe\u0301 und Stra\u00dfe", "Ein\u200bHund", "\u00a0",  # combining, zero-width, NBSP
    ".", "1234 5678", "EIN MANN SCHREIT!", "<b>Ein Hund</b> & eine Katze",
]
INPUTS = ORDINARY + BAD_INPUTS
BATCHES = {
    "beam": ("serving_default", INPUTS),
    "greedy": ("translate_greedy", INPUTS),
    "tokenize": ("tokenize", INPUTS),
    "empty_batch": ("serving_default", []),
    "empty_batch_greedy": ("translate_greedy", []),
}


def differences(expected, got):
    """Human-readable differences between two reload_check reports."""
    found = []
    for key in ("outputs", "python_outputs"):
        for label in sorted(expected[key].keys() | got[key].keys()):
            want, have = expected[key].get(label), got[key].get(label)
            if want is None or have is None:
                found.append(f"{key}[{label}]: only under "
                             f"{'the reference' if have is None else 'the other runtime'}")
                continue
            for name in sorted(want.keys() | have.keys()):
                a, b = want.get(name), have.get(name)
                if a is None or b is None or a["shape"] != b["shape"]:
                    found.append(f"{key}[{label}][{name}]: shape {a and a['shape']} vs "
                                 f"{b and b['shape']}")
                elif a["values"] and isinstance(a["values"][0], str):  # strings, as base64
                    rows = [i for i, (x, y) in enumerate(zip(a["values"], b["values"])) if x != y]
                    if rows:
                        found.append(f"{key}[{label}][{name}]: rows {rows} differ")
                elif not np.allclose(a["values"], b["values"], atol=SCORE_ATOL, rtol=0):
                    gap = np.max(np.abs(np.subtract(a["values"], b["values"])))
                    found.append(f"{key}[{label}][{name}]: values differ by up to {gap:.2e}")
    for key in ("errors", "python_errors"):
        if expected[key] or got[key]:
            found.append(f"{key}: {expected[key]} vs {got[key]}")
    return found


def runtime_problems(report):
    """Ops the graph uses that this runtime lacks or cannot run on CPU."""
    known = set(report["core_ops"]) | set(report["text_ops"])
    problems = [f"op not registered: {op}" for op in report["graph_ops"] if op not in known]
    return problems + [f"op without CPU kernel: {op}" for op in report["ops_without_cpu_kernel"]]


def check(export_dir, python, folder: Path, timeout=900):
    """(reference report, other report, list of problems) for one export."""
    reports = []
    for name, interpreter in (("reference", sys.executable), ("serving", python)):
        (folder / name).mkdir(parents=True, exist_ok=True)
        reports.append(run_reload_check(os.path.abspath(export_dir), BATCHES, folder / name,
                                        python=interpreter, timeout=timeout))
    reference, serving = reports
    return reference, serving, runtime_problems(serving) + differences(reference, serving)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--python", required=True,
                        help="interpreter of the venv with tensorflow 2.20 + tensorflow-text 2.20")
    parser.add_argument("exports", nargs="+", help="SavedModel version folders")
    args = parser.parse_args(argv)
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        for i, export_dir in enumerate(args.exports):
            reference, serving, problems = check(export_dir, os.path.abspath(args.python),
                                                 Path(tmp) / str(i))
            versions = " vs ".join(json.dumps(r["versions"]) for r in (reference, serving))
            print(f"{export_dir}: {len(INPUTS)} inputs, signatures {sorted(BATCHES)}, "
                  f"{len(serving['xla_functions'])} XLA-compiled functions; {versions}")
            for problem in problems:
                print(f"  {problem}")
            print(f"  {'FAILED' if problems else 'identical translations, tokens and scores'}")
            failed |= bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
