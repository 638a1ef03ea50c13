"""Tiny Multi30k-like files that the tests write themselves, and where the real data is."""

import gzip
import pathlib

import pytest

from tf_transformer.data import multi30k_dir

_SUBJECTS = [
    ("A man", "Ein Mann"),
    ("A woman", "Eine Frau"),
    ("A dog", "Ein Hund"),
    ("A little girl", "Ein kleines Mädchen"),
    ("An old worker", "Ein alter Arbeiter"),
    ("A boy in a hat", "Ein Junge mit Hut"),
]
_ACTIONS = [
    ("runs along the beach.", "läuft am Strand entlang."),
    ("is sitting in a café, reading.", "sitzt in einem Café und liest."),
    ("plays with a red ball!", "spielt mit einem roten Ball!"),
    ('stands near a "STOP" sign.', "steht neben einem „STOP“-Schild."),
    ("climbs a rock (very high).", "klettert auf einen Felsen (sehr hoch)."),
    ("looks at the camera?", "schaut in die Kamera?"),
    ("wears a hat; it's blue.", "trägt einen Hut; er ist blau."),
    ("walks 2 km to work.", "geht 2 km zur Arbeit."),
]
# 48 (de, en) pairs with natural punctuation and non-ASCII letters.
PAIRS = [(f"{sde} {ade}", f"{sen} {aen}") for sen, sde in _SUBJECTS for aen, ade in _ACTIONS]
# Fixture folders: train 40 pairs, validation 5, test_2016_flickr 3.
REQUIRED = {"train": PAIRS[:40], "val": PAIRS[40:45], "test_2016_flickr": PAIRS[45:]}
OPTIONAL = {
    "test_2017_flickr": PAIRS[:2],
    "test_2017_mscoco": PAIRS[2:3],
    "test_2018_flickr": PAIRS[3:7],
}
# Small enough for the fixture corpus: 4 specials + 256 byte pieces + its characters.
FIXTURE_VOCAB_SIZE = 400


def write_file(path: pathlib.Path, lines: list[str]) -> None:
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write("".join(line + "\n" for line in lines))


def write_split(folder: pathlib.Path, stem: str, pairs: list[tuple[str, str]]) -> None:
    write_file(folder / f"{stem}.de.gz", [de for de, _ in pairs])
    write_file(folder / f"{stem}.en.gz", [en for _, en in pairs])


def write_multi30k(folder: pathlib.Path, optional: bool = False) -> pathlib.Path:
    """Writes the required fixture splits (and the optional ones if asked) into folder."""
    folder.mkdir(parents=True, exist_ok=True)
    for stem, pairs in {**REQUIRED, **(OPTIONAL if optional else {})}.items():
        write_split(folder, stem, pairs)
    return folder


def real_data_dir() -> pathlib.Path:
    """$MULTI30K_DIR, else the shared copy beside the repository (../shared/data/multi30k)."""
    repo = pathlib.Path(__file__).resolve().parents[2]
    return pathlib.Path(multi30k_dir() or repo.parent / "shared" / "data" / "multi30k")


requires_real_data = pytest.mark.skipif(
    not (real_data_dir() / "train.de.gz").exists(),
    reason=f"real Multi30k files not found in {real_data_dir()} (set MULTI30K_DIR)",
)
