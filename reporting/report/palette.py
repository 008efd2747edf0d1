"""The colours, patterns and order of the control statuses, shared by badges and charts.

A reader matches the executive summary's chart to the table and badges above it by
colour, order and name, so all three come from here: the badges' CSS is generated from
`STATUS_STYLE` (`status_css`), the chart's series are built from it, and both follow
`ControlStatus`'s order and labels. Status is never told by colour alone: badges carry
an icon and a word and differ by border style, chart bars by hatching.
"""

from __future__ import annotations

from dataclasses import dataclass

from reporting.controls.vocabulary import ControlStatus

__all__ = ["STATUS_STYLE", "StatusStyle", "status_css"]


@dataclass(frozen=True)
class StatusStyle:
    fill: str  # badge background, chart bar
    ink: str  # text on the fill
    hatch: str  # chart pattern (greyscale print)
    border: str  # badge border style (greyscale print)


# Fills at least 0.1 apart in luminance (greyscale print), each with an ink that reads on it.
STATUS_STYLE: dict[ControlStatus, StatusStyle] = {
    ControlStatus.SATISFIED: StatusStyle("#1a7f37", "#ffffff", "", "solid"),
    ControlStatus.SUPPORTED_IN_PART: StatusStyle("#6cc382", "#0b3d1a", "..", "solid"),
    ControlStatus.NOT_SATISFIED: StatusStyle("#7a0d0d", "#ffffff", "xx", "solid"),
    ControlStatus.INDETERMINATE: StatusStyle("#e1e4e8", "#24292f", "--", "dashed"),
    ControlStatus.MANUAL: StatusStyle("#f0c23b", "#3d2e00", "//", "dotted"),
}


def _edge(style: StatusStyle) -> str:
    """A solid border in the fill's colour; a dashed or dotted one in the ink, to be seen."""
    return style.fill if style.border == "solid" else style.ink


def status_css() -> str:
    """The badge rules of the control statuses (`.s-<status>`), from `STATUS_STYLE`."""
    return "\n".join(
        f".s-{status.value.lower().replace('_', '-')} {{ color: {style.ink}; "
        f"background: {style.fill}; border-color: {_edge(style)}; border-style: {style.border}; }}"
        for status, style in STATUS_STYLE.items()
    )
