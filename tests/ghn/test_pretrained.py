import json

import pytest
import torch

from hypergen.ghn import GHNConfig, GraphHyperNetwork, load_ghn, save_ghn
from hypergen.ghn.pretrained import PretrainedRegistry, fetch_url, resolve_ghn


def _ghn_file(folder, name="tiny", card=None):
    torch.manual_seed(0)
    ghn = GraphHyperNetwork(GHNConfig(hidden=16, heads=2, rank=4, index_features=8))
    path = save_ghn(ghn, folder / f"{name}.safetensors")
    if card is not None:
        (folder / f"{name}.json").write_text(json.dumps(card))
    return ghn, path


def test_registry_reads_a_folder_with_cards_and_refuses_duplicates(tmp_path):
    _ghn_file(tmp_path, "a", {"description": "first", "accuracy": {"test": 0.5}})
    _ghn_file(tmp_path, "b")
    registry = PretrainedRegistry(shipped_dir=None)
    assert [e.name for e in registry.register_dir(tmp_path)] == ["a", "b"]
    assert registry.get("a").card["accuracy"]["test"] == 0.5 and registry.get("a").description == "first"
    assert registry.get("b").card == {}
    with pytest.raises(ValueError, match="already registered"):
        registry.register("a", tmp_path / "b.safetensors")
    with pytest.raises(KeyError, match=r"registered: \['a', 'b'\]"):
        registry.get("c")
    with pytest.raises(ValueError, match="is not a file"):
        registry.register("c", tmp_path / "missing.safetensors")
    with pytest.raises(NotADirectoryError):
        registry.register_dir(tmp_path / "nowhere")


def test_load_ghn_by_name_path_and_file_url(tmp_path, monkeypatch):
    folder = tmp_path / "ghns"
    folder.mkdir()
    ghn, path = _ghn_file(folder, "mine", {"description": "a user's GHN"})
    monkeypatch.setenv("HYPERGEN_PRETRAINED_PATH", str(folder))
    monkeypatch.setenv("HYPERGEN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr("hypergen.ghn.pretrained._DEFAULT", [])  # a fresh default registry reads the variable
    for source in ("mine", str(path), path.as_uri()):
        loaded = load_ghn(source)
        for (name, a), b in zip(ghn.state_dict().items(), loaded.state_dict().values()):
            assert torch.equal(a, b), (source, name)
    cached = fetch_url(path.as_uri())
    assert cached.parent == tmp_path / "cache" / "ghn" and cached.read_bytes() == path.read_bytes()
    with pytest.raises(FileNotFoundError, match="not the name of a pretrained GHN"):
        resolve_ghn("no-such-ghn")


def test_fetch_url_names_the_url_on_failure(tmp_path):
    with pytest.raises(OSError, match="could not download the GHN checkpoint file://"):
        fetch_url((tmp_path / "absent.safetensors").as_uri(), cache_dir=tmp_path)
    assert not list((tmp_path / "ghn").glob("*"))  # no partial file left behind
