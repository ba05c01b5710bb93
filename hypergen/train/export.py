"""Export the GHN of a Lightning training checkpoint (``last.ckpt``, ``best.ckpt``) as a GHN file for
:func:`hypergen.load_ghn`, as the end of training does for the best one (no Lightning, no architecture pool needed)."""

from __future__ import annotations

from pathlib import Path

import torch

from hypergen.ghn import GHNConfig, GraphHyperNetwork, save_ghn
from hypergen.ghn.checkpoint import CheckpointError

__all__ = ["export_ghn_checkpoint"]

#: State-dict prefixes of the GHN in a ``GHNTrainingModule`` checkpoint: the EMA copy first (what validation and the
#: end-of-training export use when ``module.ema_decay`` is set), else the trained GHN.
_PREFIXES = ("ema.module.", "ghn.")


def export_ghn_checkpoint(checkpoint: str | Path, path: str | Path) -> Path:
    """Write the GHN of a ``hypergen-train`` checkpoint to ``path`` (``.safetensors``) with :func:`hypergen.save_ghn`.

    The checkpoint is read with ``torch.load(weights_only=False)``, i.e. unpickled: use it on checkpoints you trust
    (your own runs).

    Args:
        checkpoint: a Lightning checkpoint of ``GHNTrainingModule`` (``<run dir>/checkpoints/last.ckpt``...).
        path: the GHN file to write.

    Returns:
        ``path``.

    Raises:
        FileNotFoundError: ``checkpoint`` does not exist.
        CheckpointError: it is not a checkpoint of a GHN training run (says what it lacks).
    """
    checkpoint = Path(checkpoint)
    if not checkpoint.is_file():
        raise FileNotFoundError(f"checkpoint {str(checkpoint)!r} does not exist")
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    config = state.get("hyper_parameters", {}).get("ghn") if isinstance(state, dict) else None
    weights = state.get("state_dict", {}) if isinstance(state, dict) else {}
    prefix = next((p for p in _PREFIXES if any(k.startswith(p) for k in weights)), None)
    if config is None or prefix is None:
        raise CheckpointError(f"{str(checkpoint)!r} is not a hypergen-train checkpoint: it has no GHN config "
                              "(hyper_parameters['ghn']) or no GHN weights (state_dict 'ghn.*')")
    ghn = GraphHyperNetwork(GHNConfig.from_dict(dict(config)))
    ghn.load_state_dict({k[len(prefix):]: v for k, v in weights.items() if k.startswith(prefix)})
    return save_ghn(ghn, path)
