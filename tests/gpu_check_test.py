"""benchmarks/gpu_check.py (`make gpu-check`): exit 0 without a GPU; with one, the
checks of the backend that sees it."""

import importlib.util
import os
import subprocess
import types

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
spec = importlib.util.spec_from_file_location(
    "gpu_check", os.path.join(ROOT, "benchmarks", "gpu_check.py"))
gpu_check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gpu_check)


def test_without_a_gpu_it_says_so_and_exits_0(monkeypatch, capsys):
    monkeypatch.setattr(gpu_check, "gpu_count", lambda backend: 0)
    assert gpu_check.main() == 0
    assert capsys.readouterr().out.startswith("gpu-check: no GPU here")


def test_jax_without_tensorflow_runs_the_keras_on_jax_checks(monkeypatch, capsys):
    monkeypatch.setattr(gpu_check, "gpu_count", lambda backend: int(backend == "jax"))
    runs = []

    def run(argv, cwd, env):
        runs.append((argv[1:], env["KERAS_BACKEND"]))
        return types.SimpleNamespace(returncode=3 if "fit_throughput" in argv[1] else 0)

    monkeypatch.setattr(subprocess, "run", run)
    assert gpu_check.main() == 1  # the failed step fails the check
    assert runs == [(gpu_check.LAYER_TESTS + ["--continue-on-collection-errors"], "jax"),
                    ([os.path.join("benchmarks", "fit_throughput.py"), "--jit", "on"], "jax")]
    out = capsys.readouterr().out
    assert '"status": "ok"' in out and '"status": "failed (3)"' in out


def test_with_tensorflow_it_also_scores_the_saved_model():
    names = [name for name, _, _ in gpu_check.steps_for("tensorflow")]
    assert names[0] == "layer/model tests" and names[-1].endswith("through the SavedModel")
    assert all(env == {"KERAS_BACKEND": "tensorflow"}
               for _, _, env in gpu_check.steps_for("tensorflow"))
