"""Stage 1 of the pipeline: ``nn.Module`` -> :class:`ComputationGraph` -> ``torch_geometric`` data."""

from __future__ import annotations

from hypergen.graph.coverage import CoverageReport, IncompleteCoverageError
from hypergen.graph.graph import ComputationGraph, Node, ParamInfo
from hypergen.graph.ops import OpRegistry, OpType, default_registry
from hypergen.graph.trace import TraceError, trace_module

__all__ = [
    "ComputationGraph", "CoverageReport", "IncompleteCoverageError", "Node", "OpRegistry", "OpType", "ParamInfo",
    "TraceError", "default_registry", "trace_module",
]
