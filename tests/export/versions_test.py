"""TF Serving's NAME/VERSION layout: version parsing, atomic writes, failures, kills."""

import os
import signal
import subprocess
import sys

import pytest

from tf_transformer import atomic
from tf_transformer.export import versions
from tf_transformer.export.versions import (
    existing_versions, new_version_dir, next_version, parse_version)


def write(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


@pytest.fixture
def servable(tmp_path):
    """saved_models/toy with version 1 (holding a file), a keras/ folder and a stray file."""
    base = tmp_path / "toy"
    (base / "1").mkdir(parents=True)
    write(base / "1" / "saved_model.pb", "version one")
    (base / "keras").mkdir()
    write(base / "notes.txt", "not a version")
    return str(base)


@pytest.mark.parametrize("name, number", [
    ("1", 1), ("42", 42), ("007", 7), (" 3 ", 3), ("+5", 5), ("-2", -2),
    ("keras", None), ("1.keras", None), (".tmp-3-abc", None), ("3a", None), ("", None),
    ("\u0663", None),  # ARABIC-INDIC DIGIT THREE: safe_strto64 reads ASCII digits only
])
def test_version_names_parse_as_tf_serving_reads_them(name, number):
    assert parse_version(name) == number


def test_next_version_counts_only_numbered_children(servable, tmp_path):
    assert next_version(str(tmp_path / "missing")) == 1
    os.mkdir(os.path.join(servable, "4"))
    os.mkdir(os.path.join(servable, ".tmp-9-x"))
    assert existing_versions(servable) == {1: "1", 4: "4"}
    assert next_version(servable) == 5


def test_a_version_appears_only_when_complete(servable):
    with new_version_dir(servable) as (tmp_dir, version):
        assert version == 2
        assert os.path.dirname(tmp_dir) == servable
        assert parse_version(os.path.basename(tmp_dir)) is None
        write(os.path.join(tmp_dir, "saved_model.pb"), "version two")
        assert sorted(existing_versions(servable)) == [1]
    assert sorted(os.listdir(servable)) == ["1", "2", "keras", "notes.txt"]
    assert read(os.path.join(servable, "2", "saved_model.pb")) == "version two"


def test_an_existing_version_is_refused_before_anything_is_written(servable):
    with pytest.raises(FileExistsError, match="Version 1 already exists.*--overwrite"):
        with new_version_dir(servable, version=1):
            pytest.fail("the export must not start")
    assert sorted(os.listdir(servable)) == ["1", "keras", "notes.txt"]
    assert read(os.path.join(servable, "1", "saved_model.pb")) == "version one"


def test_overwrite_replaces_the_version_and_leaves_nothing_else(servable):
    with new_version_dir(servable, version=1, overwrite=True) as (tmp_dir, _):
        write(os.path.join(tmp_dir, "saved_model.pb"), "new one")
    assert sorted(os.listdir(servable)) == ["1", "keras", "notes.txt"]
    assert read(os.path.join(servable, "1", "saved_model.pb")) == "new one"


@pytest.mark.parametrize("version", [0, -3, 2**63, 99999999999999999999])
def test_versions_are_int64s_from_1(servable, version):
    with pytest.raises(versions.VersionError, match=r"from 1 to 2\*\*63 - 1"):
        with new_version_dir(servable, version=version):
            pass
    with new_version_dir(servable, version=2**63 - 1) as (tmp_dir, _):
        write(os.path.join(tmp_dir, "saved_model.pb"), "the last one")
    assert existing_versions(servable)[2**63 - 1] == str(2**63 - 1)


def test_a_version_folder_is_readable_as_the_umask_says(servable):
    previous = os.umask(0o022)
    try:
        with new_version_dir(servable, version=2) as (tmp_dir, _):
            write(os.path.join(tmp_dir, "saved_model.pb"), "two")
    finally:
        os.umask(previous)
    assert os.stat(os.path.join(servable, "2")).st_mode & 0o777 == 0o755


def test_a_servable_inside_a_file_is_refused_before_anything_is_written(tmp_path):
    write(tmp_path / "models", "not a folder")
    for base in (tmp_path / "models", tmp_path / "models" / "name"):
        with pytest.raises(versions.NotAFolderError, match="models is a file"):
            with new_version_dir(str(base)):
                pass
    assert os.listdir(tmp_path) == ["models"]


def test_a_failure_mid_export_leaves_the_previous_versions_and_no_partial_dir(servable):
    with pytest.raises(RuntimeError, match="disk full"):
        with new_version_dir(servable) as (tmp_dir, _):
            write(os.path.join(tmp_dir, "saved_model.pb"), "half of it")
            raise RuntimeError("disk full")
    assert sorted(os.listdir(servable)) == ["1", "keras", "notes.txt"]
    assert read(os.path.join(servable, "1", "saved_model.pb")) == "version one"


def test_a_killed_export_leaves_no_numbered_dir(servable):
    # SIGKILL runs no clean-up: what is left must be invisible to TF Serving.
    script = (
        "import importlib.util, os, signal, sys\n"
        "spec = importlib.util.spec_from_file_location('versions', sys.argv[1])\n"
        "versions = importlib.util.module_from_spec(spec); spec.loader.exec_module(versions)\n"
        "with versions.new_version_dir(sys.argv[2]) as (tmp_dir, version):\n"
        "    open(os.path.join(tmp_dir, 'saved_model.pb'), 'w').write('half')\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n")
    completed = subprocess.run([sys.executable, "-c", script, versions.__file__, servable])
    assert completed.returncode == -signal.SIGKILL
    assert existing_versions(servable) == {1: "1"}
    leftovers = [n for n in os.listdir(servable) if n.startswith(atomic.TMP_PREFIX)]
    assert len(leftovers) == 1 and parse_version(leftovers[0]) is None
    assert next_version(servable) == 2
