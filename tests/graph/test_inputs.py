"""Example inputs: normalisation, completion by registered rules, and text without values (graph/inputs.py)."""

from __future__ import annotations

import torch
from torch import nn

from hypergen.graph import trace_module
from hypergen.graph import inputs as inputs_module
from hypergen.graph.inputs import complete_inputs, describe_value, normalize_inputs


class Tagger(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(100, 8)

    def forward(self, tokens, lengths):
        return self.emb(tokens)


class BigTagger(Tagger):
    pass


def test_registered_completer_adds_inputs_for_the_class_and_its_subclasses(monkeypatch):
    def add_lengths(model, args, kwargs, device):
        return args, {**kwargs, "lengths": torch.full((kwargs["tokens"].shape[0],), 5, device=device)}

    monkeypatch.setitem(inputs_module._COMPLETERS, f"{__name__}:Tagger", add_lengths)
    tokens = {"tokens": torch.zeros(2, 5, dtype=torch.long)}
    graph = trace_module(BigTagger(), tokens)
    assert [n.name for n in graph.nodes if n.op == "input"] == ["input:tokens", "input:lengths"]
    _, kwargs = complete_inputs(nn.Linear(2, 2), (), dict(tokens), torch.device("meta"))
    assert set(kwargs) == {"tokens"}  # other classes: untouched


def test_meta_inputs_become_zeros_on_a_real_device_and_real_ones_meta_on_meta():
    (ids,), _ = normalize_inputs((torch.ones(2, 3, dtype=torch.long, device="meta"),), "cpu")
    assert ids.device.type == "cpu" and ids.sum().item() == 0
    (x,), _ = normalize_inputs(torch.randn(2, 3), "meta")
    assert x.is_meta and x.shape == (2, 3)


def test_describe_value_never_shows_values():
    value = {"images": [torch.full((3, 4), 7.5)], "flag": True, "mask": (torch.ones(2, dtype=torch.bool),)}
    assert describe_value(value) == "{'images': [Tensor(3, 4):float32], 'flag': True, 'mask': (Tensor(2,):bool,)}"
    assert describe_value(torch.zeros(1), device=True) == "Tensor(1,):float32@cpu"
    assert describe_value("x" * 200) == "str(...)"
