"""The loader's one error type, carrying every problem found in one pass."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable


@dataclasses.dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a scenario: where (file, key path or line) and what was expected."""

    origin: str
    path: str
    message: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        if self.line is not None:
            return f"{self.origin}:{self.line}:{self.column}: {self.message}"
        if self.path:
            return f"{self.origin}: {self.path}: {self.message}"
        return f"{self.origin}: {self.message}"


class ScenarioError(ValueError):
    """A scenario refused before anything runs; `problems` lists all that was wrong, section by section."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        if not self.problems:
            raise ValueError("ScenarioError needs at least one problem")
        self.origin = self.problems[0].origin
        if len(self.problems) == 1:
            text = str(self.problems[0])
        else:
            lines = "\n".join(f"  {p}" for p in self.problems)
            text = f"{len(self.problems)} problems in {self.origin}:\n{lines}"
        super().__init__(text)

    @property
    def paths(self) -> tuple[str, ...]:
        """The key paths of the problems, for callers (and tests) that match on location."""
        return tuple(p.path for p in self.problems)
