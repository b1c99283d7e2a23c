"""What every part of the scenario loader shares: the problems found so far, the names declared, the facts
read from earlier sections, and the converters for values several sections take.

The loader is one class assembled from the section readers (`loader_workspace`, `loader_traffic`,
`loader_faults`); this base holds their common state so that each reader sees what the others read.
"""

from __future__ import annotations

import re
import urllib.parse
from pathlib import Path
from typing import Any

from cosigner_ha.cluster.scenario.durations import format_duration
from cosigner_ha.cluster.scenario.model import (
    Enclave,
    WorkspaceEnv,
)
from cosigner_ha.cluster.scenario.reading import (
    DURATION,
    IDENT_PATTERN,
    Conv,
    Invalid,
    Problems,
    Table,
    one_of,
    strings_in,
)
from cosigner_ha.cluster.scenario.refs import Refs

SEED_MAX = 2**63 - 1  # the largest TOML integer

_TARGET = re.compile(
    r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*"
)
TOML_POSITION = re.compile(r"^(?P<msg>.*) \(at line (?P<line>\d+), column (?P<col>\d+)\)$")


class LoaderBase:
    def __init__(self, origin: str, base_dir: Path) -> None:
        self.problems = Problems(origin)
        self.base_dir = base_dir
        self.refs = Refs()
        self.duration: float | None = None
        self.env: WorkspaceEnv | None = None
        # Facts read from items even when the item has other problems, so that one mistake does not
        # cascade into spurious ones elsewhere.
        self.person_paths: dict[str, str] = {}  # user and API user names -> where declared
        self.roles: dict[str, str] = {}  # user and API user names -> role
        self.callback_users: set[str] = set()  # callbacks some API user names
        self.served_by: dict[str, str] = {}  # API user -> the node serving it at the start
        self.node_sites: list[str] = []
        self.enclaves: dict[str, Enclave] = {}  # node -> its enclave kind
        self.workload_names: list[str] = []
        self.token_validity: float | None = None  # [saas] pairing_token_validity, once read
        self.id_paths: dict[str, str] = {}  # user, API user and group ids -> where declared
        self.group_paths: dict[str, str] = {}  # group names -> where declared
        self.eur_rate: float | None = None  # US dollars per euro (eur_usd, or prices_usd.EUR)
        self.eur_assets: set[str] = set()  # assets priced in workspace.prices_eur
        self.amount_match = "exceed"  # [policy] amount_match, which `policy` faults keep

    # -- helpers ---------------------------------------------------------------------------------------

    def mark(self) -> int:
        return len(self.problems)

    def clean_since(self, mark: int) -> bool:
        return len(self.problems) == mark

    def unique(self, table: Table, name: str, seen: dict[str, str], what: str) -> None:
        """Refuse a name already used: `seen` maps names to the path that declared them."""
        if name in seen:
            table.error("name", f"{name!r} is already the name of {seen[name]}; expected unique {what}")
        else:
            seen[name] = table.path

    def time(self, table: Table, key: str, *, required: bool = True, inclusive: bool = False) -> float | None:
        """A time on the timeline: an offset before the end of the run (at the end when `inclusive`)."""
        value = table.require(key, DURATION) if required else table.get(key, DURATION, None)
        end = self.duration
        if value is not None and end is not None and (value > end if inclusive else value >= end):
            bound = "at most" if inclusive else "before"
            table.error(
                key,
                f"expected a time {bound} the end of the run (scenario.duration = {format_duration(end)}), "
                f"got {format_duration(value)}",
            )
            return None
        return value

    # -- sections --------------------------------------------------------------------------------------


def choice_of(values: tuple[str, ...], what: str) -> Conv[str]:
    return strings_in(values, one_of(what, values))


def target_reference(value: Any) -> str:
    if not isinstance(value, str) or not _TARGET.fullmatch(value):
        raise Invalid('a "module.path:attribute" reference such as "mypkg.handlers:decide"')
    return value


def https_url(value: Any) -> str:
    if not isinstance(value, str):
        raise Invalid("an https:// URL")
    try:
        parts = urllib.parse.urlsplit(value)
        host, _port = parts.hostname, parts.port  # a bracket left open, a port out of range: ValueError
    except ValueError as exc:
        raise Invalid(f"an https:// URL with a host and an optional port ({exc})") from None
    if parts.scheme != "https" or not host:
        raise Invalid("an https:// URL with a host (the co-signer calls handlers over TLS only)")
    return value


def nonempty_string(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise Invalid("a non-empty string")
    return value


_SITE_EXPECTED = (
    'a site path provider[/region[/zone]] of letters, digits, ".", "_" and "-", such as "aws/us-east-1/a"'
)


def _site(value: Any) -> str:
    if not isinstance(value, str):
        raise Invalid(_SITE_EXPECTED)
    parts = value.split("/")
    if not 1 <= len(parts) <= 3 or not all(IDENT_PATTERN.fullmatch(p) for p in parts):
        raise Invalid(_SITE_EXPECTED)
    return value


SITE: Conv[str] = Conv(_SITE_EXPECTED, _site)
