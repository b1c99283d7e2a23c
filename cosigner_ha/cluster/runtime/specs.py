"""The runtime's service processes as small specs a launcher starts: the command line, the file it writes
once it listens, its role. `RuntimeCluster.start_spec` starts one and waits for its ready file; the
`run --runtime` launcher can do the same with its own process group."""

from __future__ import annotations

import dataclasses
from pathlib import Path


@dataclasses.dataclass(frozen=True)
class ProcessSpec:
    name: str
    role: str
    argv: tuple[str, ...]  # after `cosigner-ha`
    ready: Path  # JSON written (atomically) once it listens; removed before a (re)start


def owner_spec(
    state: Path,
    *,
    scenario: Path | None = None,
    time_scale: float = 1.0,
    loop: str = "trio",
    listen: str = "127.0.0.1:0",
) -> ProcessSpec:
    """`owner serve`: the owner's device (ready file: `pid`, `url`); `listen` again on a restart."""
    argv = ["owner", "serve", "--state", str(state), "--time-scale", repr(time_scale), "--loop", loop]
    argv += ["--listen", listen]
    if scenario is not None:
        argv += ["--scenario", str(scenario)]
    return ProcessSpec("owner", "owner", tuple(argv), state / "ready.json")


def cloud_spec(
    state: Path, *, nitro_vendor_key: str, cs_vendor_key: str, loop: str = "trio", listen: str = "127.0.0.1:0"
) -> ProcessSpec:
    """`cloud serve`: KMS and buckets for Nitro and GCP nodes (ready file: `pid`, `url`)."""
    argv = ("cloud", "serve", "--state", str(state), "--listen", listen, "--loop", loop)
    keys = ("--nitro-vendor-key", nitro_vendor_key, "--cs-vendor-key", cs_vendor_key)
    return ProcessSpec("cloud", "cloud", (*argv, *keys), state / "ready.json")


def callback_spec(
    name: str, scenario: Path, state: Path, *, time_scale: float = 1.0, listen: str = "127.0.0.1:0"
) -> ProcessSpec:
    """`callback serve SCENARIO --handler NAME`: a scripted handler in public-key mode on loopback
    (ready file: `pid`, `url`, `control`, `public_key`)."""
    argv = ("callback", "serve", str(scenario), "--handler", name, "--state", str(state), "--listen", listen)
    return ProcessSpec(
        f"callback-{name}", "callback", (*argv, "--time-scale", repr(time_scale)), state / "ready.json"
    )


def proxy_spec(name: str, target: str, ready: Path, *, loop: str = "trio") -> ProcessSpec:
    """`proxy serve` on one link (ready file: `pid`, `listen`, `control`)."""
    argv = ("proxy", "serve", "--target", target, "--ready", str(ready), "--loop", loop)
    return ProcessSpec(name, "proxy", argv, ready)
