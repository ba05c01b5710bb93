"""``GHNTrainingModule``: the Lightning glue that trains a GHN on meta-batches of sampled architectures."""

from __future__ import annotations

from hypergen.compat import ensure_torchvision_importable

ensure_torchvision_importable()  # lightning imports torchmetrics, which imports torchvision (docs/install.md)

import copy  # noqa: E402
import logging  # noqa: E402
import math  # noqa: E402
from functools import partial  # noqa: E402
from typing import Any  # noqa: E402

import lightning.pytorch as pl  # noqa: E402
import torch  # noqa: E402
from torch import Tensor  # noqa: E402
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn  # noqa: E402

from hypergen.apply.batchnorm import recalibrate_batchnorm  # noqa: E402
from hypergen.apply.functional import forward_with, materialize_buffers  # noqa: E402
from hypergen.archs.cache import TracedArch  # noqa: E402
from hypergen.evaluate.diversity import same_shape_similarity  # noqa: E402
from hypergen.ghn import GHNConfig, GraphHyperNetwork  # noqa: E402
from hypergen.ghn.decoders import TensorLayout  # noqa: E402
from hypergen.graph.data import batch_graphs  # noqa: E402
from hypergen.tasks import (CLASSIFICATION, LANGUAGE_MODEL, check_logit_norm, logits_of,  # noqa: E402
                            normalize_logits, perplexity, prediction_counts, prediction_loss)
from hypergen.train.archs import ArchPool  # noqa: E402
from hypergen.train.distill import Distillation, distillation_loss, train_teacher  # noqa: E402
from hypergen.train.schedule import check_decay_steps, warmup_cosine  # noqa: E402
from hypergen.train.swap_heads import HeadCapture, SwappedHeads, capture_output_layer  # noqa: E402

__all__ = ["GHNTrainingModule"]

log = logging.getLogger(__name__)


class GHNTrainingModule(pl.LightningModule):
    """Trains a :class:`GraphHyperNetwork`: each step predicts the weights of ``meta_batch`` sampled architectures,
    runs each on the data batch with :func:`torch.func.functional_call`, averages their cross-entropy and steps
    the GHN. Each DDP rank draws its own architectures (see :class:`ArchPool`). The loss and accuracy follow the
    family's task (:func:`hypergen.tasks.prediction_loss`): per sample for classifiers (logits ``[B, C]``), per token
    position for language models (``gpt``: logits ``[B, T, V]`` for next tokens ``[B, T]``).

    Validation reports, on the pool's held-out architectures with predicted weights and no training, the mean over
    nets of their top-1 accuracy (``val/acc``) and cross-entropy (``val/loss``; per sample or per token, summed over
    the whole validation set and divided by its count), next to the same nets with PyTorch's default init
    (``val/acc_random_init``, ``val/loss_random_init``); language models add ``val/ppl`` (``exp(val/loss)``). It also
    reports how alike the predicted layers of equal shape are (``val/layer_similarity``, 1 = collapsed to one tensor
    per shape; see :func:`~hypergen.evaluate.diversity.same_shape_similarity`). BatchNorm
    statistics of both are re-estimated on ``calibration_batches`` training batches first (stated, never implicit).

    Args:
        ghn: the GHN's configuration (a :class:`GHNConfig`, or a dict of its fields).
        archs: the architecture pool.
        decoder: more :class:`GHNConfig` fields (the decoder's, kept in their own Hydra group), merged into ``ghn``.
        meta_batch: architectures per step and rank (``m``).
        lr, weight_decay: AdamW.
        warmup_steps, total_steps: warmup + cosine schedule (``total_steps`` defaults to the trainer's estimate).
        decay_steps: hold the peak learning rate after the warmup and decay (cosine) over only the last this many
            steps (:func:`~hypergen.train.schedule.warmup_cosine`); ``None`` decays over every step after the warmup.
        weight_reg: L2 penalty on predicted weights (GHN-3 uses 3e-5), 0 to disable.
        ema_decay: keep an exponential moving average of the GHN's weights, used for validation and export.
        calibration_batches: training batches kept for BatchNorm re-estimation in validation.
        distill: learn from a trained teacher's logits too (fields of :class:`~hypergen.train.distill.Distillation`,
            e.g. ``{"weight": 0.5, "temperature": 4}``; classification only). The teacher trains before the first
            step and is kept in the checkpoints. ``train/loss`` stays the labels' cross-entropy; ``train/distill``
            is the soft-target term.
        logit_norm: train on each prediction's logits centred and rescaled to this L2 norm
            (:func:`hypergen.tasks.normalize_logits`), so the GHN cannot lower the loss by shrinking every logit
            to zero; ``train/loss`` is then the cross-entropy of the rescaled logits and ``train/raw_loss`` that of
            the net's own. Validation is unchanged (the top-1 prediction is the same). ``None`` trains on the
            net's own logits.
        swap_heads: weight of the swapped-output-layer loss (:mod:`hypergen.train.swap_heads`): each net is also
            scored with the next net's predicted output layer, carried to its width through the core decoder's
            index codes, so that the GHN gives different nets features one output layer can read (classification,
            core decoder, ``meta_batch >= 2``); logged as ``train/swap``. ``None``: off.
    """

    def __init__(self, ghn: GHNConfig | dict[str, Any], archs: ArchPool, decoder: dict[str, Any] | None = None,
                 meta_batch: int = 8, lr: float = 1e-3,
                 weight_decay: float = 1e-5, warmup_steps: int = 100, total_steps: int | None = None,
                 weight_reg: float = 0.0, ema_decay: float | None = None, calibration_batches: int = 2,
                 distill: Distillation | dict[str, Any] | None = None, logit_norm: float | None = None,
                 decay_steps: int | None = None, swap_heads: float | None = None) -> None:
        super().__init__()
        config = ghn if isinstance(ghn, GHNConfig) else GHNConfig.from_dict({**dict(ghn), **dict(decoder or {})})
        self.save_hyperparameters({"ghn": config.to_dict(), "meta_batch": meta_batch, "lr": lr,
                                   "weight_decay": weight_decay, "warmup_steps": warmup_steps,
                                   "total_steps": total_steps, "weight_reg": weight_reg, "ema_decay": ema_decay,
                                   "calibration_batches": calibration_batches,
                                   "distill": None if distill is None else vars(Distillation.from_config(distill)),
                                   "logit_norm": logit_norm, "decay_steps": decay_steps,
                                   "swap_heads": swap_heads})
        if logit_norm is not None:
            check_logit_norm(logit_norm, "module.logit_norm")
        check_decay_steps(decay_steps, "module.decay_steps")
        if archs.cache.virtual_edge_cutoff != config.max_distance:
            raise ValueError(f"the architecture pool encodes shortest paths up to {archs.cache.virtual_edge_cutoff} "
                             f"but the GHN's max_distance is {config.max_distance}; build the pool with "
                             f"ArchPool(..., virtual_edge_cutoff={config.max_distance})")
        self.ghn = GraphHyperNetwork(config)
        self.archs = archs
        self.swap = self._swapped_heads(swap_heads, archs, meta_batch)
        self.meta_batch = meta_batch
        self.lr, self.weight_decay = lr, weight_decay
        self.warmup_steps, self.total_steps, self.decay_steps = warmup_steps, total_steps, decay_steps
        self.weight_reg = weight_reg
        self.ema = AveragedModel(self.ghn, multi_avg_fn=get_ema_multi_avg_fn(ema_decay)) if ema_decay else None
        if self.ema is not None:
            self.ema.requires_grad_(False)  # updated by averaging, not by the optimiser (and ignored by DDP)
        self.calibration_batches = calibration_batches
        self._calibration: list[Tensor] = []
        self.task = archs.train_sampler.family.task  # hypergen.tasks.TASKS
        self.distill = None if distill is None else Distillation.from_config(distill)
        self.logit_norm = logit_norm
        if self.distill is not None and self.task == LANGUAGE_MODEL:
            raise ValueError(f"module.distill is for classification; the {archs.train_sampler.family.name!r} family "
                             "is a language model (remove module.distill)")
        # not a submodule: neither trained, nor in the GHN's state, nor wrapped by DDP (checkpoints carry it)
        self._teacher: dict[str, Any] = {}  # {"net": the trained teacher, "spec": its architecture}
        # [1 or 2, heldout, 3]: (predicted[, default]) x arch x (summed cross-entropy, correct, predictions)
        self._val_counts: Tensor | None = None
        self._baseline_counts: Tensor | None = None  # [heldout, 3]: the same for default init, measured once
        self.last_arch_keys: list[str] = []  # keys of this rank's latest meta-batch (for tests and logs)
        self._last_step: tuple[list[TracedArch], Tensor, Tensor] | None = None

    def _swapped_heads(self, weight: float | None, archs: ArchPool, meta_batch: int) -> SwappedHeads | None:
        if weight is None:
            return None
        family = archs.train_sampler.family
        problems = [text for bad, text in (
            (not (isinstance(weight, int | float) and math.isfinite(weight) and weight > 0),
             f"module.swap_heads={weight!r}: give a positive weight"),
            (family.task != CLASSIFICATION, f"the {family.name!r} family is not a classifier"),
            (meta_batch < 2, f"module.meta_batch={meta_batch}: no other net to swap with"),
            (not hasattr(self.ghn.decoder, "row_codes"),
             f"the {self.ghn.config.decoder!r} decoder has no index codes to carry an output layer to another width "
             "(use decoder=core)"),
        ) if bad]
        if problems:
            raise ValueError("module.swap_heads cannot be used: " + "; ".join(problems) + " (or remove it)")
        decoder = self.ghn.decoder
        return SwappedHeads(lambda n: decoder.row_codes(TensorLayout.of((n, 1)), decoder.core_head.weight.device))

    @property
    def eval_ghn(self) -> GraphHyperNetwork:
        """The GHN used for validation and export (the EMA copy when enabled)."""
        return self.ema.module if self.ema is not None else self.ghn

    # --- training ---------------------------------------------------------------------------------------------

    def _losses(self, archs: list[TracedArch], x: Tensor, y: Tensor, soft: Tensor | None = None,
                heads: list[HeadCapture] | None = None
                ) -> tuple[list[Tensor], list[Tensor], list[dict[str, Tensor]], list[Tensor], list[Tensor]]:
        """Cross-entropy ``[]`` (of the rescaled logits with ``logit_norm``), accuracy ``[]``, predicted weights,
        (with the teacher's logits ``soft``) the distillation term ``[]`` and (with ``logit_norm``) the cross-entropy
        of the net's own logits ``[]``, of each net in ``archs`` on ``(x, y)``; each net's output layer is appended
        to ``heads`` when it is given."""
        predictions = self.ghn(batch_graphs([a.data for a in archs]).to(self.device))
        losses, correct, distilled, raw = [], [], [], []
        for arch, params in zip(archs, predictions):
            model = materialize_buffers(arch.model, self.device).train()
            if heads is None:
                logits = logits_of(forward_with(model, params, x))
            else:
                with capture_output_layer(model, self.archs.train_sampler.num_classes, arch.key) as head:
                    logits = logits_of(forward_with(model, params, x))
                heads.extend(head)
            if self.logit_norm is not None:
                raw.append(prediction_loss(logits.detach(), y)[0])
                loss, accuracy = prediction_loss(normalize_logits(logits, self.logit_norm), y)
            else:
                loss, accuracy = prediction_loss(logits, y)
            losses.append(loss)
            correct.append(accuracy)
            if soft is not None:
                distilled.append(distillation_loss(logits, soft, self.distill.temperature))
        return losses, correct, predictions, distilled, raw

    def on_fit_start(self) -> None:
        """Train the distillation teacher (after a resumed checkpoint was loaded: then it is already there)."""
        if self.distill is None or self._teacher:
            return
        datamodule = self.trainer.datamodule
        if datamodule is None or getattr(datamodule, "train_dataset", None) is None:
            raise ValueError("module.distill trains its teacher on the run's training set: fit with a datamodule "
                             "that has a train_dataset (hypergen's TaskDataModule)")
        with torch.random.fork_rng(devices=[]):  # the run's random stream is the same with or without a teacher
            evaluation = [batch for _, batch in zip(range(4), datamodule.val_dataloader())]
            spec = self.archs.train_sampler.sample(self.distill.teacher_index)
            self._teacher = {"net": train_teacher(spec, datamodule.train_dataset, evaluation, self.distill,
                                                  self.device), "spec": spec}

    def _soft_targets(self, x: Tensor) -> Tensor | None:
        if not self._teacher:
            return None
        with torch.no_grad():
            return self._teacher["net"](x)

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        x, y = batch
        if len(self._calibration) < self.calibration_batches:
            self._calibration.append(x.detach().cpu())
        archs = self.archs.batch(self.global_step, self.global_rank, self.trainer.world_size, self.meta_batch)
        self.last_arch_keys = [a.key for a in archs]
        self._last_step = (archs, x, y)  # for naming the nets if the gradient turns out non-finite
        heads: list[HeadCapture] | None = [] if self.swap is not None else None
        losses, correct, predictions, distilled, raw = self._losses(archs, x, y, self._soft_targets(x), heads)
        task_loss = torch.stack(losses).mean()
        if not torch.isfinite(task_loss):
            bad = [arch.key for arch, loss in zip(archs, losses) if not torch.isfinite(loss)]
            raise FloatingPointError(f"training step {self.global_step}: the loss is not finite ({task_loss.item()}) "
                                     f"for {len(bad)} of {len(archs)} nets, e.g. {bad[0][:300]}; stopping before "
                                     "the GHN's weights are corrupted (lower module.lr, check the data)")
        loss = task_loss
        metrics = {"train/loss": task_loss, "train/acc": torch.stack(correct).mean()}
        if raw:
            metrics["train/raw_loss"] = torch.stack(raw).mean()
        if distilled:
            soft_loss = torch.stack(distilled).mean()
            loss = (1 - self.distill.weight) * task_loss + self.distill.weight * soft_loss
            metrics["train/distill"] = soft_loss
        if heads is not None:
            swapped = self.swap.loss(heads, y)
            loss = loss + self.hparams.swap_heads * swapped
            metrics["train/swap"] = swapped.detach()
        if self.weight_reg:
            reg = sum(p.pow(2).sum() for params in predictions for p in params.values())
            loss = loss + self.weight_reg * reg / len(predictions)
        self.log_dict(metrics, prog_bar=True, batch_size=x.shape[0])
        return loss

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        """Stop before a non-finite gradient reaches the GHN's weights (clipping would turn it into NaN weights)."""
        grads = {n: p.grad for n, p in self.ghn.named_parameters() if p.grad is not None}
        if not grads:
            return
        finite = torch.stack([torch.isfinite(g).all() for g in grads.values()])
        if finite.all():  # one device sync per step
            return
        bad = [n for n, ok in zip(grads, finite.tolist()) if not ok]
        nets = self._nets_with_non_finite_gradients()
        raise FloatingPointError(
            f"training step {self.global_step}: the loss is finite but its gradient is not (NaN or Inf in "
            f"{len(bad)} GHN parameters, e.g. {bad[:3]}); nets whose own gradient is non-finite: {len(nets)} of "
            f"{self.meta_batch}{', e.g. ' + nets[0][:300] if nets else ''}. Stopping before the GHN's weights are "
            "corrupted; nothing was exported. Check the data (constant or extreme inputs), lower module.lr, or "
            "exclude that kind of net (archs.options)"
        )

    def _nets_with_non_finite_gradients(self) -> list[str]:
        """Keys of the last step's nets whose loss alone has a non-finite gradient w.r.t. the GHN (recomputed)."""
        archs, x, y = self._last_step
        bad = []
        for arch in archs:
            (loss,), _, _, _, _ = self._losses([arch], x, y)
            grads = torch.autograd.grad(loss, [p for p in self.ghn.parameters() if p.requires_grad], allow_unused=True)
            if any(g is not None and not torch.isfinite(g).all() for g in grads):
                bad.append(arch.key)
        return bad

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        self._last_step = None
        if self.ema is not None:
            self.ema.update_parameters(self.ghn)

    def configure_optimizers(self) -> dict[str, Any]:
        optimizer = torch.optim.AdamW(self.ghn.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        total = self.total_steps or int(self.trainer.estimated_stepping_batches)
        schedule = partial(warmup_cosine, warmup_steps=self.warmup_steps, total_steps=total,
                           decay_steps=self.decay_steps)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    # --- validation: accuracy of predicted weights with no training --------------------------------------------

    def on_validation_epoch_start(self) -> None:
        heldout = self.archs.heldout()
        calibration = self._calibration or [batch[0] for _, batch in zip(range(2), self.trainer.val_dataloaders)]
        ghn = self.eval_ghn.eval()
        # (weights, BatchNorm buffers) per held-out net: the predicted ones, and the default init until its
        # accuracy is known (it does not change during training, so it is measured once per run)
        self._val_params: list[list[tuple[dict[str, Tensor], dict[str, Tensor]]]] = []
        with torch.no_grad():
            predicted = ghn(batch_graphs([h.traced.data for h in heldout]).to(self.device))
        for arch, params in zip(heldout, predicted):
            model = materialize_buffers(arch.traced.model, self.device)
            candidates = [params]
            if self._baseline_counts is None:
                candidates.append({k: v.to(self.device) for k, v in arch.default_params.items()})
            pairs = []
            for weights in candidates:
                recalibrate_batchnorm(model, calibration, self.device, params=weights)
                pairs.append((weights, {k: b.clone() for k, b in model.named_buffers()}))
            self._val_params.append(pairs)
        kinds = 1 if self._baseline_counts is not None else 2
        # 1.0 = the GHN gives every same-shape layer the same tensor (collapsed); default init is about 0
        similarity = [s for s in (same_shape_similarity(p.items()) for p in predicted) if s is not None]
        self._val_similarity = sum(similarity) / len(similarity) if similarity else float("nan")
        self._val_counts = torch.zeros(kinds, len(heldout), 3, device=self.device)

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        x, y = batch
        for a, pairs in enumerate(self._val_params):
            model = self.archs.heldout()[a].traced.model.eval()
            for which, (weights, buffers) in enumerate(pairs):
                with torch.no_grad():
                    logits = forward_with(model, {**weights, **buffers}, x)
                self._val_counts[which, a] += prediction_counts(logits, y)

    def on_validation_epoch_end(self) -> None:
        counts = self.trainer.strategy.reduce(self._val_counts, reduce_op="sum")  # [1 or 2, heldout, 3]
        if self._baseline_counts is None:
            self._baseline_counts = counts[1].clone()
        loss, acc = self._per_net(counts[0])  # [heldout] each
        baseline_loss, baseline_acc = self._per_net(self._baseline_counts)
        metrics = {"val/acc": acc.mean(), "val/acc_random_init": baseline_acc.mean(), "val/acc_best_arch": acc.max(),
                   "val/loss": loss.mean(), "val/loss_random_init": baseline_loss.mean()}
        self.log_dict(metrics, prog_bar=True, sync_dist=False)
        if self.task == LANGUAGE_MODEL:
            self.log("val/ppl", perplexity(float(metrics["val/loss"])), sync_dist=False)
        self.log("val/layer_similarity", self._val_similarity, sync_dist=False)
        self._val_params = []

    @staticmethod
    def _per_net(counts: Tensor) -> tuple[Tensor, Tensor]:
        """Mean cross-entropy and top-1 of each net ``[heldout]`` from its ``[heldout, 3]`` summed counts."""
        total = counts[:, 2].clamp(min=1)
        return counts[:, 0] / total, counts[:, 1] / total

    # --- checkpoints ----------------------------------------------------------------------------------------------

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["hypergen_calibration"] = [t.clone() for t in self._calibration]
        if self._baseline_counts is not None:
            checkpoint["hypergen_baseline_counts"] = self._baseline_counts.cpu().clone()
        if self._teacher:
            checkpoint["hypergen_distill_teacher"] = {
                "spec": self._teacher["spec"],
                "state": {k: v.cpu().clone() for k, v in self._teacher["net"].state_dict().items()}}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self._calibration = list(checkpoint.get("hypergen_calibration", []))
        baseline = checkpoint.get("hypergen_baseline_counts")
        if baseline is not None and baseline.shape[-1] == 2:
            # written before validation losses existed: (correct, total) only. The default init, the calibration
            # batches and the validation set are fixed, so measuring it again reproduces its accuracy.
            log.info("the checkpoint's default-init baseline has no loss (an older checkpoint); it is measured again "
                     "at the next validation")
            baseline = None
        self._baseline_counts = baseline.to(self.device) if baseline is not None else None
        teacher = checkpoint.get("hypergen_distill_teacher")
        if self.distill is not None and teacher is not None:
            from hypergen.archs import build

            net = build(teacher["spec"], self.device)
            net.load_state_dict(teacher["state"])
            self._teacher = {"net": net.eval().requires_grad_(False), "spec": teacher["spec"]}

    def export_ghn(self) -> GraphHyperNetwork:
        """A standalone copy of the GHN to save with :func:`hypergen.save_ghn` (the EMA weights when enabled)."""
        return copy.deepcopy(self.eval_ghn).cpu().eval()
