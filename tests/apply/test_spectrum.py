"""orthogonalize: the polar factor keeps the singular directions and the Frobenius norm, flattens the spectrum."""

import math

import pytest
import torch
from torch import nn

from hypergen.apply import orthogonalize, orthogonalize_, spectrum
from hypergen.ghn import GHNConfig, GraphHyperNetwork


def test_polar_factor_of_a_known_matrix():
    u, _ = torch.linalg.qr(torch.randn(6, 6, generator=torch.Generator().manual_seed(0)))
    v, _ = torch.linalg.qr(torch.randn(4, 4, generator=torch.Generator().manual_seed(1)))
    s = torch.tensor([8.0, 2.0, 0.5, 0.1])
    w = u[:, :4] @ torch.diag(s) @ v.T  # [6, 4], singular values 8, 2, 0.5, 0.1
    out = orthogonalize(w)
    expected = u[:, :4] @ v.T * (w.norm() / 2.0)  # same directions, all singular values equal, same norm
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
    sv = torch.linalg.svdvals(out)
    torch.testing.assert_close(sv, torch.full((4,), float(w.norm()) / 2.0), rtol=1e-5, atol=1e-5)


def test_conv_weight_is_flattened_as_out_by_rest_and_repeated_rows_are_separated():
    block = torch.randn(4, 3, 3, 3, generator=torch.Generator().manual_seed(0))
    tiled = block.repeat(2, 1, 1, 1)  # [8, 3, 3, 3]: rows 4..7 copy rows 0..3 (a tiling decoder's output)
    out = orthogonalize(tiled)
    assert out.shape == tiled.shape and out.dtype == tiled.dtype
    matrix = out.reshape(8, -1)
    assert torch.linalg.matrix_rank(matrix) == 8  # was 4
    torch.testing.assert_close(matrix @ matrix.T, torch.eye(8) * (tiled.norm() ** 2 / 8), rtol=1e-4, atol=1e-4)
    assert not torch.allclose(matrix[:4], matrix[4:])


def test_vectors_are_refused_and_skipped_in_place():
    with pytest.raises(ValueError, match="rank >= 2"):
        orthogonalize(torch.ones(3))
    layer = nn.Linear(5, 3)
    bias = layer.bias.detach().clone()
    assert orthogonalize_(layer.parameters()) == 1
    assert torch.equal(layer.bias, bias)
    sv = torch.linalg.svdvals(layer.weight.detach())
    torch.testing.assert_close(sv, sv[:1].expand(3), rtol=1e-5, atol=1e-6)


def test_init_orthogonalize_writes_polar_factors_of_the_predictions():
    torch.manual_seed(0)
    ghn = GraphHyperNetwork(GHNConfig(hidden=32, heads=4)).eval()
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 6 * 6, 5))
    with torch.no_grad():
        predicted = ghn(model, (2, 3, 8, 8))
    report = ghn.init_(model, (2, 3, 8, 8), orthogonalize=True, keep_scale=False)
    assert report.orthogonalized == 2 and "(2 orthogonalized)" in report.summary()
    for name, param in model.named_parameters():
        expected = orthogonalize(predicted[name]) if param.dim() >= 2 else predicted[name]
        torch.testing.assert_close(param.detach(), expected, rtol=1e-4, atol=1e-6)


def _svd_polar(matrix: torch.Tensor) -> torch.Tensor:
    u, _, vh = torch.linalg.svd(matrix.double(), full_matrices=False)
    return u @ vh


@pytest.mark.parametrize("shape", [(40, 300), (300, 40), (64, 8, 3, 3)])
def test_polar_factor_from_the_gram_matrix_matches_the_svd_one(shape):
    g = torch.Generator().manual_seed(0)
    rows, cols = shape[0], math.prod(shape[1:])
    u, _ = torch.linalg.qr(torch.randn(rows, min(rows, cols), generator=g, dtype=torch.float64))
    v, _ = torch.linalg.qr(torch.randn(cols, min(rows, cols), generator=g, dtype=torch.float64))
    s = torch.logspace(0, -3, min(rows, cols), dtype=torch.float64)  # condition number 1e3
    matrix = u @ torch.diag(s) @ v.T
    assert spectrum._polar_from_gram(matrix) is not None  # the fast path is taken
    out = orthogonalize(matrix.reshape(shape))
    expected = _svd_polar(matrix) * matrix.norm() / math.sqrt(min(rows, cols))
    torch.testing.assert_close(out.reshape(rows, cols), expected, rtol=0, atol=1e-10)


def test_ill_conditioned_matrices_fall_back_to_the_svd():
    g = torch.Generator().manual_seed(1)
    u, _ = torch.linalg.qr(torch.randn(10, 10, generator=g, dtype=torch.float64))
    v, _ = torch.linalg.qr(torch.randn(50, 10, generator=g, dtype=torch.float64))
    s = torch.ones(10, dtype=torch.float64)
    s[-1] = 0.1 * spectrum.GRAM_MIN_RATIO  # below the bound: the eigenvalues cannot resolve that direction
    matrix = u @ torch.diag(s) @ v.T
    assert spectrum._polar_from_gram(matrix) is None
    torch.testing.assert_close(orthogonalize(matrix), _svd_polar(matrix) * matrix.norm() / math.sqrt(10), rtol=0,
                               atol=1e-12)
    assert spectrum._polar_from_gram(torch.zeros(3, 5, dtype=torch.float64)) is None
    assert torch.equal(orthogonalize(torch.zeros(3, 5)), torch.zeros(3, 5))
