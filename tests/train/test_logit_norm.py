"""``module.logit_norm``: the GHN trains on the nets' logits centred and rescaled to a fixed norm."""

import pytest
import torch

from hypergen.compat import ensure_torchvision_importable

ensure_torchvision_importable()

from hypergen.apply.functional import forward_with, materialize_buffers  # noqa: E402
from hypergen.ghn import GHNConfig  # noqa: E402
from hypergen.tasks import normalize_logits, prediction_loss  # noqa: E402
from hypergen.train.archs import ArchPool  # noqa: E402
from hypergen.train.module import GHNTrainingModule  # noqa: E402


def _module(logit_norm):
    torch.manual_seed(0)
    pool = ArchPool("mlp", (1, 40), 10, pool_size=4, heldout_count=1)
    return GHNTrainingModule(GHNConfig(hidden=16, heads=2), pool, meta_batch=2, warmup_steps=0, total_steps=20,
                             logit_norm=logit_norm)


def test_the_optimised_loss_is_the_cross_entropy_of_the_rescaled_logits():
    torch.manual_seed(1)
    x, y = torch.randn(16, 1, 40), torch.randint(0, 10, (16,))
    plain, normed = _module(None), _module(5.0)
    archs = plain.archs.batch(0, 0, 1, 2)
    assert plain.state_dict().keys() == normed.state_dict().keys()
    normed.load_state_dict(plain.state_dict())  # the same GHN: only the loss differs
    losses, correct, predictions, _, raw = normed._losses(archs, x, y)
    plain_losses, plain_correct, _, _, plain_raw = plain._losses(archs, x, y)
    assert plain_raw == [] and len(raw) == 2
    for arch, params, loss, accuracy, own, plain_loss, plain_accuracy in zip(
            archs, predictions, losses, correct, raw, plain_losses, plain_correct):
        logits = forward_with(materialize_buffers(arch.model, torch.device("cpu")).train(), params, x)
        expected, expected_accuracy = prediction_loss(normalize_logits(logits, 5.0), y)
        assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
        assert own.item() == pytest.approx(plain_loss.item(), rel=1e-5)  # train/raw_loss: the nets' own logits
        assert loss.item() != pytest.approx(own.item(), rel=1e-3)
        assert accuracy.item() == expected_accuracy.item() == plain_accuracy.item()  # top-1 unchanged
    total = torch.stack(losses).mean()
    total.backward()
    assert all(torch.isfinite(p.grad).all() for p in normed.ghn.parameters() if p.grad is not None)
    assert normed.hparams["logit_norm"] == 5.0


def test_a_non_positive_norm_is_refused_by_name():
    with pytest.raises(ValueError, match=r"module.logit_norm=-1.0: give a positive L2 norm"):
        _module(-1.0)
