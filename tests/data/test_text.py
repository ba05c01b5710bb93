"""The ``text`` dataset: documents and their split, tokenizers trained on training text only, windows, the cache,
the data module's held-out-document validation set, and errors. Small English texts written to ``tmp_path``;
GCIDE only where the Debian package is installed."""

from __future__ import annotations

import gzip
import os

import numpy as np
import pytest
import torch

from hypergen.data import TaskDataModule, get_dataset_spec
from hypergen.data.text import GCIDE_PATH, TextSpec, TokenWindows
from hypergen.data.text_corpus import read_documents, split_documents
from hypergen.data.text_tokenizer import END_OF_TEXT
from hypergen.data.transforms import IdentityTransform

pytest.importorskip("tokenizers")

PARAGRAPHS = [
    "The river rose slowly through the night, and by morning the lower fields were under a sheet of brown water.",
    "Bread is made from flour, water, salt and yeast; the dough is kneaded, left to rise, shaped and baked.",
    "A lighthouse keeper once wrote that the sea is never the same colour on two days running.",
    "The committee met on Tuesday to discuss the budget, but no decision was taken before the hall closed.",
    "Bees carry pollen from flower to flower, and without them many fruits would never set at all.",
    "The old clock in the station had stopped at twenty past four, and nobody could remember when.",
    "Mountains make their own weather: a clear sky in the valley can hide a storm above the ridge.",
    "She read the letter twice, folded it carefully, and put it in the drawer with the others.",
    "Copper conducts heat and electricity well, which is why it is used for pans and for wires.",
    "In winter the lake froze hard enough for the village children to skate from one shore to the other.",
    "The library lent books for two weeks, and a small fine was charged for every day a book was late.",
    "Tea was first drunk as a medicine, long before it became an everyday drink in the afternoon.",
]


def _spec(root, cache, **options) -> TextSpec:
    defaults = {"tokenizer": "byte", "context": 16, "val_fraction": 0.2, "test_fraction": 0.2}
    return get_dataset_spec("text", root=str(root), cache_dir=str(cache), **{**defaults, **options})


@pytest.fixture
def corpus(tmp_path):
    """A folder of twelve one-paragraph ``.txt`` files (in sub-folders), plus a file that is not read."""
    root = tmp_path / "corpus"
    for i, paragraph in enumerate(PARAGRAPHS):
        folder = root / ("part_a" if i < 6 else "part_b")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"doc{i:02d}.txt").write_text(paragraph + "\n")
    (root / "README.md").write_text("not a document")
    return root


def test_documents_of_each_layout(tmp_path, corpus):
    assert read_documents(corpus) == PARAGRAPHS  # one file, one document; sorted; README.md left out
    text = "\n\n".join(PARAGRAPHS[:3]) + "\n"
    (tmp_path / "essay.txt").write_text(text)
    assert read_documents(tmp_path / "essay.txt") == PARAGRAPHS[:3]  # paragraphs
    with gzip.open(tmp_path / "essay.txt.gz", "wt") as stream:
        stream.write(text)
    assert read_documents(tmp_path / "essay.txt.gz") == PARAGRAPHS[:3]
    (tmp_path / "quotes").write_text("First quote,\non two lines.\n%\nSecond quote.\n%\n")
    assert read_documents(tmp_path / "quotes", layout="fortune") == ["First quote,\non two lines.", "Second quote."]
    assert read_documents(tmp_path / "essay.txt", layout="file") == [text.strip("\n")]
    # max_chars: whole documents while they fit, the last one cut
    first = len(PARAGRAPHS[0])
    assert read_documents(corpus, max_chars=first + 10) == [PARAGRAPHS[0], PARAGRAPHS[1][:10]]


def test_dict_entries_with_and_without_the_index(tmp_path):
    entries = ["00-database-short\n   A tiny dictionary", "Apple \\Ap\"ple\\, n.\n   A fruit.\n\n   2. The tree.",
               "Bread \\Bread\\, n.\n   Food made of flour."]
    raw = ("\n\n".join(entries) + "\n").encode()
    (tmp_path / "tiny.dict").write_bytes(raw)
    without_index = read_documents(tmp_path / "tiny.dict")
    assert without_index == entries[1:]  # the header is skipped; an indented line after a blank line continues

    def b64(value: int) -> str:
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
        return alphabet[value] if value < 64 else b64(value // 64) + alphabet[value % 64]

    offsets = [raw.index(entry.encode()) for entry in entries]
    lines = [f"{entry.split()[0]}\t{b64(offset)}\t{b64(len(entry))}" for entry, offset in zip(entries, offsets)]
    lines.append(f"Apples\t{b64(offsets[1])}\t{b64(len(entries[1]))}")  # a second headword of the same entry
    (tmp_path / "tiny.index").write_text("\n".join(lines) + "\n")
    assert read_documents(tmp_path / "tiny.dict") == entries[1:]


def test_split_is_by_document_disjoint_and_deterministic():
    documents = [f"{paragraph} ({i})" for i in range(5) for i, paragraph in enumerate(PARAGRAPHS)]
    parts = split_documents(documents, 0.1, 0.2)
    assert [len(parts[s]) for s in ("train", "val", "test")] == [42, 6, 12]
    assert sorted(parts["train"] + parts["val"] + parts["test"]) == list(range(60))
    assert split_documents(documents, 0.1, 0.2) == parts
    assert split_documents(documents, 0.1, 0.2, seed=1) != parts
    # A document's split follows its text, not its position.
    reversed_parts = split_documents(documents[::-1], 0.1, 0.2)
    for split in ("train", "val", "test"):
        assert {documents[::-1][i] for i in reversed_parts[split]} == {documents[i] for i in parts[split]}
    with pytest.raises(ValueError, match="cannot be split into test"):
        split_documents(documents[:2], 0.3, 0.3)


def test_windows_are_shifted_by_one_token(tmp_path, corpus):
    spec = _spec(corpus, tmp_path / "cache")
    assert spec.input_shape == (16,) and spec.num_classes == 257 and spec.task == "language_model"
    tokens = spec.tokens("train")
    windows = spec.load("train")
    assert isinstance(windows, TokenWindows) and len(windows) == (len(tokens) - 1) // 16
    for i in (0, len(windows) - 1):
        x, y = windows[i]
        assert x.dtype == y.dtype == torch.int64 and x.shape == y.shape == (16,)
        assert torch.equal(y[:-1], x[1:]) and int(y[-1]) == int(tokens[16 * i + 16])
        assert torch.equal(x, torch.from_numpy(tokens[16 * i:16 * i + 16].astype(np.int64)))
    stacked = torch.stack([windows[i][0] for i in range(len(windows))])
    assert 0 <= int(stacked.min()) and int(stacked.max()) < spec.num_classes
    with pytest.raises(IndexError):
        windows[len(windows)]


def test_byte_tokenizer_round_trip_of_the_held_out_documents(tmp_path, corpus):
    spec = _spec(corpus, tmp_path / "cache")
    parts = split_documents(PARAGRAPHS, 0.2, 0.2)
    for split in ("train", "val", "test"):
        expected = "".join(PARAGRAPHS[i] + END_OF_TEXT for i in parts[split])
        assert spec.decode(spec.tokens(split)) == expected
        assert len(spec.tokens(split)) == len(expected.encode()) - (len(END_OF_TEXT) - 1) * len(parts[split])
    assert spec.encode("Tea é") == list("Tea é".encode()) and spec.end_of_text_id == 256
    stats = spec.stats()
    assert [stats[s]["documents"] for s in ("train", "val", "test")] == [8, 2, 2]


def test_bpe_is_trained_on_the_training_documents_only(tmp_path):
    # Every document repeats a made-up word of its own; BPE learns the training documents' words as single tokens
    # and has never seen the held-out documents' words.
    words = [f"zq{a}vx{b}k" for a, b in zip("abcdefghijkl", "mnopqrstuvwx")]
    documents = [f"{paragraph} " + " ".join([word] * 20) for paragraph, word in zip(PARAGRAPHS, words)]
    (tmp_path / "essay.txt").write_text("\n\n".join(documents))
    spec = _spec(tmp_path / "essay.txt", tmp_path / "cache", tokenizer="bpe", vocab_size=1000)
    parts = split_documents(documents, 0.2, 0.2)
    assert spec.num_classes == 1000 and spec.end_of_text_id == 0
    for split in ("train", "val", "test"):
        lengths = {len(spec.encode(" " + words[i])) for i in parts[split]}
        assert lengths == {1} if split == "train" else min(lengths) >= 3, (split, lengths)
    tokenizers = pytest.importorskip("tokenizers")
    tokenizer = tokenizers.Tokenizer.from_file(str(spec.tokenizer_path()))
    assert tokenizer.token_to_id(END_OF_TEXT) == 0 and tokenizer.get_vocab_size() <= 1000
    for split in ("train", "val", "test"):
        assert int(spec.tokens(split).max()) < spec.num_classes
        assert spec.decode(spec.tokens(split)).startswith(documents[parts[split][0]] + END_OF_TEXT)


def test_cache_is_reused_and_keyed_by_source_and_options(tmp_path, corpus):
    spec = _spec(corpus, tmp_path / "cache", tokenizer="bpe", vocab_size=300)
    assert not spec.is_prepared()
    spec.prepare()
    files = {path.name: path.stat().st_mtime_ns for path in spec.cache_path.iterdir()}
    assert set(files) == {"tokenizer.json", "meta.json", "train.npy", "val.npy", "test.npy"}
    again = _spec(corpus, tmp_path / "cache", tokenizer="bpe", vocab_size=300, context=8)  # context: same files
    assert again.cache_path == spec.cache_path and again.is_prepared()
    again.prepare()
    again.load("val")
    assert {path.name: path.stat().st_mtime_ns for path in again.cache_path.iterdir()} == files
    assert len(list((tmp_path / "cache").iterdir())) == 1  # no temporary folder left behind
    assert _spec(corpus, tmp_path / "cache", tokenizer="bpe", vocab_size=400).cache_path != spec.cache_path
    assert _spec(corpus, tmp_path / "cache", tokenizer="bpe", vocab_size=300, max_chars=500).cache_path \
        != spec.cache_path
    edited = corpus / "part_a" / "doc00.txt"
    edited.write_text(PARAGRAPHS[0] + " It rained again.\n")
    os.utime(edited, ns=(edited.stat().st_atime_ns, edited.stat().st_mtime_ns + 10**9))
    assert _spec(corpus, tmp_path / "cache", tokenizer="bpe", vocab_size=300).cache_path != spec.cache_path


def test_data_module_validates_on_held_out_documents_unchanged(tmp_path, corpus):
    options = {"tokenizer": "byte", "context": 16, "val_fraction": 0.2, "test_fraction": 0.2,
               "cache_dir": str(tmp_path / "cache")}
    module = TaskDataModule("text", root=str(corpus), batch_size=4, eval_subset=5, seed=3, dataset_options=options)
    assert module.input_shape == (16,) and module.num_classes == 257
    assert isinstance(module.transform(train=True), IdentityTransform)
    module.prepare_data()
    module.setup("fit")
    module.setup("test")
    spec = module.spec
    assert len(module.train_dataset) == len(spec.load("train"))
    assert len(module.val_dataset) == len(module.test_dataset) == 5
    assert module.val_dataset.base.tokens.shape == spec.tokens("val").shape  # the val split, not train windows
    x, y = next(iter(module.val_dataloader()))
    assert x.shape == y.shape == (4, 16) and x.dtype == y.dtype == torch.int64
    first = int(module.val_dataset.indices[0])
    torch.testing.assert_close(x[0], spec.load("val")[first][0])  # no normalisation
    parts = split_documents(PARAGRAPHS, 0.2, 0.2)
    held_out = spec.decode(x[0])
    assert any(held_out in PARAGRAPHS[i] + END_OF_TEXT for i in parts["val"])
    assert not any(held_out in PARAGRAPHS[i] for i in parts["train"])
    x, y = next(iter(module.train_dataloader()))
    assert x.shape == (4, 16) and torch.equal(x[:, 1:], y[:, :-1])
    again = TaskDataModule("text", root=str(corpus), batch_size=4, eval_subset=5, seed=3, train_subset=7,
                           dataset_options=options)
    again.setup("fit")
    assert torch.equal(again.val_dataset.indices, module.val_dataset.indices) and len(again.train_dataset) == 7
    no_val = TaskDataModule("text", root=str(corpus), batch_size=4, dataset_options={**options, "val_fraction": 0.0})
    no_val.setup("fit")
    assert len(no_val.val_dataset) == 0 and len(no_val.train_dataset) > len(module.train_dataset)


def test_errors_say_what_to_do(tmp_path, corpus, monkeypatch):
    monkeypatch.delenv("HYPERGEN_TEXT_ROOT", raising=False)
    with pytest.raises(FileNotFoundError, match=r"dict-gcide.*scripts/setup.sh.*root=.*HYPERGEN_TEXT_ROOT"):
        get_dataset_spec("text", root=str(tmp_path / "missing.txt"), cache_dir=str(tmp_path)).prepare()
    (tmp_path / "blank.txt").write_text("\n\n  \n")
    with pytest.raises(ValueError, match="holds no text"):
        _spec(tmp_path / "blank.txt", tmp_path / "cache").prepare()
    with pytest.raises(ValueError, match=r"no file under .* matches '\*\*/\*\.txt'"):
        _spec(tmp_path / "cache", tmp_path / "cache2").prepare()
    with pytest.raises(ValueError, match="vocab_size=100 is too small .* at least 257"):
        get_dataset_spec("text", vocab_size=100)
    with pytest.raises(ValueError, match=r"the val split has \d+ tokens, fewer than one window \(context \+ 1 = 501\)"):
        _spec(corpus, tmp_path / "cache", context=500).load("val")
    with pytest.raises(ValueError, match="unknown tokenizer 'wordpiece'"):
        get_dataset_spec("text", tokenizer="wordpiece")
    with pytest.raises(ValueError, match="never downloads"):
        get_dataset_spec("text", download=True)
    with pytest.raises(TypeError, match="token ids, which have no mean"):
        _ = get_dataset_spec("text").mean


def test_root_from_the_environment(tmp_path, corpus, monkeypatch):
    monkeypatch.setenv("HYPERGEN_TEXT_ROOT", str(corpus))
    spec = get_dataset_spec("text", tokenizer="byte", context=16, val_fraction=0.2, test_fraction=0.2,
                            cache_dir=str(tmp_path / "cache"))
    assert spec.source_path == corpus and spec.stats()["train"]["documents"] == 8


@pytest.mark.skipif(not GCIDE_PATH.is_file(), reason="GCIDE is not installed (Debian package dict-gcide)")
def test_gcide_entries(tmp_path, monkeypatch):
    monkeypatch.delenv("HYPERGEN_TEXT_ROOT", raising=False)
    documents = read_documents(GCIDE_PATH, max_chars=50_000)
    assert sum(map(len, documents)) == 50_000 and len(documents) > 100
    assert not any(document.startswith("00-") for document in documents)
    assert sum(document.startswith("1 \\1\\ adj.\n   1. used of a single unit") for document in documents) == 1
    spec = get_dataset_spec("text", max_chars=50_000, vocab_size=512, cache_dir=str(tmp_path))
    stats = spec.stats()
    assert sum(stats[s]["characters"] for s in ("train", "val", "test")) == 50_000
    x, y = spec.load("test")[0]
    assert x.shape == (64,) and torch.equal(x[1:], y[:-1]) and int(x.max()) < 512
