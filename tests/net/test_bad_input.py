"""Every bad argument to the transports gets an error that names what was wrong, and changes nothing."""

from __future__ import annotations

import math
import random

import anyio
import pytest
import trio.testing

from cosigner_ha.net import (
    ConnectTimeout,
    InvalidAddress,
    LinkSpec,
    NetError,
    SimNetwork,
    TcpNetwork,
    join_address,
    split_address,
)


@pytest.mark.parametrize(
    ("address", "expected"),
    [("a:1", ("a", 1)), ("saas.eu-1:443", ("saas.eu-1", 443)), ("[::1]:80", ("::1", 80)), ("h:0", ("h", 0))],
)
def test_addresses_round_trip(address: str, expected: tuple[str, int]) -> None:
    assert split_address(address) == expected
    assert join_address(*expected) == address


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("nowhere", "'nowhere' has no port"),
        ("host:", "port '' is not a number"),
        ("host:-1", "port '-1' is not a number"),
        ("host:٣", "is not a number"),
        ("host:65536", "port 65536 is above 65535"),
        (":80", "':80' has no host"),
        ("[]:80", "has no host"),
        ("fe80::1:80", "must be in brackets"),
        (42, "must be a 'host:port' string, got int"),
    ],
)
def test_bad_addresses_say_what_is_wrong(address: str, problem: str) -> None:
    with pytest.raises(InvalidAddress, match=problem):
        split_address(address)


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"latency": -0.1}, "LinkSpec.latency must be at least 0 seconds, got -0.1"),
        ({"jitter": -1}, "LinkSpec.jitter must be at least 0 seconds"),
        ({"loss": 1.0}, "LinkSpec.loss must be a probability from 0 up to"),
        ({"loss": -0.5}, "LinkSpec.loss must be a probability"),
        ({"rto": 0}, "LinkSpec.rto must be above 0 seconds"),
        ({"latency": math.inf}, "LinkSpec.latency must be a finite number, got inf"),
        ({"jitter": math.nan}, "LinkSpec.jitter must be a finite number"),
        ({"latency": "0.1"}, "LinkSpec.latency must be a finite number, got '0.1'"),
        ({"loss": True}, "LinkSpec.loss must be a finite number, got True"),
    ],
)
def test_bad_link_specs_name_the_field(fields: dict[str, object], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        LinkSpec(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("options", "error", "problem"),
    [
        ({"stall_timeout": 0}, ValueError, "stall_timeout must be a finite number of seconds above 0, got 0"),
        (
            {"connect_timeout": -1},
            ValueError,
            "connect_timeout must be a finite number of seconds at least 0",
        ),
        ({"max_frame_size": -1}, ValueError, "max_frame_size must be a whole number of bytes"),
        ({"default_link": 0.1}, TypeError, "default_link must be a LinkSpec, got float"),
        ({"loopback_link": "fast"}, TypeError, "loopback_link must be a LinkSpec, got str"),
    ],
)
def test_bad_network_options(options: dict[str, object], error: type[Exception], problem: str) -> None:
    arguments: dict[str, object] = {"default_link": LinkSpec(), **options}
    with pytest.raises(error, match=problem):
        SimNetwork(random.Random(1), **arguments)  # type: ignore[arg-type]


def test_network_needs_its_own_random_stream() -> None:
    with pytest.raises(TypeError, match=r"needs a random.Random for its draws, got int"):
        SimNetwork(7, default_link=LinkSpec())  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["", "a:b", "two words", "-lead", "é", "a/b"])
def test_bad_host_names(name: str) -> None:
    net = SimNetwork(random.Random(1), default_link=LinkSpec())
    with pytest.raises(ValueError, match="is not valid: use letters, digits"):
        net.host(name)
    assert net.hosts == ()


def test_host_is_created_once() -> None:
    net = SimNetwork(random.Random(1), default_link=LinkSpec())
    assert net.host("a") is net.host("a")
    assert net.hosts == ("a",)


def _faulty_network() -> SimNetwork:
    net = SimNetwork(random.Random(1), default_link=LinkSpec())
    for name in ("a", "b", "c"):
        net.host(name)
    return net


@pytest.mark.parametrize(
    ("call", "problem"),
    [
        (lambda net: net.partition("a", "ghost"), "no host is named 'ghost'; known hosts: a, b, c"),
        (lambda net: net.crash("ghost"), "no host is named 'ghost'"),
        (lambda net: net.pause("ghost"), "no host is named 'ghost'"),
        (lambda net: net.partition("a", []), "cannot partition an empty group of hosts"),
        (lambda net: net.partition(["a", "b"], ["b", "c"]), "cannot partition a host from itself: b in both"),
        (lambda net: net.clog("a", "a"), "cannot clog a host from itself: a"),
        (lambda net: net.heal("a", "b"), "cannot heal a -> b: it is not partitioned; nothing was changed"),
        (lambda net: net.unclog("a", "b"), "cannot unclog a -> b: it is not clogged"),
        (lambda net: net.set_link("a", "b", 0.5), "set_link needs a LinkSpec, got float"),
        (lambda net: net.resume("a"), "cannot resume host 'a': it is not paused"),
        (lambda net: net.link("a", "nope"), "no host is named 'nope'"),
    ],
)
async def test_bad_fault_calls_are_refused(
    autojump: trio.testing.MockClock, call: object, problem: str
) -> None:
    net = _faulty_network()
    with pytest.raises((ValueError, TypeError), match=problem):
        call(net)  # type: ignore[operator]


async def test_a_refused_group_heal_changes_nothing(autojump: trio.testing.MockClock) -> None:
    net = _faulty_network()
    net.partition("a", "b")
    with pytest.raises(ValueError, match="cannot heal a -> c: it is not partitioned"):
        net.heal("a", ["b", "c"])
    listener = await net.host("b").listen("b:1")
    with pytest.raises(ConnectTimeout, match="a is partitioned from b"):
        await net.host("a").connect("b:1", timeout=1)
    net.heal("a", "b")  # the partition a-b was still there, exactly once
    client = await net.host("a").connect("b:1", timeout=1)
    assert (await listener.accept()).peer == client.local


async def test_bad_timeouts(autojump: trio.testing.MockClock) -> None:
    net = _faulty_network()
    with pytest.raises(ValueError, match="timeout must be a finite number of seconds at least 0, got -1"):
        await net.host("a").connect("b:1", timeout=-1)
    with pytest.raises(ValueError, match="timeout must be a finite number of seconds"):
        await TcpNetwork().connect("127.0.0.1:1", timeout=math.nan)


def test_bad_tcp_options() -> None:
    with pytest.raises(TypeError, match=r"ssl_context_client must be an ssl\.SSLContext, got str"):
        TcpNetwork("cert.pem")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="connect_timeout must be a finite number"):
        TcpNetwork(connect_timeout=math.inf)


async def test_listen_on_a_bad_address() -> None:
    with pytest.raises(InvalidAddress, match="has no port"):
        await TcpNetwork().listen("127.0.0.1")
    with anyio.fail_after(5):
        with pytest.raises(NetError, match=r"cannot listen on 203\.0\.113\.1:0"):
            await TcpNetwork().listen("203.0.113.1:0")
