"""One colour per node, the same in the terminal summary and on the HTML page.

Tableau 10 without its red, which both renderers keep for "down" and "FAIL"; colours repeat after ten
nodes. Hex strings, which rich and plotly both take.
"""

from __future__ import annotations

from collections.abc import Sequence

NODE_COLOURS: tuple[str, ...] = (
    "#4E79A7",  # blue
    "#F28E2B",  # orange
    "#59A14F",  # green
    "#B07AA1",  # purple
    "#76B7B2",  # teal
    "#EDC948",  # yellow
    "#FF9DA7",  # pink
    "#9C755F",  # brown
    "#BAB0AC",  # grey
    "#86BCB6",  # light teal
)
DOWN_COLOUR = "#E15759"
FAULT_COLOUR = "#F1CE63"
OK_COLOUR = "#59A14F"
FAIL_COLOUR = DOWN_COLOUR


def node_colours(names: Sequence[str]) -> dict[str, str]:
    """Node name -> colour, by position in `names` (the report's node order, `RunReport.node_names()`)."""
    return {name: NODE_COLOURS[i % len(NODE_COLOURS)] for i, name in enumerate(names)}
