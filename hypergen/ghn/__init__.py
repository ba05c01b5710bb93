"""The graph hypernetwork: encoder, GNN backbones, parameter decoders, scaling and checkpoints."""

from __future__ import annotations

from hypergen.ghn.checkpoint import CheckpointError, load_ghn, read_config, save_ghn
from hypergen.ghn.config import GHNConfig, ScalingConfig
from hypergen.ghn.model import GraphHyperNetwork, ParamGroup
from hypergen.ghn.pretrained import list_pretrained, register_pretrained, register_pretrained_dir

__all__ = [
    "CheckpointError", "GHNConfig", "GraphHyperNetwork", "ParamGroup", "ScalingConfig", "list_pretrained", "load_ghn",
    "read_config", "register_pretrained", "register_pretrained_dir", "save_ghn",
]
