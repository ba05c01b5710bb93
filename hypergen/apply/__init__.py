"""Applying predicted parameters: functional forward passes, in-place initialisation, BatchNorm recalibration,
orthogonalisation before fine-tuning."""

from __future__ import annotations

from hypergen.apply.batchnorm import recalibrate_batchnorm
from hypergen.apply.functional import forward_with, materialize_buffers
from hypergen.apply.init import BATCHNORM_MODES, InitReport, init_
from hypergen.apply.spectrum import orthogonalize, orthogonalize_

__all__ = ["BATCHNORM_MODES", "InitReport", "forward_with", "init_", "materialize_buffers", "orthogonalize",
           "orthogonalize_", "recalibrate_batchnorm"]
