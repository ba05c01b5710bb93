"""GHN checkpoints: one safetensors file whose header metadata carries the JSON config. Loading never unpickles.

Header metadata (all strings):

- ``format``: ``"hypergen.ghn"``; ``format_version``: :data:`FORMAT_VERSION`; ``hypergen_version``.
- ``config``: :meth:`GHNConfig.to_dict` as JSON (architecture, op vocabulary, scaling rules).
- ``sha256``: digest of all tensors (names, dtypes, shapes, bytes), so a corrupted file is refused.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from hypergen.ghn.config import GHNConfig
from hypergen.ghn.model import GraphHyperNetwork

__all__ = ["save_ghn", "load_ghn", "read_config", "CheckpointError", "FORMAT", "FORMAT_VERSION"]

FORMAT = "hypergen.ghn"
#: Bumped on any incompatible change of the file layout or of the meaning of stored tensors.
FORMAT_VERSION = "1"


class CheckpointError(ValueError):
    """A checkpoint that is not a hypergen GHN file, comes from an incompatible version or is corrupted."""


def _digest(tensors: dict[str, torch.Tensor]) -> str:
    sha = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        sha.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        sha.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return sha.hexdigest()


def save_ghn(ghn: GraphHyperNetwork, path: str | Path) -> Path:
    """Write ``ghn`` to ``path`` (``.safetensors``); returns the path."""
    from hypergen import __version__

    path = Path(path)
    tensors = {k: v.detach().cpu().contiguous() for k, v in ghn.state_dict().items()}
    metadata = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "hypergen_version": __version__,
        "config": json.dumps(ghn.config.to_dict()), "sha256": _digest(tensors),
    }
    bad = _non_finite(tensors)
    if bad:
        raise ValueError(f"refusing to save a GHN with non-finite values in {bad}; its training diverged")
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata=metadata)
    _normal_permissions(path)
    return path


def _non_finite(tensors: dict[str, torch.Tensor]) -> str:
    """The names of floating-point tensors holding NaN or Inf, for an error message (``""`` when there are none)."""
    bad = [name for name, t in tensors.items() if t.is_floating_point() and not torch.isfinite(t).all()]
    return f"{bad[:5]}{f' and {len(bad) - 5} more tensors' if len(bad) > 5 else ''}" if bad else ""


def _normal_permissions(path: Path) -> None:
    """Give a written file the permissions the process's umask allows (safetensors writes 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def _metadata(path: Path) -> tuple[dict[str, str], dict[str, torch.Tensor]]:
    if not path.is_file():
        raise FileNotFoundError(f"GHN checkpoint {str(path)!r} does not exist")
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as err:
        if _is_torch_save(path):
            raise CheckpointError(
                f"{str(path)!r} is a PyTorch/Lightning training checkpoint (torch.save), not a GHN file. load_ghn "
                "reads the GHN a training run exports, <run dir>/ghn_best.safetensors; to get the GHN of this "
                f"checkpoint, run hypergen.train.export_ghn_checkpoint({str(path)!r}, 'ghn.safetensors') (it "
                "unpickles the file: only for checkpoints you trust)"
            ) from None
        raise CheckpointError(f"{str(path)!r} is not a readable safetensors file ({err}); it may be truncated or "
                              "corrupted, or not a hypergen checkpoint") from err
    if metadata.get("format") != FORMAT:
        raise CheckpointError(f"{str(path)!r} is a safetensors file but not a hypergen GHN checkpoint "
                              f"(format={metadata.get('format')!r})")
    if metadata.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{str(path)!r} has checkpoint format version {metadata.get('format_version')!r} (written by hypergen "
            f"{metadata.get('hypergen_version')}); this hypergen reads version {FORMAT_VERSION!r}. Use the hypergen "
            "version that wrote it, or re-export the GHN with this one"
        )
    return metadata, tensors


def _is_torch_save(path: Path) -> bool:
    """Whether ``path`` starts like a ``torch.save`` file (a zip archive, or a pickle of the legacy format)."""
    with open(path, "rb") as f:
        head = f.read(4)
    return head.startswith(b"PK\x03\x04") or head[:1] == b"\x80"


def _stored_config(metadata: dict[str, str], path: Path) -> GHNConfig:
    """The GHN config in ``metadata``, written by any earlier version of :func:`save_ghn`.

    Raises:
        CheckpointError: the ``config`` entry is missing, not JSON, or not a GHN config (names the file and the key).
    """
    if "config" not in metadata:
        raise CheckpointError(f"{str(path)!r} lacks the 'config' metadata entry (the GHN's architecture), so it "
                              "cannot be rebuilt; re-export it with hypergen.save_ghn")
    try:
        values = json.loads(metadata["config"])
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{str(path)!r}: its 'config' metadata entry is not valid JSON ({err}); the file was "
                              "edited or damaged; re-export it with hypergen.save_ghn") from None
    if not isinstance(values, dict):
        raise CheckpointError(f"{str(path)!r}: its 'config' metadata entry is {type(values).__name__}, not a JSON "
                              "object of GHNConfig fields; re-export it with hypergen.save_ghn")
    # Written before GHNConfig.index_encoding existed: those GHNs were trained with relative index encodings.
    values.setdefault("index_encoding", "relative")
    # Written before GHNConfig.index_tilt existed: "cyclic" codes were tilted by 0.25 then (only they read it).
    values.setdefault("index_tilt", 0.25)
    # Written before node positions and the decoder's seeded base existed: those GHNs had neither.
    values.setdefault("positional", False)
    values.setdefault("base", False)
    values.setdefault("center_nodes", False)
    # Written before convolutions had their own beta: they were scaled with weight_beta.
    scaling = values.get("scaling")
    if isinstance(scaling, dict):
        scaling.setdefault("kernel_beta", scaling.get("weight_beta", 1.0))
        # Written before predictions followed each tensor's default-init statistics: those GHNs were trained (and
        # their cards measured) with the role rules alone; a zero-init BatchNorm gamma kept near 0 would bypass the
        # residual blocks they learned to fill (timm's ResNet-18: 12% instead of 30% held-out top-1).
        scaling.setdefault("follow_reference", False)
    try:
        return GHNConfig.from_dict(values)
    except (TypeError, ValueError, KeyError) as err:
        raise CheckpointError(f"{str(path)!r}: its 'config' metadata entry is not a config this hypergen can build "
                              f"({err}); use the hypergen version that wrote it, or re-export the GHN") from None


def read_config(path: str | Path) -> GHNConfig:
    """The :class:`GHNConfig` stored in a checkpoint (without building the GHN)."""
    metadata, _ = _metadata(Path(path))
    return _stored_config(metadata, Path(path))


def load_ghn(path: str | Path, map_location: torch.device | str = "cpu") -> GraphHyperNetwork:
    """Build the GHN stored at ``path`` and load its weights.

    Args:
        path: a ``.safetensors`` checkpoint, the name of a pretrained GHN (``hypergen pretrained`` lists them; see
            :mod:`hypergen.ghn.pretrained`) or a URL (downloaded once into the cache).
        map_location: device to put the GHN on.

    Raises:
        FileNotFoundError: if ``path`` is neither a file, a pretrained GHN's name nor a URL.
        CheckpointError: for a non-hypergen, other-version or corrupted file.
    """
    from hypergen.ghn.pretrained import resolve_ghn

    path = resolve_ghn(path)
    metadata, tensors = _metadata(path)
    if "sha256" not in metadata:
        raise CheckpointError(f"{str(path)!r} lacks the 'sha256' metadata entry, so its tensors cannot be checked; "
                              "re-export it with hypergen.save_ghn")
    if _digest(tensors) != metadata.get("sha256"):
        raise CheckpointError(f"{str(path)!r} is corrupted: its tensors do not match the stored sha256 digest")
    bad = _non_finite(tensors)
    if bad:
        raise CheckpointError(f"{str(path)!r} holds non-finite values (NaN or Inf) in {bad}: the GHN it was saved "
                              "from had diverged; use an earlier checkpoint")
    ghn = GraphHyperNetwork(_stored_config(metadata, path))
    missing, unexpected = ghn.load_state_dict(tensors, strict=False)
    if missing or unexpected:
        raise CheckpointError(f"{str(path)!r} does not match its config: missing {missing}, unexpected {unexpected}")
    return ghn.to(map_location)
