"""Which parameters of a traced model are attached to graph nodes, and why the others are not."""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field

__all__ = ["CoverageReport", "IncompleteCoverageError", "IncompleteCoverageWarning"]

log = logging.getLogger(__name__)


class IncompleteCoverageError(RuntimeError):
    """Raised by strict tracing when some parameters could not be attached to a node."""


class IncompleteCoverageWarning(UserWarning):
    """Issued by non-strict tracing when some parameters could not be attached to a node."""


@dataclass
class CoverageReport:
    """Attached and unattached parameters of one traced model.

    Attributes:
        attached: qualified parameter name -> name of the node it is attached to.
        missing: qualified parameter name -> human-readable reason it is not attached.
        numel: qualified parameter name -> number of elements (for both groups).
    """

    attached: dict[str, str] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)
    numel: dict[str, int] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        """Whether every parameter is attached."""
        return not self.missing

    @property
    def fraction(self) -> float:
        """Attached share of parameter *scalars* (1.0 for a model without parameters)."""
        total = sum(self.numel.values())
        if total == 0:
            return 1.0
        return sum(self.numel[n] for n in self.attached) / total

    def summary(self) -> str:
        """One line: tensors and scalars covered."""
        n_att, n_all = len(self.attached), len(self.attached) + len(self.missing)
        return f"{n_att}/{n_all} parameter tensors attached ({100 * self.fraction:.2f}% of scalars)"

    def __str__(self) -> str:
        lines = [self.summary()]
        lines += [f"  NOT attached: {name} ({self.numel[name]} values): {why}" for name, why in self.missing.items()]
        return "\n".join(lines)

    def enforce(self, strict: bool, model_name: str) -> None:
        """Raise (``strict``) or warn loudly if parameters are missing; never stay silent.

        Raises:
            IncompleteCoverageError: if ``strict`` and some parameters are not attached.
        """
        if self.complete:
            return
        message = (
            f"{model_name}: {len(self.missing)} parameter tensor(s) are not attached to any graph node and would not "
            f"be predicted:\n{self}\nPass example inputs that exercise these parameters, register the module type "
            "(hypergen.graph.default_registry().register_module), or trace with strict=False to accept this."
        )
        if strict:
            raise IncompleteCoverageError(message)
        log.warning(message)
        warnings.warn(message, IncompleteCoverageWarning, stacklevel=3)
