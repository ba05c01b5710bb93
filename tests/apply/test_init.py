import pytest
import torch
from torch import nn

from hypergen.apply import init_, recalibrate_batchnorm
from hypergen.ghn import GHNConfig, GraphHyperNetwork
from hypergen.zoo import load_model


@pytest.fixture(scope="module")
def ghn():
    torch.manual_seed(0)
    return GraphHyperNetwork(GHNConfig(hidden=32, heads=4)).eval()


class _WithUnusedParam(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.unused = nn.Parameter(torch.full((3,), 7.0))

    def forward(self, x):
        return self.bn(self.conv(x)).mean((2, 3))


def test_init_replaces_every_parameter_of_a_torchvision_model(ghn):
    model = load_model("torchvision:resnet18", device="cpu", num_classes=10).model
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    with torch.no_grad():  # before init_: predictions follow the statistics of the values the model holds
        expected = ghn(model)
    report = ghn.init_(model, keep_scale=False)
    assert report.complete and len(report.predicted) == 62
    assert report.predicted_numel == sum(p.numel() for p in model.parameters())
    for name, param in model.named_parameters():
        assert not torch.equal(param, before[name]), name
        torch.testing.assert_close(param.detach(), expected[name])
    assert "kept" in report.batchnorm and report.rescaled == 0
    # by default, weights keep the GHN's values, scaled down where they are wider than what they replace
    with torch.no_grad():
        for name, param in model.named_parameters():
            param.copy_(before[name])
    report = ghn.init_(model)
    wider = {n for n, p in model.named_parameters() if p.dim() >= 2 and expected[n].std() > before[n].std()}
    assert report.rescaled == len(wider) > 0
    for name, param in model.named_parameters():
        if name in wider:
            cosine = torch.nn.functional.cosine_similarity(
                (param - param.mean()).flatten(), (expected[name] - expected[name].mean()).flatten(), dim=0)
            assert cosine > 0.9999 and param.std().item() == pytest.approx(before[name].std().item(), rel=1e-3)
        else:
            torch.testing.assert_close(param.detach(), expected[name])


def test_tied_weights_stay_tied(ghn):
    zoo = load_model("hf:gpt2:causal_lm", device="cpu", n_layer=1, n_embd=32, n_head=2, vocab_size=300)
    model = zoo.model
    report = ghn.init_(model, zoo.example_inputs)
    assert model.lm_head.weight is model.transformer.wte.weight
    assert {"lm_head.weight", "transformer.wte.weight"} <= set(report.predicted)
    assert report.complete


def test_unattached_parameters_are_reported_and_kept(ghn):
    model = _WithUnusedParam()
    with pytest.warns(UserWarning, match="unused"):
        report = init_(model, ghn, (2, 3, 8, 8))
    assert set(report.not_predicted) == {"unused"}
    assert torch.equal(model.unused.detach(), torch.full((3,), 7.0))
    assert "not predicted: unused" in report.summary()


def test_batchnorm_keep_and_recalibrate(ghn):
    torch.manual_seed(0)
    model = _WithUnusedParam()
    batches = [torch.randn(16, 3, 8, 8) + 2 for _ in range(3)]
    with pytest.warns(UserWarning):
        init_(model, ghn, (2, 3, 8, 8))
    assert torch.equal(model.bn.running_mean, torch.zeros(4))  # kept as they were
    with pytest.warns(UserWarning):
        report = init_(model, ghn, (2, 3, 8, 8), batchnorm="recalibrate", calibration_batches=batches)
    assert report.batchnorm == "recalibrated on 3 batches"
    with torch.no_grad():
        conv_out = torch.cat([model.conv(b) for b in batches])
    torch.testing.assert_close(model.bn.running_mean, conv_out.mean((0, 2, 3)), atol=1e-4, rtol=1e-4)
    assert model.training and model.bn.momentum == 0.1  # modes and momentum restored


def test_report_says_what_happened_to_batchnorm_statistics(ghn, caplog):
    """Kept statistics that earlier weights estimated are named (and logged); "reset" gives a fresh layer's."""
    torch.manual_seed(0)
    model = _WithUnusedParam()
    with pytest.warns(UserWarning):
        report = init_(model, ghn, (2, 3, 8, 8))
    assert report.batchnorm.startswith("kept at a fresh layer's (mean 0, var 1) in 1 layers")
    with torch.no_grad():
        model.train()(torch.randn(8, 3, 8, 8) + 3)  # the net runs: its statistics now belong to these weights
    with pytest.warns(UserWarning), caplog.at_level("WARNING", logger="hypergen.apply.init"):
        report = init_(model, ghn, (2, 3, 8, 8))
    assert "1 of them estimated for the previous weights (e.g. 'bn')" in report.batchnorm
    assert "pass batchnorm='reset' or 'recalibrate'" in caplog.text
    with pytest.warns(UserWarning):
        report = init_(model, ghn, (2, 3, 8, 8), batchnorm="reset")
    assert report.batchnorm == "reset to a fresh layer's (mean 0, var 1) in 1 layers"
    assert torch.equal(model.bn.running_mean, torch.zeros(4)) and torch.equal(model.bn.running_var, torch.ones(4))
    assert "BatchNorm statistics: reset" in report.summary()


def test_resnet50_in_eval_mode_keeps_a_sane_output_scale():
    """With kept (fresh) BatchNorm statistics an untrained GHN's ResNet-50 gave logits of std 3e9 (default init: ~25);
    measured since: ~75 with relative index codes, 2.6 with the identity codes of GHNConfig() (smaller logits than
    default init's are harmless; an explosion is what this guards against; classifier inputs: see
    tests/apply/test_depth_stability.py)."""
    torch.manual_seed(0)
    model = load_model("torchvision:resnet50", device="cpu").model.eval()
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        default_std = model(x).std().item()
    torch.manual_seed(0)
    report = GraphHyperNetwork().eval().init_(model)
    with torch.no_grad():
        ghn_std = model(x).std().item()
    assert report.batchnorm.startswith("kept at a fresh layer's")
    assert default_std / 20 < ghn_std < 5 * default_std, (ghn_std, default_std)


def test_init_errors(ghn):
    with torch.device("meta"):
        meta_model = nn.Linear(3, 4)
    with pytest.raises(ValueError, match="are on meta"):
        init_(meta_model, ghn, (2, 3))
    with pytest.raises(ValueError, match="needs calibration_batches"):
        init_(nn.Linear(3, 4), ghn, (2, 3), batchnorm="recalibrate")
    with pytest.raises(ValueError, match="batchnorm='batch'"):
        init_(nn.Linear(3, 4), ghn, (2, 3), batchnorm="batch")
    with pytest.raises(ValueError, match="no calibration batches"):
        recalibrate_batchnorm(nn.Sequential(nn.Conv2d(1, 2, 1), nn.BatchNorm2d(2)), [])


@pytest.mark.parametrize("spec", ["hf:bart", "hf:mistral", "hf:deberta-v2", "hf:whisper"])
def test_init_from_the_main_input_alone_of_hf_models(ghn, spec):
    from hypergen.zoo.samples import HF_FAMILY_CONFIGS

    model = load_model(spec, device="cpu", **HF_FAMILY_CONFIGS[spec]).model
    name = model.main_input_name
    inputs = {name: torch.randint(0, 1000, (1, 9))} if name == "input_ids" else \
        {name: torch.randn(1, model.config.num_mel_bins, 2 * model.config.max_source_positions)}
    report = ghn.init_(model, inputs)  # used to fail: "Tensor.item() cannot be called on meta tensors"
    assert report.complete and set(report.predicted) >= {n for n, _ in model.named_parameters()}


class _NeedsValues(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 2)
        self.head = nn.Linear(2, 2)

    def forward(self, x):
        return self.head(self.fc(x)) if self.training and x.abs().sum().item() >= 0 else self.fc(x)


def test_init_passes_tracing_device_and_mode_through(ghn):
    from hypergen.graph import TraceError

    model = _NeedsValues()
    with pytest.raises(TraceError, match="trace with device='auto'"):  # the hint names init_'s own argument
        init_(model, ghn, (2, 3), device="meta")
    assert init_(model, ghn, (2, 3)).complete  # "auto": meta, then the CPU
    report = init_(model, ghn, (2, 3), device="cpu", mode="eval")  # eval: the head is not called
    assert report.not_predicted.keys() == {"head.weight", "head.bias"} and model.training
    # GraphHyperNetwork.init_ passes them on: in eval mode no value is read, so meta is enough
    assert ghn.init_(model, (2, 3), device="meta", mode="eval").not_predicted.keys() == {"head.weight", "head.bias"}


def test_init_detection_model_in_eval_mode(ghn, torchvision_models):
    """Detection models: traced in eval mode (post-processing runs on hypergen's CPU NMS kernel and is left out of
    the graph), every parameter predicted, finite, and the model still detects afterwards."""
    torch.manual_seed(0)
    model = torchvision_models.detection.ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None).eval()
    images = [torch.rand(3, 320, 320)]
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    report = init_(model, ghn, (images,), mode="eval")
    assert report.complete and not report.not_predicted
    changed = [n for n, p in model.named_parameters() if not torch.equal(p, before[n])]
    assert len(changed) == len(before)
    assert all(torch.isfinite(p).all() for p in model.parameters())
    with torch.no_grad():
        detections = model(images)[0]
    assert detections["boxes"].shape[1] == 4 and torch.isfinite(detections["scores"]).all()
