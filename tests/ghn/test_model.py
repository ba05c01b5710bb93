"""Behaviour of the GHN: default-init statistics, gradients, batching, op vocabulary, configs."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from hypergen.apply import forward_with, materialize_buffers
from hypergen.ghn import GHNConfig, GraphHyperNetwork
from hypergen.graph import TraceError, trace_module
from hypergen.graph.data import batch_graphs, to_data
from hypergen.zoo import load_model

VARIANTS = [dict(), dict(gnn="gated"), dict(decoder="tiling"), dict(mip=True), dict(gnn="gated", decoder="tiling"),
            dict(base=True), dict(positional=False), dict(decoder="core"), dict(center_nodes=True)]


def _small_cnn(num_classes: int = 10) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
        nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, num_classes),
    )


def _default_init_(model: nn.Module) -> set[str]:
    """Apply every layer's PyTorch default init (children first, so containers like MHA get the last word).

    Returns the names of parameters that some layer initialised.
    """
    covered: set[str] = set()
    modules = list(model.named_modules())
    for name, module in reversed(modules):
        reset = getattr(module, "_reset_parameters", None) or getattr(module, "reset_parameters", None)
        if reset is None or name == "":
            continue
        reset()
        covered.update(f"{name}.{p}" for p, _ in module.named_parameters())
    return covered


class _Conv1d3dNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv1d(2, 24, 5)
        self.c3 = nn.Conv3d(1, 8, (3, 3, 3))
        self.norm = nn.GroupNorm(4, 8)
        self.head = nn.Linear(24 + 8, 7)

    def forward(self, x1: torch.Tensor, x3: torch.Tensor) -> torch.Tensor:
        a = self.c1(x1).mean(-1)
        b = self.norm(self.c3(x3)).mean((-1, -2, -3))
        return self.head(torch.cat([a, b], 1))


def _stat_models():
    tv = [(f"torchvision:{n}", {}) for n in
          ("resnet18", "mobilenet_v3_small", "efficientnet_b0", "convnext_tiny", "vit_b_16", "swin_t", "regnet_x_400mf")]
    return tv + [("hf:gpt2:causal_lm", dict(n_layer=2)), ("hf:bert:masked_lm", dict(num_hidden_layers=2))]


@pytest.mark.parametrize(("spec", "kwargs"), _stat_models())
def test_untrained_ghn_matches_default_init_statistics(spec, kwargs):
    torch.manual_seed(0)
    ghn = GraphHyperNetwork().eval()
    zoo = load_model(spec, device="cpu", **kwargs)
    covered = _default_init_(zoo.model)
    reference = dict(zoo.model.named_parameters())
    with torch.inference_mode():
        predicted = ghn(trace_module(zoo.model, zoo.example_inputs))
    _assert_within_factor_two(predicted, reference, covered)


def test_conv1d_conv3d_statistics():
    torch.manual_seed(0)
    model = _Conv1d3dNet()
    covered = _default_init_(model)
    with torch.inference_mode():
        predicted = GraphHyperNetwork()(trace_module(model, ((2, 2, 30), (2, 1, 6, 6, 6))))
    _assert_within_factor_two(predicted, dict(model.named_parameters()), covered)


#: Embedding tables tied to an output layer are scaled as that layer's weight (1/sqrt(width)), not as nn.Embedding's
#: N(0, 1), but no further than ScalingConfig.reference_ratio (2.75) below the model's own table.
_TIED_EMBEDDINGS = {"transformer.wte.weight", "bert.embeddings.word_embeddings.weight"}


def _assert_within_factor_two(predicted, reference, covered):
    problems, checked = [], 0
    for name, ref in reference.items():
        pred = predicted[name]
        if name not in covered or ref.numel() < 16:  # the sample std of a handful of values is too noisy to compare
            continue
        checked += 1
        ref_std, pred_std = ref.float().std().item(), pred.float().std().item()
        if name in _TIED_EMBEDDINGS:
            ref_std = max(ref.shape[1] ** -0.5, ref_std / 2.75)
        if ref.dim() > 2 and "norm" not in name:
            # convolutions are scaled as He init, sqrt(2 / fan_in) (ScalingConfig.kernel_beta = 2; torchvision's conv
            # nets use kaiming_normal themselves), not PyTorch's generic layer default sqrt(1 / (3 fan_in))
            ref_std *= 6 ** 0.5
        if ref_std > 0:
            if not 0.5 <= pred_std / ref_std <= 2.0:
                problems.append(f"{name}: std {pred_std:.4g} vs default {ref_std:.4g}")
        elif abs(pred.mean().item() - ref.mean().item()) > 0.1 or pred_std > 0.15:
            problems.append(f"{name}: mean {pred.mean().item():.3g}/std {pred_std:.3g} vs constant {ref.mean().item()}")
    assert checked > 0
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: "-".join(f"{k}={x}" for k, x in v.items()) or "default")
def test_gradients_flow_and_a_step_lowers_the_loss(variant):
    torch.manual_seed(0)
    ghn = GraphHyperNetwork(GHNConfig(hidden=32, heads=4, rank=8, index_features=16, tile_size=8, **variant))
    with torch.device("meta"):
        target = _small_cnn()
    materialize_buffers(target)
    data = to_data(trace_module(target, (8, 1, 12, 12)))
    x, y = torch.randn(32, 1, 12, 12), torch.randint(0, 10, (32,))
    opt = torch.optim.Adam(ghn.parameters(), lr=3e-3)

    def loss_fn() -> torch.Tensor:
        return F.cross_entropy(forward_with(target, ghn(data), x), y)

    first = loss_fn()
    first.backward()
    with_grad = [n for n, p in ghn.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0]
    total = [n for n, _ in ghn.named_parameters()]
    assert len(with_grad) >= 0.8 * len(total), sorted(set(total) - set(with_grad))
    assert any(n.startswith("encoder.") for n in with_grad) and any(n.startswith("gnn.") for n in with_grad)
    opt.step()
    for _ in range(15):
        opt.zero_grad()
        loss_fn().backward()
        opt.step()
    assert loss_fn().item() < first.item() - 0.1


@pytest.mark.parametrize(("gnn", "base"), [("transformer", False), ("gated", False), ("transformer", True)])
def test_batched_prediction_equals_single(gnn, base):
    torch.manual_seed(0)
    ghn = GraphHyperNetwork(GHNConfig(hidden=32, heads=4, gnn=gnn, base=base)).eval()
    graphs = [to_data(trace_module(_small_cnn(3), (2, 1, 8, 8))),
              to_data(trace_module(nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 2)), (2, 5)))]
    with torch.no_grad():
        batched = ghn(batch_graphs(graphs))
        single = [ghn(g) for g in graphs]
    assert len(batched) == 2
    for b, s in zip(batched, single):
        assert b.keys() == s.keys()
        for name in s:
            torch.testing.assert_close(b[name], s[name], atol=1e-5, rtol=1e-4)


def test_accepts_model_graph_or_data_and_any_number_of_classes():
    torch.manual_seed(0)
    ghn = GraphHyperNetwork(GHNConfig(hidden=32, heads=4)).eval()
    for classes in (2, 10, 1000, 21843):
        model = _small_cnn(classes)
        with torch.no_grad():
            from_model = ghn(model, (2, 1, 8, 8))
            from_data = ghn(to_data(trace_module(model, (2, 1, 8, 8))))
        assert from_model["8.weight"].shape == (classes, 32)
        torch.testing.assert_close(from_model["8.weight"], from_data["8.weight"])
    with pytest.raises(TypeError, match="cannot predict"):
        ghn("resnet50")


def test_newer_ops_map_to_unknown():
    full = GraphHyperNetwork(GHNConfig(hidden=16, heads=4))
    vocab = [n for n in full.config.op_vocabulary if n != "conv2d"]
    ghn = GraphHyperNetwork(GHNConfig(hidden=16, heads=4, op_vocabulary=vocab))
    assert ghn.encoder.num_ops == len(vocab)
    conv2d = ghn.registry.op("conv2d").index
    assert ghn.op_map[conv2d] == vocab.index("unknown_module")
    with torch.no_grad():
        assert ghn(_small_cnn(), (2, 1, 8, 8))["0.weight"].shape == (16, 1, 3, 3)


def test_config_errors():
    with pytest.raises(ValueError, match="unknown GHNConfig key 'hiden'; did you mean 'hidden'\\?"):
        GHNConfig.from_dict({"hiden": 3})
    with pytest.raises(ValueError, match="unknown ScalingConfig key 'beta'"):
        GHNConfig.from_dict({"scaling": {"beta": 2}})
    # values of the wrong type are named with the type the field takes (hypergen --set hidden=abc)
    with pytest.raises(ValueError, match=r"GHNConfig.hidden must be of type int, got 'abc' \(str\)"):
        GHNConfig.from_dict({"hidden": "abc"})
    with pytest.raises(ValueError, match="GHNConfig.base must be of type bool, got 1"):
        GHNConfig.from_dict({"base": 1})
    with pytest.raises(ValueError, match="ScalingConfig.weight_beta must be of type float, got 'x'"):
        GHNConfig.from_dict({"scaling": {"weight_beta": "x"}})
    assert GHNConfig.from_dict({"scaling": {"weight_beta": 2}}).scaling.weight_beta == 2  # an int is a fine float
    with pytest.raises(KeyError, match="unknown GNN 'gcn'"):
        GraphHyperNetwork(GHNConfig(gnn="gcn"))
    assert GHNConfig.from_dict(GHNConfig(rank=4).to_dict()) == GHNConfig(rank=4)
    assert GHNConfig.from_dict(GHNConfig(vocab_codes=2048).to_dict()).vocab_codes == 2048
    old = GHNConfig().to_dict()
    del old["vocab_codes"]  # configs stored before learned vocabulary codes
    assert GHNConfig.from_dict(old).vocab_codes == 0
    # a dict of scaling fields is accepted by the constructor too (and checked there, not at prediction time)
    assert GHNConfig(scaling={"embedding_std": 0.02}).scaling.embedding_std == 0.02
    with pytest.raises(ValueError, match="unknown ScalingConfig key 'beta'"):
        GHNConfig(scaling={"beta": 2})
    with pytest.raises(TypeError, match="GHNConfig.scaling must be a ScalingConfig or a dict"):
        GHNConfig(scaling=2.0)


class _ScalarParams(nn.Module):
    """A 0-dim scale, a one-element PReLU slope and an ordinary layer."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 4)
        self.act = nn.PReLU()
        self.temperature = nn.Parameter(torch.ones(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.fc(x)) * self.temperature


@pytest.mark.parametrize("variant", [dict(), dict(decoder="tiling")])
def test_scalar_parameters_stay_near_their_default_and_can_be_learned(variant):
    """One-element tensors were exactly their role's constant (centred: 0, so a LearnableAffineBlock's scale of 1
    made the net constant and no GHN training could move it); normalised they were noise blown up to -103."""
    for seed in range(3):
        torch.manual_seed(seed)
        ghn = GraphHyperNetwork(GHNConfig(hidden=32, heads=4, **variant))
        params = ghn(_ScalarParams(), (2, 8))
        assert params["temperature"].shape == () and params["act.weight"].shape == (1,)
        # within constant_spread (10%) of the defaults: PReLU 0.25, temperature 1
        assert float(params["act.weight"]) == pytest.approx(0.25, rel=0.1)
        assert float(params["temperature"]) == pytest.approx(1.0, rel=0.1)
        params["temperature"].backward()
        grads = [p.grad for p in ghn.decoder.parameters() if p.grad is not None]
        assert any(g.abs().sum() > 0 for g in grads)  # a GHN can learn it
    with torch.device("meta"):
        meta_model = _ScalarParams()
    with torch.no_grad():  # no reference on meta (no initialiser fills a bare parameter): the role's value, +-10%
        params = GraphHyperNetwork(GHNConfig(hidden=32, heads=4, **variant))(meta_model, (2, 8))
    assert float(params["temperature"]) == pytest.approx(0.1, rel=0.1)


def test_gpt2_conv1d_fan_in_and_tied_embedding_give_sane_statistics_and_logits():
    """HF's Conv1D stores weights [in, out]; GPT-2's token embedding is also its output layer."""
    torch.manual_seed(0)
    zoo = load_model("hf:gpt2:causal_lm", device="cpu", n_layer=2, n_embd=128, n_head=4, vocab_size=1000)
    GraphHyperNetwork().eval().init_(zoo.model, zoo.example_inputs, keep_scale=False)  # the GHN's own scaling rules
    params = dict(zoo.model.named_parameters())
    expected = {"transformer.h.0.mlp.c_fc.weight": 128, "transformer.h.0.mlp.c_proj.weight": 512,
                "transformer.h.1.attn.c_attn.weight": 128, "transformer.wte.weight": 128}
    for name, fan_in in expected.items():
        assert 0.5 <= params[name].std().item() * fan_in ** 0.5 <= 2.0, (name, params[name].std().item())
    tokens = torch.randint(0, 1000, (2, 16), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        loss = zoo.model(tokens, labels=tokens).loss.item()
    # std-1 tied embeddings gave logits of std ~16 and a loss of ~47; now ~11 (HF's own init: 6.9 = ln 1000). The rest
    # is the untrained low-rank decoder: token embeddings, position embeddings and layers of rank <= 17 keep the
    # residual stream in a small subspace that the (tied) output rows share, so logits come out ~2.8x larger.
    assert loss < 2 * math.log(1000)


def test_same_op_nodes_at_different_depths_get_different_weights():
    """Without positions, an untrained graph transformer gave every conv of a shape nearly the same tensor."""
    from hypergen.evaluate.diversity import same_shape_similarity

    target = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), *[m for _ in range(6) for m in
                                                             (nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8),
                                                              nn.ReLU())])
    data = to_data(trace_module(target, (2, 1, 8, 8)))
    similarity = {}
    for positional in (False, True):
        torch.manual_seed(0)
        ghn = GraphHyperNetwork(GHNConfig(positional=positional, decoder="lowrank", base=False)).eval()
        with torch.no_grad():
            similarity[positional] = same_shape_similarity(ghn(data).items())
    assert similarity[False] > 0.95 and similarity[True] < 0.9


def test_init_caps_each_weights_scale_at_the_models_own_by_default():
    """init_ never predicts weights wider than the values they replace (HF's GPT-2: 0.02, below the fan-in rule)."""
    torch.manual_seed(0)
    zoo = load_model("hf:gpt2:causal_lm", device="cpu", n_layer=2, n_embd=128, n_head=4, vocab_size=1000)
    before = {n: p.detach().std().item() for n, p in zoo.model.named_parameters() if p.dim() >= 2}
    report = GraphHyperNetwork().eval().init_(zoo.model, zoo.example_inputs)
    after = dict(zoo.model.named_parameters())
    assert report.rescaled == len(before) and "rescaled down to their previous std" in report.summary()
    for name, std in before.items():
        assert after[name].std().item() == pytest.approx(std, rel=1e-3), name
    assert after["transformer.h.0.ln_1.weight"].mean().item() == pytest.approx(1.0, abs=0.05)  # vectors: GHN's own


def test_forward_and_as_data_take_tracing_device_and_mode():
    class TrainOnlyHead(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body, self.aux = nn.Linear(3, 4), nn.Linear(4, 2)

        def forward(self, x):
            y = self.body(x)
            return (y, self.aux(y)) if self.training and bool(y.sum() != 0.5) else y  # bool(): needs a value

    torch.manual_seed(0)
    ghn = GraphHyperNetwork(GHNConfig(hidden=32, heads=4)).eval()
    model = TrainOnlyHead()
    with torch.no_grad():
        assert set(ghn(model, (2, 3))) == {"body.weight", "body.bias", "aux.weight", "aux.bias"}  # auto: CPU retry
        assert set(ghn(model, (2, 3), mode="eval", device="meta")) == {"body.weight", "body.bias"}
        assert ghn.as_data(model, (2, 3), device="cpu").param_names == ["body.weight", "body.bias", "aux.weight",
                                                                        "aux.bias"]
    with pytest.raises(TraceError, match="needs|reads tensor values"):
        ghn(model, (2, 3), device="meta")
