import math

import pytest

from hypergen.train import ArchPool, check_decay_steps, warmup_cosine


def test_ranks_draw_disjoint_architectures_and_the_stream_is_a_function_of_the_step():
    pool = ArchPool("mlp", (1, 40), 10, pool_size=None, heldout_count=2)
    a = pool.indices(step=3, rank=0, world_size=2, meta_batch=4)
    b = pool.indices(step=3, rank=1, world_size=2, meta_batch=4)
    assert not set(a) & set(b) and a == [24, 25, 26, 27]
    assert [x.key for x in pool.batch(3, 0, 2, 4)] == [x.key for x in ArchPool("mlp", (1, 40), 10, pool_size=None)
                                                       .batch(3, 0, 2, 4)]
    assert ArchPool("mlp", (1, 40), 10, pool_size=5).indices(2, 0, 1, 4) == [3, 4, 0, 1]
    held = pool.heldout()
    assert len(held) == 2 and set(held[0].default_params) == {n for n, _ in held[0].traced.model.named_parameters()}
    with pytest.raises(ValueError, match="pool_size"):
        ArchPool("mlp", (1, 40), 10, pool_size=0)


def test_a_pool_curriculum_grows_from_pool_start_to_pool_size():
    pool = ArchPool("mlp", (1, 40), 10, pool_size=100, pool_start=8, pool_growth_steps=46, heldout_count=1)
    assert [pool.size(s, 1, 4) for s in (0, 1, 23, 45, 46, 500)] == [8, 10, 54, 98, 100, 100]
    # steps 0-1 take the first 8 nets, step 2 draws from 12, step 3 from 14 and wraps around
    assert [pool.indices(s, 0, 1, 4) for s in range(4)] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11],
                                                            [12, 13, 0, 1]]
    assert max(i for s in range(46) for i in pool.indices(s, 0, 1, 4)) < 100
    # never fewer nets than one step takes, so DDP ranks still draw disjoint nets
    assert pool.size(0, world_size=4, meta_batch=4) == 16
    a, b = pool.indices(0, 0, 4, 4), pool.indices(0, 1, 4, 4)
    assert not set(a) & set(b)
    # no curriculum: the full pool from step 0
    assert ArchPool("mlp", (1, 40), 10, pool_size=100, heldout_count=1).size(0, 1, 4) == 100
    for kwargs, match in [({"pool_size": None, "pool_start": 8, "pool_growth_steps": 10}, "finite pool_size"),
                          ({"pool_size": 10, "pool_start": 11, "pool_growth_steps": 10}, r"pool_start must be in \[1"),
                          ({"pool_size": 10, "pool_start": 4, "pool_growth_steps": 0}, "pool_growth_steps must be")]:
        with pytest.raises(ValueError, match=match):
            ArchPool("mlp", (1, 40), 10, heldout_count=1, **kwargs)


def test_family_options_apply_to_training_and_heldout_nets():
    pool = ArchPool("deepnets", (1, 28, 28), 10, pool_size=4, param_bounds=(5000, 40000), heldout_count=2,
                    options={"stem_stride": [2], "ops": ["conv_3x3", "skip_connect", "max_pool_3x3"]})
    specs = [a.spec for a in pool.batch(0, 0, 1, 4)] + pool.heldout_specs
    assert all(s["stem_stride"] == 2 for s in specs)
    assert {op for s in specs for node in s["genotype"]["normal"] for op, _ in node} <= {"conv_3x3", "skip_connect",
                                                                                         "max_pool_3x3"}
    with pytest.raises(ValueError, match="has no sampling option"):
        ArchPool("mlp", (1, 40), 10, options={"stem_stride": [2]})


def test_warmup_cosine():
    assert warmup_cosine(0, 10, 110) == pytest.approx(0.1)
    assert warmup_cosine(9, 10, 110) == pytest.approx(1.0)
    assert warmup_cosine(60, 10, 110) == pytest.approx(0.01 + 0.99 * 0.5)
    assert warmup_cosine(500, 10, 110) == pytest.approx(0.01)
    assert math.isclose(warmup_cosine(0, 0, 100), 1.0)


def test_warmup_cosine_holds_the_peak_before_a_final_decay():
    # warmup 10, hold until step 60, cosine over the last 50 of 110 steps
    assert warmup_cosine(5, 10, 110, decay_steps=50) == pytest.approx(0.6)
    assert warmup_cosine(10, 10, 110, decay_steps=50) == 1.0
    assert warmup_cosine(59, 10, 110, decay_steps=50) == 1.0
    assert warmup_cosine(85, 10, 110, decay_steps=50) == pytest.approx(0.01 + 0.99 * 0.5)
    assert warmup_cosine(110, 10, 110, decay_steps=50) == pytest.approx(0.01)
    # a decay longer than the steps after the warmup is the plain warmup-cosine schedule
    assert warmup_cosine(60, 10, 110, decay_steps=500) == warmup_cosine(60, 10, 110)
    with pytest.raises(ValueError, match=r"^decay_steps=0: give a positive number"):
        warmup_cosine(5, 10, 110, decay_steps=0)


def test_check_decay_steps_names_the_option_it_refuses():
    check_decay_steps(None)
    check_decay_steps(1)
    with pytest.raises(ValueError, match=r"^module.decay_steps=-3: give a positive number"):
        check_decay_steps(-3, "module.decay_steps")
