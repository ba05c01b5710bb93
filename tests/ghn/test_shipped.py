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
