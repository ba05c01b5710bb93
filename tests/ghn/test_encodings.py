import pytest
import torch

from hypergen.ghn.encodings import (
    KERNEL_FEATURES, absolute_index_encoding, index_encoding, kernel_position_encoding, log_size_encoding,
)


def test_index_encoding_low_frequencies_are_orthogonal_for_any_width():
    for n in (64, 100, 50257):
        p = index_encoding(n, 64).double()
        assert p.shape == (n, 64)
        low = torch.cat([p[:, :16], p[:, 32:48]], dim=1)  # cos/sin of the deterministic low frequencies
        gram = low.t() @ low / n
        off = gram - torch.diag(torch.diag(gram))
        assert off.abs().max() < 1e-6
        assert torch.allclose(torch.diag(gram)[1:16], torch.full((15,), 1.0, dtype=torch.double), atol=1e-6)


def test_index_encoding_is_a_function_of_position_and_width():
    assert torch.equal(index_encoding(512, 64), index_encoding(512, 64))
    big = index_encoding(50257, 64)
    # neighbouring tokens are not near-duplicates: high frequencies separate them
    assert (big[1] - big[0]).norm() > 0.5
    assert not torch.equal(index_encoding(512, 64, seed=1), index_encoding(512, 64))


def test_kernel_positions_any_size_and_dims():
    assert kernel_position_encoding(()).shape == (1, KERNEL_FEATURES)
    assert kernel_position_encoding((3,)).shape == (3, KERNEL_FEATURES)
    enc = kernel_position_encoding((7, 7))
    assert enc.shape == (49, KERNEL_FEATURES)
    assert torch.unique(enc, dim=0).shape[0] == 49  # every position has its own code
    assert kernel_position_encoding((3, 3, 3)).shape == (27, KERNEL_FEATURES)


def test_log_size_encoding_separates_unseen_sizes():
    codes = log_size_encoding(torch.tensor([[50257], [50258], [768]]), 6)
    assert codes.shape == (3, 12)
    assert not torch.equal(codes[0], codes[1])
    assert (codes[0] - codes[2]).norm() > (codes[0] - codes[1]).norm()


def test_index_encoding_has_no_duplicate_directions_for_narrow_widths():
    """Frequencies above n/2 alias onto lower ones at n points; narrow widths get zero columns instead."""
    for n in (1, 2, 3, 12, 40, 64, 100):
        p = index_encoding(n, 64).double()
        used = p[:, p.abs().sum(0) > 1e-9]
        assert used.shape[1] == torch.linalg.matrix_rank(p) >= min(n, 62)
        gram = used.t() @ used / n
        assert (gram - torch.diag(torch.diag(gram))).abs().max() < 1e-6  # non-zero columns are orthogonal


def test_absolute_index_encoding_gives_each_position_one_code_at_every_width():
    wide = absolute_index_encoding(4096, 64)
    for n in (1, 3, 16, 24, 100):
        assert torch.equal(absolute_index_encoding(n, 64), wide[:n])  # channel i is channel i, whatever the width
    assert wide.abs().max() <= 2 ** 0.5 + 1e-6
    gram = wide.double().t() @ wide.double() / 4096
    # unit mean square, but for the lowest frequency bin (its column is nearly constant: the mean direction)
    assert torch.allclose(torch.diag(gram)[1:], torch.ones(63, dtype=torch.double), atol=0.05)
    assert (gram - torch.diag(torch.diag(gram))).abs().max() < 0.1  # nearly orthogonal columns at large widths
    assert torch.linalg.matrix_rank(absolute_index_encoding(16, 64).double()) == 16  # no duplicate rows
    assert not torch.equal(absolute_index_encoding(8, 64, seed=1), absolute_index_encoding(8, 64))


def test_identity_index_encoding_crops_the_core_and_never_repeats_a_unit():
    from hypergen.ghn.encodings import identity_index_encoding

    wide = identity_index_encoding(300, 32)
    for n in (1, 10, 32, 33, 100):
        assert torch.equal(identity_index_encoding(n, 32), wide[:n])  # channel i is channel i at every width
    core = torch.randn(32, 32)
    rows, cols = identity_index_encoding(10, 32), identity_index_encoding(24, 32)
    torch.testing.assert_close(rows @ core @ cols.t() / 32, core[:10, :24])  # narrow layers: the core, cropped
    torch.testing.assert_close(wide.norm(dim=1), torch.full((300,), 32 ** 0.5))  # every unit on one scale
    product = wide.double() @ core.double() @ wide.double().t() / 32
    assert torch.linalg.matrix_rank(product) == 32  # rank E beyond E units...
    assert torch.unique(product, dim=0).shape[0] == 300  # ...and no two units equal


@pytest.mark.parametrize("tilt", [0.25, 1.0])
def test_cyclic_index_encoding_makes_wide_units_lean_towards_narrow_ones_but_never_equal(tilt):
    import torch.nn.functional as F

    from hypergen.ghn.encodings import cyclic_index_encoding, identity_index_encoding

    wide = cyclic_index_encoding(300, 32, tilt=tilt)
    for n in (1, 32, 33, 100):
        assert torch.equal(cyclic_index_encoding(n, 32, tilt=tilt), wide[:n])  # channel i is channel i at any width
    assert torch.equal(wide[:32], identity_index_encoding(32, 32))  # training widths: the core, cropped
    torch.testing.assert_close(wide.norm(dim=1), torch.full((300,), 32 ** 0.5))
    unit = F.normalize(wide, dim=1)
    partner = (unit[32:] * unit[torch.arange(32, 300) % 32]).sum(1)  # row i against row i mod 32
    others = unit[32:] @ unit[:32].t()  # against every narrow row
    others[torch.arange(268), torch.arange(32, 300) % 32] = 0
    expected = 1 / (1 + tilt ** 2) ** 0.5  # the tilt's direction is nearly orthogonal to the partner
    assert abs(partner.mean() - expected) < 0.03 and partner.max() < 1 - 1e-3
    assert others.abs().max() < partner.min()  # the partner is the closest narrow row
    core = torch.randn(32, 32, dtype=torch.double)
    product = wide.double() @ core @ wide.double().t() / 32
    assert torch.unique(product, dim=0).shape[0] == 300  # no two units equal, unlike tiling's unit i and i + 32
    assert not torch.equal(cyclic_index_encoding(40, 32, seed=1, tilt=tilt), wide[:40])


def test_cyclic_tilt_moves_wide_rows_from_their_partner_towards_the_identity_codes():
    import torch.nn.functional as F

    from hypergen.ghn.encodings import CYCLIC_TILT, cyclic_index_encoding, identity_index_encoding

    assert torch.equal(cyclic_index_encoding(100, 32), cyclic_index_encoding(100, 32, tilt=CYCLIC_TILT))
    identity = F.normalize(identity_index_encoding(100, 32)[32:], dim=1)
    partners = torch.eye(32)[torch.arange(32, 100) % 32]
    near_partner, near_identity = [], []
    for tilt in (0.25, 0.5, 1.0, 2.0, 1e4):
        rows = F.normalize(cyclic_index_encoding(100, 32, tilt=tilt)[32:], dim=1)
        near_partner.append((rows * partners).sum(1).mean().item())
        near_identity.append((rows * identity).sum(1).mean().item())
    assert near_partner == sorted(near_partner, reverse=True) and near_identity == sorted(near_identity)
    assert near_identity[-1] > 0.9999  # tilt -> inf: identity's rows beyond E


def test_the_width_independent_encodings_are_the_ones_whose_rows_do_not_depend_on_the_width():
    from hypergen.ghn.encodings import INDEX_ENCODINGS, WIDTH_INDEPENDENT_ENCODINGS

    for name, encode in INDEX_ENCODINGS.items():
        same = all(torch.equal(encode(n, 32), encode(100, 32)[:n]) for n in (8, 40))
        assert same == (name in WIDTH_INDEPENDENT_ENCODINGS), name


def test_seeded_uniform_is_fixed_by_the_id_with_unit_variance():
    from hypergen.ghn.encodings import seeded_uniform

    u = seeded_uniform(torch.arange(4), 50_000)
    assert u.shape == (4, 50_000)
    assert u.abs().max() <= 3 ** 0.5 + 1e-6
    assert torch.allclose(u.mean(1), torch.zeros(4), atol=0.02)
    assert torch.allclose(u.std(1), torch.ones(4), atol=0.02)
    assert torch.equal(seeded_uniform(torch.tensor([2]), 50_000)[0], u[2])  # alone = in a batch
    torch.manual_seed(123)
    assert torch.equal(seeded_uniform(torch.tensor([2]), 50_000)[0], u[2])  # the global RNG plays no part
    assert torch.corrcoef(u[:2]).abs()[0, 1] < 0.02  # different ids are unrelated
    # a square block is full-rank with a random matrix's spectrum (largest singular value ~ 2 sqrt(n))
    s = torch.linalg.svdvals(seeded_uniform(torch.tensor([9]), 128 * 128).view(128, 128))
    assert 1.8 < s[0] / 128 ** 0.5 < 2.2 and s[-1] > 0


@pytest.mark.parametrize("tilt", [0.0, -1.0, float("nan"), float("inf")])
def test_a_cyclic_tilt_that_would_repeat_units_or_is_not_a_number_is_refused_when_the_ghn_is_built(tilt):
    from hypergen.ghn import GHNConfig, GraphHyperNetwork
    from hypergen.ghn.encodings import cyclic_index_encoding

    with pytest.raises(ValueError, match=r"index_tilt must be a finite number > 0 .* got"):
        GraphHyperNetwork(GHNConfig(hidden=16, heads=4, index_tilt=tilt))
    with pytest.raises(ValueError, match="index_tilt"):
        cyclic_index_encoding(40, 32, tilt=tilt)
    GraphHyperNetwork(GHNConfig(hidden=16, heads=4, index_encoding="identity", index_tilt=tilt))  # not read there
