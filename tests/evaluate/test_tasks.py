"""task_loss / task_correct / logits_of / perplexity / dataset_task: classification and next-token shapes."""

import math
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from hypergen.tasks import (CLASSIFICATION, LANGUAGE_MODEL, dataset_task, logits_of, perplexity, task_correct,
                            task_loss)


def test_classification_loss_is_cross_entropy():
    g = torch.Generator().manual_seed(0)
    logits, y = torch.randn(8, 5, generator=g), torch.randint(0, 5, (8,), generator=g)
    assert torch.equal(task_loss(logits, y), F.cross_entropy(logits, y))


def test_language_model_loss_is_the_mean_over_every_next_token():
    g = torch.Generator().manual_seed(0)
    logits, y = torch.randn(2, 3, 7, generator=g), torch.randint(0, 7, (2, 3), generator=g)
    by_hand = sum(-torch.log_softmax(logits[b, t], -1)[y[b, t]] for b in range(2) for t in range(3)) / 6
    assert task_loss(logits, y).item() == pytest.approx(by_hand.item(), abs=1e-6)
    # uniform logits over a byte vocabulary: exactly ln 256 nats per token, perplexity 256
    uniform = task_loss(torch.zeros(4, 16, 256), torch.randint(0, 256, (4, 16)))
    assert uniform.item() == pytest.approx(math.log(256), abs=1e-6)
    assert perplexity(uniform.item()) == pytest.approx(256.0, rel=1e-5)


def test_correct_counts_samples_or_tokens():
    logits = torch.tensor([[[0.0, 1.0], [1.0, 0.0], [0.0, 1.0]]])  # predicts 1, 0, 1
    assert task_correct(logits, torch.tensor([[1, 1, 1]])) == (2, 3)
    assert task_correct(logits[0], torch.tensor([1, 0, 0])) == (2, 3)


def test_hugging_face_outputs_are_unwrapped_and_bad_outputs_named():
    logits = torch.zeros(1, 2, 4)
    assert logits_of(SimpleNamespace(logits=logits)) is logits
    assert task_loss(SimpleNamespace(logits=logits), torch.zeros(1, 2, dtype=torch.long)).item() == \
        pytest.approx(math.log(4))
    with pytest.raises(TypeError, match="tuple"):
        logits_of((logits,))


def test_shapes_that_fit_neither_task_are_rejected_with_both_shapes():
    with pytest.raises(ValueError, match=r"\[2, 3, 4\].*\[2\]"):
        task_loss(torch.zeros(2, 3, 4), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\[2, 5\].*\[3\]"):
        task_correct(torch.zeros(2, 5), torch.zeros(3, dtype=torch.long))


def test_dataset_task_reads_the_spec_class_attribute():
    from hypergen.data import get_dataset_class

    assert dataset_task(get_dataset_class("fashion_mnist")) == CLASSIFICATION
    assert dataset_task(get_dataset_class("text")) == LANGUAGE_MODEL
    with pytest.raises(ValueError, match="'segmentation'"):
        dataset_task(SimpleNamespace(task="segmentation"))
