"""Runs every notebook in notebooks/ top to bottom, in fast mode, and checks what is committed.

Fast mode (`TF_TRANSFORMER_FAST=1`) shrinks each notebook's experiments, steps and data;
the notebooks read Multi30k through the TFDS builder, here pointed at the tiny fixture
corpus of tests/data (MULTI30K_DIR) and a temporary TFDS folder, and their temporary
files (`tempfile`) go to the test's own folder (TMPDIR), so nothing is written outside it.
The kernel is this interpreter (`sys.executable`), whatever Jupyter kernels are installed.
"""

import json
import pathlib
import re

import nbformat
import pytest
from ipykernel.kernelspec import write_kernel_spec
from nbclient import NotebookClient

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


def test_all_five_notebooks_are_tested():
    assert [p.name[:3] for p in NOTEBOOKS] == ["01_", "02_", "03_", "04_", "05_"]


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_in_fast_mode(path, kernel_environment):
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        kernel_name=KERNEL_NAME,
        timeout=CELL_TIMEOUT_S,
        # Run where Jupyter would: relative paths are relative to notebooks/.
        resources={"metadata": {"path": str(NOTEBOOK_DIR)}},
    )
    client.execute()  # raises CellExecutionError, with the cell and traceback, on any error


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_executed_with_colab_setup(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    first, setup = notebook.cells[0], notebook.cells[1]
    assert first.cell_type == "markdown"
    assert COLAB_URL + path.name in first.source, "the Open in Colab badge must link to this file"
    assert setup.cell_type == "code"
    assert re.search(r'if "google\.colab" in sys\.modules:\n(\s+.*\n)*\s+%pip install', setup.source)

    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    counts = [cell.execution_count for cell in code]
    # Executed top to bottom in one kernel (the Colab setup cell runs and prints nothing).
    assert counts == list(range(1, len(code) + 1)), f"{path.name}: execution counts {counts}"
    errors = [o for cell in code for o in cell.outputs if o.output_type == "error"]
    assert not errors, f"{path.name} was committed with errors: {json.dumps(errors)[:500]}"
    figures = [o for cell in code for o in cell.outputs if "image/png" in o.get("data", {})]
    assert bool(figures) != (path.name in WITHOUT_FIGURES), f"{path.name}: {len(figures)} figures"

