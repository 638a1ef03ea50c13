import gzip
import logging

import pytest
import tensorflow_datasets as tfds

from tests.data.fixtures import (
    OPTIONAL,
    REQUIRED,
    real_data_dir,
    requires_real_data,
    write_file,
    write_multi30k,
    write_split,
)
from tf_transformer.data import multi30k, multi30k_dir

REQUIRED_SPLITS = {"train": "train", "validation": "val", "test_2016_flickr": "test_2016_flickr"}


def build(data_dir, config="de-en", source_dir=None):
    builder = tfds.builder(f"multi30k/{config}", data_dir=str(data_dir))
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=source_dir)
    )
    return builder


def split_pairs(builder, split):
    dataset = builder.as_dataset(split, as_supervised=True)
    return [(de.decode(), en.decode()) for de, en in tfds.as_numpy(dataset)]


def test_builder_is_registered_with_both_configs():
    assert "multi30k" in tfds.list_builders()
    assert [config.name for config in multi30k.Multi30k.BUILDER_CONFIGS] == ["de-en", "en-de"]


def test_builds_required_splits_from_multi30k_dir_and_logs_skipped_ones(
    source_dir, tmp_path, caplog
):
    with caplog.at_level(logging.INFO, logger=multi30k.__name__):
        builder = build(tmp_path / "tfds")
    assert {split: info.num_examples for split, info in builder.info.splits.items()} == {
        split: len(REQUIRED[stem]) for split, stem in REQUIRED_SPLITS.items()
    }
    for split, stem in REQUIRED_SPLITS.items():
        # TFDS shuffles on write, so compare as sorted lists (which keeps duplicates).
        assert sorted(split_pairs(builder, split)) == sorted(REQUIRED[stem])
    skip_lines = [r.getMessage() for r in caplog.records if "skipping" in r.getMessage()]
    assert len(skip_lines) == 1
    assert all(split in skip_lines[0] for split in OPTIONAL)
    assert builder.info.supervised_keys == ("de", "en")
    assert "Elliott" in builder.info.citation and "Multi30K" in builder.info.description


def test_en_de_config_swaps_supervised_keys(source_dir, tmp_path):
    builder = build(tmp_path / "tfds", config="en-de")
    assert builder.info.supervised_keys == ("en", "de")
    expected = sorted((en, de) for de, en in REQUIRED["val"])
    assert sorted(split_pairs(builder, "validation")) == expected


def test_builds_all_six_splits_from_manual_dir_without_env(tmp_path, monkeypatch):
    monkeypatch.delenv("MULTI30K_DIR", raising=False)
    folder = write_multi30k(tmp_path / "manual", optional=True)
    builder = build(tmp_path / "tfds", source_dir=folder)
    expected = {split: len(REQUIRED[stem]) for split, stem in REQUIRED_SPLITS.items()}
    expected.update({split: len(pairs) for split, pairs in OPTIONAL.items()})
    assert {split: info.num_examples for split, info in builder.info.splits.items()} == expected


def test_manual_dir_takes_precedence_over_env(source_dir, tmp_path):
    manual = tmp_path / "manual"
    manual.mkdir()
    for stem, pairs in REQUIRED.items():
        write_split(manual, stem, pairs[:1])
    builder = build(tmp_path / "tfds", source_dir=manual)
    assert builder.info.splits["train"].num_examples == 1


def test_without_local_files_downloads_the_official_urls(tmp_path, monkeypatch):
    """Offline check of the download branch: a fake DownloadManager serves fixture files."""
    monkeypatch.delenv("MULTI30K_DIR", raising=False)
    folder = write_multi30k(tmp_path / "served", optional=True)
    requested = {}

    class FakeDownloadManager:
        @property
        def manual_dir(self):
            raise AssertionError("Manual directory not enabled.")

        def download(self, urls):
            requested.update(urls)
            return {name: folder / name for name in urls}

    builder = tfds.builder("multi30k/de-en", data_dir=str(tmp_path / "tfds"))
    generators = builder._split_generators(FakeDownloadManager())
    assert len(requested) == 12
    assert requested["test_2018_flickr.en.gz"] == (
        "https://github.com/multi30k/dataset/raw/master/data/task1/raw/test_2018_flickr.en.gz"
    )
    assert set(generators) == set(REQUIRED_SPLITS) | set(OPTIONAL)
    assert sorted(ex for _, ex in generators["test_2017_mscoco"]) == [
        {"de": de, "en": en} for de, en in OPTIONAL["test_2017_mscoco"]
    ]


def test_tfds_build_command_builds_it(source_dir, tmp_path):
    """What `tfds build multi30k --imports tf_transformer.data ...` runs."""
    import simple_parsing
    from tensorflow_datasets.scripts.cli import build as tfds_build

    data_dir = tmp_path / "tfds"
    argv = f"multi30k --imports tf_transformer.data --data_dir {data_dir} --config en-de"
    simple_parsing.parse(tfds_build.Args, args=argv).execute()
    builder = tfds.builder("multi30k/en-de", data_dir=str(data_dir))
    assert builder.info.splits["train"].num_examples == len(REQUIRED["train"])


def test_recorded_checksums_cover_the_required_files():
    url_infos = multi30k.Multi30k.url_infos
    required = {f"{stem}.{lang}.gz" for stem in REQUIRED for lang in ("de", "en")}
    assert {info.filename for info in url_infos.values()} == required
    train_de = url_infos[multi30k.URL_TEMPLATE.format(stem="train", lang="de")]
    assert train_de.checksum == "726e39b2fa9eb9ffb6dc763fb35a179f80fae06ffc5d28b6ace5faa883de28a6"
    assert train_de.size == 637044


def test_missing_file_names_it_and_both_ways_to_provide_it(source_dir, tmp_path):
    (source_dir / "val.en.gz").unlink()
    with pytest.raises(FileNotFoundError) as error:
        build(tmp_path / "tfds")
    message = str(error.value)
    assert "val.en.gz" in message and "MULTI30K_DIR" in message and "manual_dir" in message


def test_optional_split_with_one_language_missing_is_an_error(source_dir, tmp_path):
    write_file(source_dir / "test_2017_flickr.de.gz", ["Ein Hund."])
    with pytest.raises(FileNotFoundError, match="test_2017_flickr.en.gz"):
        build(tmp_path / "tfds")


def test_env_pointing_nowhere_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("MULTI30K_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="MULTI30K_DIR"):
        build(tmp_path / "tfds")


def test_corrupt_gzip_is_reported(source_dir, tmp_path):
    data = (source_dir / "train.de.gz").read_bytes()
    (source_dir / "train.de.gz").write_bytes(data[: len(data) // 2])  # truncated download
    with pytest.raises(ValueError, match="train.de.gz is not a valid gzipped UTF-8 text file"):
        build(tmp_path / "tfds")


def test_line_count_mismatch_names_both_counts(source_dir, tmp_path):
    write_file(source_dir / "val.en.gz", [en for _, en in REQUIRED["val"]][:-1])
    with pytest.raises(ValueError, match=r"val.de.gz has 5 lines, .*val.en.gz has 4"):
        build(tmp_path / "tfds")


def test_empty_line_is_an_error_naming_its_number(source_dir, tmp_path):
    lines = [en for _, en in REQUIRED["val"]]
    lines[2] = "   "
    write_file(source_dir / "val.en.gz", lines)
    with pytest.raises(ValueError, match="val.en.gz: line 3 is empty"):
        build(tmp_path / "tfds")


def test_read_lines_strips_whitespace_and_keeps_line_alignment(tmp_path):
    path = tmp_path / "x.de.gz"
    with gzip.open(path, "wb") as f:
        f.write("\ufeffEin Mann .\r\n  zwei\u2028Hunde \nDrei\n".encode())  # with a BOM
    assert multi30k.read_lines(path) == ["Ein Mann .", "zwei\u2028Hunde", "Drei"]


def test_multi30k_dir_reads_the_environment(monkeypatch):
    monkeypatch.setenv("MULTI30K_DIR", "/some/folder")
    assert multi30k_dir() == "/some/folder"
    monkeypatch.delenv("MULTI30K_DIR")
    assert multi30k_dir() is None


@requires_real_data
def test_real_data_split_sizes(real_builder):
    present = {split: info.num_examples for split, info in real_builder.info.splits.items()}
    expected = {split: multi30k.SPLIT_SIZES[split] for split in present}
    assert present == expected
    assert set(REQUIRED_SPLITS) <= set(present)
    optional_files = [real_data_dir() / f"{stem}.de.gz" for stem in OPTIONAL]
    assert set(present) - set(REQUIRED_SPLITS) == {
        split for split, path in zip(OPTIONAL, optional_files) if path.exists()
    }
