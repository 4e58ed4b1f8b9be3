"""The import command checks every feature locally and names each bad one before sending anything."""

from __future__ import annotations

import json

import pytest

from routing_svc.import_routes import check_features, main
from tests.support.geometry import square


def feature(route_id: str, geometry: dict) -> dict:
    return {"type": "Feature", "properties": {"id": route_id}, "geometry": geometry}


def polygon(*ring: list[float]) -> dict:
    return {"type": "Polygon", "coordinates": [list(ring)]}


def test_a_valid_map_is_counted():
    document = {
        "type": "FeatureCollection",
        "features": [feature(f"R{i}", square(77.5 + 0.02 * i, 12.9)) for i in range(120)],
    }
    assert check_features(document, "HUB-1") == 120


def test_every_bad_feature_is_named_with_its_index():
    features = [feature(f"R{i}", square(77.5 + 0.02 * i, 12.9)) for i in range(120)]
    features[3] = feature("R3", polygon([0, 0], [1, 1], [1, 0], [0, 1], [0, 0]))
    features[77] = feature("R77", polygon([77.5, 95.0], [77.6, 12.9], [77.6, 13.0], [77.5, 95.0]))
    with pytest.raises(SystemExit) as exit_:
        check_features({"type": "FeatureCollection", "features": features}, "HUB-1")
    message = str(exit_.value)
    assert "nothing was sent" in message
    assert "feature 3:" in message and "feature 77:" in message


def test_an_unreadable_file_exits_non_zero(tmp_path, capsys):
    bad = tmp_path / "map.geojson"
    bad.write_text("{ not json")
    assert main([str(bad), "--hub", "HUB-1"]) == 1
    assert "cannot read" in capsys.readouterr().err


def test_not_a_feature_collection_is_refused(tmp_path):
    path = tmp_path / "map.geojson"
    path.write_text(json.dumps(square(77.5, 12.9)))
    with pytest.raises(SystemExit, match="not a GeoJSON FeatureCollection"):
        main([str(path), "--hub", "HUB-1"])


def test_a_bad_hub_id_is_refused_before_anything_is_sent():
    document = {"type": "FeatureCollection", "features": [feature("R1", square(77.5, 12.9))]}
    with pytest.raises(SystemExit, match="nothing was sent: hub_id must be"):
        check_features(document, "bad hub")
