"""Training and validating a GHN on causal language models (``gpt``) over real byte tokens: next-token loss over all
positions, validation losses next to default init, tied embeddings predicted once and used twice, a best GHN chosen by
val/loss, and families refused for a dataset of another task."""

from __future__ import annotations

import json
import math
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from torch.utils.data import DataLoader, TensorDataset

from hypergen.apply.batchnorm import recalibrate_batchnorm
from hypergen.apply.functional import forward_with, materialize_buffers
from hypergen.archs import ArchCache, build
from hypergen.ghn import GHNConfig, GraphHyperNetwork
from hypergen.graph.data import batch_graphs
from hypergen.tasks import prediction_loss
from hypergen.train import builders
from hypergen.train.app import ConfigError
from hypergen.train.archs import ArchPool
from hypergen.train.callbacks import ExportGHN
from hypergen.train.module import GHNTrainingModule

ROOT = Path(__file__).resolve().parents[2]
VOCAB = 256  # bytes
T = 32


def byte_windows(count: int, first: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` windows of ``T`` byte tokens of the repository's English docs (from window ``first`` on), and the
    next tokens: ``x, y`` int64 ``[count, T]`` with ``y[:, t] == x[:, t + 1]``."""
    text = b"\n".join(p.read_bytes() for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))])
    tokens = torch.tensor(list(text), dtype=torch.long)
    starts = torch.arange(first, first + count) * T
    assert starts[-1] + T + 1 <= len(tokens), "not enough text for these windows"
    index = starts[:, None] + torch.arange(T + 1)
    windows = tokens[index]
    return windows[:, :-1], windows[:, 1:]


def _spec(tie: bool) -> dict:
    return {"family": "gpt", "input_shape": [T], "num_classes": VOCAB, "depth": 2, "width": 32, "heads": 2,
            "mlp_ratio": 2.0, "norm": "ln", "pos_embedding": "learned", "tie_embeddings": tie, "dense": False}


def test_byte_windows_are_next_token_pairs():
    x, y = byte_windows(3)
    assert x.shape == y.shape == (3, T) and x.dtype == torch.long
    assert torch.equal(x[:, 1:], y[:, :-1]) and torch.equal(x[1:, 0], y[:-1, -1])
    assert bytes(x[0, :8].tolist()) == (ROOT / "README.md").read_bytes()[:8]


# --- tied embeddings ----------------------------------------------------------------------------------------------

def test_tied_embedding_is_predicted_once_and_used_by_embedding_and_head():
    torch.manual_seed(0)
    traced = ArchCache().get(_spec(tie=True))
    model = materialize_buffers(traced.model)
    ghn = GraphHyperNetwork(GHNConfig(hidden=32, gnn_layers=1, heads=4))
    (params,) = ghn(batch_graphs([traced.data]))
    assert set(params) == {n for n, _ in model.named_parameters()}  # one entry for the tied pair
    assert "tok_embed.weight" in params and "lm_head.weight" not in params
    embed = params["tok_embed.weight"]
    assert embed.shape == (VOCAB, 32) and embed.requires_grad

    x, y = byte_windows(2)
    seen = {}
    hooks = [model.tok_embed.register_forward_hook(lambda m, i, out: seen.update(embedded=out)),
             model.norm.register_forward_hook(lambda m, i, out: seen.update(hidden=out))]
    logits = forward_with(model, params, x)
    for hook in hooks:
        hook.remove()
    assert torch.equal(seen["embedded"], embed[x])  # the embedding looks up the predicted tensor ...
    torch.testing.assert_close(logits, seen["hidden"] @ embed.T)  # ... and the head multiplies by the same one

    # the gradient w.r.t. the tied tensor is the sum of its two uses' gradients (the same net, untied)
    loss, _ = prediction_loss(logits, y)
    (tied_grad,) = torch.autograd.grad(loss, embed, retain_graph=True)
    untied = materialize_buffers(build(_spec(tie=False), "meta"))
    as_embed, as_head = embed.detach().clone().requires_grad_(), embed.detach().clone().requires_grad_()
    separate = {**{k: v.detach() for k, v in params.items()}, "tok_embed.weight": as_embed, "lm_head.weight": as_head}
    untied_loss, _ = prediction_loss(forward_with(untied, separate, x), y)
    embed_grad, head_grad = torch.autograd.grad(untied_loss, [as_embed, as_head])
    assert untied_loss.item() == pytest.approx(loss.item(), rel=1e-6)
    assert embed_grad.abs().sum() > 0 and head_grad.abs().sum() > 0  # both uses contribute
    torch.testing.assert_close(tied_grad, embed_grad + head_grad)
    # and it reaches the GHN's weights
    grads = torch.autograd.grad(loss, list(ghn.parameters()), allow_unused=True)
    assert sum(float(g.abs().sum()) for g in grads if g is not None) > 0


def test_batchnorm_recalibration_is_a_no_op_on_token_batches():
    traced = ArchCache().get(_spec(tie=True))
    model = materialize_buffers(traced.model)
    params = {n: torch.randn(p.shape) * 0.02 for n, p in model.named_parameters()}
    buffers = {n: b.clone() for n, b in model.named_buffers()}
    x, _ = byte_windows(2)
    assert recalibrate_batchnorm(model, [x, (x, x)], "cpu", params=params) == 0  # gpt nets have no BatchNorm
    assert all(torch.equal(b, buffers[n]) for n, b in model.named_buffers())


# --- a short training run -----------------------------------------------------------------------------------------

STEPS = 8


class _Records(pl.Callback):
    """The validation metrics of each validation run during fit (not sanity checking)."""

    def __init__(self) -> None:
        self.records: list[dict[str, float]] = []

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:
            self.records.append({k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")})


def _pool() -> ArchPool:
    return ArchPool(family="gpt", input_shape=(T,), num_classes=VOCAB, pool_size=4, param_bounds=(10_000, 60_000),
                    heldout_count=2)


def _module(pool: ArchPool) -> GHNTrainingModule:
    return GHNTrainingModule(GHNConfig(hidden=32, gnn_layers=1, heads=4), pool, meta_batch=2, lr=3e-3,
                             warmup_steps=0, total_steps=STEPS)


@pytest.fixture(scope="module")
def lm_fit(tmp_path_factory):
    """8 steps of 2 gpt nets on batches of 8 windows of 32 byte tokens; validation (2 held-out nets, 48 windows in 3
    batches of 16) at steps 4 and 8, the best GHN by val/loss (min) checkpointed and exported."""
    out = tmp_path_factory.mktemp("lm")
    pl.seed_everything(0)
    train = DataLoader(TensorDataset(*byte_windows(64)), batch_size=8, shuffle=False)
    val = DataLoader(TensorDataset(*byte_windows(48, first=200)), batch_size=16)
    module = _module(_pool())
    records = _Records()
    best = ModelCheckpoint(dirpath=out / "checkpoints", filename="best", monitor="val/loss", mode="min", save_top_k=1,
                           enable_version_counter=False)
    export = ExportGHN(out / "ghn_best.safetensors", monitor="val/loss")
    trainer = pl.Trainer(max_steps=STEPS, val_check_interval=4, num_sanity_val_steps=0, logger=False,
                         enable_progress_bar=False, enable_model_summary=False, accelerator="cpu", devices=1,
                         callbacks=[records, best, export])
    trainer.fit(module, train, val)
    return out, trainer, module, records.records, best, export, val


def test_validation_logs_token_losses_next_to_default_init(lm_fit):
    _, _, module, records, _, _, _ = lm_fit
    assert len(records) == 2
    for record in records:
        assert {"val/acc", "val/acc_random_init", "val/loss", "val/loss_random_init", "val/ppl"} <= set(record)
        assert all(math.isfinite(v) for v in record.values())
        assert record["val/ppl"] == pytest.approx(math.exp(record["val/loss"]), rel=1e-5)
    # measured once: the same number at both validations
    assert records[0]["val/loss_random_init"] == records[1]["val/loss_random_init"]
    counts = module._baseline_counts
    assert counts.shape == (2, 3) and counts[:, 2].tolist() == [48.0 * T, 48.0 * T]  # every position of 48 windows
    per_net = (counts[:, 0] / counts[:, 2]).tolist()
    assert sum(per_net) / 2 == pytest.approx(records[0]["val/loss_random_init"], rel=1e-6)
    tied = [h.traced.spec["tie_embeddings"] for h in module.archs.heldout()]
    assert tied == [True, False]  # the two held-out nets: width 16 tied, width 24 untied
    # The gpt family's default init is GPT-2's (weights N(0, 0.02)): logits of std 0.02 * sqrt(width) < 0.1 on the
    # unit-variance LayerNorm output, tied head or not, so the loss is ln 256 = 5.545 plus < 0.01 (measured 5.54, 5.54)
    assert all(abs(loss - math.log(VOCAB)) < 0.05 for loss in per_net), per_net
    assert 0.0 <= records[0]["val/acc_random_init"] < 0.05


def test_validation_loss_is_the_token_mean_over_the_whole_validation_set(lm_fit):
    _, trainer, module, records, _, _, val = lm_fit
    ghn = module.eval_ghn.eval()
    heldout = module.archs.heldout()
    with torch.no_grad():
        predicted = ghn(batch_graphs([h.traced.data for h in heldout]))
        x, y = val.dataset.tensors
        losses = [prediction_loss(forward_with(h.traced.model.eval(), p, x), y)[0] for h, p in zip(heldout, predicted)]
    assert records[-1]["val/loss"] == pytest.approx(torch.stack(losses).mean().item(), rel=1e-4)


def test_training_lowers_the_held_out_token_loss(lm_fit):
    _, _, _, records, _, _, _ = lm_fit
    # seeded run: below the uniform ln 256 = 5.545 by step 8 (byte frequencies are learnt first; measured 5.37) and
    # below default init (GPT-2's init, 5.54)
    assert records[1]["val/loss"] < records[0]["val/loss"]
    assert records[-1]["val/loss"] < math.log(VOCAB) - 0.1
    assert records[-1]["val/loss"] < records[-1]["val/loss_random_init"] - 0.1


def test_best_ghn_is_chosen_by_the_lowest_val_loss(lm_fit):
    out, _, _, records, best, export, _ = lm_fit
    losses = [r["val/loss"] for r in records]
    assert best.best_model_score.item() == pytest.approx(min(losses))
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["exported"] == "best" and summary["checkpoint"] == best.best_model_path
    assert summary["metrics"]["val/loss"] == pytest.approx(min(losses))
    assert summary["global_step"] == STEPS and export.final_metrics["step"] == 4 * (1 + losses.index(min(losses)))


def test_summary_line_reports_cross_entropy_and_perplexity(lm_fit, caplog):
    _, _, module, _, _, export, _ = lm_fit
    record = {"step": 4, "val/acc": 0.25, "val/acc_random_init": 0.01, "val/loss": 5.25, "val/loss_random_init": 9.5,
              "val/ppl": math.exp(5.25)}
    with caplog.at_level("INFO", logger="hypergen.train.callbacks"):
        export._log_summary(module, record, "best")
    assert caplog.messages[-1].startswith(
        "held-out gpt test archs (2 nets): predicted weights 25.0% top-1 (no training) vs random init 1.0%, "
        "cross-entropy 5.25 vs 9.5 (perplexity 190.6) [best validation by val/loss, step 4; GHN saved to ")


def test_checkpoint_without_baseline_losses_loads_and_measures_them_again(lm_fit, tmp_path):
    _, trainer, module, records, best, _, val = lm_fit
    checkpoint = torch.load(best.best_model_path, map_location="cpu", weights_only=False)
    assert checkpoint["hypergen_baseline_counts"].shape == (2, 3)
    checkpoint["hypergen_baseline_counts"] = checkpoint["hypergen_baseline_counts"][:, 1:]  # (correct, total) only
    old = tmp_path / "old.ckpt"
    torch.save(checkpoint, old)
    fresh = _module(_pool())
    result = pl.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False,
                        accelerator="cpu", devices=1).validate(fresh, val, ckpt_path=old, verbose=False)[0]
    assert result["val/acc_random_init"] == pytest.approx(records[0]["val/acc_random_init"], abs=1e-6)
    assert result["val/loss_random_init"] == pytest.approx(records[0]["val/loss_random_init"], rel=1e-5)
    assert fresh._baseline_counts.shape == (2, 3)


# --- the task check -----------------------------------------------------------------------------------------------

def test_gpt_on_a_classification_dataset_fails_before_training_naming_both_keys():
    with pytest.raises(ConfigError) as err:
        builders.check_task_fits("gpt", "mnist1d", [40], "classification")
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("archs.family='gpt' is a language_model family (token ids [B, T] with next tokens")
    assert "data.name='mnist1d' is a classification dataset" in message
    assert "archs.family: one of ['cnn1d', 'deepnets', 'mlp', 'mobilenet', 'resnet', 'vit']" in message
    with pytest.raises(ConfigError, match=r"archs.family='mlp' is a classification family .* data.name='text' is a "
                                          r"language_model dataset .* one of \['gpt'\]"):
        builders.check_task_fits("mlp", "text", [64], "language_model")
    builders.check_task_fits("gpt", "text", [64], "language_model")  # fits: no error


def test_monitor_hint_warns_when_a_language_model_run_keeps_the_accuracy_monitor():
    hint = builders.monitor_hint("language_model", "val/acc")
    assert hint is not None and "monitor=loss chooses it by the loss" in hint
    assert builders.monitor_hint("language_model", "val/loss") is None
    assert builders.monitor_hint("classification", "val/acc") is None
