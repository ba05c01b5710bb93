"""Ship a trained GHN inside the package: copy a ``hypergen-train`` run's exported GHN to ``hypergen/pretrained/`` and
write its model card from the run's own records.

    .venv/bin/python scripts/ship_pretrained.py RUN_DIR NAME --description "..." [--quality QUALITY.json]
        [--command "the command that trained it"]

The card (``hypergen/pretrained/NAME.json``) holds: the data (name, input shape, classes), the architecture space
(family, sampler seed, options, parameter bounds, pool size) and the splits the GHN saw (``train``) or was measured on,
the GHN's config, the training schedule, the accuracy the run's validation measured and, with ``--quality``, the
quality benchmark's measurement of this GHN (``benchmarks/bench_quality.py`` writes one ``quality.json`` per run).
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
MAX_BYTES = 10 * 2**20


def build_card(run_dir: Path, description: str, command: str, quality: dict | None) -> dict:
    """The model card of the GHN exported by the run in ``run_dir``."""
    from hypergen.data.registry import get_dataset_spec
    from hypergen.ghn import read_config

    config = yaml.safe_load((run_dir / ".hydra" / "config.yaml").read_text())
    metrics = json.loads((run_dir / "metrics.json").read_text())
    archs, data, module = config["archs"], config["data"], config["module"]
    spec = get_dataset_spec(data["name"])
    card = {
        "description": description,
        "data": {"name": data["name"], "input_shape": list(spec.input_shape), "num_classes": spec.num_classes,
                 "train_images_per_step": data["batch_size"]},
        "archs": {"family": archs["family"], "seed": archs["seed"], "options": archs.get("options") or {},
                  "param_bounds": archs.get("param_bounds"), "train_pool_size": archs.get("pool_size"),
                  "trained_on_split": "train", "heldout_split": archs.get("heldout_split", "test")},
        "ghn": read_config(run_dir / "ghn_best.safetensors").to_dict(),
        "training": {"steps": metrics["global_step"], "meta_batch": module["meta_batch"], "lr": module["lr"],
                     "warmup_steps": module["warmup_steps"], "seed": config["seed"]},
        "validation": metrics["metrics"],
        "command": command,
    }
    card["ghn"].pop("op_vocabulary", None)  # long, and stored in the checkpoint itself
    if quality:
        card["accuracy"] = {split: quality[f"{split}_acc"] for split in ("test", "wide", "deep")
                            if f"{split}_acc" in quality}
        card["accuracy"]["measured"] = ("bench_quality.py: 8 held-out nets per split, 2,000 test images, BatchNorm "
                                        "statistics re-estimated on 2 training batches, no training")
        card["layer_similarity"] = quality.get("test_similarity")
        card["repeated_units"] = quality.get("test_repeated")
    return card


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("name")
    parser.add_argument("--description", required=True)
    parser.add_argument("--command", default="", help="the command that trained the GHN")
    parser.add_argument("--quality", type=Path, help="the run's quality.json from benchmarks/bench_quality.py")
    args = parser.parse_args()
    source = args.run_dir / "ghn_best.safetensors"
    if source.stat().st_size > MAX_BYTES:
        raise SystemExit(f"{source} has {source.stat().st_size:,} bytes; shipped GHNs stay under {MAX_BYTES:,}")
    quality = json.loads(args.quality.read_text()) if args.quality else None
    card = build_card(args.run_dir, args.description, args.command, quality)
    target = ROOT / "hypergen" / "pretrained"
    target.mkdir(exist_ok=True)
    shutil.copyfile(source, target / f"{args.name}.safetensors")
    (target / f"{args.name}.json").write_text(json.dumps(card, indent=1) + "\n")
    print(f"shipped {source} as {target / args.name}.safetensors with its card")


if __name__ == "__main__":
    main()
