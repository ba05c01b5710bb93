"""The GHNs shipped inside the package load by name and predict weights that work, measured here (no training)."""

import pytest

from hypergen.ghn import load_ghn
from hypergen.ghn.pretrained import SHIPPED_DIR, PretrainedRegistry

SHIPPED = [entry.name for entry in PretrainedRegistry(SHIPPED_DIR).entries()]


def test_a_ghn_is_shipped_with_a_complete_card():
    assert SHIPPED, f"no pretrained GHN in {SHIPPED_DIR}"
    for entry in PretrainedRegistry(SHIPPED_DIR).entries():
        card = entry.card
        assert {"description", "data", "archs", "ghn", "training", "accuracy", "command"} <= set(card), entry.name
        assert SHIPPED_DIR.joinpath(f"{entry.name}.safetensors").stat().st_size <= 10 * 2**20


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_ghn_predicts_heldout_nets_far_above_default_init(name):
    from hypergen.evaluate.predict import predict_accuracy

    entry = PretrainedRegistry(SHIPPED_DIR).get(name)
    ghn = load_ghn(name)
    results = predict_accuracy(ghn, entry.card, split="test", nets=3, images=600)
    predicted = sum(r.predicted for r in results) / len(results)
    default = sum(r.default for r in results) / len(results)
    measured = entry.card["accuracy"]["test"]  # what the card claims, over 8 nets and 2,000 images
    assert predicted >= 0.75 * measured and predicted >= default + 0.15, (predicted, default, measured)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_ghn_predictions_do_not_touch_the_mix_floor(name):
    # the floor on the learned mix logit (hypergen.ghn.decoders.lowrank.MIX_LOGIT_FLOOR) came after these GHNs were
    # trained: their logits must lie above it on held-out nets of every split, so it leaves their predictions as they were
    import torch

    from hypergen.archs import build
    from hypergen.evaluate.predict import card_heldout_specs
    from hypergen.ghn.decoders.lowrank import MIX_LOGIT_FLOOR

    entry = PretrainedRegistry(SHIPPED_DIR).get(name)
    ghn = load_ghn(name).eval()
    heads = [module for key, module in ghn.named_modules() if key.endswith("mix_head")]
    if not heads:
        pytest.skip(f"{name}: its decoder has no learned mix (no seeded base)")
    logits = []
    hooks = [head.register_forward_hook(lambda _m, _i, out: logits.append(out.detach().flatten())) for head in heads]
    shape = (2, *entry.card["data"]["input_shape"])
    with torch.no_grad():
        for split in ("test", "wide", "deep"):
            for spec in card_heldout_specs(entry.card, split, 2):
                ghn(build(spec, "cpu"), shape)
    for hook in hooks:
        hook.remove()
    lowest = torch.cat(logits).min().item()
    assert lowest > MIX_LOGIT_FLOOR + 0.5, (name, lowest)
