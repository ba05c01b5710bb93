"""``text``: causal language modelling on a local English corpus, by default the GCIDE dictionary; never downloads.

A sample is ``(x, y)``, both ``int64 [context]``: a window of token ids and the ids that follow each of them
(``y[t] == x[t + 1]``, and ``y[-1]`` is the token after the window). Windows do not overlap; they tile the stream of a
split's documents, each document followed by the end-of-text token.

Pipeline (:meth:`TextSpec.prepare`, run once and cached):

1. read the documents of the source (:func:`~hypergen.data.text_corpus.read_documents`): by default the GCIDE
   dictionary of the Debian package ``dict-gcide`` (``/usr/share/dictd/gcide.dict.dz``, 126k entries, 39.7 M
   characters; one entry is one document), or ``root`` / ``$HYPERGEN_TEXT_ROOT``: any text file, a folder of
   ``*.txt`` files, a fortune file...; at most ``max_chars`` characters;
2. split the *documents* into train / val / test by a stable hash of their text
   (:func:`~hypergen.data.text_corpus.split_documents`), so validation and test text is never seen in training;
3. tokenise (:mod:`~hypergen.data.text_tokenizer`): ``"byte"`` (257 ids) or a byte-level BPE of ``vocab_size`` ids
   trained on the training documents only;
4. save ``tokenizer.json`` and ``{train,val,test}.npy`` (``uint16`` ids) in ``cache_dir/<source>-<hash>/``, the hash
   covering the source (path, size, modification time), the tokenizer and split settings and ``max_chars``.

Cost on our busy 2-core machine, whole GCIDE (``max_chars=None``, the default): reading and splitting 1-2 s, BPE
training (vocabulary 2048) 16-27 s, encoding 30-55 s, i.e. 45-85 s once, 760 MB peak memory; 12.9 M training tokens
(2.8 characters a token), 0.71 M validation and 0.71 M test tokens. ``max_chars=4_000_000``: about 13 s, 1.3 M
training tokens. Later loads read the cache in milliseconds (the token files are memory-mapped).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from torch.utils.data import Dataset

from hypergen.data.registry import DatasetSpec, Split, register_dataset
from hypergen.tasks import LANGUAGE_MODEL
from hypergen.data.text_corpus import LAYOUTS, Layout, read_documents, source_files, split_documents
from hypergen.data.text_tokenizer import (
    BYTE_VOCAB_SIZE, END_OF_TEXT, TOKENIZERS, TokenizerKind, byte_tokenizer, encode_documents, import_tokenizers,
    train_bpe_tokenizer,
)

if TYPE_CHECKING:
    from tokenizers import Tokenizer

__all__ = ["CACHE_ENV_VAR", "GCIDE_PATH", "ROOT_ENV_VAR", "TextSpec", "TokenWindows", "default_cache_dir"]

logger = logging.getLogger(__name__)

GCIDE_PATH = Path("/usr/share/dictd/gcide.dict.dz")
ROOT_ENV_VAR = "HYPERGEN_TEXT_ROOT"
CACHE_ENV_VAR = "HYPERGEN_CACHE"  # the same cache root as pretrained GHNs (hypergen.ghn.pretrained)
_TEXT_SPLITS: tuple[Split, ...] = ("train", "val", "test")
_CACHE_FORMAT = 1  # bump when the cached files change meaning


def default_cache_dir() -> Path:
    """``$HYPERGEN_CACHE/text``, else ``~/.cache/hypergen/text``."""
    return Path(os.environ.get(CACHE_ENV_VAR) or Path.home() / ".cache" / "hypergen") / "text"


class TokenWindows(Dataset):
    """Non-overlapping windows of a token stream, with their next-token targets.

    Window ``i`` is ``x = tokens[i*T : i*T + T]`` and ``y = tokens[i*T + 1 : i*T + T + 1]``.

    Args:
        tokens: ``[N]`` integer ids (any integer numpy dtype; memory-mapped arrays are fine).
        context: window length ``T``; there are ``(N - 1) // T`` windows.
    """

    def __init__(self, tokens: np.ndarray, context: int) -> None:
        if tokens.ndim != 1 or context < 1:
            raise ValueError(f"expected a 1-d token array and context >= 1, got {tokens.shape} and {context}")
        self.tokens, self.context = tokens, context

    def __len__(self) -> int:
        return max(0, (self.tokens.shape[0] - 1) // self.context)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not 0 <= index < len(self):
            raise IndexError(f"window {index} out of range for {len(self)} windows")
        start = index * self.context
        chunk = torch.from_numpy(np.asarray(self.tokens[start:start + self.context + 1], dtype=np.int64))
        return chunk[:-1], chunk[1:]


@register_dataset("text")
@dataclass(frozen=True, kw_only=True)
class TextSpec(DatasetSpec):
    """Next-token prediction on local text: inputs and targets ``int64 [context]``, ``num_classes`` = vocabulary.

    It has its own validation split (held-out documents), so :class:`~hypergen.data.TaskDataModule` ignores its
    ``val_fraction`` for it, and its samples are token ids, which are neither normalised nor augmented: ``mean`` and
    ``std`` raise ``TypeError``.

    Attributes:
        root: the source: a text file (``.txt``, ``.gz``, ``.dz``, a dictd ``.dict[.dz]``) or a folder; default
            ``$HYPERGEN_TEXT_ROOT``, else GCIDE (``/usr/share/dictd/gcide.dict.dz``).
        context: tokens per window ``T`` (default 64).
        tokenizer: ``"bpe"`` (byte-level BPE trained on the training documents) or ``"byte"`` (257 ids).
        vocab_size: BPE vocabulary size (>= 257), i.e. ``num_classes``; ignored by ``"byte"``.
        max_chars: read at most this many characters of the source (None: all of it; GCIDE has 39.7 M).
        val_fraction: share of the documents held out for validation (default 0.05).
        test_fraction: share of the documents held out for testing (default 0.05).
        split_seed: salt of the document hash that decides the split.
        layout: what one document is: ``"auto"``, ``"dict"``, ``"fortune"``, ``"paragraphs"``, ``"file"``
            (:mod:`~hypergen.data.text_corpus`).
        pattern: glob of the files read from a folder (default ``"**/*.txt"``).
        cache_dir: where tokenizers and tokenised splits are cached (default :func:`default_cache_dir`).
    """

    context: int = 64
    tokenizer: TokenizerKind = "bpe"
    vocab_size: int = 2048
    max_chars: int | None = None
    val_fraction: float = 0.05
    test_fraction: float = 0.05
    split_seed: int = 0
    layout: Layout = "auto"
    pattern: str = "**/*.txt"
    cache_dir: str | Path | None = None

    name: ClassVar[str] = "text"
    task: ClassVar[str] = LANGUAGE_MODEL
    provides_val_split: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if self.download:
            raise ValueError("dataset 'text' reads local files and never downloads; pass download=False")
        if self.tokenizer not in TOKENIZERS:
            raise ValueError(f"text: unknown tokenizer {self.tokenizer!r}; expected one of {list(TOKENIZERS)}")
        if self.tokenizer == "bpe" and self.vocab_size < BYTE_VOCAB_SIZE:
            raise ValueError(
                f"text: vocab_size={self.vocab_size} is too small for a byte-level BPE, which needs at least "
                f"{BYTE_VOCAB_SIZE} ids (256 bytes + end-of-text); use e.g. 2048, or tokenizer='byte'"
            )
        if self.layout not in LAYOUTS:
            raise ValueError(f"text: unknown layout {self.layout!r}; expected one of {list(LAYOUTS)}")
        if self.context < 1 or (self.max_chars is not None and self.max_chars < 1):
            raise ValueError(f"text: context and max_chars must be >= 1, got {self.context} and {self.max_chars}")
        if not (0.0 <= self.val_fraction < 1.0 and 0.0 <= self.test_fraction < 1.0):
            raise ValueError(
                f"text: val_fraction and test_fraction must be in [0, 1), got {self.val_fraction} and "
                f"{self.test_fraction}"
            )

    @property
    def input_shape(self) -> tuple[int, ...]:  # type: ignore[override]
        """``(context,)``."""
        return (self.context,)

    @property
    def num_classes(self) -> int:  # type: ignore[override]
        """The vocabulary size: 257 for ``"byte"``, ``vocab_size`` for ``"bpe"`` (ids are below it)."""
        return BYTE_VOCAB_SIZE if self.tokenizer == "byte" else self.vocab_size

    @property
    def mean(self) -> tuple[float, ...]:  # type: ignore[override]
        """Not defined: token ids are not normalised (raises ``TypeError``)."""
        raise TypeError("dataset 'text' gives token ids, which have no mean/std; its samples are used unchanged")

    @property
    def std(self) -> tuple[float, ...]:  # type: ignore[override]
        """Not defined: token ids are not normalised (raises ``TypeError``)."""
        raise TypeError("dataset 'text' gives token ids, which have no mean/std; its samples are used unchanged")

    @property
    def source_path(self) -> Path:
        """The source read: ``root``, else ``$HYPERGEN_TEXT_ROOT``, else GCIDE.

        Raises:
            FileNotFoundError: it does not exist (says how to install GCIDE or point elsewhere).
        """
        path = Path(self.root or os.environ.get(ROOT_ENV_VAR) or GCIDE_PATH).expanduser()
        if not path.exists():
            raise FileNotFoundError(
                f"text source {path} not found. The default corpus is GCIDE: install the Debian package dict-gcide "
                f"(`sudo apt-get install dict-gcide`, or `bash scripts/setup.sh`), which provides {GCIDE_PATH}; or "
                f"pass root= (data.root=...) or set ${ROOT_ENV_VAR} to a text file or a folder of .txt files"
            )
        return path

    def _fingerprint(self) -> dict[str, Any]:
        """What the cached files depend on: the source files' paths, sizes and modification times, and options."""
        source = self.source_path.resolve()
        stats = [(str(path.resolve()), path.stat().st_size, path.stat().st_mtime_ns)
                 for path in source_files(source, self.pattern)]
        return {
            "format": _CACHE_FORMAT, "source": str(source), "files": stats, "layout": self.layout,
            "pattern": self.pattern if source.is_dir() else None, "max_chars": self.max_chars,
            "tokenizer": self.tokenizer, "vocab_size": self.vocab_size if self.tokenizer == "bpe" else None,
            "val_fraction": self.val_fraction, "test_fraction": self.test_fraction, "split_seed": self.split_seed,
        }

    @functools.cached_property
    def cache_path(self) -> Path:
        """The folder of this corpus's cached files: ``<cache_dir>/<source name>-<hash of the fingerprint>``."""
        fingerprint = self._fingerprint()
        digest = hashlib.sha1(json.dumps(fingerprint, sort_keys=True).encode()).hexdigest()[:16]
        root = Path(self.cache_dir).expanduser() if self.cache_dir is not None else default_cache_dir()
        stem = Path(fingerprint["source"]).name.split(".")[0] or "text"
        return root / f"{stem}-{self.tokenizer}-{digest}"

    def is_prepared(self) -> bool:
        """Whether the cache holds this corpus (then :meth:`prepare` does nothing)."""
        return (self.cache_path / "meta.json").is_file()

    def prepare(self) -> None:
        """Read, split, tokenise and cache the corpus, unless the cache already has it.

        Raises:
            FileNotFoundError: the source is missing (see :attr:`source_path`).
            ValueError: the source holds no text, or too few documents to split.
        """
        if self.is_prepared():
            return
        folder = self.cache_path
        folder.parent.mkdir(parents=True, exist_ok=True)
        building = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}-"))
        try:
            self._build(building)
            try:
                os.replace(building, folder)
            except OSError:  # another process finished the same corpus first: keep its files
                if not self.is_prepared():
                    raise
        finally:
            shutil.rmtree(building, ignore_errors=True)

    def _build(self, folder: Path) -> None:
        """Write ``tokenizer.json``, ``{train,val,test}.npy`` and ``meta.json`` (statistics) into ``folder``."""
        started = time.perf_counter()
        source = self.source_path
        documents = read_documents(source, self.layout, self.pattern, self.max_chars)
        if not documents:
            raise ValueError(
                f"text source {source} holds no text (layout={self.layout!r}, pattern={self.pattern!r}); "
                "point root= at a file or folder with text"
            )
        parts = split_documents(documents, self.val_fraction, self.test_fraction, self.split_seed)
        texts = {split: [documents[i] for i in parts[split]] for split in _TEXT_SPLITS}
        read_s = time.perf_counter() - started
        if self.tokenizer == "byte":
            tokenizer = byte_tokenizer()
        else:
            tokenizer = train_bpe_tokenizer(texts["train"], self.vocab_size)
        tokenizer.save(str(folder / "tokenizer.json"))
        trained_s = time.perf_counter() - started - read_s
        meta: dict[str, Any] = {"fingerprint": self._fingerprint(), "vocab_size": tokenizer.get_vocab_size()}
        for split in _TEXT_SPLITS:
            tokens = encode_documents(tokenizer, texts[split])
            np.save(folder / f"{split}.npy", tokens)
            meta[split] = {"documents": len(texts[split]), "characters": sum(map(len, texts[split])),
                           "tokens": int(tokens.shape[0])}
        meta["seconds"] = {"read_and_split": round(read_s, 2), "tokenizer": round(trained_s, 2),
                           "total": round(time.perf_counter() - started, 2)}
        (folder / "meta.json").write_text(json.dumps(meta, indent=1))
        logger.info("text: built %s in %.1f s (%s train tokens)", self.cache_path, meta["seconds"]["total"],
                    meta["train"]["tokens"])

    def stats(self) -> dict[str, Any]:
        """Statistics of the prepared corpus (built on demand): per split ``documents``, ``characters``, ``tokens``;
        the trained ``vocab_size``; build ``seconds``."""
        self.prepare()
        return json.loads((self.cache_path / "meta.json").read_text())

    def tokens(self, split: Split) -> np.ndarray:
        """The token stream of ``split`` (``[num_tokens]``, memory-mapped ``uint16``), built on demand."""
        if split not in _TEXT_SPLITS:
            raise ValueError(f"text: unknown split {split!r}; expected one of {list(_TEXT_SPLITS)}")
        self.prepare()
        return np.load(self.cache_path / f"{split}.npy", mmap_mode="r")

    def load(self, split: Split) -> TokenWindows:
        """Windows of ``split`` (``"train"``, ``"val"`` or ``"test"``): ``(x, y)`` int64 ``[context]`` each.

        Raises:
            ValueError: the split has fewer than ``context + 1`` tokens (not one window), unless its fraction is 0
                (then it has no windows).
        """
        tokens = self.tokens(split)
        fraction = {"val": self.val_fraction, "test": self.test_fraction}.get(split)
        if fraction == 0.0:  # held out nothing on purpose: no windows, as TaskDataModule's val_fraction=0
            return TokenWindows(tokens, self.context)
        if tokens.shape[0] < self.context + 1:
            raise ValueError(
                f"text: the {split} split has {tokens.shape[0]} tokens, fewer than one window (context + 1 = "
                f"{self.context + 1}); use more text (max_chars=, root=), a larger {split}_fraction or a smaller context"
            )
        return TokenWindows(tokens, self.context)

    def tokenizer_path(self) -> Path:
        """The ``tokenizer.json`` of this corpus (built on demand); open it with ``tokenizers.Tokenizer.from_file``."""
        self.prepare()
        return self.cache_path / "tokenizer.json"

    def load_tokenizer(self) -> Tokenizer:
        """The ``tokenizers.Tokenizer`` of this corpus (built on demand; a new object on every call)."""
        return import_tokenizers().Tokenizer.from_file(str(self.tokenizer_path()))

    @functools.cached_property
    def _tokenizer(self) -> Tokenizer:
        return self.load_tokenizer()

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` (no end-of-text added)."""
        return self._tokenizer.encode(text, add_special_tokens=False).ids

    def decode(self, ids: Sequence[int] | torch.Tensor | np.ndarray) -> str:
        """The text of token ids (any shape, read in order); end-of-text tokens are written as ``<|endoftext|>``."""
        flat = ids.reshape(-1).tolist() if isinstance(ids, (torch.Tensor, np.ndarray)) else list(ids)
        return self._tokenizer.decode([int(i) for i in flat], skip_special_tokens=False)

    @property
    def end_of_text_id(self) -> int:
        """Id of the end-of-text token: 256 for ``"byte"``, 0 for ``"bpe"``."""
        return 256 if self.tokenizer == "byte" else 0
