"""Reading `[policy]`, `[[workload]]` and `[expect]`: what the workspace enforces, what is submitted, and
what the run must show."""

from __future__ import annotations

import hashlib

from cosigner_ha.cluster.scenario.durations import Rate, format_duration
from cosigner_ha.cluster.scenario.frozen import freeze
from cosigner_ha.cluster.scenario.keys import (
    WORKLOAD_KEYS,
)
from cosigner_ha.cluster.scenario.loader_base import (
    LoaderBase,
    choice_of,
    nonempty_string,
)
from cosigner_ha.cluster.scenario.model import (
    INITIATING_ROLES,
    SUB_STATUSES,
    AddressType,
    Expect,
    ExpectOutcome,
    ExpectWindow,
    FireblocksPolicy,
    InlinePolicy,
    Operation,
    PolicySpec,
    TxStatus,
    Workload,
)
from cosigner_ha.cluster.scenario.reading import (
    BOOL,
    NAME,
    POSITIVE_DURATION,
    RATE,
    Conv,
    Table,
    array,
    choice,
    integer,
    number,
    one_of,
    strings_in,
)
from cosigner_ha.cluster.scenario.refs import ACCOUNT_KINDS
from cosigner_ha.cluster.scenario.rules import check_rule
from cosigner_ha.inputs import InputFileError, read_bytes
from cosigner_ha.policy.directory import Directory
from cosigner_ha.policy.errors import PolicyError
from cosigner_ha.policy.jsondoc import loads_strict
from cosigner_ha.policy.loading import detect_form, load_policy
from cosigner_ha.policy.model import AMOUNT_MATCHES


class TrafficReader(LoaderBase):
    def policy_spec(self, t: Table, *, workspace: bool = False) -> PolicySpec | None:
        """`rules = [...]` or `fireblocks_json = "path"` ([policy] and `policy` faults). `amount_match` is
        per workspace: read from [policy] (`workspace`), and a `policy` fault's policy keeps it."""
        if workspace:
            match = t.get(
                "amount_match", strings_in(AMOUNT_MATCHES, one_of("amount matches", AMOUNT_MATCHES)), None
            )
            self.amount_match = match or "exceed"
        has_rules, has_file = "rules" in t.data, "fireblocks_json" in t.data
        if has_rules == has_file:
            t.error(
                "",
                'expected either rules ([[...rules]] tables) or fireblocks_json = "path"'
                + (", not both" if has_rules else ""),
            )
            return None
        if has_file:
            return self.fireblocks_json(t)
        mark = self.mark()
        tables = t.tables("rules", what="an array of rule tables")
        if tables and (exported := self.exported_rules(t, tables)) is not None:
            return exported if self.clean_since(mark) else None
        rules = []
        for rule in tables:
            if (checked := check_rule(rule, self.refs, self.eur_priced)) is not None:
                rules.append(checked)
        return InlinePolicy(tuple(rules), self.amount_match) if self.clean_since(mark) else None

    def exported_rules(self, t: Table, tables: list[Table]) -> InlinePolicy | None:
        """Rules written inline in a Fireblocks form (v1 or v2): the policy loader checks their structure
        now; the names and ids they use are checked against the workspace when the policy is published
        (validation, `analyze`, `policy lint`), as Fireblocks does. None: native rules, checked here."""
        raw: list[object] = [tb.data for tb in tables]
        try:
            form = detect_form(raw, self.problems.origin)
            if form == "native":
                return None
            load_policy({"rules": raw}, Directory.permissive(), origin=self.problems.origin)
        except PolicyError as exc:
            where = "rules" if exc.rule_index is None else f"rules[{exc.rule_index}]"
            t.error(f"{where}.{exc.field}" if exc.field else where, exc.problem)
            return InlinePolicy((), self.amount_match)
        return InlinePolicy(tuple(freeze(rule) for rule in raw), self.amount_match)

    def eur_priced(self) -> bool:
        """Whether EUR amounts can be judged: a rate (eur_usd) or EUR prices."""
        return self.eur_rate is not None or bool(self.eur_assets)

    def fireblocks_json(self, t: Table) -> FireblocksPolicy | None:
        written = t.require("fireblocks_json", Conv("a path to a JSON file", nonempty_string))
        if written is None:
            return None
        path = (self.base_dir / written).resolve()
        try:
            data = read_bytes(path, what="policy file")
        except InputFileError as exc:
            t.error(
                "fireblocks_json",
                f"cannot read {written!r} (resolved to {path}): {exc.message}; expected a readable JSON file",
            )
            return None
        try:
            loads_strict(data, written)
        except PolicyError as exc:
            t.error(
                "fireblocks_json",
                f"{written!r} is not valid JSON: {exc.problem}"
                + (f" (at {exc.field})" if exc.field else "")
                + "; expected an exported Fireblocks policy",
            )
            return None
        return FireblocksPolicy(
            path=path, sha256=hashlib.sha256(data).hexdigest(), amount_match=self.amount_match
        )

    def workloads(self, tables: list[Table]) -> list[Workload]:
        roles = self.roles
        seen: dict[str, str] = {}
        out = []
        for t in tables:
            mark = self.mark()
            name = t.require("name", NAME)
            if name is not None:
                self.unique(t, name, seen, "workload names")
                self.workload_names.append(name)
            initiator = t.require("initiator", self.refs.person())
            if initiator is not None and roles.get(initiator, INITIATING_ROLES[0]) not in INITIATING_ROLES:
                t.error(
                    "initiator",
                    f"{initiator!r} has role {roles[initiator]}, which cannot initiate transactions; expected a "
                    f"user or API user with role {', '.join(INITIATING_ROLES)}",
                )
            asset = t.require("asset", self.refs.asset())
            operation = t.get("operation", choice(Operation), Operation.TRANSFER)
            low = high = None
            if (amount := t.table("amount", required=True)) is not None:
                low = amount.require("min", number(lo=0))
                high = amount.get("max", number(lo=0), low)
                if low is not None and high is not None and high < low:
                    amount.error("max", f"expected a maximum of at least the minimum {low:g}, got {high:g}")
                if operation is Operation.TRANSFER and high == 0:
                    amount.error(
                        "max",
                        "expected an amount above 0 for a TRANSFER (it moves something); zero amounts are "
                        'for operations such as CONTRACT_CALL, TYPED_MESSAGE, RAW or APPROVE (operation = "...")',
                    )
                amount.finish()
            source = t.require("source", self.refs.account(("vault", "exchange", "fiat")))
            destination = t.require("destination", self.refs.account(tuple(ACCOUNT_KINDS), one_time=True))
            if source is not None and source == destination:
                t.error("destination", f"expected a destination other than the source {source!r}")
            implied = (
                AddressType.ONE_TIME
                if (destination or "").startswith("one-time:")
                else AddressType.WHITELISTED
            )
            address = t.get("destination_address", choice(AddressType), implied)
            if address is not None and destination is not None and address is not implied:
                t.error(
                    "destination_address",
                    f"expected {implied.value!r} for destination {destination!r} "
                    "(one-time:<address> destinations are one-time, workspace accounts whitelisted)",
                )
            rate: Rate | None = None
            start, stop, at, count = 0.0, None, None, 1
            if t.has("rate"):
                rate = t.require("rate", RATE)
                start = self.time(t, "start", required=False) or 0.0
                stop = self.time(t, "stop", required=False, inclusive=True)
                if stop is not None and stop <= start:
                    t.error(
                        "stop",
                        f"expected a stop after the start {format_duration(start)}, got {format_duration(stop)}",
                    )
                for key in ("at", "count"):
                    if key in t.data:
                        t.error(key, "expected either rate (with start, stop) or at (with count), not both")
            elif t.has("at"):
                at = self.time(t, "at")
                count = t.get("count", integer(1), 1) or 1
                for key in ("start", "stop"):
                    if key in t.data:
                        t.error(
                            key,
                            "start and stop go with rate; an at workload submits count transactions at once",
                        )
            else:
                t.error("", 'expected an arrival form: rate = "2/min" (Poisson), or at = "1h" with count = 1')
            extra = t.table("extra_parameters")
            extra_parameters = None if extra is None else freeze(dict(extra.data))
            t.finish(WORKLOAD_KEYS, context="a [[workload]]")
            if self.clean_since(mark):
                assert name and initiator and asset and source and destination and address and operation
                assert low is not None and high is not None
                out.append(
                    Workload(
                        name=name,
                        initiator=initiator,
                        asset=asset,
                        amount_min=low,
                        amount_max=high,
                        source=source,
                        destination=destination,
                        destination_address=address,
                        operation=operation,
                        rate=rate,
                        start=start,
                        stop=stop,
                        at=at,
                        count=count,
                        extra_parameters=extra_parameters,
                    )
                )
        return out

    def expect(self, t: Table | None) -> Expect | None:
        if t is None:
            return Expect()
        mark = self.mark()
        values = {
            "all_terminal": t.get("all_terminal", BOOL, True),
            "no_double_sign": t.get("no_double_sign", BOOL, True),
            "no_nonce_reuse": t.get("no_nonce_reuse", BOOL, True),
            "min_completed_ratio": t.get("min_completed_ratio", number(0, 1), None),
            "max_signing_latency_p99": t.get("max_signing_latency_p99", POSITIVE_DURATION, None),
            "max_failover": t.get("max_failover", POSITIVE_DURATION, None),
        }
        windows = []
        for w in t.tables("window", what="an array of tables ([[expect.window]])"):
            start = self.time(w, "from")
            end = self.time(w, "to", inclusive=True)
            if start is not None and end is not None and end <= start:
                w.error(
                    "to", f"expected a time after from = {format_duration(start)}, got {format_duration(end)}"
                )
            signed_by = w.require("signed_by", array(self.refs.node(), nonempty=True))
            w.finish()
            if start is not None and end is not None and signed_by is not None:
                windows.append(ExpectWindow(start, end, signed_by))
        outcomes = []
        workloads = self.workload_names
        for o in t.tables("outcome", what="an array of tables ([[expect.outcome]])"):
            workload = o.get("workload", strings_in(workloads, one_of("workload names", workloads)), None)
            status = o.require("status", choice(TxStatus))
            sub_status = o.get("sub_status", choice_of(SUB_STATUSES, "sub-statuses"), None)
            count = o.get("count", integer(0), None)
            o.finish()
            if status is not None:
                outcomes.append(ExpectOutcome(status, workload, sub_status, count))
        t.finish()
        if not self.clean_since(mark):
            return None
        return Expect(windows=tuple(windows), outcomes=tuple(outcomes), **values)  # type: ignore[arg-type]
