"""Trace models from three zoos on the meta device and look at their graphs.

    python examples/trace_model.py
"""

from __future__ import annotations

import hypergen
from hypergen.graph.export import graph_summary

SPECS = {
    "torchvision:convnext_tiny": {},
    "timm:vit_tiny_patch16_224": {},
    "hf:llama:causal_lm": dict(num_hidden_layers=2, hidden_size=128, intermediate_size=256, num_attention_heads=4,
                               num_key_value_heads=2, vocab_size=1000),
}


def main() -> None:
    for spec, overrides in SPECS.items():
        zoo = hypergen.load_model(spec, **overrides)  # parameters on the meta device: nothing allocated
        graph = hypergen.trace_module(zoo.model, zoo.example_inputs, name=spec)
        data = hypergen.to_data(graph)  # torch_geometric Data with virtual edges
        print(graph_summary(graph))
        print(f"PyG: {data}\n")


if __name__ == "__main__":
    main()
