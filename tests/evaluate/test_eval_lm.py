"""``hypergen.evaluate.run.evaluate`` on language-model data: AdamW from ``finetune.lm_optimizer``, token ids for
tracing, and a loss/perplexity report. The datamodule is a stand-in holding real byte windows (the ``text`` dataset
is another module's job)."""

import csv
import math
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch.utils.data import TensorDataset

from hypergen.ghn import GHNConfig, GraphHyperNetwork, save_ghn


class ByteWindowData:
    """What ``evaluate`` reads of a ``TaskDataModule``, over byte windows; its spec says ``language_model``."""

    def __init__(self, windows: torch.Tensor, batch_size: int = 16) -> None:
        self.spec = SimpleNamespace(task="language_model")
        self.input_shape, self.num_classes = (windows.shape[1] - 1,), 256
        self.batch_size, self.hparams = batch_size, {"name": "bytes"}
        self.test_dataset = TensorDataset(windows[:16, :-1], windows[:16, 1:])
        self.train_dataset = TensorDataset(windows[16:, :-1], windows[16:, 1:])

    def prepare_data(self) -> None:
        pass

    def setup(self, stage: str) -> None:
        pass

    def test_dataloader(self):
        return torch.utils.data.DataLoader(self.test_dataset, batch_size=self.batch_size)


@pytest.fixture(scope="module")
def lm_report(tmp_path_factory, token_windows):
    from hydra import compose, initialize_config_dir

    import hypergen.train.builders as builders
    from hypergen.evaluate.run import evaluate

    out = tmp_path_factory.mktemp("lm_eval")
    torch.manual_seed(0)
    ghn_path = save_ghn(GraphHyperNetwork(GHNConfig(hidden=32, gnn_layers=1, heads=4)), out / "ghn.safetensors")
    sample = "targets.sample={family: gpt, split: test, count: 1, seed: 0, param_bounds: [1000, 60000]}"
    with initialize_config_dir(config_dir=str(Path(__file__).resolve().parents[2] / "conf"), version_base=None):
        cfg = compose("eval", overrides=[f"run_dir={out}", f"ghn_path={ghn_path}", "targets.heldout=false", sample,
                                         "finetune.steps=6", "finetune.eval_every=3", f"out_dir={out}",
                                         "warm_start=[3]", "title=bytes"])
    data = ByteWindowData(token_windows)
    patch = pytest.MonkeyPatch()
    patch.setattr(builders, "build_datamodule", lambda _: data)
    try:
        rows = evaluate(cfg)
    finally:
        patch.undo()
    return out, rows


def test_language_model_evaluation_reports_loss_and_perplexity(lm_report):
    out, rows = lm_report
    assert [r["target"] for r in rows] == ["gpt/test/0", "mean"]
    net, mean = rows
    # GPT-2's init (the gpt family's default): near-zero logits, so ln 256 = 5.545 (tied head or not); 6 AdamW steps
    # at lr 1e-3 lower it
    assert abs(net["loss0_default"] - math.log(256)) < 0.05 and net["final_loss_default"] < net["loss0_default"]
    assert net["ppl0_ghn"] == pytest.approx(math.exp(net["loss0_ghn"])) and mean["steps"] == 6
    assert mean["loss0_warm3"] < mean["loss0_default"]  # 3 steps of training lower the loss
    md = (out / "eval.md").read_text()
    assert md.startswith("# bytes") and "torch.optim.AdamW" in md and "'lr': 0.001" in md and "windows" in md
    assert "no training: GHN loss (ppl)" in md and "| default init trained 3 steps first |" in md
    assert "BatchNorm" not in md  # language models have none to recalibrate
    with open(out / "curves.csv") as f:
        curves = list(csv.DictReader(f))
    assert len(curves) == 1 * 3 * 3 and all(float(c["test_loss"]) > 0 for c in curves)
