"""Synonyms from WordNet (Miller 1995), read straight from the database files; absent WordNet is a skip, not a crash.

Debian's `wordnet-base` package installs the database in /usr/share/wordnet. nltk's `WordNetCorpusReader`
cannot read that copy (it requires a `lexnames` file Debian leaves out), so the synonym sets are parsed from
the `data.*` files directly: each line is one synset listing its words.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from pathlib import Path

SynonymFn = Callable[[str], list[str]]
WORDNET_DIRS = ("/usr/share/wordnet", "/usr/local/share/wordnet", "/usr/share/wordnet-3.0/dict")
INSTALL_HINT = "install WordNet (Debian/Ubuntu: `apt-get install wordnet-base`) or set TUNEKIT_WORDNET_DIR"
POS_FILES = ("data.noun", "data.verb", "data.adj", "data.adv")


def find_wordnet() -> Path | None:
    """The first directory holding WordNet's data files: $TUNEKIT_WORDNET_DIR, then the usual install paths."""
    candidates = [os.environ["TUNEKIT_WORDNET_DIR"]] if os.environ.get("TUNEKIT_WORDNET_DIR") else []
    for candidate in [*candidates, *WORDNET_DIRS]:
        if all((Path(candidate) / name).is_file() for name in POS_FILES):
            return Path(candidate)
    return None


@functools.lru_cache(maxsize=2)
def _read_synsets(root: str) -> dict[str, tuple[str, ...]]:
    synonyms: dict[str, set[str]] = {}
    for name in POS_FILES:
        with open(Path(root) / name, encoding="latin-1") as handle:
            for line in handle:
                if line.startswith(" "):  # the license header
                    continue
                fields = line.split(" ", 4)
                count = int(fields[3], 16)
                words = line.split(" ")[4:4 + 2 * count:2]
                lemmas = {w.split("(")[0].lower() for w in words}  # "(a)", "(p)": adjective position markers
                lemmas = {w for w in lemmas if w.isalpha()}  # single words only: no "ice_cream"
                for word in lemmas:
                    synonyms.setdefault(word, set()).update(lemmas - {word})
    return {word: tuple(sorted(others)) for word, others in synonyms.items() if others}


def wordnet_synonyms() -> tuple[SynonymFn | None, str | None]:
    """``(synonyms_of, None)`` when WordNet is installed, else ``(None, reason with the install command)``."""
    root = find_wordnet()
    if root is None:
        return None, f"WordNet not found in {', '.join(WORDNET_DIRS)}: {INSTALL_HINT}"
    table = _read_synsets(str(root))
    return (lambda word: list(table.get(word.lower(), ()))), None


def table_synonyms(table: Mapping[str, list[str]]) -> SynonymFn:
    """Synonyms from a plain word → synonyms mapping (tests, or a user's domain thesaurus)."""
    lowered = {word.lower(): list(others) for word, others in table.items()}
    return lambda word: lowered.get(word.lower(), [])
