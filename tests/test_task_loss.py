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
