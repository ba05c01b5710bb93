"""The shared registry idiom: built-ins found lazily in their own modules, errors that name the key and the fix."""

from __future__ import annotations

import importlib
import itertools
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hypergen.registry import Registry

_PACKAGE_NUMBERS = itertools.count()

_INIT = '''
from hypergen.registry import Registry

REGISTRY = Registry("thing", __name__, "register_thing", hint="Add one with @register_thing(<name>).")


def register_thing(name):
    def decorator(obj):
        REGISTRY.register(name, obj)
        return obj
    return decorator
'''


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A fresh package ``things_<n>`` with a registry, a component module, a plumbing module that must never be
    imported by discovery, and a component module whose optional dependency is missing."""
    name = f"things_{next(_PACKAGE_NUMBERS)}"
    root = tmp_path / name
    root.mkdir()
    (root / "__init__.py").write_text(_INIT)
    (root / "alpha.py").write_text(f"from {name} import register_thing\n\n\n@register_thing('alpha')\nclass Alpha:\n"
                                   "    pass\n")
    (root / "plumbing.py").write_text("raise RuntimeError('discovery imported a module that registers nothing')\n")
    (root / "needs_extra.py").write_text(f"import not_an_installed_module_xyz\nfrom {name} import register_thing\n\n\n"
                                         "@register_thing('extra')\nclass Extra:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield importlib.import_module(name)
    for module in [m for m in sys.modules if m == name or m.startswith(f"{name}.")]:
        del sys.modules[module]


def test_components_are_found_on_first_use_in_modules_that_register(package):
    assert f"{package.__name__}.alpha" not in sys.modules  # importing the package registers nothing
    assert package.REGISTRY.names() == ["alpha"]
    assert package.REGISTRY["alpha"].__name__ == "Alpha" and "alpha" in package.REGISTRY
    assert f"{package.__name__}.plumbing" not in sys.modules


def test_unknown_name_lists_entries_failed_modules_and_the_fix(package):
    with pytest.raises(KeyError) as err:
        package.REGISTRY["extra"]
    message = err.value.args[0]
    assert message.startswith("unknown thing 'extra'; registered: ['alpha'] (modules that could not be imported: ")
    assert f"{package.__name__}.needs_extra: No module named 'not_an_installed_module_xyz'" in message
    assert message.endswith("Add one with @register_thing(<name>).")


def test_a_registration_before_discovery_keeps_the_users_entry(package):
    mine = object()
    package.register_thing("alpha")(mine)
    assert package.REGISTRY["alpha"] is mine


def test_lazy_entries_are_imported_on_lookup_and_name_the_entry_when_they_cannot_be():
    registry: Registry[object] = Registry("source", "hypergen.zoo", "register_source", error=ValueError)
    registry.register("path", "pathlib:Path")
    registry.register("broken", "not_an_installed_module_xyz:Thing")
    assert registry["path"] is Path
    with pytest.raises(ImportError, match=r"source 'broken' \(not_an_installed_module_xyz:Thing\) cannot be imported"):
        registry["broken"]
    with pytest.raises(ValueError, match="unknown source 'nope'"):
        registry["nope"]


def test_copy_is_independent(package):
    copy = package.REGISTRY.copy()
    copy.register("beta", object)
    assert "beta" in copy and "beta" not in package.REGISTRY


def test_import_hypergen_registers_nothing_and_lookups_import_no_optional_library():
    code = textwrap.dedent('''
        import sys
        import hypergen, hypergen.data
        components = ["hypergen.data.vision", "hypergen.data.mnist_1d", "hypergen.archs.deepnets",
                      "hypergen.zoo.timm_zoo"]
        assert not [m for m in components if m in sys.modules], [m for m in components if m in sys.modules]
        from hypergen.archs import list_families
        from hypergen.data import get_dataset_spec, list_datasets
        from hypergen.zoo import available_sources
        assert "imagefolder" in list_datasets() and "vit" in list_families() and "timm" in available_sources()
        get_dataset_spec("cifar10"), get_dataset_spec("mnist1d")
        heavy = [m for m in ("torchvision", "mnist1d", "lightning", "timm") if m in sys.modules]
        assert not heavy, heavy
    ''')
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1])


def test_the_five_registries_share_the_decorator_idiom(monkeypatch):
    from dataclasses import dataclass
    from typing import ClassVar

    from hypergen.archs import ArchFamily, get_family, register_family
    from hypergen.archs import registry as archs_registry
    from hypergen.data import DatasetSpec, get_dataset_spec, register_dataset
    from hypergen.data import registry as data_registry
    from hypergen.ghn.decoders import registry as decoders_registry
    from hypergen.ghn.gnn import registry as gnn_registry
    from hypergen.zoo import registry as zoo_registry

    for module, name in [(archs_registry, "_FAMILIES"), (data_registry, "_DATASETS"), (zoo_registry, "_SOURCES"),
                         (decoders_registry, "DECODER_REGISTRY"), (gnn_registry, "GNN_REGISTRY")]:
        monkeypatch.setattr(module, name, getattr(module, name).copy())

    @register_family
    class Tiny(ArchFamily):
        name, keys, input_ranks, input_description = "tiny", (), (1,), "[features]"
        sample = validate = build = summary = None  # type: ignore[assignment]

    @register_dataset("tiny")
    @dataclass(frozen=True, kw_only=True)
    class TinySpec(DatasetSpec):
        input_shape: ClassVar[tuple[int, ...]] = (1,)
        num_classes: ClassVar[int] = 2
        mean: ClassVar[tuple[float, ...]] = (0.0,)
        std: ClassVar[tuple[float, ...]] = (1.0,)
        load = None  # type: ignore[assignment]

    @zoo_registry.register_source("tiny")
    class TinySource:
        def names(self):
            return ["x"]

    @decoders_registry.register_decoder("tiny")
    def tiny_decoder(config):
        return "decoder"

    @gnn_registry.register_gnn("tiny")
    def tiny_gnn(hidden, layers, heads, max_distance):
        return "gnn"

    assert isinstance(get_family("tiny"), Tiny) and isinstance(get_dataset_spec("tiny"), TinySpec)
    assert zoo_registry.list_models("tiny") == ["x"] and "tiny" in zoo_registry.available_sources()
    assert decoders_registry.list_decoders() == ["core", "lowrank", "tiling", "tiny"]
    assert gnn_registry.build_gnn("tiny", 8, 1, 1, 50) == "gnn" and "tiny" in gnn_registry.list_gnns()
    gnn_registry.GNN_REGISTRY["old_style"] = tiny_gnn  # item assignment, as before the decorators, still registers
    assert gnn_registry.GNN_REGISTRY["old_style"] is tiny_gnn
