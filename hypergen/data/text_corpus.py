"""Documents of a text corpus, read from a file or a folder, and their deterministic train / val / test split.

Pure functions, no tokenisation (that is :mod:`hypergen.data.text_tokenizer`). A *layout* says what one document is:

- ``"dict"``: one entry of a dictd database (``.dict`` or ``.dict.dz``, e.g. GCIDE). With the database's ``.index``
  file beside it the entries are its exact extents; without it an entry starts at a non-indented line after a blank
  line. The ``00-database-*`` header entries (and the licence text between the index's extents) are skipped.
- ``"fortune"``: one entry of a ``fortune`` file (entries are separated by lines holding ``%``).
- ``"paragraphs"``: one blank-line separated paragraph.
- ``"file"``: a whole file.

``.gz`` and ``.dz`` files are read through gzip (dictzip files are gzip files). A folder is read recursively, files
in sorted order.
"""

from __future__ import annotations

import gzip
import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

__all__ = ["LAYOUTS", "Layout", "corpus_files", "read_documents", "source_files", "split_documents"]

Layout = Literal["auto", "dict", "fortune", "paragraphs", "file"]
LAYOUTS: tuple[str, ...] = ("auto", "dict", "fortune", "paragraphs", "file")

_DICT_SUFFIXES = (".dict", ".dict.dz")
_HEADER_PREFIX = "00-"  # dictd's 00-database-* (and GCIDE's 00-gcide-*, 00-web1913-*) header entries
_BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_ENTRY_START = re.compile(r"\n\s*\n(?=\S)")  # a blank line, then a line that starts without indentation
_BLANK_LINES = re.compile(r"\n\s*\n")
_FORTUNE_SEPARATOR = re.compile(r"^%\s*$", re.MULTILINE)


def _read_text(path: Path) -> str:
    """The file as text: gzip-decompressed for ``.gz`` / ``.dz``, UTF-8 with undecodable bytes replaced."""
    raw = gzip.open(path, "rb").read() if path.suffix in (".gz", ".dz") else path.read_bytes()
    return raw.decode("utf-8", errors="replace")


def _is_dict_file(path: Path) -> bool:
    return path.name.endswith(_DICT_SUFFIXES)


def _decode_base64_number(text: str) -> int:
    """A dictd index number (offset or length): base 64, most significant digit first."""
    value = 0
    for char in text:
        value = value * 64 + _BASE64.index(char)
    return value


def _dict_index(path: Path) -> Path | None:
    """The ``.index`` file of a dictd database ``<stem>.dict[.dz]``, if it exists."""
    stem = path.name.removesuffix(".dz").removesuffix(".dict")
    index = path.with_name(f"{stem}.index")
    return index if index.is_file() else None


def _dict_entries(path: Path) -> Iterator[str]:
    """The entries of a dictd database, headers skipped, in file order."""
    raw = gzip.open(path, "rb").read() if path.suffix == ".dz" else path.read_bytes()
    index = _dict_index(path)
    if index is None:
        for entry in _ENTRY_START.split(raw.decode("utf-8", errors="replace")):
            if entry.strip() and not entry.lstrip().startswith(_HEADER_PREFIX):
                yield entry.strip("\n")
        return
    extents: set[tuple[int, int]] = set()  # several headwords can point at one entry
    for line in index.read_text(encoding="utf-8", errors="replace").splitlines():
        fields = line.split("\t")
        if len(fields) >= 3 and not fields[0].startswith(_HEADER_PREFIX):
            extents.add((_decode_base64_number(fields[1]), _decode_base64_number(fields[2])))
    for offset, length in sorted(extents):
        yield raw[offset:offset + length].decode("utf-8", errors="replace").strip("\n")


def _file_documents(path: Path, layout: Layout) -> Iterator[str]:
    """The documents of one file under ``layout`` (``"auto"`` is resolved by the caller)."""
    if layout == "dict":
        yield from _dict_entries(path)
        return
    text = _read_text(path)
    if layout == "file":
        parts = [text]
    elif layout == "fortune":
        parts = _FORTUNE_SEPARATOR.split(text)
    else:
        parts = _BLANK_LINES.split(text)
    for part in parts:
        if part.strip():
            yield part.strip("\n")


def corpus_files(root: Path, pattern: str) -> list[Path]:
    """The files a folder contributes: ``root.glob(pattern)``, regular files only, each once, in sorted order.

    Symbolic links to a file already listed (``fortune``'s ``*.u8`` links) and ``fortune``'s ``.dat`` index files
    are left out.
    """
    seen: set[Path] = set()
    files = []
    for path in sorted(root.glob(pattern)):
        resolved = path.resolve()
        if path.is_file() and path.suffix != ".dat" and resolved not in seen:
            seen.add(resolved)
            files.append(path)
    return files


def source_files(source: Path, pattern: str = "**/*.txt") -> list[Path]:
    """Every file that reading ``source`` opens: a folder's :func:`corpus_files`, a dictd database and its
    ``.index``, or the file itself (what a cache of the corpus must watch for changes)."""
    if source.is_dir():
        return corpus_files(source, pattern)
    index = _dict_index(source) if _is_dict_file(source) else None
    return [source] if index is None else [source, index]


def read_documents(source: Path, layout: Layout = "auto", pattern: str = "**/*.txt",
                   max_chars: int | None = None) -> list[str]:
    """Read the documents of a text source, in a fixed order.

    Args:
        source: a file (``.txt``, ``.gz``, ``.dz``, a dictd ``.dict[.dz]``, a fortune file...) or a folder.
        layout: what one document is (see the module docstring). ``"auto"``: ``"dict"`` for ``*.dict[.dz]`` files,
            ``"file"`` for the files of a folder, ``"paragraphs"`` for any other single file.
        pattern: glob of the files read from a folder (recursive ``**/*.txt`` by default).
        max_chars: stop once this many characters are read (the last document is cut there); None reads all.

    Returns:
        The non-empty documents, leading and trailing newlines removed.

    Raises:
        FileNotFoundError: ``source`` does not exist.
        ValueError: unknown ``layout``, or a folder with no file matching ``pattern``.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"unknown text layout {layout!r}; expected one of {list(LAYOUTS)}")
    if not source.exists():
        raise FileNotFoundError(f"text source {source} does not exist")
    if source.is_dir():
        files = corpus_files(source, pattern)
        if not files:
            raise ValueError(f"no file under {source} matches {pattern!r}; pass another pattern= or root=")
    else:
        files = [source]
    documents: list[str] = []
    remaining = max_chars
    for path in files:
        file_layout = layout
        if layout == "auto":
            file_layout = "dict" if _is_dict_file(path) else "file" if source.is_dir() else "paragraphs"
        for document in _file_documents(path, file_layout):
            if remaining is not None:
                document = document[:remaining]
                remaining -= len(document)
            if document:
                documents.append(document)
            if remaining is not None and remaining <= 0:
                return documents
    return documents


def _document_key(document: str, seed: int) -> bytes:
    return hashlib.blake2b(document.encode("utf-8"), digest_size=8, salt=seed.to_bytes(8, "little")).digest()


def split_documents(documents: list[str], val_fraction: float, test_fraction: float,
                    seed: int = 0) -> dict[str, list[int]]:
    """Split documents into train / val / test by a stable hash of their text.

    Documents are ordered by ``blake2b(text, salt=seed)`` (ties by position); the first ``round(test_fraction * N)``
    go to test, the next ``round(val_fraction * N)`` to val (at least one each when the fraction is positive), the
    rest to train. A document's split therefore depends on its text, not on its position, and identical documents
    are next to each other in that order (they rarely straddle two splits).

    Args:
        documents: the texts.
        val_fraction: share of the documents held out for validation, in ``[0, 1)``.
        test_fraction: share held out for testing, in ``[0, 1)``.
        seed: salt of the hash; another seed gives another split.

    Returns:
        ``{"train": [...], "val": [...], "test": [...]}``: disjoint document positions, each list ascending.

    Raises:
        ValueError: a fraction out of range, or too few documents to leave one for training.
    """
    num_documents = len(documents)
    if not (0.0 <= val_fraction < 1.0 and 0.0 <= test_fraction < 1.0):
        raise ValueError(f"val_fraction and test_fraction must be in [0, 1), got {val_fraction} and {test_fraction}")
    counts = [max(1, round(f * num_documents)) if f > 0 else 0 for f in (test_fraction, val_fraction)]
    if sum(counts) >= num_documents:
        raise ValueError(
            f"{num_documents} documents cannot be split into test ({counts[0]}), val ({counts[1]}) and a non-empty "
            "train part; use a larger corpus (max_chars=, root=) or smaller val_fraction / test_fraction"
        )
    order = sorted(range(num_documents), key=lambda i: (_document_key(documents[i], seed), i))
    test, val, train = order[:counts[0]], order[counts[0]:sum(counts)], order[sum(counts):]
    return {"train": sorted(train), "val": sorted(val), "test": sorted(test)}
