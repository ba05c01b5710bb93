"""Build a Hugging Face GPT-2 from a config (no download), initialise it with a GHN and compare it with HF's own init:
parameter statistics, and the LM loss on a batch of random tokens.

    python examples/init_gpt2.py [--ckpt ghn.safetensors] [--set n_layer=24 n_embd=1024 n_head=16]
    python examples/init_gpt2.py --fast        # a 2-layer, 64-wide GPT-2 with 1000 tokens (what CI runs)

The default config is GPT-2 small (124M parameters). Without ``--ckpt`` the GHN is untrained; its weights have sane
statistics either way. The loss is on uniformly random tokens, so ln(vocab) is the best any init can do there: it is
a sanity number, not a language-modelling result. ``init_`` writes no weight wider than HF's own (std 0.02,
``keep_scale=True``, the default), so the loss is ln(vocab) as with HF's init; with ``keep_scale=False`` the GHN's
own fan-in rules apply (std ~1/sqrt(fan_in)) and the logits, through the tied embedding, come out larger.
"""

from __future__ import annotations

import argparse
import copy
import math
import re
from collections import defaultdict

import torch
from torch import nn

import hypergen

FAST = dict(n_layer=2, n_embd=64, n_head=4, vocab_size=1000, n_positions=128)


def group_stats(model: nn.Module) -> dict[str, tuple[float, float]]:
    """``{parameter name with the block index replaced by *: (mean, std)}`` over all blocks."""
    groups: dict[str, list[torch.Tensor]] = defaultdict(list)
    for name, param in model.named_parameters():
        groups[re.sub(r"\.h\.\d+\.", ".h.*.", name)].append(param.detach().flatten())
    return {name: (torch.cat(values).mean().item(), torch.cat(values).std().item()) for name, values in groups.items()}


def random_token_loss(model: nn.Module, vocab_size: int, batch: int = 4, length: int = 64) -> float:
    """Causal LM loss of ``model`` on uniformly random tokens (seed 0)."""
    tokens = torch.randint(0, vocab_size, (batch, length), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return model.eval()(input_ids=tokens, labels=tokens).loss.item()


def main(ckpt: str | None = None, **config: int) -> dict[str, float]:
    """Initialise a GPT-2 built from ``config`` (HF ``GPT2Config`` fields) both ways; returns the two losses."""
    torch.manual_seed(0)
    if "vocab_size" in config:  # GPT-2's special token id (50256) must be a token of a smaller vocabulary
        config.setdefault("bos_token_id", config["vocab_size"] - 1)
        config.setdefault("eos_token_id", config["vocab_size"] - 1)
    zoo = hypergen.load_model("hf:gpt2:causal_lm", device="cpu", **config)
    hf_model = zoo.model
    ghn_model = copy.deepcopy(hf_model)
    if ckpt:
        ghn = hypergen.load_ghn(ckpt)
    else:
        ghn = hypergen.GraphHyperNetwork()
        print("note: no --ckpt, so the GHN is untrained (its weights have default-init statistics)")
    report = ghn.eval().init_(ghn_model, zoo.example_inputs)
    print(report.summary())
    hf_stats, ghn_stats = group_stats(hf_model), group_stats(ghn_model)
    width = max(map(len, hf_stats))
    print(f"{'parameter':{width}s} {'HF init mean/std':>18s} {'GHN init mean/std':>19s}")
    for name, (mean, std) in hf_stats.items():
        print(f"{name:{width}s} {mean:8.4f} {std:8.4f}  {ghn_stats[name][0]:8.4f} {ghn_stats[name][1]:8.4f}")
    vocab = hf_model.config.vocab_size
    losses = {"hf": random_token_loss(hf_model, vocab), "ghn": random_token_loss(ghn_model, vocab)}
    print(f"LM loss on random tokens (ln {vocab} = {math.log(vocab):.2f} is the best possible): HF init "
          f"{losses['hf']:.2f}, GHN init {losses['ghn']:.2f}")
    return losses


def _parse_set(items: list[str]) -> dict[str, int]:
    pairs = [item.partition("=") for item in items]
    bad = [item for item, (_, sep, value) in zip(items, pairs) if not sep or not value.isdigit()]
    if bad:
        raise SystemExit(f"--set takes integer config fields like n_layer=4, got {bad}")
    return {key: int(value) for key, _, value in pairs}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt", help="a trained GHN checkpoint (.safetensors); default: an untrained GHN")
    parser.add_argument("--set", nargs="*", default=[], metavar="FIELD=INT", help="GPT2Config fields")
    parser.add_argument("--fast", action="store_true", help=f"a tiny GPT-2: {FAST} (CI)")
    args = parser.parse_args()
    main(args.ckpt, **{**(FAST if args.fast else {}), **_parse_set(args.set)})
