"""Read labeled text from CSV, TSV, JSONL, Parquet, or a directory of per-label folders."""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

import pandas as pd

from tunekit.errors import DataError

log = logging.getLogger("tunekit")
AUTO = "auto"
FALLBACK_ENCODINGS = ("cp1252", "latin-1")  # latin-1 decodes any byte, so it is the last resort

TABLE_SUFFIXES = (".csv", ".tsv", ".jsonl", ".json", ".parquet", ".txt")


def read_table(path: str | Path, *, encoding: str | None = None, tsv_quoting: str = "none",
               text_columns: tuple[str, ...] = ()) -> pd.DataFrame:
    """Read one data source into a DataFrame.

    A directory is read as one sub-folder per label holding `.txt` files (columns `text`, `label`).
    ``text_columns`` are read as strings so numeric-looking text stays text.

    Raises:
        DataError: the path is missing, the format unknown, the file empty, or not decodable.
    """
    path = Path(path)
    if path.is_dir():
        return _read_label_folders(path, encoding)
    if not path.is_file():
        raise DataError(f"data file {path} does not exist",
                        "check the path in `data.train`/`data.validation`/`data.test`")
    if path.stat().st_size == 0:
        raise DataError(f"data file {path} is empty", "point the option at a file with a header and rows")
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise DataError(f"{path}: unknown data format `{suffix}`",
                        "use .csv, .tsv, .jsonl, .parquet, or a directory with one sub-folder per label")
    if encoding == AUTO:
        encoding = detect_encoding(path.read_bytes(), path)
    try:
        frame = _read_by_suffix(path, suffix, encoding or "utf-8-sig", tsv_quoting, text_columns)
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{path} is not valid {encoding or 'UTF-8'} (byte 0x{exc.object[exc.start]:02x} at offset {exc.start})",
            "set `data.encoding` to the file's encoding (e.g. data.encoding=cp1252 for Windows files), "
            "or data.encoding=auto to fall back to cp1252/latin-1 where UTF-8 fails",
        ) from None
    except (ValueError, pd.errors.ParserError, json.JSONDecodeError) as exc:
        raise DataError(f"{path} could not be parsed as {suffix[1:].upper()}: {exc}",
                        "check the file's format, delimiter and quoting (`data.tsv_quoting`)") from None
    if frame.empty:
        raise DataError(f"data file {path} has no rows", "add labeled rows below the header")
    return frame


def _read_by_suffix(path: Path, suffix: str, encoding: str, tsv_quoting: str,
                    text_columns: tuple[str, ...]) -> pd.DataFrame:
    as_text = dict.fromkeys(text_columns, str)
    if suffix == ".csv":
        return pd.read_csv(path, encoding=encoding, dtype=as_text, keep_default_na=False, na_values=[""])
    if suffix in (".tsv", ".txt"):
        quoting = csv.QUOTE_NONE if tsv_quoting == "none" else csv.QUOTE_MINIMAL
        return pd.read_csv(path, sep="\t", encoding=encoding, quoting=quoting, dtype=as_text,
                           keep_default_na=False, na_values=[""])
    if suffix in (".jsonl", ".json"):
        with open(path, encoding=encoding) as handle:
            text = handle.read()
        if suffix == ".json" and text.lstrip().startswith("["):
            return pd.DataFrame(json.loads(text))
        rows = []
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise ValueError(f"line {number} is not JSON ({exc.msg})") from None
        return pd.DataFrame(rows)
    return pd.read_parquet(path)


def _read_label_folders(root: Path, encoding: str | None) -> pd.DataFrame:
    rows = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for file in sorted(folder.glob("*.txt")):
            raw = file.read_bytes()
            file_encoding = detect_encoding(raw, file) if encoding == AUTO else encoding or "utf-8-sig"
            try:
                rows.append({"text": raw.decode(file_encoding).strip(), "label": folder.name})
            except UnicodeDecodeError:
                raise DataError(f"{file} is not valid {file_encoding}",
                                "set `data.encoding` (e.g. cp1252), or data.encoding=auto to detect per file") from None
    if not rows:
        raise DataError(f"{root} has no <label>/*.txt files",
                        "lay the directory out as one sub-folder per label, each holding .txt files")
    return pd.DataFrame(rows)


def detect_encoding(raw: bytes, path: Path) -> str:
    """UTF-8 when the bytes decode as UTF-8, else the first fallback that does (with a warning)."""
    try:
        raw.decode("utf-8")
        return "utf-8-sig" if raw.startswith(b"\xef\xbb\xbf") else "utf-8"
    except UnicodeDecodeError:
        pass
    for candidate in FALLBACK_ENCODINGS:
        try:
            raw.decode(candidate)
        except UnicodeDecodeError:
            continue
        log.warning("%s is not UTF-8; decoding it as %s", path, candidate)
        return candidate
    return "latin-1"


def read_text_file(path: Path, encoding: str | None = None) -> str:
    """A whole text file, decoded like the data files (`data.encoding`, `auto`), with a clear error.

    Raises:
        DataError: the file is missing or not decodable with ``encoding``.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path} does not exist", "check the path")
    raw = path.read_bytes()
    chosen = detect_encoding(raw, path) if encoding == AUTO else encoding or "utf-8-sig"
    try:
        return raw.decode(chosen)
    except UnicodeDecodeError:
        raise DataError(f"{path} is not valid {chosen}",
                        "set `data.encoding` in the run's config, or convert the file to UTF-8") from None
