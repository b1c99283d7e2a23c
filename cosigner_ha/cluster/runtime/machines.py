"""A runtime node's machine as files on its home (`workdir/nodes/NAME`): the hardware profile `node start`
reads (`hardware.json`: host, CPU secret, vendor and image keys, the image it runs, its cloud binding) and
its host disk (`HOME/disk`). The faults that act on the machine rather than the process (disk loss, a new
host, a tampered image) are edits of these files while the node is down or before it starts again."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from cosigner_ha.cluster.node_hardware import Hardware
from cosigner_ha.env import OsCrypto

PROFILE = "hardware.json"


def new_machine(home: Path, host: str, *, vendor_key: str, image_key: str) -> Hardware:
    """A fresh machine on `home`: its own CPU secret, the cluster's one attestation vendor and image key
    (so the SaaS trusts one measurement)."""
    home.mkdir(parents=True, exist_ok=True)
    secrets = {
        "host": host,
        "cpu_secret": OsCrypto().randbytes(32).hex(),
        "vendor_key": vendor_key,
        "image_key": image_key,
    }
    (home / PROFILE).write_text(json.dumps(secrets, indent=2))
    return Hardware(home, secrets)


def update_profile(home: Path, **fields: Any) -> None:
    """Set `fields` in the machine's hardware profile (None removes one); its next `node start` reads it."""
    path = home / PROFILE
    profile = json.loads(path.read_text())
    for key, value in fields.items():
        if value is None:
            profile.pop(key, None)
        else:
            profile[key] = value
    path.write_text(json.dumps(profile, indent=2))


def lose_disk(home: Path, backup: Path | None) -> None:
    """The host disk (`HOME/disk`: its sealed database or its Nitro/GCP host files, and its logs) wiped;
    copied first to `backup` (the image taken at that instant) when given. The node must be down."""
    disk = home / "disk"
    if backup is not None:
        backup.parent.mkdir(parents=True, exist_ok=True)
        if disk.exists():
            shutil.copytree(disk, backup)
        else:
            backup.mkdir()
    shutil.rmtree(disk, ignore_errors=True)
    disk.mkdir()


def replace_disk(home: Path, backup: Path | None, *, new_host: bool) -> None:
    """The disk restored from `backup` (or left empty); with `new_host`, the home becomes a fresh machine
    with the same role: a new CPU secret, so an SGX node cannot unseal what its old CPU sealed, while a
    Nitro or GCP node reopens its bucket with the KMS key."""
    disk = home / "disk"
    if backup is not None:
        shutil.rmtree(disk, ignore_errors=True)
        shutil.copytree(backup, disk)
    if new_host:
        update_profile(home, cpu_secret=OsCrypto().randbytes(32).hex())


def swap_image(home: Path, *, tampered: bool) -> None:
    """The machine gets a tampered image (modified code, the original signature), or the signed one back,
    from its next `node start` on."""
    update_profile(home, image="tampered" if tampered else None)
