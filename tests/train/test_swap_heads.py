"""``module.swap_heads``: each net is also scored with the next net's predicted output layer, carried to its width
through the core decoder's index codes."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from hypergen.compat import ensure_torchvision_importable

ensure_torchvision_importable()

from hypergen.apply.functional import forward_with, materialize_buffers  # noqa: E402
from hypergen.ghn import GHNConfig  # noqa: E402
from hypergen.ghn.encodings import IndexCodeCache  # noqa: E402
from hypergen.train.archs import ArchPool  # noqa: E402
from hypergen.train.module import GHNTrainingModule  # noqa: E402
from hypergen.train.swap_heads import HeadCapture, SwappedHeads, capture_output_layer, transfer_matrix  # noqa: E402


def test_a_weight_made_from_codes_is_re_emitted_exactly_at_another_width():
    torch.manual_seed(0)
    codes = IndexCodeCache("cyclic", 8, 0, tilt=1.0)
    core = torch.randn(10, 8)  # M: the weight's coefficients in code space
    for n_from, n_to in ((20, 12), (12, 20), (40, 40), (9, 33)):
        weight = core @ codes(n_from, "cpu").t()
        carried = weight @ transfer_matrix(codes(n_from, "cpu"), codes(n_to, "cpu"))
        torch.testing.assert_close(carried, core @ codes(n_to, "cpu").t(), atol=1e-4, rtol=1e-4)


def test_within_the_rank_channel_i_stays_channel_i():
    codes = IndexCodeCache("cyclic", 32, 0, tilt=1.0)
    transfer = transfer_matrix(codes(6, "cpu"), codes(4, "cpu"))
    torch.testing.assert_close(transfer, torch.eye(6, 4), atol=1e-5, rtol=0)


def test_the_loss_reads_each_nets_features_with_the_next_nets_output_layer():
    torch.manual_seed(0)
    codes = IndexCodeCache("cyclic", 32, 0, tilt=1.0)
    swap = SwappedHeads(lambda n: codes(n, "cpu"))
    y = torch.randint(0, 3, (5,))
    heads = [HeadCapture(torch.randn(5, n), torch.randn(3, n), torch.randn(3)) for n in (4, 4, 6)]
    expected = torch.stack([
        F.cross_entropy(F.linear(heads[0].features, heads[1].weight, heads[1].bias), y),  # same width: unchanged
        # 6 -> 4 features (within the rank: the first 4 columns), rescaled by sqrt(4 / 6)... of the fan-in rule
        F.cross_entropy(F.linear(heads[1].features, heads[2].weight[:, :4] * (6 / 4) ** 0.5, heads[2].bias), y),
        # 4 -> 6: zero columns for the two features net 0's output layer never read
        F.cross_entropy(F.linear(heads[2].features, F.pad(heads[0].weight, (0, 2)) * (4 / 6) ** 0.5,
                                 heads[0].bias), y),
    ]).mean()
    assert swap.loss(heads, y).item() == pytest.approx(expected.item(), rel=1e-5)
    with pytest.raises(ValueError, match="at least 2 nets per step"):
        swap.loss(heads[:1], y)


def test_the_capture_holds_the_parameters_the_output_layer_ran_with():
    model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3))
    params = {name: torch.randn_like(p) for name, p in model.named_parameters()}
    x = torch.randn(2, 4)
    with capture_output_layer(model, 3, "mlp") as head:
        logits = forward_with(model, params, x)
    (capture,) = head
    assert capture.weight is params["2.weight"] and capture.bias is params["2.bias"]
    torch.testing.assert_close(F.linear(capture.features, capture.weight, capture.bias), logits)
    with pytest.raises(ValueError, match=r"linear output layer with 7 outputs; net mlp has none"):
        with capture_output_layer(model, 7, "mlp"):
            forward_with(model, params, x)


def _module(swap_heads, **kwargs):
    torch.manual_seed(0)
    pool = ArchPool(kwargs.pop("family", "mlp"), kwargs.pop("input_shape", (1, 40)), 10, pool_size=4,
                    heldout_count=1)
    config = GHNConfig(hidden=16, heads=2, **kwargs.pop("ghn", {}))
    return GHNTrainingModule(config, pool, meta_batch=kwargs.pop("meta_batch", 2), warmup_steps=0, total_steps=20,
                             swap_heads=swap_heads)


def test_the_training_loss_adds_the_weighted_swapped_term_and_trains_the_ghn_through_it():
    torch.manual_seed(1)
    x, y = torch.randn(16, 1, 40), torch.randint(0, 10, (16,))
    module = _module(0.5)
    archs = module.archs.batch(0, 0, 1, 2)
    heads = []
    losses, _, predictions, _, _ = module._losses(archs, x, y, heads=heads)
    assert len(heads) == 2
    for arch, params, head in zip(archs, predictions, heads):
        model = materialize_buffers(arch.model, torch.device("cpu")).train()
        output = [name for name, m in model.named_modules() if isinstance(m, nn.Linear)][-1]
        assert head.weight is params[f"{output}.weight"]  # the predicted output layer, in the autograd graph
    swapped = module.swap.loss(heads, y)
    assert swapped.item() != pytest.approx(torch.stack(losses).mean().item(), rel=1e-3)
    swapped.backward()
    grads = [p.grad for p in module.ghn.decoder.parameters() if p.grad is not None]
    assert grads and any(g.abs().sum() > 0 for g in grads)  # the swapped term alone reaches the decoder
    assert module.hparams["swap_heads"] == 0.5


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"swap_heads": -1.0}, r"module.swap_heads=-1.0: give a positive weight"),
    ({"swap_heads": 0.5, "meta_batch": 1}, r"module.meta_batch=1: no other net to swap with"),
    ({"swap_heads": 0.5, "ghn": {"decoder": "tiling"}}, r"the 'tiling' decoder has no index codes"),
    ({"swap_heads": 0.5, "family": "gpt", "input_shape": (16,)}, r"the 'gpt' family is not a classifier"),
])
def test_unusable_settings_are_refused_by_name(kwargs, message):
    with pytest.raises(ValueError, match=message):
        _module(**kwargs)
