import pytest
import torch
from torch import nn

from hypergen.graph.ops import OpRegistry, canonical_function_name, default_registry, is_inplace_function


class MyConv(nn.Conv2d):
    pass


def test_subclasses_dispatch_to_parent_type():
    reg = default_registry()
    assert reg.module_op(MyConv(3, 4, 3)).name == "conv2d"
    assert reg.module_op(nn.modules.linear.NonDynamicallyQuantizableLinear(3, 4)).name == "linear"
    assert reg.module_op(nn.ReLU6()).name == "relu6"  # ReLU6 subclasses Hardtanh: the most derived entry wins
    assert reg.module_op(nn.SyncBatchNorm(3)).name == "batch_norm"
    assert reg.module_op(nn.InstanceNorm2d(3)).name == "instance_norm"
    assert reg.module_op(nn.Dropout(0.1)).folded
    assert reg.module_op(nn.Sequential()) is None


def test_vocabulary_indices_are_stable_and_unique():
    reg = default_registry()
    names = [op.name for op in reg.op_types]
    assert len(names) == len(set(names))
    assert [op.index for op in reg.op_types] == list(range(len(reg)))
    assert reg.op("input").index == 0 and reg.op("output").index == 1


def test_register_new_module_type_in_one_call():
    class Odd(nn.Module):
        def forward(self, x):
            return x

    reg = OpRegistry()
    reg.add_op_type("odd", "elementwise")
    assert reg.module_op(Odd()) is None
    reg.register_module(Odd, "odd")
    assert reg.module_op(Odd()).name == "odd"
    with pytest.raises(KeyError, match="unknown op type 'nope'"):
        reg.register_module(Odd, "nope")
    with pytest.raises(ValueError, match="unknown category"):
        reg.add_op_type("x", "not-a-category")


def test_lazy_class_paths_never_import(monkeypatch):
    import sys

    reg = OpRegistry()
    reg.add_op_type("fancy", "norm")
    reg.register_module("hypergen_not_a_module.sub:Fancy", "fancy")
    assert reg.module_op(nn.ReLU()) is None
    assert "hypergen_not_a_module.sub" not in sys.modules


@pytest.mark.parametrize(
    ("func", "name", "inplace"),
    [
        (torch.Tensor.__radd__, "radd", False),
        (torch.Tensor.add_, "add", True),
        (torch.Tensor.__iadd__, "iadd", True),
        (torch.Tensor.__setitem__, "setitem", True),
        (torch.nn.functional.relu, "relu", False),
        (torch.cat, "cat", False),
        (torch.Tensor.T.__get__, "T", False),
    ],
)
def test_canonical_function_names(func, name, inplace):
    assert canonical_function_name(func) == name
    assert is_inplace_function(func) is inplace
