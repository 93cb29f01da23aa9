"""Plots stay readable at scale: bounded size, labelled axes."""

from __future__ import annotations

import pytest

from switchsim.plots import DPI, MAX_LINK_BARS, MAX_WIDTH_IN, links_figure
from switchsim.sim.metrics import LinkSummary


def _links(count: int) -> list[LinkSummary]:
    return [LinkSummary(name=f"w{i // 2}->sw0" if i % 2 == 0 else f"sw0->w{i // 2}", packets=1, bytes=1,
                        utilisation=(i % 10) / 10, max_queue_bytes=0.0, queue_drops=0, loss_drops=0)
            for i in range(count)]


@pytest.mark.parametrize("count", [4, MAX_LINK_BARS, MAX_LINK_BARS + 1, 2 * 32 * 32 + 64])
def test_links_figure_is_bounded_and_labelled(count):
    figure = links_figure("switchml", _links(count))
    assert figure.get_size_inches()[0] * DPI <= MAX_WIDTH_IN * DPI == 1920
    _utilisation, _queue, drops = figure.axes
    assert all(axis.get_ylabel() for axis in figure.axes)
    assert drops.get_xlabel()


def test_few_links_are_named_bars_many_are_a_histogram():
    few = links_figure("switchml", _links(6))
    many = links_figure("switchml", _links(2112))
    assert [t.get_text() for t in few.axes[-1].get_xticklabels()] == [link.name for link in _links(6)]
    assert few.axes[-1].get_xlabel() == "link (from->to)"
    heights = [patch.get_height() for patch in many.axes[0].patches]
    assert sum(heights) == 2112  # every link counted once
    assert many.axes[0].get_ylabel() == "links"
    assert "2,112 links" in many.axes[0].get_title() and "most sw0->w4 0.9" in many.axes[0].get_title()
