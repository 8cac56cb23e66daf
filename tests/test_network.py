"""Map geometry and ego-network measures, checked against hand-computed values."""
import math

import pytest

from fieldkit.network import (EGO_RADIUS, Link, Node, angle_of, clamp, default_config, measures, position,
                              ring_of, ring_width, sector_of)

SECTORS = [sector["id"] for sector in default_config()["sectors"]]


@pytest.mark.parametrize("sectors", [8, 5, 3])
def test_every_sector_middle_and_both_borders(sectors):
    width = 2 * math.pi / sectors
    for index in range(sectors):
        for angle, expected in ((index * width, index),  # a border belongs to the sector after it
                                ((index + 0.5) * width, index),
                                ((index + 1) * width - 1e-6, index)):
            x, y = 0.5 * math.sin(angle), -0.5 * math.cos(angle)
            assert sector_of(x, y, sectors) == expected, (index, angle)


def test_sectors_start_at_twelve_and_go_clockwise():
    assert sector_of(0, -0.5, 8) == 0  # straight up
    assert sector_of(0.5, 0, 8) == 2  # three o'clock
    assert sector_of(0, 0.5, 8) == 4  # six o'clock
    assert sector_of(-0.5, 0, 8) == 6  # nine o'clock
    assert sector_of(-0.0001, -0.5, 8) == 7  # just before twelve
    assert angle_of(0, -1) == 0


@pytest.mark.parametrize("rings", [4, 3, 6])
def test_every_ring_middle_and_both_borders(rings):
    width = ring_width(rings)
    for ring in range(rings):
        inner = EGO_RADIUS + ring * width
        for radius in (inner, inner + width / 2, inner + width - 1e-6):
            assert ring_of(radius, 0, rings) == ring, (ring, radius)
            assert ring_of(0, -radius, rings) == ring


def test_inside_ego_and_beyond_the_edge_are_clamped_to_the_nearest_ring():
    assert ring_of(0, 0, 4) == 0
    assert ring_of(0.05, 0, 4) == 0
    assert ring_of(1.0, 0, 4) == 3  # the outer edge belongs to the last ring
    assert ring_of(3.0, 0, 4) == 3


def test_position_and_back():
    for ring in range(4):
        for sector in range(8):
            x, y = position(ring + 0.5, sector + 0.5, 4, 8)
            assert (ring_of(x, y, 4), sector_of(x, y, 8)) == (ring, sector)


def test_clamp_keeps_positions_between_ego_and_edge():
    assert math.hypot(*clamp(2, 0)) == pytest.approx(1)
    assert math.hypot(*clamp(0.01, 0.01)) == pytest.approx(EGO_RADIUS + 0.01, abs=1e-4)
    assert clamp(0.3, 0.4) == (0.3, 0.4)
    assert ring_of(*clamp(0, 0), 4) == 0


def test_measures_of_a_small_network_computed_by_hand():
    # Four alters: two state actors (A in ring 0, B in ring 2), one migrant organisation (C, ring 1),
    # one welfare association (D, ring 3). Alter–alter ties: A–B (same type, twice with two types),
    # A–C and C–D (different types). Ego ties to all.
    nodes = [Node("A", "state_actor", 0), Node("B", "state_actor", 2),
             Node("C", "migrant_organisation", 1), Node("D", "welfare_association", 3)]
    links = [Link("A", "B", "cooperation"), Link("B", "A", "conflict"), Link("A", "C", "tension"),
             Link("C", "D", "cooperation")] + [Link(None, n.id, "cooperation") for n in nodes]
    result = measures(nodes, links, SECTORS, rings=4)

    assert result["size"] == 4
    assert result["composition"]["state_actor"] == 2 and result["composition"]["politics"] == 0
    assert result["shares"]["migrant_organisation"] == 0.25
    assert result["mean_relevance"] == {"state_actor": (4 + 2) / 2, "migrant_organisation": 3, "welfare_association": 1}
    assert result["alter_pairs"] == 3  # A–B counted once
    assert result["density"] == pytest.approx(3 / 6)
    # IQV over 8 categories with shares 1/2, 1/4, 1/4: (1 − 0.375) / (1 − 1/8)
    assert result["iqv"] == pytest.approx(0.625 / 0.875)
    # Pairs: A–B internal; A–C, C–D external → (2 − 1) / 3
    assert result["ei"] == pytest.approx(1 / 3)
    assert result["ei_by_type"]["state_actor"] == pytest.approx((1 - 1) / 2)  # A–B internal, A–C external
    assert result["ei_by_type"]["migrant_organisation"] == 1  # only external pairs
    assert result["ei_by_type"]["welfare_association"] == 1
    # Ego, a migrant organisation, has 1 alter of its own type and 3 of others: (3 − 1) / 4
    assert result["ego_ei"] == pytest.approx(0.5)
    assert result["ties"] == {"cooperation": 6, "conflict": 1, "tension": 1}


def test_measures_of_empty_and_homogeneous_networks():
    empty = measures([], [], SECTORS, rings=4)
    assert empty["size"] == 0 and empty["density"] is None and empty["iqv"] is None and empty["ei"] is None
    same = measures([Node("A", "company", 0), Node("B", "company", 0)], [Link("A", "B", "competition")], SECTORS, 4)
    assert same["iqv"] == 0 and same["ei"] == -1 and same["density"] == 1 and same["ego_ei"] == 1
