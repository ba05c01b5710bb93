import math

import pytest
import torch
from torch import nn

from hypergen.ghn import GHNConfig, GraphHyperNetwork
from hypergen.ghn.decoders import LowRankDecoder, LowRankParams, TensorLayout, TilingDecoder, build_decoder
from hypergen.ghn.decoders.lowrank import MIX_LOGIT_FLOOR, mix_offset


@pytest.mark.parametrize(
    ("shape", "rows", "cols", "kernel"),
    [
        ((768,), 768, None, ()),
        ((1, 1, 768), 768, None, ()),  # ViT class token
        ((1, 197, 768), 197, 768, ()),  # position embedding
        ((64, 3, 7, 7), 64, 3, (7, 7)),
        ((32, 1, 3, 3), 32, 1, (3, 3)),  # depthwise
        ((8, 4, 3, 3, 3), 8, 4, (3, 3, 3)),
        ((), 1, None, ()),
    ],
)
def test_layout(shape, rows, cols, kernel):
    layout = TensorLayout.of(shape)
    assert (layout.rows, layout.cols, layout.kernel) == (rows, cols, kernel)


def test_lowrank_decoder_size_does_not_depend_on_target_width():
    torch.manual_seed(0)
    dec = LowRankDecoder(hidden=32, rank=8, index_features=16)
    size = sum(p.numel() for p in dec.parameters())
    cond = torch.randn(1, 32)
    for shape in [(50257, 1280), (5120, 5120), (512, 2048, 7, 7), (10, 4096), (16, 8, 5)]:
        raw = dec(cond, TensorLayout.of(shape))
        assert isinstance(raw, LowRankParams)
        assert raw.a.shape == (1, shape[0], 8) and raw.b.shape == (1, math.prod(shape[1:]), 8)
    assert sum(p.numel() for p in dec.parameters()) == size


def test_lowrank_materialize_matches_factors_and_has_rank_r():
    torch.manual_seed(0)
    dec = LowRankDecoder(hidden=16, rank=4, index_features=16)
    raw = dec(torch.randn(3, 16), TensorLayout.of((40, 12, 3, 3)))
    w = raw.materialize(torch.ones(3), torch.zeros(3))
    assert w.shape == (3, 40, 12, 3, 3)
    dense = w.flatten(2)
    assert torch.allclose(raw.rms(), dense.pow(2).mean(dim=(1, 2)).sqrt(), rtol=1e-4)
    assert all(torch.linalg.matrix_rank(d) <= 4 for d in dense)
    shifted = raw.materialize(torch.full((3,), 2.0), torch.ones(3))
    assert torch.allclose(shifted, 2 * w + 1, atol=1e-5)


def test_big_embedding_is_predicted():
    dec = LowRankDecoder(hidden=16, rank=8, index_features=32)
    w = dec(torch.randn(1, 16), TensorLayout.of((50257, 1280))).materialize(torch.ones(1), torch.zeros(1))
    assert w.shape == (1, 50257, 1280) and torch.isfinite(w).all()
    assert w[0].std(dim=1).min() > 0  # every token row is non-constant


@pytest.mark.parametrize("shape", [(64, 3, 7, 7), (100, 70), (33,), (8, 4, 5), (8, 4, 1, 1), (6, 2, 3, 3, 3)])
def test_tiling_decoder_shapes_and_tiling(shape):
    torch.manual_seed(0)
    dec = TilingDecoder(hidden=16, tile_size=8)
    w = dec(torch.randn(2, 16), TensorLayout.of(shape)).values
    assert w.shape == (2, *shape)
    if len(shape) >= 2 and shape[0] > 8:
        assert torch.equal(w[:, :8], w[:, 8:16])  # GHN-2 tiling repeats the block


def test_unknown_decoder_name():
    with pytest.raises(KeyError, match="registered"):
        build_decoder(GHNConfig(hidden=16, decoder="nope"))
    with pytest.raises(KeyError, match=r"unknown index encoding 'nope'; registered: \['absolute', 'cyclic', 'identity', 'relative'\]"):
        build_decoder(GHNConfig(hidden=16, index_encoding="nope"))


@pytest.mark.parametrize("shape", [(16, 16, 3, 3), (32, 1, 3, 3), (8, 4, 5, 5), (8, 4, 3, 3, 3)])
def test_lowrank_kernels_vary_across_positions(shape):
    """Untrained predictions have spatial structure: most of a filter's variance is across kernel positions
    (PyTorch's default init: ~90%; an additive kernel code once gave ~5%, and the GHN barely learned)."""
    torch.manual_seed(0)
    dec = LowRankDecoder(hidden=64, rank=16, index_features=64)
    w = dec(torch.randn(4, 64), TensorLayout.of(shape)).materialize(torch.ones(4), torch.zeros(4))
    spatial_dims = tuple(range(3, w.dim()))
    centred = w - w.mean(dim=tuple(range(1, w.dim())), keepdim=True)
    across = (w - w.mean(dim=spatial_dims, keepdim=True)).square().sum() / centred.square().sum()
    assert across > 0.5


def test_seeded_base_is_full_rank_deterministic_and_mixes_at_the_width_dependent_start():
    torch.manual_seed(0)
    dec = LowRankDecoder(hidden=16, rank=4, index_features=16, base=True)
    cond = torch.randn(3, 16)
    layout = TensorLayout.of((48, 24))
    ids = torch.tensor([0, 1, 7])
    raw = dec(cond, layout, ids=ids)
    w = raw.materialize(torch.ones(3), torch.zeros(3))
    assert all(torch.linalg.matrix_rank(m) == 24 for m in w)  # the base makes every tensor full-rank
    # the same ids give the same tensors, alone or in another batch order
    again = dec(cond[[2, 0]], layout, ids=ids[[2, 0]]).materialize(torch.ones(2), torch.zeros(2))
    torch.testing.assert_close(again, w[[2, 0]])
    # the product's share of the mean square is rank / min(rows, cols) = 4 / 24 at init
    low = raw.low_rank_rms().square()
    assert torch.allclose(low / raw.rms().square(), torch.full((3,), 4 / 24), rtol=1e-4)
    narrow = dec(cond, TensorLayout.of((3, 4)), ids=ids[:3])  # no wider than the rank: the product alone, nearly
    assert (narrow.base_scale < 0.05).all()
    # rms/mean from the factors agree with the dense tensor up to the base's sampling noise
    assert torch.allclose(raw.rms(), w.flatten(1).pow(2).mean(1).sqrt(), rtol=0.05)
    with pytest.raises(ValueError, match="ids"):
        dec(cond, layout)


def test_learned_mix_cannot_hand_a_tensor_over_to_the_base():
    # one trained GHN walked every mix logit to -11 and predicted the seeded base alone; the floor keeps the product
    dec = LowRankDecoder(hidden=8, rank=4, index_features=8, base=True)
    cond, ids = torch.randn(2, 8), torch.tensor([0, 1])
    narrow, wide = TensorLayout.of((4, 4)), TensorLayout.of((64, 64))
    with torch.no_grad():
        dec.mix_head.bias.fill_(-20.0)  # far below the floor
        floor_narrow = dec(cond, narrow, ids=ids).base_scale
        floor_wide = dec(cond, wide, ids=ids).base_scale
        dec.mix_head.bias.fill_(MIX_LOGIT_FLOOR)  # at the floor: the same tensors
        torch.testing.assert_close(dec(cond, narrow, ids=ids).base_scale, floor_narrow)
        dec.mix_head.bias.fill_(0.5)  # above it: the unbounded formula
        above = dec(cond, wide, ids=ids).base_scale
    share = 1 - floor_narrow.square()  # the product's share of the variance (both parts have unit mean square)
    assert (share > 0.99).all(), share
    assert (1 - floor_wide.square() > 0.01).all(), floor_wide
    expected = math.cos(math.pi / 2 / (1 + math.exp(-(0.5 + mix_offset(4, wide)))))
    torch.testing.assert_close(above, torch.full((2,), expected))
    # and gradients still reach the head above the floor
    dec.mix_head.bias.data.fill_(0.5)
    dec(cond, wide, ids=ids).base_scale.sum().backward()
    assert dec.mix_head.bias.grad.abs().item() > 0


def test_seeded_base_written_into_out_matches_materialize():
    torch.manual_seed(0)
    dec = LowRankDecoder(hidden=8, rank=2, index_features=8, base=True)
    raw = dec(torch.randn(2, 8), TensorLayout.of((6, 5, 3, 3)), ids=torch.tensor([3, 4]))
    scale, offset = torch.tensor([0.5, 2.0]), torch.tensor([0.1, -0.2])
    out = torch.empty(2, 6, 5, 3, 3)
    with torch.no_grad():  # writing into a given tensor is for init_, without autograd
        raw.materialize(scale, offset, out=out)
    assert torch.allclose(out, raw.materialize(scale, offset), atol=1e-6)
    torch.testing.assert_close(raw.select(1).materialize(scale[1:], offset[1:])[0], raw.materialize(scale, offset)[1])


def test_seeded_base_in_place_without_autograd_equals_the_differentiable_path():
    # inference draws the base straight into the result and adds the product in place; training keeps the
    # out-of-place path that autograd needs: both give the same values, and training still gets gradients
    torch.manual_seed(0)
    dec = build_decoder(GHNConfig(hidden=8, rank=4))
    cond = torch.randn(3, 8, requires_grad=True)
    scale, offset = torch.tensor([0.5, 2.0, 1.0]), torch.tensor([0.1, -0.2, 0.0])
    raw = dec(cond, TensorLayout.of((40, 6, 3, 3)), ids=torch.tensor([3, 4, 7]))
    trained = raw.materialize(scale, offset)
    trained.square().sum().backward()
    assert cond.grad is not None and cond.grad.abs().sum() > 0
    with torch.inference_mode():
        predicted = dec(cond, TensorLayout.of((40, 6, 3, 3)), ids=torch.tensor([3, 4, 7])).materialize(scale, offset)
    assert torch.equal(predicted, trained.detach())


def test_core_decoder_rank_width_independence_and_no_repeated_units():
    from hypergen.evaluate.quality import repeated_unit_fraction
    from hypergen.ghn.decoders import CoreDecoder

    torch.manual_seed(0)
    dec = CoreDecoder(hidden=16, rank=8, base=False)
    size = sum(p.numel() for p in dec.parameters())
    cond = torch.randn(2, 16)
    for shape in [(100, 100), (64, 3, 7, 7), (10, 4096), (6, 2, 3, 3, 3), (12, 8, 5)]:
        w = dec(cond, TensorLayout.of(shape)).materialize(torch.ones(2), torch.zeros(2))
        assert w.shape == (2, *shape)
        assert all(torch.linalg.matrix_rank(m.reshape(shape[0], -1)) <= 8 for m in w)
        assert repeated_unit_fraction([("w", m) for m in w]) == 0.0  # unlike tiling: every unit differs
    assert sum(p.numel() for p in dec.parameters()) == size
    # 3x3 kernels are the core's own block: a 3x3 conv keeps its spatial structure
    w = dec(cond, TensorLayout.of((16, 16, 3, 3))).materialize(torch.ones(2), torch.zeros(2))
    assert w.var(dim=(-1, -2)).mean() > 0.5 * w.var()
    based = CoreDecoder(hidden=16, rank=8, base=True)
    w = based(cond, TensorLayout.of((40, 40)), ids=torch.tensor([0, 1])).materialize(torch.ones(2), torch.zeros(2))
    assert all(torch.linalg.matrix_rank(m) == 40 for m in w)
    with pytest.raises(ValueError, match="even"):
        CoreDecoder(hidden=16, rank=7)


def test_core_decoder_mip_ignores_the_conditioning_magnitude():
    from hypergen.ghn.decoders import CoreDecoder

    cond, layout = torch.randn(3, 16), TensorLayout.of((12, 10, 3, 3))
    ones, zeros = torch.ones(3), torch.zeros(3)
    for mip in (True, False):
        torch.manual_seed(0)
        dec = CoreDecoder(hidden=16, rank=8, base=False, mip=mip)
        w, w5 = (dec(c, layout).materialize(ones, zeros) for c in (cond, 5 * cond))
        assert torch.allclose(w, w5, atol=1e-5) == mip  # without mip, 5x the input moves every weight
        v, v5 = (dec(c, TensorLayout.of((12,))).values for c in (cond, 5 * cond))
        assert torch.allclose(v, v5, atol=1e-5) == mip
    # the GHN's config reaches the decoder (it used to be read by the factor decoder only)
    assert GraphHyperNetwork(GHNConfig(hidden=16, heads=2, mip=True)).decoder.mip
    assert not GraphHyperNetwork(GHNConfig(hidden=16, heads=2)).decoder.mip
    with pytest.raises(ValueError, match="'tiling' decoder has no magnitude-invariant parametrization"):
        GraphHyperNetwork(GHNConfig(hidden=16, heads=2, decoder="tiling", mip=True))


def test_build_decoder_knows_every_registered_decoder():
    from hypergen.ghn.decoders import DECODER_REGISTRY, CoreDecoder

    assert set(DECODER_REGISTRY) == {"core", "lowrank", "tiling"}
    assert isinstance(build_decoder(GHNConfig(decoder="core", rank=8)), CoreDecoder)


def test_center_units_removes_the_shared_unit_template():
    """With ``ScalingConfig.center_units`` no two units share a template: every weight's units sum to zero (up to
    the seeded base, which is not centred), whatever the decoder; vectors are left alone."""

    from hypergen.ghn.decoders.base import DenseParams

    layout = TensorLayout.of((6, 4, 3, 3))
    dense = DenseParams(torch.randn(2, 6, 4, 3, 3) + 5.0, layout).center_units()
    torch.testing.assert_close(dense.values.mean(dim=1), torch.zeros(2, 4, 3, 3), atol=1e-5, rtol=0)
    low = LowRankParams(torch.randn(2, 6, 3) + 1.0, torch.randn(2, 36, 3), layout).center_units()
    full = low.materialize(torch.ones(2), torch.zeros(2))
    torch.testing.assert_close(full.mean(dim=1), torch.zeros(2, 4, 3, 3), atol=1e-5, rtol=0)
    vector = DenseParams(torch.randn(2, 6) + 1.0, TensorLayout.of((6,)))
    assert vector.center_units() is vector
    model = nn.Sequential(nn.Linear(8, 40), nn.ReLU(), nn.Linear(40, 10))
    for decoder in ("tiling", "core"):
        config = GHNConfig(hidden=32, heads=4, decoder=decoder, base=False, scaling={"center_units": True})
        weights = GraphHyperNetwork(config)(model, (2, 8))
        for name in ("0.weight", "2.weight"):
            assert weights[name].mean(dim=0).abs().max() < 1e-5, (decoder, name)


def _gpt(tie: bool) -> torch.nn.Module:
    from hypergen.archs.gpt import GPT

    return GPT({"num_classes": 300, "input_shape": [16], "depth": 1, "width": 16, "heads": 2, "mlp_ratio": 2.0,
                "norm": "ln", "pos_embedding": "learned", "tie_embeddings": tie, "dense": False})


@pytest.mark.parametrize("tie", [False, True])
def test_vocab_codes_start_at_the_fixed_codes_and_learn_token_rows(tie):
    net, tokens = _gpt(tie), torch.zeros(2, 16, dtype=torch.long)
    torch.manual_seed(0)
    fixed = GraphHyperNetwork(GHNConfig(hidden=32, heads=4))
    torch.manual_seed(0)
    learned = GraphHyperNetwork(GHNConfig(hidden=32, heads=4, vocab_codes=256))  # smaller than the vocabulary
    data = fixed.as_data(net, tokens)
    flagged = {fixed_name for group in learned.plan(data) if group.layout.vocab_rows
               for fixed_name in (data.param_names[r] for r in group.rows.tolist())}
    assert flagged == {"tok_embed.weight", "pos_embed.weight"} | (set() if tie else {"lm_head.weight"})
    a, b = fixed(data), learned(data)
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)  # an untrained GHN predicts as before
    b["tok_embed.weight"][5].sum().backward()
    grad = learned.decoder.vocab_codes.grad.abs().sum(1)
    assert grad[5] > 100 * grad[torch.arange(256) != 5].max()  # the token's own row, not a mixture of others
    assert learned.decoder.vocab_codes.shape == (256, 32)


def test_vocab_codes_are_refused_where_they_cannot_apply():
    with pytest.raises(ValueError, match="vocab_codes=0"):
        build_decoder(GHNConfig(decoder="tiling", vocab_codes=64))
    with pytest.raises(ValueError, match="index_encoding='identity'"):
        build_decoder(GHNConfig(index_encoding="relative", vocab_codes=64))


def test_hadamard_readout_rows_are_orthogonal_zero_sum_and_signs():
    from hypergen.ghn.decoders.core import hadamard_readout

    q = hadamard_readout(32)
    assert set(q.unique().tolist()) == {-1.0, 1.0}
    assert torch.equal(q @ q.t(), 32 * torch.eye(32))  # orthogonal rows
    assert torch.equal(q[:31].sum(1), torch.zeros(31)) and q[31].sum() == 32  # all but the last sum to zero
    with pytest.raises(ValueError, match="power-of-two rank, got rank=24"):
        hadamard_readout(24)


def test_fixed_output_is_one_readout_in_every_net_and_nothing_else_changes():
    from hypergen.ghn.decoders.core import hadamard_readout

    nets = [nn.Sequential(nn.Linear(8, width), nn.ReLU(), nn.Linear(width, 10)) for width in (24, 40)]
    torch.manual_seed(0)
    plain = GraphHyperNetwork(GHNConfig(hidden=32, heads=4))
    torch.manual_seed(0)
    fixed = GraphHyperNetwork(GHNConfig(hidden=32, heads=4, fixed_output=True))
    assert plain.num_parameters == fixed.num_parameters  # no new parameters: the read-out is fixed
    q = hadamard_readout(32)
    for net in nets:
        a, b = plain(net, (2, 8)), fixed(net, (2, 8))
        assert torch.equal(a["0.weight"], b["0.weight"]) and torch.equal(a["2.bias"], b["2.bias"])
        head = b["2.weight"]
        # up to the predicted scale and offset, class c reads feature j < 32 with Q[c, j]
        direction = head[:, :24] - head[:, :24].mean()
        assert torch.nn.functional.cosine_similarity(direction.flatten(), q[:10, :24].flatten(), dim=0) > 0.999
        assert not torch.allclose(a["2.weight"], head)
    # the head's direction comes from no parameter: a loss on it reaches only the scaler (scale, offset)
    fixed.zero_grad()
    fixed(nets[0], (2, 8))["2.weight"].square().sum().backward()
    assert fixed.decoder.core_head.weight.grad is None or fixed.decoder.core_head.weight.grad.abs().max() == 0
    data = fixed.as_data(nets[1], (2, 8))
    outputs = [data.param_names[r] for group in fixed.plan(data) if group.output for r in group.rows.tolist()]
    assert outputs == ["2.weight"]


def test_fixed_output_is_refused_without_a_readout():
    with pytest.raises(ValueError, match="decoder='tiling' has none"):
        GraphHyperNetwork(GHNConfig(hidden=32, heads=4, decoder="tiling", fixed_output=True))
    with pytest.raises(ValueError, match="power-of-two rank, got rank=24"):
        GraphHyperNetwork(GHNConfig(hidden=32, heads=4, rank=24, fixed_output=True))


def test_kernel_mlp_core_keeps_each_kernel_position_in_its_place():
    from hypergen.ghn.decoders import CoreDecoder, KernelMLP

    torch.manual_seed(0)
    head = KernelMLP(hidden=16, width=8, rank=4)
    with torch.no_grad():  # only the centre position (index 4 of the 3 x 3 block) gets features
        keep = torch.zeros(9, 8)
        keep[4] = 1.0
        head.lift.weight.mul_(keep.reshape(-1, 1))
        head.lift.bias.mul_(keep.reshape(-1))
        head.out.bias.zero_()
    core = head(torch.randn(3, 16)).view(3, 4, 4, 3, 3)
    assert core[..., 1, 1].abs().min() > 0
    core[..., 1, 1] = 0
    assert torch.equal(core, torch.zeros_like(core))
    # in a decoder: a 3 x 3 kernel is non-zero at its centre only, and the product keeps rank <= r at any width
    decoder = CoreDecoder(hidden=16, rank=4, base=False, hidden_width=8)
    decoder.core_head = head
    params = decoder(torch.randn(2, 16), TensorLayout.of((40, 24, 3, 3)))
    raw = (params.a @ params.b.transpose(1, 2)).view(2, 40, 24, 3, 3)
    assert raw[..., 1, 1].abs().max() > 0 and raw[..., 0, :].abs().max() == 0 and raw[..., :, 2].abs().max() == 0
    assert int(torch.linalg.matrix_rank(raw[0, ..., 1, 1])) == 4


def test_kernel_mlp_core_is_smaller_than_the_linear_head_and_learns_through_both_layers():
    linear = GraphHyperNetwork(GHNConfig(hidden=32, heads=4))
    two_layer = GraphHyperNetwork(GHNConfig(hidden=32, heads=4, core_hidden=48))
    head = two_layer.decoder.core_head
    assert sum(p.numel() for p in head.parameters()) == 32 * 48 * 9 + 48 * 9 + 48 * 32 * 32 + 32 * 32
    assert two_layer.num_parameters < linear.num_parameters  # 32 * 9216 + 9216 weights of the linear head
    net = nn.Sequential(nn.Conv2d(3, 16, 3), nn.ReLU(), nn.Flatten(), nn.LazyLinear(10))
    net(torch.zeros(1, 3, 8, 8))
    weights = two_layer(net, (2, 3, 8, 8))
    (weights["0.weight"].square().sum() + weights["3.weight"].square().sum()).backward()
    assert head.lift.weight.grad.abs().sum() > 0 and head.out.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="core_hidden must be >= 0"):
        GraphHyperNetwork(GHNConfig(hidden=32, heads=4, core_hidden=-1))
