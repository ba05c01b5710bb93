"""Model zoos: build a named model (on the ``meta`` device by default) with example inputs that fit it.

Specs are ``"<source>:<name>"``: ``torchvision:resnet50``, ``timm:convnext_tiny``, ``hf:gpt2:causal_lm``. Sources
are a registry (:func:`register_source`); optional libraries are imported only when their source is used.
"""

from __future__ import annotations

from hypergen.zoo.registry import ZooModel, available_sources, list_models, load_model, register_source

__all__ = ["ZooModel", "available_sources", "list_models", "load_model", "register_source"]
