"""``benchmarks/bench_quality.py``: how long a run sat at chance, read from its Lightning CSV log, and the table."""

from __future__ import annotations

import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))  # the scripts import their helpers as top-level modules, as when run directly

import bench_quality  # noqa: E402


def _write_log(run_dir: Path, losses: dict[int, float]) -> None:
    """A CSV log as Lightning's CSVLogger writes it: training rows, plus rows of other metrics without a loss."""
    log = run_dir / "csv" / "version_0"
    log.mkdir(parents=True)
    lines = ["epoch,lr-AdamW,step,train/acc,train/loss,val/acc", ",0.001,9,,,"]
    lines += [f"0,,{step},0.1,{loss},," for step, loss in losses.items()]
    lines.append("0,,1299,,,0.4")
    (log / "metrics.csv").write_text("\n".join(lines) + "\n")


def test_chance_steps_reads_the_training_losses_of_the_log(tmp_path: Path) -> None:
    left = tmp_path / "left"
    _write_log(left, {s: 2.31 if s < 300 else 1.8 for s in range(9, 1300, 10)})
    # window (s - 50, s]: 5 logged points; 2 of them at 1.8 (steps 309, 319) bring the mean to 2.106 < 2.2026
    assert bench_quality.chance_steps(left) == {"chance_steps": 319, "chance_logged": True}
    stuck = tmp_path / "stuck"
    _write_log(stuck, {s: 2.30 for s in range(9, 1300, 10)})
    assert bench_quality.chance_steps(stuck) == {"chance_steps": None, "chance_logged": True}
    assert bench_quality.chance_steps(tmp_path / "absent") == {"chance_steps": None, "chance_logged": False}


def test_table_lists_each_seeds_steps_at_chance() -> None:
    base = {"label": "v", "variant": "ghn=default", "steps": 1300, "test_acc": 0.4, "wide_acc": 0.3,
            "deep_acc": 0.2, "test_similarity": 0.9, "test_repeated": 0.0, "s_per_step": 1.0, "wall_min": 20.0,
            "peak_rss_gb": 1.4}
    runs = [{**base, "seed": 2, "chance_steps": None, "chance_logged": True},
            {**base, "seed": 0, "chance_steps": 169, "chance_logged": True},
            {**base, "seed": 1, "chance_steps": None, "chance_logged": False}]
    row = bench_quality.table(runs, {"v": "ghn=default"}).splitlines()[-1]
    assert "| 0,1,2 |" in row and "| 169 / – / never |" in row
    assert "| 40.0 ± 0.0 |" in row


def test_default_variant_is_the_readme_experiment():
    # the benchmark's default trains what `hypergen-train experiment=fmnist_cpu_lowrank` trains: only the name differs
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from hypergen.train.run import config_dir

    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        variant = compose("train", overrides=["experiment=fmnist_cpu",
                                              *bench_quality.VARIANTS[bench_quality.DEFAULT_VARIANT].split()])
        readme = compose("train", overrides=["experiment=fmnist_cpu_lowrank"])
    variant, readme = OmegaConf.to_container(variant), OmegaConf.to_container(readme)
    assert (variant.pop("name"), readme.pop("name")) == ("fmnist_cpu", "fmnist_cpu_lowrank")
    assert variant == readme
