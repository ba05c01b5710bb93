"""The family registry: lookup, errors that list the known families, registering a new family."""

from __future__ import annotations

import random

import pytest
from torch import nn

from hypergen.archs import ArchFamily, ArchSampler, build, get_family, list_families, register_family, trace_spec
from hypergen.archs import registry as registry_module
from hypergen.archs.validation import check_int


def test_builtin_families_are_registered():
    assert list_families() == ["cnn1d", "deepnets", "gpt", "mlp", "mobilenet", "resnet", "vit"]
    assert get_family("vit").name == "vit"


def test_unknown_family_lists_the_known_ones():
    with pytest.raises(KeyError, match=r"unknown architecture family 'convnext'.*'deepnets'.*'vit'"):
        get_family("convnext")


def test_a_new_family_is_one_registered_class(monkeypatch):
    monkeypatch.setattr(registry_module, "_FAMILIES", registry_module._FAMILIES.copy())

    @register_family
    class Linear(ArchFamily):
        name = "linear_probe"
        keys = ("bias",)
        input_ranks = (1,)
        input_description = "[features]"

        def sample(self, rng: random.Random, split, input_shape, num_classes) -> dict:
            return {"bias": rng.randint(0, 1)}

        def validate(self, spec) -> None:
            check_int(spec["bias"], self.where("bias"), 0, 1)

        def build(self, spec) -> nn.Module:
            return nn.Linear(spec["input_shape"][0], spec["num_classes"], bias=bool(spec["bias"]))

        def summary(self, spec) -> dict[str, float]:
            return {"depth": 1, "width": spec["input_shape"][0]}

    assert "linear_probe" in list_families()
    specs = ArchSampler("linear_probe", "no_norm", (100,), 5, param_bounds=(0, 10**6)).take(4)
    assert {s["bias"] for s in specs} <= {0, 1}
    model = build(specs[0])
    assert sum(p.numel() for p in model.parameters()) == 500 + 5 * specs[0]["bias"]
    _, graph = trace_spec(specs[0])
    assert [n.op for n in graph.nodes] == ["input", "linear", "output"]
