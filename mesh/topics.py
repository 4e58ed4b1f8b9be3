"""The mesh's Kafka topics. Their names are public contract (DESIGN.md, "Events"); every topic
has a dead-letter twin `<name>.dlq`. `python -m mesh.commands.topics` creates them."""

from __future__ import annotations

PUR_CREATED = "pur.created.v1"
PUR_ROUTE_ASSIGNMENTS = "pur.route-assignments.v1"
PUR_EVENTS = "pur.events.v1"
DISPATCH_EVENTS = "dispatch.events.v1"
ROUTING_MAP_CHANGES = "routing.map-changes.v1"
ATTENDANCE_EVENTS = "attendance.events.v1"

ALL_TOPICS = (PUR_CREATED, PUR_ROUTE_ASSIGNMENTS, PUR_EVENTS, DISPATCH_EVENTS, ROUTING_MAP_CHANGES, ATTENDANCE_EVENTS)

if __name__ == "__main__":  # the command moved; an old manifest must fail, not succeed doing nothing
    raise SystemExit("mesh.topics is not a command: run python -m mesh.commands.topics")
