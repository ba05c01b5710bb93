import json

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from hypergen.ghn import CheckpointError, GHNConfig, GraphHyperNetwork, load_ghn, read_config, save_ghn


def _net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 6 * 6, 5))


@pytest.mark.parametrize("config", [GHNConfig(hidden=32, heads=4), GHNConfig(hidden=32, gnn="gated",
                                                                                decoder="tiling"),
                                    GHNConfig(hidden=32, heads=4, mip=True),
                                    GHNConfig(hidden=32, heads=4, vocab_codes=16)])  # learned codes: the head's
def test_save_load_gives_identical_predictions(tmp_path, config):
    torch.manual_seed(0)
    ghn = GraphHyperNetwork(config)
    with torch.no_grad():  # make every parameter non-trivial, as after training
        for p in ghn.parameters():
            p.add_(torch.randn_like(p) * 0.01)
    path = save_ghn(ghn, tmp_path / "ghn.safetensors")
    loaded = load_ghn(path)
    assert loaded.config == ghn.config
    assert read_config(path).gnn == config.gnn
    with torch.no_grad():
        net = _net()  # one net: predictions follow its default-init statistics (param_ref)
        a, b = ghn(net, (2, 3, 8, 8)), loaded(net, (2, 3, 8, 8))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_refuses_corrupted_truncated_foreign_and_other_version_files(tmp_path):
    path = save_ghn(GraphHyperNetwork(GHNConfig(hidden=16, heads=4)), tmp_path / "ghn.safetensors")
    raw = bytearray(path.read_bytes())

    flipped = tmp_path / "flipped.safetensors"
    raw_flipped = bytearray(raw)
    raw_flipped[-10] ^= 0xFF  # a bit flip inside tensor data
    flipped.write_bytes(bytes(raw_flipped))
    with pytest.raises(CheckpointError, match="corrupted"):
        load_ghn(flipped)

    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(bytes(raw[: len(raw) // 2]))
    with pytest.raises(CheckpointError, match="not a readable safetensors"):
        load_ghn(truncated)

    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, str(foreign))
    with pytest.raises(CheckpointError, match="not a hypergen GHN checkpoint"):
        load_ghn(foreign)

    with safe_open(str(path), framework="pt") as f:
        metadata = dict(f.metadata())
    metadata["format_version"] = "999"
    other = tmp_path / "other.safetensors"
    save_file(load_file(str(path)), str(other), metadata=metadata)
    with pytest.raises(CheckpointError, match="format version '999'"):
        load_ghn(other)

    with pytest.raises(FileNotFoundError):
        load_ghn(tmp_path / "missing.safetensors")


def test_checkpoint_is_plain_safetensors_with_json_config(tmp_path):
    path = save_ghn(GraphHyperNetwork(GHNConfig(hidden=16, heads=4, rank=4)), tmp_path / "g.safetensors")
    header_len = int.from_bytes(path.read_bytes()[:8], "little")
    header = json.loads(path.read_bytes()[8:8 + header_len])
    config = json.loads(header["__metadata__"]["config"])
    assert config["rank"] == 4 and "conv2d" in config["op_vocabulary"]
    assert header["__metadata__"]["format"] == "hypergen.ghn"


def _without_config_key(path, key, out):
    """Rewrite the checkpoint at ``path`` to ``out`` with ``key`` (dotted for nested entries: ``scaling.x``) dropped
    from its stored config, as older versions wrote it."""
    with safe_open(str(path), framework="pt") as f:
        config = json.loads(f.metadata()["config"])
    *parents, last = key.split(".")
    entry = config
    for parent in parents:
        entry = entry[parent]
    del entry[last]
    return _resave(path, out, config=json.dumps(config))


def test_checkpoints_from_before_index_encodings_load_with_relative_encodings(tmp_path):
    torch.manual_seed(0)
    ghn = GraphHyperNetwork(GHNConfig(hidden=16, heads=4, rank=4, index_encoding="relative"))
    _without_config_key(save_ghn(ghn, tmp_path / "new.safetensors"), "index_encoding", tmp_path / "old.safetensors")
    old = load_ghn(tmp_path / "old.safetensors")
    assert old.config.index_encoding == "relative" == read_config(tmp_path / "old.safetensors").index_encoding
    with torch.no_grad():
        a, b = ghn(_net(), (2, 3, 8, 8)), old(_net(), (2, 3, 8, 8))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert GHNConfig().index_encoding == "cyclic"  # the default now; older files keep theirs


def test_cyclic_checkpoints_from_before_the_tilt_load_with_the_tilt_they_were_trained_with(tmp_path):
    torch.manual_seed(0)
    ghn = GraphHyperNetwork(GHNConfig(hidden=16, heads=4, rank=4, index_encoding="cyclic", index_tilt=0.25))
    old = load_ghn(_without_config_key(save_ghn(ghn, tmp_path / "new.safetensors"), "index_tilt",
                                       tmp_path / "old.safetensors"))
    assert old.config.index_tilt == 0.25 and GHNConfig().index_tilt == 1.0
    retilted = GraphHyperNetwork(GHNConfig(hidden=16, heads=4, rank=4, index_encoding="cyclic"))
    retilted.load_state_dict(ghn.state_dict())
    with torch.no_grad():
        a, b, c = ghn(_net(), (2, 3, 8, 8)), old(_net(), (2, 3, 8, 8)), retilted(_net(), (2, 3, 8, 8))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["4.weight"], c["4.weight"])  # 288 columns > rank 4: the tilt shows


def test_non_finite_ghns_are_refused_at_save_load_and_write(tmp_path):
    from hypergen.ghn.checkpoint import _digest

    torch.manual_seed(0)
    ghn = GraphHyperNetwork(GHNConfig(hidden=16, heads=2, decoder="lowrank", rank=4, index_features=8))
    path = save_ghn(ghn, tmp_path / "ok.safetensors")
    assert (path.stat().st_mode & 0o777) != 0o600  # readable by others as the umask allows
    with torch.no_grad():
        ghn.decoder.row_head.weight[0, 0] = float("nan")
    with pytest.raises(ValueError, match="non-finite values in \\['decoder.row_head.weight'\\]"):
        save_ghn(ghn, tmp_path / "bad.safetensors")
    with pytest.raises(ValueError, match="non-finite values .* for \\['0.weight'\\]"):
        ghn.init_(nn.Sequential(nn.Linear(4, 3)), (2, 4))
    # a file whose tensors were made Inf (digest recomputed, as a broken trainer would write it)
    tensors = load_file(str(path))
    tensors["decoder.row_head.weight"][0, 0] = float("inf")
    with safe_open(str(path), "pt") as f:
        metadata = dict(f.metadata())
    metadata["sha256"] = _digest(tensors)
    save_file(tensors, str(tmp_path / "inf.safetensors"), metadata=metadata)
    with pytest.raises(CheckpointError, match="non-finite values .*decoder.row_head.weight"):
        load_ghn(tmp_path / "inf.safetensors")


def _resave(path, out, **changes):
    """``path`` written again with its metadata changed (``None`` removes an entry)."""
    with safe_open(str(path), framework="pt") as f:
        metadata = dict(f.metadata())
    for key, value in changes.items():
        if value is None:
            metadata.pop(key)
        else:
            metadata[key] = value
    save_file(load_file(str(path)), str(out), metadata=metadata)
    return out


@pytest.mark.parametrize("changes, message", [
    ({"config": '{"hidden": 16,'}, r"'config' metadata entry is not valid JSON \(Expecting"),
    ({"config": None}, r"lacks the 'config' metadata entry"),
    ({"config": "[1, 2]"}, r"'config' metadata entry is list, not a JSON object of GHNConfig fields"),
    ({"config": '{"hiddn": 16}'}, r"not a config this hypergen can build \(unknown GHNConfig key 'hiddn'; did you mean 'hidden'\?"),
    ({"sha256": None}, r"lacks the 'sha256' metadata entry"),
])
def test_bad_metadata_is_named(tmp_path, changes, message):
    path = save_ghn(GraphHyperNetwork(GHNConfig(hidden=16, heads=4)), tmp_path / "ghn.safetensors")
    bad = _resave(path, tmp_path / "bad.safetensors", **changes)
    with pytest.raises(CheckpointError, match=message) as err:
        load_ghn(bad)
    assert str(bad) in str(err.value) and "\n" not in str(err.value)
    if "sha256" not in changes:
        with pytest.raises(CheckpointError, match=message):
            read_config(bad)


def test_a_training_checkpoint_is_recognised_and_can_be_exported(tmp_path):
    from hypergen.train import export_ghn_checkpoint

    torch.manual_seed(0)
    ghn = GraphHyperNetwork(GHNConfig(hidden=16, heads=4))
    state = {"epoch": 0, "global_step": 5, "hyper_parameters": {"ghn": ghn.config.to_dict(), "lr": 1e-3},
             "state_dict": {f"ghn.{k}": v.clone() for k, v in ghn.state_dict().items()}}
    ckpt = tmp_path / "last.ckpt"
    torch.save(state, ckpt)
    with pytest.raises(CheckpointError, match=r"is a PyTorch/Lightning training checkpoint \(torch.save\), not a GHN "
                                              r"file.*ghn_best.safetensors.*export_ghn_checkpoint\("):
        load_ghn(ckpt)
    out = export_ghn_checkpoint(ckpt, tmp_path / "exported.safetensors")
    loaded = load_ghn(out)
    assert loaded.config == ghn.config
    assert all(torch.equal(v, ghn.state_dict()[k]) for k, v in loaded.state_dict().items())
    with pytest.raises(CheckpointError, match="is not a hypergen-train checkpoint"):
        torch.save({"state_dict": {}}, tmp_path / "other.ckpt")
        export_ghn_checkpoint(tmp_path / "other.ckpt", tmp_path / "x.safetensors")


def test_checkpoints_from_before_reference_statistics_keep_the_role_rules(tmp_path):
    """GHNs written before ScalingConfig.follow_reference existed were trained (and their cards measured) without it:
    they load with it off; new GHNs keep what they were saved with."""
    torch.manual_seed(0)
    ghn = GraphHyperNetwork(GHNConfig(hidden=16, heads=4, rank=4))
    assert ghn.config.scaling.follow_reference  # the default for new GHNs
    path = save_ghn(ghn, tmp_path / "new.safetensors")
    assert load_ghn(path).config.scaling.follow_reference
    old = _without_config_key(path, "scaling.follow_reference", tmp_path / "old.safetensors")
    assert not load_ghn(old).config.scaling.follow_reference
    assert not load_ghn("fmnist-deepnets").config.scaling.follow_reference  # shipped before it existed
