"""``benchmarks/bench_lm_scale.py``: the unigram yardstick's numbers, byte windows, and a clear error without data."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))  # the scripts import their helpers as top-level modules, as when run directly

import bench_lm_scale  # noqa: E402


def test_unigram_loss_uses_add_one_smoothed_training_frequencies() -> None:
    # counts 3, 1, 0, 0 -> probabilities 4/8, 2/8, 1/8, 1/8
    loss = bench_lm_scale.unigram_loss(torch.tensor([3, 1, 0, 0]), torch.tensor([[0, 1]]))
    assert loss == pytest.approx(-(math.log(0.5) + math.log(0.25)) / 2)
    # no training tokens: uniform, ln V
    assert bench_lm_scale.unigram_loss(torch.zeros(256, dtype=torch.long), torch.tensor([7])) == \
        pytest.approx(math.log(256))


def test_byte_windows_hold_out_the_end_of_the_file(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_bytes(bytes(range(256)) * 4)  # 1024 bytes: the test split is the last 103
    task = bench_lm_scale._byte_task(path, context=8, windows=3)
    assert task["x"].shape == task["y"].shape == (3, 8) and task["vocab"] == 256
    assert torch.equal(task["y"][:, :-1], task["x"][:, 1:])  # y is x shifted by one token
    assert int(task["x"][0, 0]) == 921 % 256 and int(task["counts"].sum()) == 921
    with pytest.raises(SystemExit, match="fewer than --test-windows"):
        bench_lm_scale._byte_task(path, context=64, windows=16)


def test_without_the_text_dataset_it_says_to_use_a_byte_file() -> None:
    from hypergen.data import list_datasets

    if "text" in list_datasets():
        pytest.skip("the text dataset is registered here")
    with pytest.raises(SystemExit, match="--byte-file"):
        bench_lm_scale._text_task({"context": 64}, 16)
    with pytest.raises(SystemExit, match="key=value"):
        bench_lm_scale._parse_options(["context"])
    assert bench_lm_scale._parse_options(["context=64", "tokenizer=bpe"]) == {"context": 64, "tokenizer": "bpe"}
