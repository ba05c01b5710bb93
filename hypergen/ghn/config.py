"""The configuration of a :class:`~hypergen.ghn.GraphHyperNetwork`: plain JSON-able values, stored in checkpoints."""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from typing import Any

from hypergen.ghn.encodings import CYCLIC_TILT

__all__ = ["GHNConfig", "ScalingConfig", "check_fields"]


@dataclass
class ScalingConfig:
    """How raw decoder outputs become weights with sane initial statistics (see :mod:`hypergen.ghn.scaling`).

    Attributes:
        center: subtract each raw tensor's mean (weights are then zero-mean, norm weights average exactly 1).
        normalize: divide each raw tensor by its standard deviation before scaling (per-tensor statistics are then
            set by the rules below whatever the GHN's state; the GHN keeps a learned, bounded gain per tensor).
        weight_beta: linear/attention weights get std ``sqrt(weight_beta / fan_in)`` (GHN-2's beta; 1 = LeCun).
        kernel_beta: the same for weights with a kernel (convolutions); 2 = He, as torchvision's ReLU nets: with
            LeCun's 1, an untrained GHN's ResNet-50 kept 1/23 of default init's activation scale in eval mode.
        embedding_std: std of embedding tables (PyTorch's ``nn.Embedding`` default is 1).
        bias_std: biases get std ``bias_std / sqrt(fan_in)`` of their node's weight (0.577: PyTorch's default).
        norm_weight_spread: norm weights are ``1 + spread * w`` (``w`` of unit RMS).
        norm_bias_std: std of norm biases.
        scale_value: learnable multiplicative scales (layer scale, ``param_scale`` nodes) are ``scale_value * (1 + w/10)``.
        other_std: std of positional embeddings, class tokens, bias tables and other free tensors.
        max_gain: the learned per-tensor gain lies in ``[1/max_gain, max_gain]``.
        follow_reference: predict around each tensor's default-init statistics where the graph knows them
            (``param_ref``, :mod:`hypergen.graph.reference`): constant-init tensors (norm weights of ones or zeros,
            layer scales of ``1e-6``, zero biases) keep their constant, random-init ones keep their spread within
            ``reference_ratio`` (see :mod:`hypergen.ghn.scaling`).
        constant_tolerance: a reference with ``std <= constant_tolerance * |mean|`` counts as a constant init.
        constant_spread: constant-init tensors spread by ``constant_spread * |mean|`` around their constant.
        zero_spread: ... and zero-init ones by ``zero_spread``.
        reference_ratio: random-init tensors' spread (a rule's, e.g. fan-in) is clamped to
            ``[ref_std / reference_ratio, ref_std * reference_ratio]``.
        center_units: subtract each weight's mean unit (output row) before scaling, so that no two units (no two
            classes of a classifier) can share one template (:meth:`~hypergen.ghn.decoders.base.RawParams.
            center_units`).
    """

    center: bool = True
    normalize: bool = True
    weight_beta: float = 1.0
    kernel_beta: float = 2.0
    embedding_std: float = 1.0
    bias_std: float = 0.577
    norm_weight_spread: float = 0.1
    norm_bias_std: float = 0.02
    scale_value: float = 0.1
    other_std: float = 0.02
    max_gain: float = 4.0
    follow_reference: bool = True
    constant_tolerance: float = 0.25
    constant_spread: float = 0.1
    zero_spread: float = 0.02
    reference_ratio: float = 2.75
    center_units: bool = False


@dataclass
class GHNConfig:
    """Hyper-parameters of a graph hypernetwork.

    Attributes:
        hidden: node embedding width.
        gnn: GNN backbone name in :data:`hypergen.ghn.gnn.GNN_REGISTRY` (``"transformer"`` = GHN-3 style graph
            transformer, ``"gated"`` = GHN-2 style gated GNN with forward/backward sweeps).
        gnn_layers: transformer layers, or rounds of forward+backward sweeps for the gated GNN.
        heads: attention heads (transformer).
        max_distance: shortest-path distances above this share one attention-bias bucket.
        decoder: decoder name in :data:`hypergen.ghn.decoders.DECODER_REGISTRY` (``"core"``: low-rank with a dense
            core, the default; ``"lowrank"``: factor pairs; ``"tiling"``: GHN-2's, a baseline).
        rank: rank of the low-rank decoders' products (the core's size for ``"core"``).
        index_features: width ``E`` of the row/column index encodings (low-rank decoder).
        index_encoding: how the low-rank decoders encode row/column positions (:data:`hypergen.ghn.encodings.
            INDEX_ENCODINGS`): ``"cyclic"`` (default: the standard basis for the first ``E`` units, so the core
            decoder's product is its core cropped to layers up to ``E`` wide; unit ``i + E`` leans towards unit
            ``i``, by ``index_tilt``), ``"identity"`` (the same up to ``E``, then fixed mixtures of it),
            ``"relative"`` (position relative to the width) or ``"absolute"`` (width-independent cosines); see
            ``docs/ghn.md`` and ``docs/results.md`` for how they compared.
        index_tilt: how far ``"cyclic"`` codes beyond ``E`` turn away from their partner ``i mod E``
            (:func:`hypergen.ghn.encodings.cyclic_index_encoding`; cosine ``1 / sqrt(1 + tilt**2)``); larger is
            safer through depth, smaller carries more of the training widths over to wider layers. Ignored by the
            other encodings.
        vocab_codes: size of the core decoder's table of learned row codes for matrices indexed by ids (token and
            position embeddings, output layers such as a language model's head; see :class:`~hypergen.ghn.decoders.
            CoreDecoder`); 0 (default) for none: every row code is the fixed index encoding. With fixed codes,
            rows beyond ``rank`` are fixed mixtures of the first ``rank``, so a GHN cannot give tokens their own
            embeddings; the table starts at those fixed codes and is learned (rows beyond its size stay fixed).
        fixed_output: output layers' weights (a linear layer feeding a graph output: a classifier, a language model's
            head) are not decoded from their node but fixed, the same read-out in every net: ``P(classes) Q
            P(width)^T`` with the core decoder's index codes ``P`` and ``Q`` the rows of a Hadamard matrix that sum
            to zero, so each class reads every feature with weight +-1 (fixed classifiers, Hoffer et al. 2018); the
            GHN still predicts their scale and bias. Every net then has to compute features of one meaning for
            it. Core decoder only, power-of-two ``rank``.
        core_hidden: the core decoder's core as a two-layer map with this many GELU features per kernel position
            (:class:`~hypergen.ghn.decoders.KernelMLP`, the shape of GHN-2's own decoder); 0 (default) for one linear
            read-out of the conditioning vector.
        base: the low-rank decoder adds a seeded full-rank base to every matrix and kernel, mixed with the low-rank
            product by a learned per-tensor angle (see :class:`~hypergen.ghn.decoders.LowRankDecoder`).
        tile_size: block size ``T`` of the tiling decoder (blocks are ``T x T x 3 x 3``).
        mip: magnitude-invariant parametrization (HyperLight): unit-norm decoder inputs and outputs added to learned
            input-independent bases (decoders ``"core"`` and ``"lowrank"``; ``"tiling"`` refuses it).
        positional: add a sinusoidal encoding of each node's depth (from the inputs) and height (above the outputs)
            to its initial embedding (:class:`~hypergen.ghn.encoder.NodeEncoder`).
        center_nodes: subtract each graph's mean node embedding after the GNN (and re-normalise), so what is
            common to all nodes of a net cannot serve as one template for every parameter (see ``docs/ghn.md``).
        op_vocabulary: op type names the op embedding was built for (set from the registry when empty).
        scaling: per-role scaling rules.
    """

    hidden: int = 128
    gnn: str = "transformer"
    gnn_layers: int = 3
    heads: int = 8
    max_distance: int = 50
    decoder: str = "core"
    rank: int = 32
    index_features: int = 64
    index_encoding: str = "cyclic"
    index_tilt: float = CYCLIC_TILT
    vocab_codes: int = 0
    fixed_output: bool = False
    core_hidden: int = 0
    base: bool = True
    tile_size: int = 32
    mip: bool = False
    positional: bool = True
    center_nodes: bool = False
    op_vocabulary: list[str] = field(default_factory=list)
    scaling: ScalingConfig = field(default_factory=ScalingConfig)

    def __post_init__(self) -> None:
        if isinstance(self.scaling, dict):  # GHNConfig(scaling={"embedding_std": 0.02}) as from_dict accepts it
            self.scaling = _scaling_from_dict(self.scaling)
        if not isinstance(self.scaling, ScalingConfig):
            raise TypeError(f"GHNConfig.scaling must be a ScalingConfig or a dict of its fields, got "
                            f"{type(self.scaling).__name__}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (nested dataclasses become dicts)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> GHNConfig:
        """Inverse of :meth:`to_dict`.

        Raises:
            ValueError: on a key that is not a config field (names the key and lists the valid ones).
        """
        check_fields(cls, values)
        return cls(**values)


def _scaling_from_dict(values: dict[str, Any]) -> ScalingConfig:
    """A :class:`ScalingConfig` from a dict of its fields.

    Raises:
        ValueError: on an unknown key (names it and lists the valid ones).
    """
    check_fields(ScalingConfig, values)
    return ScalingConfig(**values)


# field annotation -> the value types it accepts (an int is a fine float; a bool is not an int here)
_SCALAR_TYPES: dict[str, tuple[type, ...]] = {"int": (int,), "float": (int, float), "bool": (bool,), "str": (str,)}


def check_fields(cls: type, values: dict[str, Any]) -> None:
    """Check a dict of a dataclass's fields before building it (configs read from files or the command line).

    Raises:
        ValueError: naming the first unknown key (with the closest valid one) or the first value of the wrong type
            (with the type the field takes).
    """
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key, value in values.items():
        if key not in fields:
            close = difflib.get_close_matches(key, fields, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ValueError(f"unknown {cls.__name__} key {key!r}; {hint}valid keys are {sorted(fields)}")
        accepted = _SCALAR_TYPES.get(str(fields[key].type))
        if accepted and not (isinstance(value, accepted) and not (bool not in accepted and isinstance(value, bool))):
            raise ValueError(f"{cls.__name__}.{key} must be of type {fields[key].type}, got {value!r} "
                             f"({type(value).__name__}); e.g. {key}={fields[key].default!r}")
