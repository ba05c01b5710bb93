"""hypergen: graph hypernetworks that predict the parameters of any PyTorch model from its computation graph.

Pipeline: ``nn.Module`` --trace--> :class:`~hypergen.graph.ComputationGraph` --encode--> ``torch_geometric`` data
--GHN--> ``{qualified_name: tensor}`` --> model (``hypergen.init_(model, ghn)``). Importing ``hypergen`` imports torch
and torch_geometric (whose ``datasets`` package loads ``torch._dynamo`` and, where installed, ``transformers``: about
2.5x the time of ``import torch`` alone); it downloads nothing.
"""

from __future__ import annotations

from hypergen.graph import (
    ComputationGraph,
    CoverageReport,
    IncompleteCoverageError,
    OpRegistry,
    TraceError,
    default_registry,
    trace_module,
)
from hypergen.apply import InitReport, init_
from hypergen.archs import ArchCache, ArchSampler, list_families, reference_specs
from hypergen.archs import build as build_arch
from hypergen.ghn import (
    GHNConfig,
    GraphHyperNetwork,
    list_pretrained,
    load_ghn,
    register_pretrained,
    register_pretrained_dir,
    save_ghn,
)
from hypergen.graph.data import batch_graphs, to_data
from hypergen.zoo import load_model

__version__ = "0.1.0"

__all__ = [
    "ArchCache", "ArchSampler", "build_arch", "list_families", "reference_specs", "ComputationGraph", "CoverageReport", "GHNConfig", "GraphHyperNetwork", "IncompleteCoverageError", "InitReport",
    "OpRegistry", "TraceError", "batch_graphs", "default_registry", "init_", "list_pretrained", "load_ghn",
    "load_model",
    "register_pretrained", "register_pretrained_dir", "save_ghn",
    "to_data", "trace_module", "__version__",
]
