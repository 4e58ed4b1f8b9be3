"""Errors of the routing domain, each a kind from mesh.errors: they propagate as they are, and
the gRPC interceptor (or the consumer loop, for InvalidArgument) decides what the caller sees."""

from __future__ import annotations

from dataclasses import dataclass

from mesh.errors import AlreadyExists, InvalidArgument, NotFound


@dataclass(frozen=True, slots=True)
class FeatureProblem:
    """One rejected feature of a FeatureCollection: its position in `features` and why."""

    feature_index: int
    reason: str

    def __str__(self) -> str:
        return f"feature {self.feature_index}: {self.reason}"


class InvalidGeometry(InvalidArgument):
    """Route input (a GeoJSON geometry, or a feature and its properties) that cannot become a route.

    `reason` is meant for the person who sent the input. For a FeatureCollection, `problems` lists
    every rejected feature (capped) and `feature_index` is the first of them.
    """

    MAX_LISTED = 5

    def __init__(
        self,
        reason: str,
        *,
        feature_index: int | None = None,
        problems: tuple[FeatureProblem, ...] = (),
    ) -> None:
        self.reason = reason
        self.feature_index = feature_index
        self.problems = problems
        super().__init__(self._message())

    @classmethod
    def for_features(cls, problems: list[FeatureProblem], total: int | None = None) -> InvalidGeometry:
        """Summarizes the rejected features of a collection, the first few spelled out."""
        count = total if total is not None else len(problems)
        listed = "; ".join(str(p) for p in problems[: cls.MAX_LISTED])
        more = count - min(len(problems), cls.MAX_LISTED)
        reason = listed + (f"; and {more} more invalid feature(s)" if more > 0 else "")
        return cls(reason, feature_index=problems[0].feature_index, problems=tuple(problems))

    def _message(self) -> str:
        if self.feature_index is not None and not self.problems:
            return f"feature {self.feature_index}: {self.reason}"
        return self.reason


class RouteNotFound(NotFound):
    def __init__(self, route_id: str) -> None:
        super().__init__(f"route {route_id!r} does not exist")


class NoRouteMap(NotFound):
    """The hub never had a route. `where` names the request item asking (e.g. "lookups[3]: ")."""

    def __init__(self, hub_id: str, where: str = "") -> None:
        super().__init__(f"{where}hub {hub_id!r} has no route map")


class RouteIdTaken(AlreadyExists):
    """Route ids are unique across hubs and a route never moves: an id of another hub is taken."""
