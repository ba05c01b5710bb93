import logging

import pytest
import torch
from torch import nn

from hypergen.graph import IncompleteCoverageError, TraceError, trace_module
from hypergen.graph.coverage import IncompleteCoverageWarning


class TinyCNN(nn.Module):
    def __init__(self, dims: int = 2):
        super().__init__()
        conv = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}[dims]
        bn = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d, 3: nn.BatchNorm3d}[dims]
        self.conv1 = conv(3, 8, 3, padding=1)
        self.bn1 = bn(8)
        self.act = nn.ReLU()
        self.conv2 = conv(8, 8, 3, padding=1, bias=False)
        self.drop = nn.Dropout(0.5)
        self.head = nn.Linear(8, 5)

    def forward(self, x):
        y = self.act(self.bn1(self.conv1(x)))
        y = self.act(self.conv2(y) + y)  # module reuse + residual
        y = self.drop(y.flatten(2).mean(-1))
        return self.head(y)


def _ops(graph):
    return [n.op for n in graph.nodes]


def _edges_by_name(graph):
    return {(graph.nodes[s].name, graph.nodes[d].name) for s, d in graph.edges}


def test_exact_graph_of_a_small_cnn():
    g = trace_module(TinyCNN(), (2, 3, 8, 8))
    assert _ops(g) == ["input", "conv2d", "batch_norm", "relu", "conv2d", "add", "relu", "mean", "linear", "output"]
    assert _edges_by_name(g) == {
        ("input:0", "conv1"), ("conv1", "bn1"), ("bn1", "act"), ("act", "conv2"), ("conv2", "/add:0"),
        ("act", "/add:0"), ("/add:0", "act:1"), ("act:1", "/mean:0"), ("/mean:0", "head"), ("head", "output:0"),
    }
    assert g.coverage.complete and g.coverage.fraction == 1.0
    assert {p: g.nodes[i.node].name for p, i in g.params.items()} == {
        "conv1.weight": "conv1", "conv1.bias": "conv1", "bn1.weight": "bn1", "bn1.bias": "bn1",
        "conv2.weight": "conv2", "head.weight": "head", "head.bias": "head",
    }
    assert g.params["conv1.weight"].kind == "weight" and g.params["head.bias"].kind == "bias"
    assert g.nodes[1].attrs["kernel_size"] == (3, 3) and g.nodes[1].out_shape == (2, 8, 8, 8)
    assert g.num_params == sum(p.numel() for p in TinyCNN().parameters())


@pytest.mark.parametrize(("dims", "shape"), [(1, (2, 3, 40)), (3, (2, 3, 4, 6, 6))])
def test_conv1d_and_conv3d_models(dims, shape):
    g = trace_module(TinyCNN(dims), shape)
    assert f"conv{dims}d" in _ops(g) and g.coverage.complete
    assert g.params["conv1.weight"].shape == ((8, 3, 3) if dims == 1 else (8, 3, 3, 3, 3))


def test_real_model_is_not_touched_or_copied():
    model = TinyCNN()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    ids = {k: id(v) for k, v in model.named_parameters()}
    model.eval()
    trace_module(model, torch.randn(4, 3, 8, 8))  # trains BN on meta stand-ins, never on the real buffers
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert {k: id(v) for k, v in model.named_parameters()} == ids
    assert not model.training and not model.bn1.training  # mode restored


def test_meta_model_traces_without_allocating():
    with torch.device("meta"):
        model = nn.Sequential(nn.Linear(50_000, 50_000), nn.GELU(), nn.Linear(50_000, 10))  # 10 GB if real
    g = trace_module(model, (2, 50_000))
    assert g.num_params == 50_000 * 50_000 + 50_000 + 500_010
    assert _ops(g) == ["input", "linear", "gelu", "linear", "output"]


class Tied(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(100, 16)
        self.body = nn.Linear(16, 16)
        self.head = nn.Linear(16, 100, bias=False)
        self.head.weight = self.emb.weight

    def forward(self, ids):
        return self.head(torch.tanh(self.body(self.emb(ids))))


def test_tied_weights_are_attached_once_with_aliases_and_no_cycle():
    g = trace_module(Tied(), torch.zeros(2, 7, dtype=torch.long))
    info = g.params["emb.weight"]
    assert info.aliases == ("head.weight",)
    assert g.nodes[info.node].name == "emb"
    head = next(n for n in g.nodes if n.name == "head")
    assert head.params == [] and head.shared_params == ["emb.weight"]
    assert all(s < d for s, d in g.edges)  # tying adds no edge, so the graph stays acyclic
    assert len(g.params) == 3 and g.coverage.complete


class FreeParams(nn.Module):
    """Parameters used by tensor functions, not by leaf modules (like ViT / ConvNeXt / Swin)."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(4, 8)
        self.cls = nn.Parameter(torch.zeros(1, 1, 8))
        self.pos = nn.Parameter(torch.zeros(1, 6, 8))
        self.gamma = nn.Parameter(torch.ones(8))
        self.table = nn.Parameter(torch.zeros(10, 8))
        self.register_buffer("index", torch.arange(6) % 10)
        self.unused = nn.Parameter(torch.zeros(3))

    def forward(self, x):
        x = self.proj(x)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1) + self.pos
        return self.gamma * x + self.table[self.index]


def test_free_parameters_get_typed_parameter_nodes():
    g = trace_module(FreeParams(), (2, 5, 4), strict=False)
    by_param = {name: g.nodes[info.node].op for name, info in g.params.items()}
    assert by_param == {
        "proj.weight": "linear", "proj.bias": "linear", "cls": "param_token", "pos": "param_shift",
        "gamma": "param_scale", "table": "param_table",
    }
    assert "unused" in g.coverage.missing and "no operation" in g.coverage.missing["unused"]


def test_strict_raises_and_non_strict_warns_loudly():
    with pytest.raises(IncompleteCoverageError, match="unused"):
        trace_module(FreeParams(), (2, 5, 4))
    with pytest.warns(IncompleteCoverageWarning, match="1 parameter tensor"):
        g = trace_module(FreeParams(), (2, 5, 4), strict=False)
    assert g.coverage.fraction == pytest.approx(1 - 3 / sum(p.numel() for p in FreeParams().parameters()))


class TrainOnlyAux(nn.Module):
    def __init__(self):
        super().__init__()
        self.main = nn.Linear(4, 2)
        self.aux = nn.Linear(4, 2)

    def forward(self, x):
        return (self.main(x), self.aux(x)) if self.training else self.main(x)


def test_mode_train_covers_training_only_branches():
    assert trace_module(TrainOnlyAux(), (2, 4)).coverage.complete
    with pytest.raises(IncompleteCoverageError, match="module 'aux' was not called"):
        trace_module(TrainOnlyAux(), (2, 4), mode="eval")


def test_input_forms():
    model = TinyCNN()
    shapes = [(2, 3, 8, 8), torch.Size([2, 3, 8, 8]), torch.randn(2, 3, 8, 8), (torch.randn(2, 3, 8, 8),),
              {"x": torch.randn(2, 3, 8, 8)}]
    graphs = [trace_module(model, s) for s in shapes]
    assert len({tuple(_ops(g)) for g in graphs}) == 1
    assert graphs[-1].nodes[0].name == "input:x"
    with pytest.raises(TypeError, match="not supported"):
        trace_module(model, "an image")


def test_failing_forward_and_wrong_inputs_give_trace_errors():
    with pytest.raises(TraceError, match=r"TinyCNN failed on example inputs \(Tensor\(2, 5, 8, 8\):float32\) on meta") \
            as info:
        trace_module(TinyCNN(), (2, 5, 8, 8))  # 5 channels into a 3-channel conv
    assert info.value.kind.name == "shapes" and "shapes do not fit the model" in str(info.value)
    assert "device=" not in str(info.value)  # another device would not help: no such advice

    class Broken(nn.Module):
        def forward(self, x):
            raise ValueError("boom")

    with pytest.raises(TraceError, match="ValueError: boom") as info:
        trace_module(Broken(), (1, 2))
    assert isinstance(info.value.__cause__, ValueError)


class TwoInputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(10, 4)

    def forward(self, input_ids, attention_mask=None):
        return self.emb(input_ids)


def test_misspelt_input_name_is_reported_before_tracing_with_the_forwards_arguments():
    with pytest.raises(TraceError) as info:
        trace_module(TwoInputs(), {"input_id": torch.zeros(2, 3, dtype=torch.long)})
    message = str(info.value)
    assert info.value.kind.name == "inputs"
    assert "TwoInputs.forward(input_ids, attention_mask) cannot take them" in message
    assert message.endswith("'input_id': did you mean 'input_ids'?.")
    assert "device=" not in message and " on meta" not in message


class NeedsValues(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 3)

    def forward(self, x):
        return self.fc(x) if x.sum().item() > -1e9 else x


def test_value_dependent_forward_hints_auto_on_meta_and_auto_falls_back_to_cpu(caplog):
    with pytest.raises(TraceError, match=r"on meta in train mode: DataDependentOutputException") as info:
        trace_module(NeedsValues(), (2, 3), device="meta")
    assert info.value.kind.name == "needs_values"
    assert "trace with device='auto' (meta, then once more on the CPU" in str(info.value)
    with caplog.at_level(logging.INFO, logger="hypergen.graph.trace"):
        g = trace_module(NeedsValues(), (2, 3))  # device="auto"
    assert g.coverage.complete and "linear" in _ops(g)
    assert "NeedsValues cannot be traced on meta (DataDependentOutputException" in caplog.text
    assert "tracing it again on cpu with stand-in weights" in caplog.text
    assert _ops(trace_module(NeedsValues(), (2, 3), device="cpu")) == _ops(g)
    assert all(r.levelno == logging.INFO for r in caplog.records if "cannot be traced" in r.getMessage())


def test_cpu_retry_of_a_large_model_is_a_warning(monkeypatch, caplog):
    import hypergen.graph.trace as trace

    monkeypatch.setattr(trace, "LARGE_MODEL_NUMEL", 12)  # NeedsValues has 12 parameters
    with caplog.at_level(logging.INFO, logger="hypergen.graph.trace"):
        trace_module(NeedsValues(), (2, 3))
    (record,) = [r for r in caplog.records if "cannot be traced" in r.getMessage()]
    assert record.levelno == logging.WARNING and "(12 parameters: a real forward pass; device='meta' forbids it)" \
        in record.getMessage()


def test_error_after_the_cpu_retry_reports_both_attempts():
    class NeedsValuesThenFails(NeedsValues):
        def forward(self, x):
            if x.sum().item() > -1e9:
                raise KeyError("no such head")
            return x

    with pytest.raises(TraceError) as info:
        trace_module(NeedsValuesThenFails(), (2, 3))
    message = str(info.value)
    assert "on cpu in train mode: KeyError: 'no such head'" in message
    assert "(On meta it had failed first: DataDependentOutputException" in message


def test_tracing_on_cpu_gives_the_meta_graph_and_never_reads_the_weights():
    model = TinyCNN()
    with torch.device("meta"):
        meta_model = TinyCNN()  # no values to read: only stand-ins can run
    graphs = [trace_module(m, (2, 3, 8, 8), device=d) for m in (model, meta_model) for d in ("meta", "cpu")]
    assert len({(tuple(_ops(g)), tuple(g.edges)) for g in graphs}) == 1
    assert all(p.is_meta for p in meta_model.parameters())


def test_hint_spells_the_device_option_as_the_caller_does():
    with pytest.raises(TraceError) as info:
        trace_module(NeedsValues(), (2, 3), device="meta")
    cli = info.value.describe(lambda name, value: f"--{name} {value}")
    assert "trace with --device auto" in cli and "--device cpu" in cli and "device='auto'" not in cli


def test_module_without_parameters():
    g = trace_module(nn.ReLU(), (2, 3))
    assert _ops(g) == ["input", "relu", "output"] and g.coverage.complete and g.coverage.fraction == 1.0
    g = trace_module(nn.Sequential(nn.Flatten(), nn.Softmax(-1)), (2, 3, 4))
    assert _ops(g) == ["input", "softmax", "output"]


def test_unknown_leaf_modules_are_typed_nodes_with_their_class_name():
    class Scale(nn.Module):
        def __init__(self):
            super().__init__()
            self.s = nn.Parameter(torch.ones(4))

        def forward(self, x):
            return x * self.s

    g = trace_module(nn.Sequential(nn.Linear(3, 4), Scale()), (2, 3))
    node = g.nodes[2]
    assert (node.op, node.target, node.params) == ("unknown_module", "Scale", ["1.s"])


def test_multihead_attention_is_one_node_with_all_projections():
    mha = nn.MultiheadAttention(16, 4, batch_first=True)

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.attn = mha

        def forward(self, x):
            return self.attn(x, x, x, need_weights=False)[0] + x

    g = trace_module(Block(), (2, 5, 16))
    attn = next(n for n in g.nodes if n.op == "multihead_attention")
    assert attn.params == ["attn.in_proj_weight", "attn.in_proj_bias", "attn.out_proj.weight", "attn.out_proj.bias"]
    assert attn.attrs["num_heads"] == 4


def test_shape_preserving_leaf_called_without_tensors_runs_its_own_forward():
    class Gate(nn.Module):  # registered as an activation, but called with a flag instead of a tensor
        def forward(self, on: bool):
            return torch.ones(1, device="meta") if on else torch.zeros(1, device="meta")

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.gate = Gate()
            self.fc = nn.Linear(3, 3)

        def forward(self, x):
            return self.fc(x) * self.gate(True)

    from hypergen.graph.ops import OpRegistry, _populate_default

    registry = _populate_default(OpRegistry())
    registry.register_module(Gate, "sigmoid")
    graph = trace_module(Model(), (2, 3), registry=registry)
    assert graph.coverage.complete and [n.op for n in graph.nodes] == ["input", "linear", "sigmoid", "mul", "output"]


def test_error_messages_show_shapes_never_tensor_values():
    class Detector(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 2)

        def forward(self, images):
            raise ValueError("needs targets")

    images = [torch.full((3, 4), 123.456), torch.full((3, 4), 123.456)]
    with pytest.raises(TraceError) as info:
        trace_module(Detector(), (images,), device="cpu")
    message = str(info.value)
    assert "example inputs ([Tensor(3, 4):float32, Tensor(3, 4):float32])" in message
    assert "123.4" not in message and "tensor(" not in message
