"""Figures of decision support, drawn from finished tables (compute first, then draw).

Each function takes the table its computing function returns (scores, sensitivity,
value of information) and only draws it; none computes a probability.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure  # noqa: F401

__all__: list[str] = []
