"""Drop what a forward pass computes after (or beside) its last learnable operation.

A detection model's forward ends in post-processing -- box decoding, score thresholds, NMS, indexing -- that has no
parameters and feeds none: hundreds of ``index``/``mask``/unknown nodes (SSD-lite: 678 of 947) that would drown
the layers a GHN has to predict. Such a *selecting* tail is dropped: what is kept is every node that holds or uses a
parameter, every node some such node depends on, and the inputs; each output is re-attached to the kept nodes its
value was computed from. A tail of plain tensor ops (SqueezeNet's ReLU and pooling after its last convolution, a
transpose of CLIP's logits) is part of the architecture and stays, as does everything in classifiers, language
models and every architecture family.
"""

from __future__ import annotations

import dataclasses

from hypergen.graph.graph import Node

__all__ = ["drop_parameter_free_tails"]

_KEEP_OPS = ("input",)
#: Op categories that select elements by value (indexing, masks, unknown functions such as NMS): a parameter-free
#: tail with any of them is post-processing.
_SELECTING = ("mask", "unknown")
_INDEXING_OPS = ("index",)


def drop_parameter_free_tails(nodes: list[Node], edges: set[tuple[int, int]], categories: dict[str, str]
                              ) -> tuple[list[Node], list[tuple[int, int]], dict[int, int]]:
    """Remove the nodes no learnable node depends on, if they select values (post-processing).

    Args:
        nodes: nodes in topological order (``node.index`` = position).
        edges: ``(src, dst)`` data-flow edges.
        categories: op name -> op category (of the registry the graph was traced with).

    Returns:
        ``(nodes, edges, new_index)``: the kept nodes re-indexed in the same order, their edges (outputs re-attached
        to the kept nodes they were computed from) and old index -> new index of every kept node. A graph without
        any parameter, or whose parameter-free part selects nothing, is returned whole.
    """
    successors: dict[int, list[int]] = {i: [] for i in range(len(nodes))}
    predecessors: dict[int, list[int]] = {i: [] for i in range(len(nodes))}
    for src, dst in edges:
        successors[src].append(dst)
        predecessors[dst].append(src)
    learnable = [n.index for n in nodes if n.params or n.shared_params]
    if not learnable:
        return nodes, sorted(edges), {n.index: n.index for n in nodes}
    keep = _ancestors(learnable, predecessors) | {n.index for n in nodes if n.op in _KEEP_OPS}
    tail = [n for n in nodes if n.index not in keep and n.op != "output"]
    if not any(categories.get(n.op) in _SELECTING or n.op in _INDEXING_OPS for n in tail):
        return nodes, sorted(edges), {n.index: n.index for n in nodes}
    extra: set[tuple[int, int]] = set()
    for node in nodes:
        if node.op == "output":
            sources = _nearest_kept(node.index, predecessors, keep)
            learned = {src for src in sources if nodes[src].op not in _KEEP_OPS}
            sources = learned or sources  # from the layers, not from the raw inputs (image sizes for box clipping)
            if sources:  # an output computed from nothing kept goes with the rest
                keep.add(node.index)
                extra.update((src, node.index) for src in sources)
    order = sorted(keep)
    new_index = {old: new for new, old in enumerate(order)}
    kept_nodes = [dataclasses.replace(nodes[old], index=new_index[old]) for old in order]
    kept_edges = {(new_index[s], new_index[d]) for s, d in edges | extra if s in keep and d in keep}
    return kept_nodes, sorted(kept_edges), new_index


def _ancestors(starts: list[int], predecessors: dict[int, list[int]]) -> set[int]:
    seen, stack = set(starts), list(starts)
    while stack:
        for src in predecessors[stack.pop()]:
            if src not in seen:
                seen.add(src)
                stack.append(src)
    return seen


def _nearest_kept(start: int, predecessors: dict[int, list[int]], keep: set[int]) -> set[int]:
    """The kept nodes reached from ``start`` going backwards through dropped nodes only."""
    found, seen, stack = set(), {start}, [start]
    while stack:
        for src in predecessors[stack.pop()]:
            if src in seen:
                continue
            seen.add(src)
            if src in keep:
                found.add(src)
            else:
                stack.append(src)
    return found
