"""Reference statistics: the mean and standard deviation every parameter has under the model's own default init.

The GHN predicts most tensors around these (see :mod:`hypergen.ghn.scaling`), so classes it has never seen -- an
RMSNorm of ones, a Gemma norm of zeros, a layer scale of ``1e-6``, a ``LearnableAffineBlock``'s scalar scale of 1 --
start where their model's authors put them instead of at a role's generic constant.

Where the statistics come from, first match wins:

1. the parameter's own values, when it is not on ``meta`` (a freshly built model holds its default init);
2. a fresh initialisation of a CPU copy of its (small) leaf module on ``meta`` models, by the first of
   :data:`MODULE_INITIALISERS` that fills every parameter of the copy (Hugging Face's ``_init_weights`` of the root
   model, then ``reset_parameters``), under a fixed seed; parametrized tensors (``weight_norm``) are initialised as
   the plain tensor and their originals derived from it;
3. none: the parameter is predicted by its role's rule alone.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
from collections.abc import Callable, Iterator

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

__all__ = ["MODULE_INITIALISERS", "MAX_REINIT_NUMEL", "reference_statistics", "tensor_statistics"]

log = logging.getLogger(__name__)

#: Leaf modules of ``meta`` models with more parameter scalars than this are not re-initialised (their big weights
#: are scaled by fan-in rules; what needs a reference -- norms, scales, biases, tokens -- is small).
MAX_REINIT_NUMEL = 1 << 20

_SEED = 0
# Statistics of seeded re-initialisations, kept across traces (a model is traced again by every ``init_``, ``ghn(model)``
# and training step): the same numbers come back for the same root model class and config, leaf class, leaf
# settings and parameter shapes. Bounded; the oldest entries go first.
_FRESH_CACHE: dict[tuple, dict[str, tuple[float, float]] | None] = {}
_FRESH_CACHE_SIZE = 4096


def tensor_statistics(tensor: Tensor) -> tuple[float, float]:
    """``(mean, std)`` of a tensor's values (std 0 for a single element), computed in float64 on its device."""
    values = tensor.detach().double()
    std = values.std().item() if values.numel() > 1 else 0.0
    return values.mean().item(), std


def _init_hf(root: nn.Module, module: nn.Module) -> None:
    """Hugging Face's protocol: the root ``PreTrainedModel`` initialises one submodule with ``_init_weights``."""
    init = getattr(root, "_init_weights", None)
    if callable(init):
        init(module)


def _reset_parameters(root: nn.Module, module: nn.Module) -> None:
    """PyTorch's protocol: every module with ``reset_parameters`` re-draws its own parameters."""
    for sub in module.modules():
        reset = getattr(sub, "reset_parameters", None)
        if callable(reset):
            reset()


#: Ways to give a freshly allocated module its default init, tried in order: ``f(root_model, module)``.
MODULE_INITIALISERS: tuple[Callable[[nn.Module, nn.Module], None], ...] = (_init_hf, _reset_parameters)


@contextlib.contextmanager
def _plain_parametrized_tensors(module: nn.Module) -> Iterator[None]:
    """Within the block, parametrized tensors (``weight_norm``'s ``weight``) are plain parameters that initialisers can
    fill in place; afterwards the parametrizations are registered again, their originals computed from the values
    (``right_inverse``: weight norm's ``g`` becomes the norm of each initialised row)."""
    removed = {}
    for sub in list(module.modules()):
        if parametrize.is_parametrized(sub):
            # a deep copy shares the original's generated class, and removing a parametrization deletes the tensor's
            # property from that class: the copy gets a class of its own first, so the model is never touched
            cls = type(sub)
            own = {k: v for k, v in vars(cls).items() if k not in ("__dict__", "__weakref__")}
            sub.__class__ = type(cls.__name__, cls.__bases__, own)
            for name in list(sub.parametrizations):
                removed[(sub, name)] = list(sub.parametrizations[name])
                parametrize.remove_parametrizations(sub, name, leave_parametrized=True)
    try:
        yield
    finally:
        for (sub, name), parametrizations in removed.items():
            for parametrization in parametrizations:
                parametrize.register_parametrization(sub, name, parametrization)


def _reinitialised(root: nn.Module, module: nn.Module) -> dict[str, Tensor] | None:
    """The parameters of a CPU copy of ``module`` after the first initialiser that fills all of them, or ``None``."""
    # autograd on whatever the caller's mode (no_grad, inference_mode): parametrizations removed and registered
    # without it come back as buffers instead of parameters
    with torch.inference_mode(False), torch.enable_grad():
        return _first_complete_init(root, module)


def _first_complete_init(root: nn.Module, module: nn.Module) -> dict[str, Tensor] | None:
    expected = {n for n, _ in module.named_parameters()}
    for initialise in MODULE_INITIALISERS:
        clone = copy.deepcopy(module).to_empty(device="cpu")
        with torch.no_grad():
            for param in clone.parameters():
                param.fill_(math.nan)  # what no initialiser touches stays NaN: that initialiser does not apply
        try:
            with torch.random.fork_rng(devices=[]), _plain_parametrized_tensors(clone), torch.no_grad():
                torch.manual_seed(_SEED)
                initialise(root, clone)
        except Exception as err:  # noqa: BLE001 -- an initialiser that cannot handle this module does not apply
            log.debug("%s could not initialise %s: %s", initialise.__name__, type(module).__name__, err)
            continue
        params = dict(clone.named_parameters())
        if set(params) == expected and all(not torch.isnan(p).any() for p in params.values()):
            return params
    return None


def reference_statistics(
    model: nn.Module, leaves: dict[nn.Module, str], params: dict[str, nn.Parameter]
) -> dict[str, tuple[float, float]]:
    """``{qualified name: (mean, std)}`` of the default init of every parameter that has one (see module doc).

    Args:
        model: the traced model (its root is asked for model-wide initialisers).
        leaves: leaf module -> qualified name (as tracing found them).
        params: qualified name -> parameter, for every name the model has (tied aliases included).

    Returns:
        Statistics for the parameters whose reference is known; others are absent.
    """
    by_tensor: dict[int, tuple[float, float]] = {}  # tied names share one computation
    stats: dict[str, tuple[float, float]] = {}
    for name, param in params.items():
        if not param.is_meta:
            if id(param) not in by_tensor:
                by_tensor[id(param)] = tensor_statistics(param)
            stats[name] = by_tensor[id(param)]
    fresh_stats = _FRESH_CACHE
    root_key = (type(model), _config_fingerprint(model))
    for module, prefix in leaves.items():
        own = [n for n, _ in module.named_parameters()]
        names = [f"{prefix}.{n}" if prefix else n for n in own]
        if not own or all(n in stats for n in names):
            continue
        if sum(p.numel() for p in module.parameters()) > MAX_REINIT_NUMEL:
            continue
        # one seeded init per class and parameter shapes: the same numbers for every such module, computed once
        key = (root_key, type(module), module.extra_repr(),
               tuple((n, tuple(p.shape), p.dtype) for n, p in module.named_parameters()))
        if key not in fresh_stats:
            fresh = _reinitialised(model, module)
            if len(fresh_stats) >= _FRESH_CACHE_SIZE:
                fresh_stats.pop(next(iter(fresh_stats)))
            fresh_stats[key] = None if fresh is None else {n: tensor_statistics(fresh[n]) for n in own}
        if fresh_stats[key] is not None:
            stats.update({name: fresh_stats[key][n] for n, name in zip(own, names) if name not in stats})
    return stats


def _config_fingerprint(model: nn.Module) -> str:
    """The model-wide settings an initialiser may read (a Hugging Face model's config), as text; empty for others."""
    config = getattr(model, "config", None)
    to_json = getattr(config, "to_json_string", None)
    return to_json() if callable(to_json) else ""
