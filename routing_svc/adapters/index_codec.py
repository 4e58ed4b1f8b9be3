"""The storage format of a compiled hub index (what Redis shares between replicas): a header and
an uncompressed, pickle-free npz of the index's arrays, its routes as WKB and a little JSON.

A blob of another format version, or a corrupt one, is an IndexFormatError: the reader compiles
the map itself instead.
"""

from __future__ import annotations

import io
import json
import struct
import zipfile
from datetime import datetime

import numpy as np
import shapely

from routing_svc.domain.coverage import check_resolution
from routing_svc.domain.index import DEFAULT_MAX_NEAREST_M, CellTable, CoverageStats, HubRouteIndex
from routing_svc.domain.model import Route

FORMAT_MAGIC = b"FMRIDX"
FORMAT_VERSION = 1
_HEADER = struct.Struct("<6sH")


class IndexFormatError(ValueError):
    """Bytes that are not a compiled route index this code can read (other format or version, or corrupt)."""


def index_to_bytes(index: HubRouteIndex) -> bytes:
    """The index in the format `index_from_bytes` loads fast."""
    stats = index.coverage_stats
    table = index.table
    meta = {
        "hub_id": index.hub_id,
        "map_version": index.map_version,
        "resolution": index.resolution,
        "compiled_at": index.compiled_at.isoformat() if index.compiled_at else None,
        "routes": [
            {"id": r.id, "name": r.name, "rider": r.default_rider_id, "priority": r.priority} for r in index.routes
        ],
        "edge_cell_count": stats.edge_cell_count,
    }
    geometries = np.array([r.geometry for r in index.routes], dtype=object)
    wkb = shapely.to_wkb(geometries) if index.routes else np.empty(0, dtype=object)
    wkb_offsets = np.zeros(len(wkb) + 1, dtype=np.int64)
    wkb_offsets[1:] = np.cumsum([len(w) for w in wkb])
    buffer = io.BytesIO()
    buffer.write(_HEADER.pack(FORMAT_MAGIC, FORMAT_VERSION))
    np.savez(
        buffer,
        meta=np.frombuffer(json.dumps(meta, separators=(",", ":")).encode(), dtype=np.uint8),
        wkb=np.frombuffer(b"".join(wkb), dtype=np.uint8),
        wkb_offsets=wkb_offsets,
        cells=table.cells,
        codes=table.codes,
        group_offsets=table.group_offsets,
        group_candidates=table.group_candidates,
        group_fallback=table.group_fallback,
        route_cells=stats.route_cells,
        route_edge_cells=stats.route_edge_cells,
        overlap_a=stats.overlap_a,
        overlap_b=stats.overlap_b,
        overlap_cells=stats.overlap_cells,
        gap_cells=stats.gap_cells,
    )
    return buffer.getvalue()


def index_from_bytes(data: bytes, *, max_nearest_m: float = DEFAULT_MAX_NEAREST_M) -> HubRouteIndex:
    """Loads what index_to_bytes wrote; IndexFormatError if it is another format, version or corrupt."""
    if len(data) < _HEADER.size:
        raise IndexFormatError("not a compiled route index: too short")
    magic, version = _HEADER.unpack_from(data)
    if magic != FORMAT_MAGIC:
        raise IndexFormatError("not a compiled route index")
    if version != FORMAT_VERSION:
        raise IndexFormatError(f"route index format version {version}; this code reads {FORMAT_VERSION}")
    try:
        return _load(memoryview(data)[_HEADER.size :], max_nearest_m)
    except (ValueError, KeyError, TypeError, OSError, zipfile.BadZipFile, shapely.errors.GEOSException) as exc:
        raise IndexFormatError(f"corrupt route index: {exc}") from exc


def _load(body: memoryview, max_nearest_m: float) -> HubRouteIndex:
    with np.load(io.BytesIO(body), allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    meta = json.loads(arrays["meta"].tobytes())
    wkb, offsets = arrays["wkb"].tobytes(), arrays["wkb_offsets"]
    geometries = shapely.from_wkb([wkb[offsets[i] : offsets[i + 1]] for i in range(len(offsets) - 1)])
    hub_id = meta["hub_id"]
    routes = tuple(
        Route(
            id=r["id"],
            hub_id=hub_id,
            name=r["name"],
            geometry=g,
            default_rider_id=r["rider"],
            priority=r["priority"],
            active=True,
        )
        for r, g in zip(meta["routes"], geometries, strict=True)
    )
    table = CellTable(
        cells=arrays["cells"].astype(np.uint64, copy=False),
        codes=arrays["codes"].astype(np.int32, copy=False),
        group_offsets=arrays["group_offsets"].astype(np.int32, copy=False),
        group_candidates=arrays["group_candidates"].astype(np.int32, copy=False),
        group_fallback=arrays["group_fallback"].astype(np.int32, copy=False),
    )
    table.check(len(routes))
    stats = CoverageStats(
        route_cells=arrays["route_cells"],
        route_edge_cells=arrays["route_edge_cells"],
        edge_cell_count=int(meta["edge_cell_count"]),
        overlap_a=arrays["overlap_a"],
        overlap_b=arrays["overlap_b"],
        overlap_cells=arrays["overlap_cells"],
        gap_cells=arrays["gap_cells"].astype(np.uint64, copy=False),
    )
    return HubRouteIndex(
        hub_id=hub_id,
        map_version=int(meta["map_version"]),
        resolution=check_resolution(int(meta["resolution"])),
        routes=routes,
        table=table,
        stats=stats,
        max_nearest_m=max_nearest_m,
        compiled_at=datetime.fromisoformat(meta["compiled_at"]) if meta["compiled_at"] else None,
    )
