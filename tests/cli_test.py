"""`tf-transformer` itself: --help/--version without TensorFlow, user mistakes as one
line with exit status 2 (a traceback only with --debug), native log lines dropped."""

import os
import subprocess
import sys

import pytest

import tf_transformer
from tf_transformer import artifacts, cli
from tf_transformer.errors import UserError
from tf_transformer.export.versions import existing_versions

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def python(code, **kwargs):
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, **kwargs)


def test_help_and_version_do_not_import_tensorflow():
    result = python(
        "import sys\nfrom tf_transformer import cli\n"
        "for argv in (['--help'], ['--version']):\n"
        "    try:\n        cli.main(argv)\n    except SystemExit as exit:\n"
        "        assert exit.code == 0\n"
        "print(sorted(m for m in ('tensorflow', 'keras', 'jax') if m in sys.modules))")
    assert result.returncode == 0, result.stderr
    assert "translate lines from stdin or a file" in result.stdout
    assert f"tf-transformer {tf_transformer.__version__}\n" in result.stdout
    assert result.stdout.endswith("[]\n")


def test_python_dash_m_is_the_cli():
    result = subprocess.run([sys.executable, "-m", "tf_transformer", "--version"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    expected = f"tf-transformer {tf_transformer.__version__}\n"
    assert (result.returncode, result.stdout) == (0, expected)


def test_version_is_the_one_of_setup_cfg():
    with open(os.path.join(ROOT, "setup.cfg"), encoding="utf-8") as f:
        assert "version = attr: tf_transformer.__version__\n" in f.read()
    assert tf_transformer.__version__.count(".") == 2


@pytest.mark.parametrize("argv, message", [
    (["translate", "--model", "/nonexistent"],
     "/nonexistent is not a folder: --model takes a training run directory"),
    (["plot", "--model", ROOT, "Ein Hund."], f"{ROOT} holds no config.yaml and no saved_model.pb"),
    (["translate", "--input", "/nonexistent/in.txt", "--model", artifacts.CHECKOUT_SHIPPED_MODEL],
     "/nonexistent/in.txt: No such file or directory"),
    (["prepare", "--source-dir", "/nonexistent"], "--source-dir /nonexistent is not a folder"),
    (["train", "--config", "nonexistent.yaml"], "No config file 'nonexistent.yaml'"),
    (["train", "--set", "training.epochs=many", "--print-config"],
     "training.epochs must be int, got 'many'"),
])
def test_user_mistakes_are_one_line_and_exit_2(argv, message, capsys):
    assert cli.main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(f"tf-transformer: error: {message}")
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err


def test_debug_shows_the_traceback():
    with pytest.raises(UserError, match="/nonexistent is not a folder"):
        cli.main(["--debug", "translate", "--model", "/nonexistent"])
    with pytest.raises(UserError):
        cli.main(["translate", "--model", "/nonexistent", "--debug"])


def test_an_explicit_source_dir_without_the_files_is_an_error_not_a_download(tmp_path, capsys):
    (tmp_path / "train.de.gz").write_bytes(b"")
    assert cli.main(["prepare", "--source-dir", str(tmp_path), "--run-dir", str(tmp_path / "run"),
                     "--set", f"data.tfds_dir={tmp_path / 'tfds'}"]) == 2
    assert "train.en.gz not found" in capsys.readouterr().err
    assert not (tmp_path / "tfds").exists()


def test_the_shipped_model_is_the_default_and_a_model_folder_means_its_highest_version(tmp_path):
    versions = existing_versions(artifacts.CHECKOUT_SHIPPED_MODEL)
    assert artifacts.locate(None).path == os.path.join(artifacts.CHECKOUT_SHIPPED_MODEL,
                                                       versions[max(versions)])
    for version in ("1", "12", "3", "7"):
        os.makedirs(tmp_path / "m" / version)
        if version != "12":  # an unfinished version without saved_model.pb is skipped
            (tmp_path / "m" / version / "saved_model.pb").write_bytes(b"")
    os.makedirs(tmp_path / "m" / ".tmp-13-x")
    assert artifacts.locate(str(tmp_path / "m")) == ("export", str(tmp_path / "m" / "7"), None)
    assert artifacts.locate(str(tmp_path / "m" / "3")) == ("export", str(tmp_path / "m" / "3"),
                                                           None)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.yaml").write_text("{}")
    assert artifacts.locate(str(tmp_path / "run")).kind == "run"


def test_a_weights_file_in_a_run_is_that_run_with_those_weights(tmp_path, monkeypatch):
    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    (tmp_path / "run" / "config.yaml").write_text("{}")
    for name in ("avg.weights.h5", "checkpoints/epoch-003.weights.h5"):
        (tmp_path / "run" / name).write_bytes(b"")
        assert artifacts.locate(str(tmp_path / "run" / name)) == (
            "run", str(tmp_path / "run"), str(tmp_path / "run" / name))
    monkeypatch.chdir(tmp_path / "run" / "checkpoints")  # relative paths keep working
    assert artifacts.locate("epoch-003.weights.h5") == ("run", "..", "epoch-003.weights.h5")
    monkeypatch.chdir(tmp_path)
    assert artifacts.run_and_weights("run") == ("run", None)
    (tmp_path / "loose.weights.h5").write_bytes(b"")
    with pytest.raises(UserError, match="is not in a training run"):
        artifacts.locate("loose.weights.h5")


def test_native_log_lines_are_dropped_and_everything_else_kept():
    pieces = [b"normalizer.cc(51) ", b"LOG(INFO) precompiled_charsmap is empty.", b"\n",
              b"keep 1\n", b"\r 50%|##", b"\r100%|####\n",
              b"WARNING: All log messages before absl::InitializeLog() is called are written "
              b"to STDERR\n",
              b"I0000 00:00:1796045328.290034    5954 cudart_stub.cc:31] Could not find cuda\n",
              b"E0000 00:00:1796045335.516579    5954 cuda_platform.cc:52] failed call to "
              b"cuInit: INTERNAL\n",
              b"E0000 00:00:1796045335.5    5954 kernel.cc:52] a real error\n", b"no newline"]
    result = subprocess.run(
        [sys.executable, "-c", "import os\nfrom tf_transformer import native_logs\n"
         f"with native_logs.dropped():\n    for piece in {pieces!r}:\n        os.write(2, piece)"],
        cwd=ROOT, capture_output=True, timeout=60)
    assert result.returncode == 0
    assert result.stderr == (b"keep 1\n\r 50%|##\r100%|####\n"
                             b"E0000 00:00:1796045335.5    5954 kernel.cc:52] a real error\n"
                             b"no newline")

