"""The routing domain: routes, their GeoJSON, and the H3 index that assigns a point to a route.

Pure: shapely, h3, h3ronpy and numpy, plus the mesh's shared kernel and error kinds; no I/O, no
protobuf, no database or broker.
"""
