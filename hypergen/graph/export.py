"""Human- and tool-readable views of a computation graph: text summary, JSON, Graphviz DOT."""

from __future__ import annotations

import json
from typing import Any

from hypergen.graph.graph import ComputationGraph

__all__ = ["graph_summary", "graph_to_dict", "graph_to_json", "graph_to_dot", "EXPORT_FORMATS"]


def graph_summary(graph: ComputationGraph) -> str:
    """Multi-line summary: sizes, nodes per op type, parameter coverage."""
    counts = graph.op_counts()
    width = max((len(op) for op in counts), default=4)
    lines = [
        f"model: {graph.model_name}",
        f"nodes: {graph.num_nodes}   edges: {len(graph.edges)}   parameters: {graph.num_params:,} "
        f"in {len(graph.params)} tensors",
        f"coverage: {graph.coverage.summary()}",
        "nodes by op type:",
    ]
    lines += [f"  {op:<{width}}  {n}" for op, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    lines += [f"  NOT attached: {name}: {why}" for name, why in graph.coverage.missing.items()]
    return "\n".join(lines)


def graph_to_dict(graph: ComputationGraph) -> dict[str, Any]:
    """Plain-data form of the graph (JSON-serialisable)."""
    return {
        "model": graph.model_name,
        "nodes": [
            {"index": n.index, "name": n.name, "op": n.op, "target": n.target, "scope": n.scope,
             "params": n.params, "shared_params": n.shared_params, "out_shape": list(n.out_shape),
             "attrs": {k: list(v) if isinstance(v, tuple) else v for k, v in n.attrs.items()}}
            for n in graph.nodes
        ],
        "edges": [list(e) for e in graph.edges],
        "params": {
            p.name: {"shape": list(p.shape), "node": p.node, "local_name": p.local_name, "aliases": list(p.aliases),
                     "kind": p.kind}
            for p in graph.params.values()
        },
        "coverage": {"attached": graph.coverage.attached, "missing": graph.coverage.missing,
                     "fraction": graph.coverage.fraction},
    }


def graph_to_json(graph: ComputationGraph, indent: int | None = 1) -> str:
    """JSON text of :func:`graph_to_dict`."""
    return json.dumps(graph_to_dict(graph), indent=indent)


_CATEGORY_COLOURS = {"conv": "lightblue", "linear": "lightsalmon", "norm": "palegreen", "attention": "plum",
                     "activation": "lightyellow", "parameter": "lightgrey", "io": "white", "unknown": "red",
                     "embedding": "khaki", "pool": "lightcyan", "elementwise": "whitesmoke"}


def graph_to_dot(graph: ComputationGraph) -> str:
    """Graphviz DOT text; render with ``dot -Tsvg graph.dot -o graph.svg``."""
    from hypergen.graph.ops import default_registry

    registry = default_registry()
    lines = [f'digraph "{graph.model_name}" {{', "  node [shape=box, style=filled, fontsize=10];"]
    for n in graph.nodes:
        shapes = ", ".join("x".join(map(str, graph.params[p].shape)) for p in n.params)
        label = f"{n.name}\\n{n.op}" + (f"\\n{shapes}" if shapes else "")
        colour = _CATEGORY_COLOURS.get(registry.op(n.op).category, "white")
        lines.append(f'  n{n.index} [label="{label}", fillcolor={colour}];')
    lines += [f"  n{s} -> n{d};" for s, d in graph.edges]
    lines.append("}")
    return "\n".join(lines)


#: ``--format`` choices of ``hypergen graph``.
EXPORT_FORMATS = {"summary": graph_summary, "json": graph_to_json, "dot": graph_to_dot}
