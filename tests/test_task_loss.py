"""hypergen.tasks: one cross-entropy/top-1 for classifiers ([B, C] logits) and language models ([B, T, V])."""

import math

import pytest
import torch
import torch.nn.functional as F

from hypergen.archs import get_family, list_families
from hypergen.tasks import CLASSIFICATION, LANGUAGE_MODEL, TASKS, check_task, prediction_counts, prediction_loss


def test_classification_loss_and_accuracy_are_the_usual_ones():
    torch.manual_seed(0)
    logits, labels = torch.randn(7, 10), torch.randint(0, 10, (7,))
    loss, acc = prediction_loss(logits, labels)
    assert torch.equal(loss, F.cross_entropy(logits, labels))  # bit-identical to what training used before tasks
    assert acc.item() == (logits.argmax(1) == labels).float().mean().item()


def test_language_model_loss_is_the_mean_over_every_token_position():
    logits = torch.zeros(2, 3, 4)
    targets = torch.tensor([[0, 1, 2], [3, 2, 1]])
    logits[0, 0, 0] = logits[0, 1, 1] = logits[1, 2, 1] = 5.0  # 3 of the 6 positions predict their next token
    # (the other 3 predict token 0: argmax of equal logits)
    loss, acc = prediction_loss(logits, targets)
    per_token = [-torch.log_softmax(logits[b, t], -1)[targets[b, t]] for b in range(2) for t in range(3)]
    assert loss.item() == pytest.approx(sum(per_token).item() / 6, rel=1e-6)
    assert acc.item() == 0.5
    uniform, _ = prediction_loss(torch.zeros(2, 3, 4), targets)
    assert uniform.item() == pytest.approx(math.log(4), rel=1e-6)  # chance level is ln(vocab)


def test_counts_summed_over_uneven_batches_give_the_exact_token_mean():
    torch.manual_seed(1)
    logits, targets = torch.randn(5, 8, 16), torch.randint(0, 16, (5, 8))
    counts = prediction_counts(logits[:2], targets[:2]) + prediction_counts(logits[2:], targets[2:])  # 16 + 24 tokens
    loss, acc = prediction_loss(logits, targets)
    assert counts[2].item() == 40
    assert (counts[0] / counts[2]).item() == pytest.approx(loss.item(), rel=1e-6)
    assert (counts[1] / counts[2]).item() == pytest.approx(acc.item(), rel=1e-6)


def test_shapes_that_do_not_fit_name_both():
    with pytest.raises(ValueError, match=r"logits of shape \[4, 8, 10\] do not fit targets of shape \[4\]"):
        prediction_loss(torch.zeros(4, 8, 10), torch.zeros(4, dtype=torch.long))


def test_every_family_declares_a_known_task():
    assert {name: check_task(get_family(name).task, f"family {name}") for name in list_families()} == {
        name: LANGUAGE_MODEL if name == "gpt" else CLASSIFICATION for name in list_families()}
    assert set(TASKS) == {CLASSIFICATION, LANGUAGE_MODEL}
    with pytest.raises(ValueError, match=r"family x: unknown task 'seq2seq'; known tasks: \['classification', "):
        check_task("seq2seq", "family x")


def test_a_family_with_an_unknown_task_is_refused_at_registration():
    from hypergen.archs import register_family
    from hypergen.archs.gpt import GPTFamily

    class Seq2Seq(GPTFamily):
        name = "seq2seq_test"
        task = "seq2seq"

    with pytest.raises(ValueError, match=r"architecture family 'seq2seq_test' \(Seq2Seq.task\): unknown task "):
        register_family(Seq2Seq)
    assert "seq2seq_test" not in list_families()


def test_normalized_logits_are_centred_of_the_given_norm_and_keep_the_top_1():
    from hypergen.tasks import check_logit_norm, normalize_logits

    torch.manual_seed(2)
    logits = torch.randn(6, 10) * torch.logspace(-3, 2, 6)[:, None] + 0.5  # tiny to large, off-centre
    scaled = normalize_logits(logits, 5.0)
    torch.testing.assert_close(scaled.mean(-1), torch.zeros(6), atol=1e-4, rtol=0)
    torch.testing.assert_close(scaled.norm(dim=-1), torch.full((6,), 5.0), atol=0, rtol=1e-3)  # eps: 3e-4 at 1e-3
    assert torch.equal(scaled.argmax(-1), logits.argmax(-1))
    # shrinking the logits no longer lowers the loss: the same direction at 1/1000 of the scale costs the same
    labels = torch.randint(0, 10, (6,))
    moderate = torch.randn(6, 10)
    far, near = prediction_loss(normalize_logits(moderate, 5.0), labels), prediction_loss(
        normalize_logits(moderate * 1e-3, 5.0), labels)
    assert far[0].item() == pytest.approx(near[0].item(), rel=1e-3)  # up to eps
    assert prediction_loss(moderate * 1e-3, labels)[0].item() == pytest.approx(math.log(10), abs=0.01)  # chance
    # a perfect prediction at norm 5 costs log(1 + 9 exp(-norm * sqrt(10 / 9)))
    perfect = normalize_logits(F.one_hot(torch.tensor([3]), 10).float(), 5.0)
    expected = math.log(1 + 9 * math.exp(-5.0 * math.sqrt(10 / 9)))
    assert prediction_loss(perfect, torch.tensor([3]))[0].item() == pytest.approx(expected, rel=1e-4)
    tokens = normalize_logits(torch.randn(2, 3, 7), 2.0)  # language-model logits: per token position
    torch.testing.assert_close(tokens.norm(dim=-1), torch.full((2, 3), 2.0), atol=1e-4, rtol=0)
    with pytest.raises(ValueError, match=r"norm=0.0: give a positive L2 norm"):
        normalize_logits(logits, 0.0)
    with pytest.raises(ValueError, match=r"^module.logit_norm=nan: give a positive L2 norm"):  # NaN is not > 0
        check_logit_norm(float("nan"), "module.logit_norm")
    with pytest.raises(ValueError, match=r"C >= 2 classes, got shape \[4, 1\]"):
        normalize_logits(torch.zeros(4, 1), 1.0)
