"""Real token data for the language-model tests: byte-level windows of the repository's own English docs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]

#: Byte-level vocabulary and window length of the language-model tests.
VOCAB, CONTEXT = 256, 32


def byte_windows(context: int = CONTEXT) -> torch.Tensor:
    """``[N, context + 1]`` int64 non-overlapping byte windows of README.md and docs/*.md (in file order)."""
    text = b"".join(p.read_bytes() for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))])
    ids = torch.tensor(list(text), dtype=torch.long)
    n = (len(ids) - 1) // context
    return torch.stack([ids[i * context:i * context + context + 1] for i in range(n)])


class TokenBatches:
    """A factory of identical streams of ``(x, y)`` batches (``y`` = ``x`` shifted by one token) over the training
    windows, recording the windows each stream handed out (to check that two runs saw the same data)."""

    def __init__(self, windows: torch.Tensor, batch_size: int = 16, seed: int = 0) -> None:
        self.windows, self.batch_size, self.seed = windows, batch_size, seed
        self.streams: list[list[int]] = []

    def __call__(self):
        g = torch.Generator().manual_seed(self.seed)
        record: list[int] = []
        self.streams.append(record)
        while True:
            perm = torch.randperm(len(self.windows), generator=g)
            for i in range(0, len(perm) - self.batch_size + 1, self.batch_size):
                w = self.windows[perm[i:i + self.batch_size]]
                record.append(int(w.sum()))
                yield w[:, :-1], w[:, 1:]


@pytest.fixture(scope="session")
def token_windows() -> torch.Tensor:
    """:func:`byte_windows` of the default context."""
    return byte_windows()


@pytest.fixture(scope="session")
def token_data() -> tuple[TokenBatches, list[tuple[torch.Tensor, torch.Tensor]]]:
    """Training batches (all windows but the first 16) and one test batch of the first 16 windows."""
    windows = byte_windows()
    test = windows[:16]
    return TokenBatches(windows[16:]), [(test[:, :-1], test[:, 1:])]
