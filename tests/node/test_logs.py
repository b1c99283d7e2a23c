"""Log lines in the product's format, on simulated time, rotated over ten files, each also a trace event."""

from __future__ import annotations

import re

import pytest

from cosigner_ha.cluster.infra import SimDisk
from cosigner_ha.env import Environment, simulate
from cosigner_ha.node.logs import NodeLog, format_line

LINE = re.compile(
    r"^(?P<app>\w+):(?P<line>\d+) (?P<level>DEBUG|INFO|WARN|ERROR) (?P<date>\d\d/\d\d/\d{4}) "
    r"(?P<time>\d\d:\d\d:\d\d,\d{3}) (?P<cls>\w+) ::(?P<method>\w+) - (?P<message>.*)$"
)


def test_the_line_format_is_the_products() -> None:
    line = format_line("cosigner", 42, "INFO", 1_767_225_601.25, "SigningService", "sign", "signed tx-1")
    assert line == "cosigner:42 INFO 01/01/2026 00:00:01,250 SigningService ::sign - signed tx-1"


@pytest.mark.parametrize(
    ("wall", "stamp"),
    [
        (1_767_225_601.9994, "01/01/2026 00:00:01,999"),
        (1_767_225_601.9999996, "01/01/2026 00:00:02,000"),  # rounded up into the next second
        (1_767_225_601.0, "01/01/2026 00:00:01,000"),
        (1_767_225_659.9999996, "01/01/2026 00:01:00,000"),
        (1_767_311_999.9999996, "02/01/2026 00:00:00,000"),  # and into the next day
    ],
)
def test_the_stamp_is_the_moments_whatever_came_before(wall: float, stamp: str) -> None:
    """Lines of the same second share its text; a moment rounded up into the next second has that one's."""
    for before in (wall - 0.5, wall, 1_767_225_601.0, wall + 0.0000001):
        format_line("cosigner", 1, "INFO", before, "C", "m", "warm")
    assert format_line("cosigner", 1, "INFO", wall, "C", "m", "x") == f"cosigner:1 INFO {stamp} C ::m - x"


def test_lines_carry_simulated_time_and_skew_and_become_trace_events() -> None:
    disk = SimDisk()

    async def main(env: Environment) -> None:
        node_env = env.child("n1", skew=-2.5)
        log = NodeLog(node_env, node="n1", disk=disk)
        await env.clock.sleep(3600.125)
        log.for_class("Agent").info("poll", "polling the SaaS")
        log.for_class("Agent").debug("poll", "not written at INFO")

    box: list[Environment] = []

    async def capture(env: Environment) -> None:
        box.append(env)
        await main(env)

    simulate(capture, seed=1)
    text = (disk.read("/databases/cosigner/log/customer_cosigner.log") or b"").decode()
    (line,) = text.splitlines()
    m = LINE.match(line)
    assert m is not None, line
    assert (m["date"], m["time"], m["cls"], m["method"]) == ("01/01/2026", "00:59:57,625", "Agent", "poll")
    (event,) = box[0].trace.of_kind("log")
    assert event.fields == {
        "node": "n1",
        "level": "INFO",
        "cls": "Agent",
        "method": "poll",
        "message": "polling the SaaS",
    }


def test_rotation_keeps_ten_files_of_the_configured_size() -> None:
    disk = SimDisk()

    async def main(env: Environment) -> NodeLog:
        log = NodeLog(env, node="n1", disk=disk, max_bytes=1000)
        for i in range(400):
            log.for_class("C").info("m", f"line {i:04d} " + "x" * 40)
        return log

    log = simulate(main, seed=1)
    names = disk.listdir("/databases/cosigner/log")
    assert names == ["customer_cosigner.log"] + [f"customer_cosigner.log.{n}" for n in range(1, 10)]
    assert all(disk.size(f"/databases/cosigner/log/{n}") <= 1000 for n in names)
    tail = log.tail(3)
    assert [t.split(" - ")[1][:9] for t in tail] == ["line 0397", "line 0398", "line 0399"]
    oldest = (disk.read("/databases/cosigner/log/customer_cosigner.log.9") or b"").decode().splitlines()[0]
    assert "line 0" in oldest and "line 0000" not in oldest  # the oldest files were dropped


def test_bad_log_settings_are_refused() -> None:
    async def main(env: Environment) -> None:
        with pytest.raises(ValueError, match="log level 'LOUD'"):
            NodeLog(env, node="n", disk=None, level="LOUD")

    simulate(main, seed=1)


def test_a_rotated_log_holds_only_its_files_in_memory() -> None:
    """Rotation drops the oldest file for good: the simulated disk keeps no bytes of a removed file, so a
    node that logs for days holds at most its ten files."""
    disk = SimDisk()

    async def main(env: Environment) -> None:
        log = NodeLog(env, node="n1", disk=disk, max_bytes=1000)
        for i in range(4_000):
            log.for_class("C").info("m", f"line {i:04d} " + "x" * 40)

    simulate(main, seed=1)
    assert len(disk._data) == 10 and not disk._durable_data
    assert sum(len(contents) for contents in disk._data.values()) <= 10 * 1000


def test_a_long_log_is_held_compressed_and_read_back_whole() -> None:
    disk = SimDisk()

    async def main(env: Environment) -> NodeLog:
        log = NodeLog(env, node="n1", disk=disk)
        for i in range(20_000):
            await env.clock.sleep(1.0)
            log.for_class("SigningService").info("sign", f"tx tx-{i} for signer-a: APPROVE")
        return log

    log = simulate(main, seed=1)
    path = "/databases/cosigner/log/customer_cosigner.log"
    text = (disk.read(path) or b"").decode()
    assert len(text.splitlines()) == 20_000 and disk.size(path) == len(text.encode())
    assert log.tail(1)[0].endswith("tx tx-19999 for signer-a: APPROVE")
    (contents,) = disk._data.values()
    held = sum(len(chunk) for chunk in contents._chunks) + len(contents._tail)
    assert held < disk.size(path) / 4  # about 1.5 MB of lines in a few hundred kilobytes
