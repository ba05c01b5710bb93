"""compare_inits: both inits start from the same net, see the same batches and seeds; targets and their errors."""

from functools import partial

import pytest
import torch
from torch import nn

from hypergen.apply import orthogonalize_
from hypergen.archs import ArchSampler
from hypergen.evaluate import (CompareConfig, EvalTarget, FinetuneConfig, accuracy, compare_inits, heldout_targets,
                                same_shape_similarity, zoo_targets)
from hypergen.ghn import GHNConfig, GraphHyperNetwork

SHAPE, CLASSES = (1, 8, 8), 4


@pytest.fixture(scope="module")
def target():
    spec = ArchSampler("mlp", "test", SHAPE, CLASSES, seed=0, param_bounds=(500, 20_000)).sample(0)
    return heldout_targets([spec], "mlp/test")[0]


@pytest.fixture(scope="module")
def ghn():
    torch.manual_seed(0)
    return GraphHyperNetwork(GHNConfig(hidden=32, gnn_layers=1, heads=4)).eval()


class Batches:
    """A factory of identical batch streams that records what each stream handed out."""

    def __init__(self) -> None:
        self.streams: list[list[float]] = []

    def __call__(self):
        g = torch.Generator().manual_seed(0)
        record: list[float] = []
        self.streams.append(record)
        while True:
            x = torch.randn(16, *SHAPE, generator=g)
            record.append(float(x.sum()))
            yield x, torch.randint(0, CLASSES, (16,), generator=g)


EVAL = [(torch.randn(64, *SHAPE, generator=torch.Generator().manual_seed(1)),
         torch.randint(0, CLASSES, (64,), generator=torch.Generator().manual_seed(2)))]


def test_step_zero_accuracies_are_those_of_the_two_inits(target, ghn):
    config = CompareConfig(FinetuneConfig(steps=0), batchnorm="keep", seed=3)
    result = compare_inits(target, ghn, Batches(), EVAL, config, partial(torch.optim.SGD, lr=0.1), SHAPE)
    default = target.build(3)
    assert result.curves["default"].acc == [accuracy(default, EVAL)]
    ghn.init_(default, (2, *SHAPE))
    assert result.curves["ghn"].acc == [accuracy(default, EVAL)]
    assert result.name == "mlp/test/0" and result.params == sum(p.numel() for p in default.parameters())
    assert result.not_predicted == {}
    assert result.similarity == {"ghn": None, "default": None}  # this MLP has no two weights of one shape


def _stack():
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(),
                         nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, CLASSES))


def test_orthogonalized_ghn_init_starts_from_the_polar_factors(ghn):
    target = EvalTarget("stack", _stack, {})
    config = CompareConfig(FinetuneConfig(steps=0), batchnorm="keep", seed=3, orthogonalize=True)
    result = compare_inits(target, ghn, Batches(), EVAL, config, partial(torch.optim.SGD, lr=0.1), SHAPE)
    assert result.similarity["default"] == pytest.approx(same_shape_similarity(target.build(3)))
    assert abs(result.similarity["default"]) < 0.2  # two independent default-init 16x16 weights
    net = target.build(3)
    ghn.init_(net, (2, *SHAPE))
    raw = {n: p.detach().clone() for n, p in net.named_parameters()}
    orthogonalize_(net.parameters())
    assert result.curves["ghn"].acc == [accuracy(net, EVAL)]
    assert any(not torch.allclose(p, raw[n]) for n, p in net.named_parameters())  # it did change the weights
    assert result.similarity["ghn"] == pytest.approx(same_shape_similarity(net), abs=1e-6)
    assert result.similarity["ghn"] is not None


def test_orthogonalized_default_init_is_the_control(ghn):
    target = EvalTarget("stack", _stack, {})
    config = CompareConfig(FinetuneConfig(steps=0), batchnorm="keep", seed=3, orthogonalize_default=True)
    result = compare_inits(target, ghn, Batches(), EVAL, config, partial(torch.optim.SGD, lr=0.1), SHAPE)
    net = target.build(3)
    orthogonalize_(net.parameters())
    assert result.curves["default"].acc == [accuracy(net, EVAL)]
    ghn_net = target.build(3)
    ghn.init_(ghn_net, (2, *SHAPE))  # the GHN init is untouched
    assert result.curves["ghn"].acc == [accuracy(ghn_net, EVAL)]
    assert result.similarity["default"] == pytest.approx(same_shape_similarity(net), abs=1e-6)


def test_both_runs_see_the_same_batches_in_the_same_order(target, ghn):
    batches = Batches()
    config = CompareConfig(FinetuneConfig(steps=6, eval_every=3), batchnorm="recalibrate", calibration_batches=2)
    result = compare_inits(target, ghn, batches, EVAL, config, partial(torch.optim.SGD, lr=0.05), SHAPE)
    calibration, ghn_run, default_run = batches.streams
    assert len(calibration) == 2 and len(ghn_run) == 6 and ghn_run == default_run
    assert result.curves["ghn"].steps == result.curves["default"].steps == [0, 3, 6]
    assert result.curves["ghn"].acc != result.curves["default"].acc  # different inits really were compared


def test_bad_batchnorm_mode_is_rejected():
    with pytest.raises(ValueError, match="batchnorm='nope'"):
        CompareConfig(FinetuneConfig(steps=1), batchnorm="nope")


def _trained(target, batches, steps, lr):
    """The default-init net trained ``steps`` steps at a constant ``lr`` (what a warm start must start from)."""
    net = target.build(3)
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    for _, (x, y) in zip(range(steps), batches):
        loss = nn.functional.cross_entropy(net(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return net


def test_warm_starts_continue_one_pretraining_run_and_fine_tune_like_the_others(target, ghn):
    batches, warm = Batches(), Batches()
    config = CompareConfig(FinetuneConfig(steps=4, eval_every=2, cosine=True), batchnorm="keep", seed=3,
                           warm_start=(6, 2))
    result = compare_inits(target, ghn, batches, EVAL, config, partial(torch.optim.SGD, lr=0.05), SHAPE,
                           warm_batches=warm)
    assert list(result.curves) == ["ghn", "default", "warm2", "warm6"]
    assert len(warm.streams) == 1 and len(warm.streams[0]) == 6  # one pre-training run: 2 steps, then 4 more
    _, default_run, warm2_run, warm6_run = batches.streams  # the warm starts fine-tune on the same batches
    assert default_run == warm2_run == warm6_run and len(default_run) == 4
    for steps in (2, 6):
        start = accuracy(_trained(target, Batches()(), steps, 0.05), EVAL)
        assert result.curves[f"warm{steps}"].acc[0] == start
        assert result.curves[f"warm{steps}"].steps == [0, 2, 4]
    assert result.curves["warm6"].train_loss[1:] != result.curves["warm2"].train_loss[1:]  # different starts


def test_warm_start_settings_are_checked(target, ghn):
    with pytest.raises(ValueError, match=r"warm_start=\[2, 2\]: give distinct step counts >= 1"):
        CompareConfig(FinetuneConfig(steps=1), warm_start=(2, 2))
    with pytest.raises(ValueError, match=r"warm_start=\[0\]"):
        CompareConfig(FinetuneConfig(steps=1), warm_start=[0])
    config = CompareConfig(FinetuneConfig(steps=1), batchnorm="keep", warm_start=(2,))
    with pytest.raises(ValueError, match=r"warm_start=\[2\] needs warm_batches"):
        compare_inits(target, ghn, Batches(), EVAL, config, partial(torch.optim.SGD, lr=0.05), SHAPE)


def test_zoo_target_that_does_not_fit_the_data_names_model_and_shape(torchvision_models):
    with pytest.raises(ValueError, match=r"'torchvision:resnet18' cannot take this dataset's inputs of shape \[1, 28"):
        zoo_targets(["torchvision:resnet18"], 10, (1, 28, 28))
    (resnet,) = zoo_targets(["torchvision:resnet18"], 10, (3, 32, 32))
    assert resnet.name == "torchvision:resnet18" and resnet.info["params"] == 11_181_642


def test_zoo_target_with_config_options_builds_a_hugging_face_vit_for_the_data():
    pytest.importorskip("transformers")
    entry = {"model": "hf:vit:image_classification", "num_channels": 1, "image_size": 28, "patch_size": 4,
             "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64}
    (vit,) = zoo_targets([entry], 10, (1, 28, 28))
    assert vit.name == ("hf:vit:image_classification(num_channels=1, image_size=28, patch_size=4, hidden_size=32, "
                        "num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)")
    net = vit.build(seed=0)
    assert net(torch.randn(2, 1, 28, 28)).logits.shape == (2, 10)
    assert vit.info["params"] == sum(p.numel() for p in net.parameters())
    with pytest.raises(ValueError, match=r"zoo target \{'image_size': 28\} needs a 'model' key"):
        zoo_targets([{"image_size": 28}], 10, (1, 28, 28))
    with pytest.raises(ValueError, match=r"'hf:vit:image_classification\(image_size=32\)' cannot take this dataset's"):
        zoo_targets([{"model": "hf:vit:image_classification", "image_size": 32}], 10, (1, 28, 28))
