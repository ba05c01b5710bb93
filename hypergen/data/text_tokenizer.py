"""Tokenizers of the ``text`` task, built with Hugging Face ``tokenizers`` (locally, never downloaded).

- ``"byte"``: the 256 byte values are ids ``0..255`` (a BPE model with no merges and ``byte_fallback``), the
  end-of-text token is 256; vocabulary 257, nothing to train.
- ``"bpe"``: a byte-level BPE (GPT-2's scheme: every byte is in the alphabet, so any text encodes) trained on the
  documents given; the end-of-text token is id 0.

Documents are encoded into one stream of ids with the end-of-text token after every document.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Literal

import numpy as np

if TYPE_CHECKING:
    from tokenizers import Tokenizer

__all__ = [
    "BYTE_VOCAB_SIZE", "END_OF_TEXT", "TOKENIZERS", "TokenizerKind", "byte_tokenizer", "encode_documents",
    "import_tokenizers", "train_bpe_tokenizer",
]

TokenizerKind = Literal["bpe", "byte"]
TOKENIZERS: tuple[str, ...] = ("bpe", "byte")
END_OF_TEXT = "<|endoftext|>"
BYTE_VOCAB_SIZE = 257  # 256 bytes + end-of-text
_ENCODE_CHUNK = 4096  # documents per encode call: bounds the memory of the intermediate Encoding objects


def import_tokenizers() -> ModuleType:
    """The ``tokenizers`` module, imported on first use (``import hypergen.data`` does not need it).

    Raises:
        ImportError: it is not installed (says how to install it).
    """
    try:
        import tokenizers
    except ImportError as err:
        raise ImportError(
            f"dataset 'text' needs Hugging Face tokenizers ({err}); install it with `pip install 'hypergen[data]'`"
        ) from err
    return tokenizers


def byte_tokenizer() -> Tokenizer:
    """A ``tokenizers.Tokenizer`` whose ids are the UTF-8 bytes of the text (0..255) plus end-of-text (256)."""
    tk = import_tokenizers()
    vocab = {f"<0x{value:02X}>": value for value in range(256)}
    vocab[END_OF_TEXT] = 256
    tokenizer = tk.Tokenizer(tk.models.BPE(vocab=vocab, merges=[], byte_fallback=True))
    tokenizer.add_special_tokens([tk.AddedToken(END_OF_TEXT, special=True)])
    tokenizer.decoder = tk.decoders.ByteFallback()
    return tokenizer


def train_bpe_tokenizer(documents: Sequence[str], vocab_size: int, min_frequency: int = 2) -> Tokenizer:
    """Train a byte-level BPE tokenizer on ``documents``.

    Args:
        documents: training texts (only these are seen).
        vocab_size: at most this many tokens: end-of-text (id 0), the 256 byte symbols, then merges. A corpus with
            fewer distinct pairs than needed gives a smaller vocabulary.
        min_frequency: a pair is merged only if it occurs at least this often.

    Returns:
        The trained ``tokenizers.Tokenizer``.

    Raises:
        ValueError: ``vocab_size`` < 257 (the byte alphabet and end-of-text need 257 ids).
    """
    if vocab_size < BYTE_VOCAB_SIZE:
        raise ValueError(
            f"vocab_size={vocab_size} is too small for a byte-level BPE: it needs at least {BYTE_VOCAB_SIZE} "
            "(256 byte symbols + end-of-text); use e.g. 2048, or tokenizer='byte'"
        )
    tk = import_tokenizers()
    tokenizer = tk.Tokenizer(tk.models.BPE())
    tokenizer.pre_tokenizer = tk.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = tk.decoders.ByteLevel()
    trainer = tk.trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=[END_OF_TEXT],
        initial_alphabet=tk.pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    tokenizer.train_from_iterator(documents, trainer, length=len(documents))
    return tokenizer


def encode_documents(tokenizer: Tokenizer, documents: Sequence[str]) -> np.ndarray:
    """Encode documents into one stream, the end-of-text id after each.

    Args:
        tokenizer: a ``tokenizers.Tokenizer`` that has the :data:`END_OF_TEXT` token.
        documents: texts, in stream order.

    Returns:
        ``[num_tokens]`` ids, ``uint16`` when the vocabulary fits (it does for ``vocab_size <= 65536``), else
        ``int32``.
    """
    end_of_text = tokenizer.token_to_id(END_OF_TEXT)
    dtype = np.uint16 if tokenizer.get_vocab_size() <= 1 << 16 else np.int32
    pieces: list[np.ndarray] = []
    for start in range(0, len(documents), _ENCODE_CHUNK):
        encodings = tokenizer.encode_batch_fast(list(documents[start:start + _ENCODE_CHUNK]), add_special_tokens=False)
        for encoding in encodings:
            pieces.append(np.asarray(encoding.ids, dtype=dtype))
            pieces.append(np.asarray([end_of_text], dtype=dtype))
    return np.concatenate(pieces) if pieces else np.zeros(0, dtype=dtype)
