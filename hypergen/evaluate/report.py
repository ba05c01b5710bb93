"""Tables (Markdown, CSV) and a plot of the learning curves of a GHN-vs-default-init comparison.

Classifiers are reported by test accuracy; causal language models (``TargetResult.task == "language_model"``) by
test loss (mean next-token cross-entropy) and perplexity, with token accuracy next to them, and the warm-start
yardstick: how many training steps of the default-init net the GHN init is worth.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hypergen.evaluate.compare import INITS, WARM_START_PREFIX, TargetResult
from hypergen.evaluate.finetune import Curve
from hypergen.tasks import LANGUAGE_MODEL, perplexity

__all__ = ["REPORT_FILES", "init_fields", "lm_init_fields", "mean_curve", "summarize", "write_report"]

#: Files :func:`write_report` writes into its folder.
REPORT_FILES = {"markdown": "eval.md", "summary": "summary.csv", "curves": "curves.csv", "plot": "curves.png"}

_SUMMARY_FIELDS = ("target", "params", "acc0_ghn", "acc0_default", "final_ghn", "final_default", "steps",
                   "ghn_steps_to_default_final", "step_fraction", "similarity_ghn", "similarity_default")

_LM_SUMMARY_FIELDS = ("target", "params", "loss0_ghn", "loss0_default", "ppl0_ghn", "ppl0_default", "final_loss_ghn",
                      "final_loss_default", "final_acc_ghn", "final_acc_default", "steps", "ghn_steps_to_default_final",
                      "step_fraction", "default_steps_to_ghn_init", "warm_steps_to_ghn_init", "similarity_ghn",
                      "similarity_default")


def _references(results: Sequence[TargetResult]) -> list[str]:
    """Names of the reference curves beyond :data:`INITS` (warm starts), in the order they were measured."""
    return [name for name in results[0].curves if name not in INITS]


def _label(init: str) -> str:
    """How tables and plots name an init (``warm200`` -> "default init trained 200 steps first")."""
    labels = {"ghn": "GHN init", "default": "default init"}
    return labels.get(init) or f"default init trained {init.removeprefix(WARM_START_PREFIX)} steps first"


def init_fields(init: str) -> tuple[str, str, str]:
    """Summary columns of one init's curve: accuracy before and after fine-tuning, and the step at which it reaches
    default init's final accuracy (``init_fields("warm200")`` -> ``acc0_warm200, final_warm200,
    warm200_steps_to_default_final``; the GHN's are ``acc0_ghn, final_ghn, ghn_steps_to_default_final``)."""
    return f"acc0_{init}", f"final_{init}", f"{init}_steps_to_default_final"


def mean_curve(curves: Sequence[Curve]) -> Curve:
    """The pointwise mean of curves measured at the same steps.

    Raises:
        ValueError: the curves were measured at different steps.
    """
    steps = curves[0].steps
    if any(c.steps != steps for c in curves):
        raise ValueError("curves were measured at different steps; fine-tune every target with the same settings")
    mean = [sum(c.acc[i] for c in curves) / len(curves) for i in range(len(steps))]
    loss = [sum(c.train_loss[i] for c in curves) / len(curves) for i in range(len(steps))]
    test_loss = ([sum(c.loss[i] for c in curves) / len(curves) for i in range(len(steps))]
                 if all(len(c.loss) == len(steps) for c in curves) else [])
    return Curve(list(steps), mean, loss, test_loss)


def _row(name: str, params: float, curves: dict[str, Curve], similarity: dict[str, float | None]) -> dict[str, Any]:
    """One summary row: how far the GHN init gets, and how soon it (and each reference init) reaches default init's
    final accuracy."""
    ghn, default = curves["ghn"], curves["default"]
    reach = ghn.steps_to_reach(default.final)
    total = ghn.steps[-1]
    row = {"target": name, "params": params, "acc0_ghn": ghn.acc[0], "acc0_default": default.acc[0],
           "final_ghn": ghn.final, "final_default": default.final, "steps": total,
           "ghn_steps_to_default_final": reach,
           "step_fraction": (reach / total) if reach is not None and total else None,
           "similarity_ghn": similarity.get("ghn"), "similarity_default": similarity.get("default")}
    for ref, curve in curves.items():
        if ref not in INITS:
            start, final, steps = init_fields(ref)
            row |= {start: curve.acc[0], final: curve.final, steps: curve.steps_to_reach(default.final)}
    return row


def summarize(results: Sequence[TargetResult]) -> list[dict[str, Any]]:
    """One row per target and a final ``mean`` row (accuracies of the mean curves, which are averaged over the
    targets at each measured step).

    Columns: ``acc0_*`` accuracy before fine-tuning, ``final_*`` after the last step, ``ghn_steps_to_default_final``
    the first measured step at which the GHN-initialised net reaches the default-initialised net's final accuracy
    (None: never), ``step_fraction`` that step over the total, ``similarity_*`` the mean cosine similarity of
    same-shape weight tensors before fine-tuning (:func:`~hypergen.evaluate.diversity.same_shape_similarity`; the
    mean row averages the targets'). Each reference curve ``R`` (a warm start, e.g. ``warm200``) adds ``acc0_R``,
    ``final_R`` and ``R_steps_to_default_final``.

    Raises:
        ValueError: ``results`` is empty.
    """
    if not results:
        raise ValueError("no results to summarize")
    references = _references(results)
    if any(list(r.curves) != [*INITS, *references] for r in results):
        raise ValueError("the targets were compared with different warm starts; compare every target alike")
    row = _lm_row if _is_lm(results) else _row
    rows = [row(r.name, r.params, r.curves, r.similarity) for r in results]
    means = {init: mean_curve([r.curves[init] for r in results]) for init in [*INITS, *references]}
    mean_similarity = {init: _mean([r.similarity.get(init) for r in results]) for init in INITS}
    rows.append(row("mean", sum(r.params for r in results) / len(results), means, mean_similarity))
    return rows


def _is_lm(results: Sequence[TargetResult]) -> bool:
    """Whether ``results`` are language models (all of them; a mix is an error).

    Raises:
        ValueError: the results measured different tasks.
    """
    tasks = {r.task for r in results}
    if len(tasks) > 1:
        raise ValueError(f"the targets were measured on different tasks {sorted(tasks)}; report each task apart")
    return tasks == {LANGUAGE_MODEL}


def lm_init_fields(init: str) -> tuple[str, str, str]:
    """Language-model summary columns of one init's curve: test loss before and after fine-tuning, and the step at
    which it reaches default init's final loss (``lm_init_fields("warm200")`` -> ``loss0_warm200,
    final_loss_warm200, warm200_steps_to_default_final``)."""
    return f"loss0_{init}", f"final_loss_{init}", f"{init}_steps_to_default_final"


def _warm_steps_to(curves: dict[str, Curve], loss: float) -> int | None:
    """The fewest warm-start steps after which the default-init net's test loss is ``<= loss`` (0: default init
    itself is; None: no warm start gets there, or there are none)."""
    if curves["default"].loss[0] <= loss:
        return 0
    warm = sorted((int(name.removeprefix(WARM_START_PREFIX)), curve) for name, curve in curves.items()
                  if name not in INITS)
    return next((steps for steps, curve in warm if curve.loss[0] <= loss), None)


def _lm_row(name: str, params: float, curves: dict[str, Curve],
            similarity: dict[str, float | None]) -> dict[str, Any]:
    """One language-model summary row: test loss and perplexity with no training, after fine-tuning, how soon the
    GHN init reaches default init's final loss, and the warm-start yardstick (how many steps of training the
    default-init net needs to get as low as the GHN init's loss)."""
    ghn, default = curves["ghn"], curves["default"]
    reach = ghn.steps_to_reach_loss(default.final_loss)
    total = ghn.steps[-1]
    row = {"target": name, "params": params, "loss0_ghn": ghn.loss[0], "loss0_default": default.loss[0],
           "ppl0_ghn": perplexity(ghn.loss[0]), "ppl0_default": perplexity(default.loss[0]),
           "final_loss_ghn": ghn.final_loss, "final_loss_default": default.final_loss, "final_acc_ghn": ghn.final,
           "final_acc_default": default.final, "steps": total, "ghn_steps_to_default_final": reach,
           "step_fraction": (reach / total) if reach is not None and total else None,
           "default_steps_to_ghn_init": default.steps_to_reach_loss(ghn.loss[0]),
           "warm_steps_to_ghn_init": _warm_steps_to(curves, ghn.loss[0]),
           "similarity_ghn": similarity.get("ghn"), "similarity_default": similarity.get("default")}
    for ref, curve in curves.items():
        if ref not in INITS:
            start, final, steps = lm_init_fields(ref)
            row |= {start: curve.loss[0], final: curve.final_loss, steps: curve.steps_to_reach_loss(default.final_loss)}
    return row


def _mean(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


def _sim(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def markdown_table(rows: Sequence[dict[str, Any]]) -> str:
    """The summary rows as a Markdown table (accuracies in %)."""
    lines = ["| target | params | no training: GHN | no training: default | after fine-tuning: GHN | "
             "after fine-tuning: default | GHN steps to default's final acc | fraction of steps | "
             "same-shape layer similarity: GHN / default |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        reach = "never" if r["ghn_steps_to_default_final"] is None else f"{r['ghn_steps_to_default_final']}"
        frac = "-" if r["step_fraction"] is None else f"{r['step_fraction']:.2f}"
        name = f"**{r['target']}**" if r["target"] == "mean" else r["target"]
        lines.append(f"| {name} | {r['params']:,.0f} | {_pct(r['acc0_ghn'])} | {_pct(r['acc0_default'])} | "
                     f"{_pct(r['final_ghn'])} | {_pct(r['final_default'])} | {reach} / {r['steps']} | {frac} | "
                     f"{_sim(r['similarity_ghn'])} / {_sim(r['similarity_default'])} |")
    return "\n".join(lines)


def _loss(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _ppl(value: float) -> str:
    """A perplexity: one decimal, or scientific notation from 100,000 on (default init of a tied head: ~1e8)."""
    return f"{value:.1f}" if value < 1e5 else f"{value:.2e}"


def _steps(value: int | None, total: int) -> str:
    return f"> {total}" if value is None else str(value)


def lm_markdown_table(rows: Sequence[dict[str, Any]]) -> str:
    """Language-model summary rows as a Markdown table: test loss (nats per token) with its perplexity, token
    accuracy, and how many steps each init needs to reach the other's loss."""
    lines = ["| target | params | no training: GHN loss (ppl) | no training: default loss (ppl) | "
             "after fine-tuning: GHN loss / token acc | after fine-tuning: default loss / token acc | "
             "GHN steps to default's final loss | default-init steps to GHN init's loss | "
             "same-shape layer similarity: GHN / default |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        reach = "never" if r["ghn_steps_to_default_final"] is None else f"{r['ghn_steps_to_default_final']}"
        worth = _steps(r["default_steps_to_ghn_init"], r["steps"])
        name = f"**{r['target']}**" if r["target"] == "mean" else r["target"]
        lines.append(f"| {name} | {r['params']:,.0f} | {_loss(r['loss0_ghn'])} ({_ppl(r['ppl0_ghn'])}) | "
                     f"{_loss(r['loss0_default'])} ({_ppl(r['ppl0_default'])}) | {_loss(r['final_loss_ghn'])} / "
                     f"{_pct(r['final_acc_ghn'])}% | {_loss(r['final_loss_default'])} / "
                     f"{_pct(r['final_acc_default'])}% "
                     f"| {reach} / {r['steps']} | {worth} | {_sim(r['similarity_ghn'])} / "
                     f"{_sim(r['similarity_default'])} |")
    return "\n".join(lines)


def lm_reference_table(rows: Sequence[dict[str, Any]], references: Sequence[str]) -> str:
    """Mean-row Markdown table of every language-model init, warm starts included: test loss before and after
    fine-tuning, and the step at which the mean curve reaches default init's final loss."""
    mean = rows[-1]
    lines = ["| init | no training: loss (ppl) | after fine-tuning: loss | steps to default's final loss "
             "(mean curve) |", "|---|---|---|---|"]
    for init in ("ghn", *references):
        start, final, steps = lm_init_fields(init)
        reach = "never" if mean[steps] is None else str(mean[steps])
        lines.append(f"| {_label(init)} | {_loss(mean[start])} ({_ppl(perplexity(mean[start]))}) | "
                     f"{_loss(mean[final])} | {reach} / {mean['steps']} |")
    return "\n".join(lines)


def reference_table(rows: Sequence[dict[str, Any]], references: Sequence[str]) -> str:
    """Mean-row Markdown table of every init, the reference warm starts included: start and final accuracy, the
    step at which the mean curve reaches default init's final accuracy, and how many targets get there within half
    the steps."""
    *targets, mean = rows
    half = mean["steps"] / 2
    lines = ["| init | no training | after fine-tuning | steps to default's final acc (mean curve) | "
             "nets there in at most half the steps |", "|---|---|---|---|---|"]
    for init in ("ghn", *references):
        start, final, steps = init_fields(init)
        fast = sum(1 for r in targets if r[steps] is not None and r[steps] <= half)
        reach = "never" if mean[steps] is None else str(mean[steps])
        lines.append(f"| {_label(init)} | {_pct(mean[start])} | {_pct(mean[final])} | {reach} / {mean['steps']} | "
                     f"{fast} / {len(targets)} |")
    return "\n".join(lines)


def _write_csv(path: Path, fields: Sequence[str], rows: Sequence[dict[str, Any]]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(fields))
        writer.writeheader()
        writer.writerows(rows)


def _curve_rows(results: Sequence[TargetResult], test_loss: bool = False) -> list[dict[str, Any]]:
    rows = []
    for r in results:
        for init, c in r.curves.items():
            rows += [{"target": r.name, "init": init, "step": s, "acc": a,
                      "train_loss": "" if math.isnan(loss) else loss}
                     for s, a, loss in zip(c.steps, c.acc, c.train_loss)]
            if test_loss:
                for row, value in zip(rows[-len(c.steps):], c.loss):
                    row["test_loss"] = value
    return rows


def plot_curves(results: Sequence[TargetResult], path: Path, title: str) -> None:
    """Test accuracy (language models: test loss) vs fine-tuning step: each target thin, the mean over targets thick,
    one colour per init."""
    from matplotlib.figure import Figure  # the object API needs no global backend

    if _is_lm(results):
        def metric(curve: Curve) -> list[float]:
            return curve.loss
        ylabel, legend = "test loss (mean next-token cross-entropy, nats)", "upper right"
    else:
        def metric(curve: Curve) -> list[float]:
            return [100 * a for a in curve.acc]
        ylabel, legend = "test top-1 accuracy (%)", "lower right"

    colours = {"ghn": "tab:blue", "default": "tab:orange"}
    fig = Figure(figsize=(6.4, 4.2), dpi=120)
    ax = fig.add_subplot()
    for init in INITS:
        for r in results:
            ax.plot(r.curves[init].steps, metric(r.curves[init]), color=colours[init], alpha=0.25, linewidth=0.8)
        mean = mean_curve([r.curves[init] for r in results])
        ax.plot(mean.steps, metric(mean), color=colours[init], linewidth=2.2,
                label=f"{_label(init)} (mean of {len(results)})")
    references = _references(results)
    for i, ref in enumerate(references):  # mean curves only, greys from dark (shortest warm start) to light
        mean = mean_curve([r.curves[ref] for r in results])
        grey = str(0.15 + 0.5 * i / max(len(references) - 1, 1))
        ax.plot(mean.steps, metric(mean), color=grey, linestyle="--", linewidth=1.4,
                label=f"{_label(ref)} (mean)")
    ax.set_xlabel("fine-tuning step")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(loc=legend)
    fig.tight_layout()
    fig.savefig(path)


def _warm_start_yardstick(worth: int | None, references: Sequence[str]) -> str:
    """One sentence: how many warm-start steps of the default-init net the GHN init's loss is worth (mean curves)."""
    if worth == 0:
        return "Warm-start yardstick: default init with no training is already as low as the GHN init's loss."
    if worth is None:
        steps = ", ".join(r.removeprefix(WARM_START_PREFIX) for r in references)
        return f"Warm-start yardstick: no warm start ({steps} steps) gets as low as the GHN init's loss (mean curves)."
    return (f"Warm-start yardstick: the default-init net trained {worth} steps (constant learning rate) gets as low "
            "as the GHN init's loss (mean curves).")


def write_report(results: Sequence[TargetResult], out_dir: str | Path, title: str, command: str,
                 settings: str = "") -> dict[str, Path]:
    """Write the comparison into ``out_dir``: ``eval.md`` (summary table, settings, command), ``summary.csv``,
    ``curves.csv`` (every measured point) and ``curves.png``.

    Returns:
        ``{kind: path}`` of the written files (keys of :data:`REPORT_FILES`).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {kind: out / name for kind, name in REPORT_FILES.items()}
    rows = summarize(results)
    references = _references(results)
    lm = _is_lm(results)
    summary_fields, fields_of = (_LM_SUMMARY_FIELDS, lm_init_fields) if lm else (_SUMMARY_FIELDS, init_fields)
    _write_csv(paths["summary"], [*summary_fields, *(f for ref in references for f in fields_of(ref))], rows)
    _write_csv(paths["curves"], ("target", "init", "step", "acc", "train_loss", *(("test_loss",) if lm else ())),
               _curve_rows(results, test_loss=lm))
    plot_curves(results, paths["plot"], title)
    missing = {r.name: len(r.not_predicted) for r in results if r.not_predicted}
    notes = [f"Command: `{command}`", "", settings, "", lm_markdown_table(rows) if lm else markdown_table(rows), "",
             f"Learning curves: `{REPORT_FILES['plot']}`; every point: `{REPORT_FILES['curves']}`."]
    if lm:
        notes += ["", "Loss: mean next-token cross-entropy on the test windows (nats; perplexity = exp(loss)). "
                  "\"Default-init steps to GHN init's loss\": the first measured step of the default-init run whose "
                  "test loss is at most the GHN init's loss before training (how many steps of training the GHN "
                  "init is worth; `> N`: more than the whole run)."]
    if references:
        notes += ["", "Reference inits (warm starts: PyTorch's default init trained that many steps on another data "
                  "order with a constant learning rate, then fine-tuned like the others); means over the targets:",
                  "", lm_reference_table(rows, references) if lm else reference_table(rows, references)]
        if lm:
            notes += ["", _warm_start_yardstick(rows[-1]["warm_steps_to_ghn_init"], references)]
    if missing:
        notes.append(f"Parameters the GHN did not predict (they kept their default init): {missing}.")
    paths["markdown"].write_text(f"# {title}\n\n" + "\n".join(notes) + "\n")
    return paths
