"""Initialise real models in place with a GHN, compare their weight statistics with PyTorch's default init, and
save/load the GHN as a safetensors checkpoint.

    python examples/init_model.py [--ckpt ghn.safetensors]

Without ``--ckpt`` the GHN is untrained: its predicted weights already have default-init statistics (that is what
the scaling rules guarantee), but only a trained GHN (see the training docs) gives useful accuracy with no training.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

import hypergen

SPECS = {
    "torchvision:resnet18": dict(num_classes=10),
    "hf:gpt2:causal_lm": dict(n_layer=2, n_embd=128, n_head=4, vocab_size=5000),
}


def main(ckpt: str | None = None) -> None:
    torch.manual_seed(0)
    ghn = hypergen.load_ghn(ckpt) if ckpt else hypergen.GraphHyperNetwork()
    print(f"GHN: {ghn.config.gnn} + {ghn.config.decoder} decoder, {ghn.num_parameters:,} parameters")
    for spec, overrides in SPECS.items():
        zoo = hypergen.load_model(spec, device="cpu", **overrides)
        default = {n: p.detach().std().item() for n, p in zoo.model.named_parameters() if p.numel() > 1}
        report = ghn.init_(zoo.model, zoo.example_inputs)
        print(report.summary())
        for name, param in list(zoo.model.named_parameters())[:3]:
            print(f"  {name:40s} std {param.std().item():.4f} (model's own init: {default[name]:.4f})")
    with tempfile.TemporaryDirectory() as tmp:
        path = hypergen.save_ghn(ghn, Path(tmp) / "ghn.safetensors")
        same = hypergen.load_ghn(path)
        probe = hypergen.load_model("torchvision:resnet18", num_classes=10).model  # meta: nothing allocated
        with torch.no_grad():
            a, b = ghn(probe), same(probe)
        print(f"checkpoint round trip identical: {all(torch.equal(a[k], b[k]) for k in a)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt", help="a trained GHN checkpoint (.safetensors)")
    main(parser.parse_args().ckpt)
