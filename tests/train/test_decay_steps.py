"""``module.decay_steps``: the learning rate holds its peak after the warmup and decays over the last steps only."""

import pytest
import torch

from hypergen.compat import ensure_torchvision_importable

ensure_torchvision_importable()

from hypergen.ghn import GHNConfig  # noqa: E402
from hypergen.train.archs import ArchPool  # noqa: E402
from hypergen.train.module import GHNTrainingModule  # noqa: E402


def _module(**kwargs):
    torch.manual_seed(0)
    pool = ArchPool("mlp", (1, 40), 10, pool_size=4, heldout_count=1)
    return GHNTrainingModule(GHNConfig(hidden=16, heads=2), pool, meta_batch=2, lr=2e-3, warmup_steps=10,
                             total_steps=110, **kwargs)


def _learning_rates(module, steps):
    """The optimiser's learning rate before each of ``steps`` scheduler steps."""
    config = module.configure_optimizers()
    optimizer, scheduler = config["optimizer"], config["lr_scheduler"]["scheduler"]
    rates = []
    for _ in range(steps):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates


def test_the_peak_holds_until_the_final_decay():
    held = _learning_rates(_module(decay_steps=50), 111)
    plain = _learning_rates(_module(), 111)
    assert held[:10] == pytest.approx(plain[:10])  # the same warmup
    assert held[10:61] == pytest.approx([2e-3] * 51)  # the peak, held until step 60 of 110
    assert plain[60] == pytest.approx(2e-3 * (0.01 + 0.99 * 0.5))  # the plain schedule is half-way down by then
    assert held[85] == pytest.approx(2e-3 * (0.01 + 0.99 * 0.5))  # half-way through the last 50 steps
    assert held[110] == pytest.approx(2e-5)  # both end at the floor
    assert plain[110] == pytest.approx(2e-5)
    assert _module(decay_steps=50).hparams["decay_steps"] == 50


def test_a_non_positive_decay_is_refused_by_name():
    with pytest.raises(ValueError, match=r"module.decay_steps=0: give a positive number"):
        _module(decay_steps=0)
