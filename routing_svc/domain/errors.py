"""Errors of the routing domain.

They subclass ValueError and nothing from gRPC: the entrypoints translate them to status codes
(InvalidGeometry and InvalidLocation are INVALID_ARGUMENT; IndexFormatError means "recompile").
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FeatureProblem:
    """One rejected feature of a FeatureCollection: its position in `features` and why."""

    feature_index: int
    reason: str

    def __str__(self) -> str:
        return f"feature {self.feature_index}: {self.reason}"


class InvalidGeometry(ValueError):
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


class InvalidLocation(ValueError):
    """A point to look up that is not a finite WGS84 coordinate in range."""


class IndexFormatError(ValueError):
    """Bytes that are not a compiled route index this code can read (other format or version, or corrupt).

    A replica that gets this from a shared cache compiles the index itself instead.
    """
