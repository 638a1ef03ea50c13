"""A synthetic language pair the tests generate: target = source words reversed, each
word replaced by a fixed random cipher word. Learnable in a few hundred steps, and no
test data set of the project uses it."""

import random

WORDS = ["ka", "lo", "mi", "nu", "pe", "ra", "si", "tu", "vo", "ze", "bi", "do"]


def cipher(seed: int = 7) -> dict:
    rng = random.Random(seed)
    targets = [f"{a}{b}" for a in "qxjw" for b in "aeiou"]
    return dict(zip(WORDS, rng.sample(targets, len(WORDS))))


def translate(sentence: str, table: dict) -> str:
    return " ".join(table[word] for word in reversed(sentence.split()))


def pairs(count: int, seed: int, min_words: int = 2, max_words: int = 5) -> list:
    """`count` (source, target) pairs of `min_words`..`max_words` words."""
    rng, table = random.Random(seed), cipher()
    sources = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(min_words, max_words)))
               for _ in range(count)]
    return [(source, translate(source, table)) for source in sources]


def write_tsv(path, rows) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(f"{source}\t{target}\n" for source, target in rows)


def write_aligned(source_path, target_path, rows) -> None:
    for path, side in ((source_path, 0), (target_path, 1)):
        with open(path, "w", encoding="utf-8") as f:
            f.writelines(row[side] + "\n" for row in rows)
