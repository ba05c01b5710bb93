"""The graph hypernetwork: encoder, GNN backbones, parameter decoders, scaling and checkpoints."""

from __future__ import annotations

from hypergen.ghn.checkpoint import CheckpointError, load_ghn, read_config, save_ghn
from hypergen.ghn.config import GHNConfig, ScalingConfig
from hypergen.ghn.model import GraphHyperNetwork, ParamGroup

__all__ = [
    "CheckpointError", "GHNConfig", "GraphHyperNetwork", "ParamGroup", "ScalingConfig", "load_ghn", "read_config",
    "save_ghn",
]
