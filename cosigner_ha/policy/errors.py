"""The policy package's error type: it always says where (origin, rule, field) and what was expected."""

from __future__ import annotations


class PolicyError(ValueError):
    """A policy, workspace or transaction input that cannot be used as given.

    `origin` is the file (or other source) it came from, `rule_index` the 0-based rule it concerns (None
    when it concerns no rule), `field` the key path inside that rule or document (None for the whole).
    """

    def __init__(self, problem: str, *, origin: str, rule_index: int | None = None, field: str | None = None):
        self.problem = problem
        self.origin = origin
        self.rule_index = rule_index
        self.field = field
        super().__init__(self._render())

    def _render(self) -> str:
        where = [self.origin]
        if self.rule_index is not None:
            where.append(f"rule {self.rule_index}")
        if self.field is not None:
            where.append(f"field '{self.field}'")
        return f"{', '.join(where)}: {self.problem}"


class PriceError(PolicyError):
    """A rule needs an amount in USD or EUR and the workspace has no price for the transaction's asset."""
