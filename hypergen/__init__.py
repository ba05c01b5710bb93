"""hypergen: graph hypernetworks that predict the parameters of any PyTorch model from its computation graph.

Pipeline: ``nn.Module`` --trace--> :class:`~hypergen.graph.ComputationGraph` --encode--> ``torch_geometric`` data
--GHN--> ``{qualified_name: tensor}`` --> model. Importing ``hypergen`` imports torch and nothing heavier.
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
from hypergen.graph.data import batch_graphs, to_data
from hypergen.zoo import load_model

__version__ = "0.1.0"

__all__ = [
    "ComputationGraph", "CoverageReport", "IncompleteCoverageError", "OpRegistry", "TraceError", "batch_graphs",
    "default_registry", "load_model", "to_data", "trace_module", "__version__",
]
