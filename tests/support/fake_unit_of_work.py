"""The mesh's unit of work in memory: what each commit handed on, and how often it rolled back."""

from __future__ import annotations

from mesh.unit_of_work import AbstractUnitOfWork


class RecordingUnitOfWork(AbstractUnitOfWork):
    def __init__(self) -> None:
        self.committed: list[list[object]] = []
        self.rollbacks = 0

    def _commit(self, events: list[object]) -> None:
        self.committed.append(list(events))

    def _rollback(self) -> None:
        self.rollbacks += 1
