"""Runs every notebook in notebooks/ top to bottom, in fast mode, and checks what is committed.

Fast mode (`TF_TRANSFORMER_FAST=1`) shrinks each notebook's experiments, steps and data;
the notebooks read Multi30k through the TFDS builder, here pointed at the tiny fixture
corpus of tests/data (MULTI30K_DIR) and a temporary TFDS folder, and their temporary
files (`tempfile`) go to the test's own folder (TMPDIR), so nothing is written outside it.
The kernel is this interpreter (`sys.executable`), whatever Jupyter kernels are installed.
"""

import json
import os
import pathlib
import re
import shutil
import subprocess
import sysconfig
import venv

import nbformat
import pytest
from ipykernel.kernelspec import write_kernel_spec
from nbclient import NotebookClient
from nbclient.util import run_sync

from tests.data.fixtures import write_multi30k

NOTEBOOK_DIR = pathlib.Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
KERNEL_NAME = "tf_transformer_test"
COLAB_URL = "https://colab.research.google.com/github/tf-transformer/tf_transformer/blob/main/notebooks/"
# Longest a single cell may run in fast mode before the test fails.
CELL_TIMEOUT_S = 300
# Notebooks with nothing to plot.
WITHOUT_FIGURES = {"05_export_and_serve.ipynb"}


@pytest.fixture(scope="module")
def kernel_environment(tmp_path_factory):
    """A kernel spec running sys.executable, and the fast-mode environment of the kernels."""
    root = tmp_path_factory.mktemp("notebooks")
    (root / "tmp").mkdir()
    write_kernel_spec(str(root / "jupyter" / "kernels" / KERNEL_NAME))
    environment = {
        "JUPYTER_PATH": str(root / "jupyter"),
        "TF_TRANSFORMER_FAST": "1",
        "KERAS_BACKEND": "tensorflow",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "MULTI30K_DIR": str(write_multi30k(root / "multi30k")),
        "TFDS_DATA_DIR": str(root / "tensorflow_datasets"),
        "TMPDIR": str(root / "tmp"),
    }
    with pytest.MonkeyPatch.context() as patch:
        for name, value in environment.items():
            patch.setenv(name, value)
        yield


@pytest.fixture(scope="module")
def kernel(kernel_environment):
    """One kernel for all the notebooks: each would spend seconds starting it and importing
    TensorFlow. A notebook starts from an emptied namespace (%reset), so a missing import
    still fails; TensorFlow's process-wide state stays (the notebooks set their seeds)."""
    starter = NotebookClient(nbformat.v4.new_notebook(), kernel_name=KERNEL_NAME)
    manager = starter.create_kernel_manager()
    # Where Jupyter would run them: relative paths are relative to notebooks/.
    starter.start_new_kernel(cwd=str(NOTEBOOK_DIR))
    yield manager
    run_sync(manager.shutdown_kernel)(now=True)


def test_all_five_notebooks_are_tested():
    assert [p.name[:3] for p in NOTEBOOKS] == ["01_", "02_", "03_", "04_", "05_"]


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_in_fast_mode(path, kernel):
    notebook = nbformat.read(path, as_version=4)
    notebook.cells.insert(0, nbformat.v4.new_code_cell("%reset -f"))
    client = NotebookClient(notebook, km=kernel, timeout=CELL_TIMEOUT_S)
    client.execute()  # raises CellExecutionError, with the cell and traceback, on any error


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_executed_with_colab_setup(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    first, setup = notebook.cells[0], notebook.cells[1]
    assert first.cell_type == "markdown"
    assert COLAB_URL + path.name in first.source, "the Open in Colab badge must link to this file"
    assert setup.cell_type == "code"
    # Every notebook has the same setup cell, which `test_colab_setup_cell_installs...` runs.
    assert setup.source == colab_setup_source()

    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    counts = [cell.execution_count for cell in code]
    # Executed top to bottom in one kernel (the Colab setup cell runs and prints nothing).
    assert counts == list(range(1, len(code) + 1)), f"{path.name}: execution counts {counts}"
    # Saved without native log noise (stderr) or paths of the machine that ran it.
    stderr = [o for cell in code for o in cell.outputs if o.get("name") == "stderr"]
    assert not stderr, f"{path.name} was committed with stderr output: {stderr[0]['text'][:200]}"
    assert not re.search(r"/(work|home|root|Users)/", json.dumps([c.outputs for c in code]))
    errors = [o for cell in code for o in cell.outputs if o.output_type == "error"]
    assert not errors, f"{path.name} was committed with errors: {json.dumps(errors)[:500]}"
    figures = [o for cell in code for o in cell.outputs if "image/png" in o.get("data", {})]
    assert bool(figures) != (path.name in WITHOUT_FIGURES), f"{path.name}: {len(figures)} figures"



def colab_setup_source():
    return nbformat.read(NOTEBOOKS[0], as_version=4).cells[1].source


def test_colab_setup_cell_installs_the_pip_spec_in_a_fresh_environment(tmp_path):
    """The path Colab users take: the setup cell installs the package from PIP_SPEC (here
    a copy of this checkout) into a new virtual environment. Offline and fast: the new
    environment sees this one's packages through a .pth file (as Colab has TensorFlow
    preinstalled) and pip installs the checkout alone (--no-deps)."""
    root = pathlib.Path(__file__).resolve().parents[1]
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    for name in ("setup.cfg", "pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(root / name, checkout / name)
    shutil.copytree(root / "tf_transformer", checkout / "tf_transformer",
                    ignore=shutil.ignore_patterns("__pycache__"))
    env_dir = tmp_path / "colab"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True).stdout.strip()
    pathlib.Path(site, "_outer.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    environment = {**os.environ, "TF_TRANSFORMER_PIP_SPEC": str(checkout),
                   "TF_TRANSFORMER_PIP_OPTIONS": "--no-deps --no-build-isolation --no-index",
                   "PYTHONPATH": ""}
    setup = subprocess.run([python, "-c", colab_setup_source()], cwd=tmp_path, env=environment,
                           capture_output=True, text=True, timeout=300)
    assert setup.returncode == 0, setup.stderr
    where = subprocess.run(
        [python, "-c", "import tf_transformer; print(tf_transformer.__file__)"],
        cwd=tmp_path, env=environment, capture_output=True, text=True)
    assert where.stdout.startswith(site), where.stdout + where.stderr

    # A spec pip cannot install stops the cell with a message saying what to do.
    environment["TF_TRANSFORMER_PIP_SPEC"] = str(tmp_path / "missing")
    failed = subprocess.run([python, "-c", colab_setup_source()], cwd=tmp_path,
                            env=environment, capture_output=True, text=True, timeout=300)
    assert failed.returncode == 1
    assert f"Setup failed: pip install {tmp_path / 'missing'}" in failed.stderr
