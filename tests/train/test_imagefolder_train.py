"""A new user's first run on their own image folder: small grayscale digits written as PNGs in ``train/<class>/`` and
``val/<class>/``, trained with ``data.name=imagefolder``; every step's loss, the validation and the exported GHN are
finite, including the epoch's last, partial batch."""

import csv
import json
import math

import pytest
import torch
from PIL import Image

import hypergen

PER_CLASS, CLASSES = 3, 10


def _write_digits(root):
    """8x8 blobs of a class-specific shape, upscaled to 32x32 grayscale PNGs (like scikit-learn's digits saved by
    hand); a few saved as RGB, as a folder of mixed files is."""
    gen = torch.Generator().manual_seed(0)
    prototypes = (torch.rand(CLASSES, 8, 8, generator=gen) < 0.35).float()
    for split, count in (("train", PER_CLASS), ("val", 2)):
        for c in range(CLASSES):
            (root / split / str(c)).mkdir(parents=True)
            for i in range(count):
                pixels = (prototypes[c] * 16 + torch.randint(0, 3, (8, 8), generator=gen)).clamp(0, 16)
                image = Image.fromarray((pixels / 16 * 255).to(torch.uint8).numpy(), mode="L").resize((32, 32))
                (image.convert("RGB") if i == 0 else image).save(root / split / str(c) / f"{i}.png")


@pytest.mark.parametrize("batch_size", [13])
def test_training_on_a_tiny_png_folder_is_finite(train_cli, tiny, tmp_path, batch_size):
    _write_digits(tmp_path / "digits")
    run_dir = tmp_path / "run"
    # 30 training images, 3 of them held out for validation: 27 = 2 x 13 + 1, so the loader's last batch would hold
    # one image (BatchNorm cannot train on it)
    proc = train_cli.run([*tiny, f"hydra.run.dir={run_dir}", "data.name=imagefolder",
                          f"data.root={tmp_path / 'digits'}",
                          "+data.dataset_options={image_size: 16}", "data.train_subset=null", "data.eval_subset=null",
                          f"data.batch_size={batch_size}", "archs.pool_size=8", "trainer.max_steps=8",
                          "trainer.val_check_interval=4"], timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:]
    with open(run_dir / "csv" / "version_0" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    losses = {int(r["step"]): float(r["train/loss"]) for r in rows if r["train/loss"]}
    assert sorted(losses) == list(range(8)) and all(math.isfinite(v) for v in losses.values())
    metrics = json.loads((run_dir / "metrics.json").read_text())["metrics"]
    assert 0.0 <= metrics["val/acc"] <= 1.0 and 0.0 <= metrics["val/acc_random_init"] <= 1.0
    heldout = json.loads((run_dir / "heldout_archs.json").read_text())
    assert {tuple(s["input_shape"]) for s in heldout["specs"]} == {(3, 16, 16)}
    ghn = hypergen.load_ghn(run_dir / "ghn_best.safetensors")  # refuses non-finite weights
    assert all(torch.isfinite(p).all() for p in ghn.parameters())
