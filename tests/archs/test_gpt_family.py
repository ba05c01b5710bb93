"""gpt: causal language models; num_classes is the vocabulary."""

from __future__ import annotations

import pytest
import torch

from hypergen.archs import InvalidSpecError, build, count_params, reference_spec, trace_spec, validate_spec


@pytest.fixture
def nano() -> dict:
    return reference_spec("gpt_nano", (16,), 65)


def test_logits_at_a_position_do_not_see_later_tokens(nano):
    model = build(nano).eval()
    idx = torch.randint(0, 65, (2, 16))
    changed = idx.clone()
    changed[:, 10] = (changed[:, 10] + 1) % 65
    with torch.no_grad():
        a, b = model(idx), model(changed)
    assert a.shape == (2, 16, 65)
    torch.testing.assert_close(a[:, :10], b[:, :10])
    assert not torch.allclose(a[:, 10:], b[:, 10:])


def test_shorter_sequences_and_tied_embeddings(nano):
    model = build(nano)
    assert model.lm_head.weight is model.tok_embed.weight
    with torch.no_grad():
        assert model(torch.randint(0, 65, (3, 5))).shape == (3, 5, 65)
    untied = dict(nano, tie_embeddings=False)
    assert count_params(untied) - count_params(nano) == 65 * 48


def test_graph_uses_attention_and_embeddings(nano):
    ops = trace_spec(dict(nano, norm="rms", pos_embedding="none"))[1].op_counts()
    assert ops["scaled_dot_product_attention"] == 3 and ops["embedding"] == 1 and ops["rms_norm"] == 7


def test_vocabulary_of_one_is_rejected(nano):
    nano["num_classes"] = 1
    with pytest.raises(InvalidSpecError, match=r"gpt spec: 'num_classes' \(the vocabulary size\) must be an int in "
                                               r"\[2, 1000000\], got 1"):
        validate_spec(nano)
