"""resnet: blocks, bottlenecks, dense stages."""

from __future__ import annotations

import torch

from hypergen.archs import ArchSampler, build, reference_spec, trace_spec


def test_bottleneck_and_dense_variant_of_resnet20():
    spec = dict(reference_spec("resnet20", (3, 32, 32), 10), block="bottleneck", expansion=4, dense=True,
                kernel_size=5)
    model = build(spec)
    first = model.stages[0].blocks[0]
    assert first.conv[0].weight.shape == (4, 4, 5, 5)  # 16 // 4 inner channels
    assert all(stage.dense for stage in model.stages)
    with torch.no_grad():
        assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    graph = trace_spec(spec)[1]
    assert graph.coverage.complete and graph.op_counts()["div"] == 3  # per stage: block 3 reads mean(h1, h2)


def test_stem_and_strides_follow_the_image_size():
    for spec in ArchSampler("resnet", "train", (1, 28, 28), 10, seed=4).take(5):
        assert spec["stem_stride"] == 1 and not spec["stem_pool"] and spec["stem_kernel"] == 3
        assert spec["strides"][0] == 1 and set(spec["strides"][1:]) <= {2}
