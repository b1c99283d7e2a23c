"""How the runtime nests faults (`fault_play.FaultPlayer`), on a recording stand-in for the cluster: the
processes and proxies themselves are exercised by test_run_runtime.py; here, which signal or proxy call
each fault and each undo makes, in order."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from cosigner_ha.cluster.runtime.fault_play import FaultPlayer, refusals
from cosigner_ha.cluster.scenario import CallbackFaultMode, FaultAction, load_scenario

DRILL = Path(__file__).parent / "scenarios" / "drill.toml"


class Recorder:
    """Stands where `RuntimeCluster` does and writes down what the player asks of it."""

    def __init__(self) -> None:
        self.scenario = load_scenario(DRILL)
        self.time_scale = 60.0
        self.workspace = "acme"
        self.callback_ready = {"risk": {}}
        self.calls: list[tuple[Any, ...]] = []
        self.processes = self

    def kill(self, name: str, **options: Any) -> None:
        self.calls.append(("kill", name, *options.values()))

    def send(self, name: str, signum: int) -> None:
        self.calls.append(("signal", name, signum))

    def start_node(self, name: str) -> None:
        self.calls.append(("start", name))

    def link_fault(self, name: str, fault: str, **values: float) -> None:
        self.calls.append(("link", name, fault, *values.values()))

    def callback_fault(self, name: str, mode: str | None) -> None:
        self.calls.append(("callback", name, mode))


def _fault(index: int, **fields: Any) -> Any:
    base = load_scenario(DRILL).faults[0]
    return dataclasses.replace(base, **{"node": None, "for_": None, **fields})


def test_a_node_held_down_by_a_crash_and_a_site_outage_comes_back_when_both_end() -> None:
    cluster = Recorder()
    player = FaultPlayer(cluster, lambda kind, **f: None)  # type: ignore[arg-type]
    crash = player.apply(0, _fault(0, action=FaultAction.CRASH, node="sgx-a"))
    outage = player.apply(1, _fault(1, action=FaultAction.SITE_OUTAGE, site="dc/a"))
    assert cluster.calls == [("kill", "sgx-a")] and player.down == {"sgx-a"}
    assert crash is not None and outage is not None
    crash()
    assert ("start", "sgx-a") not in cluster.calls  # the outage still holds it
    outage()
    assert cluster.calls[-1] == ("start", "sgx-a") and player.down == set()


def test_latencies_add_up_and_a_partition_wins_until_it_heals() -> None:
    cluster = Recorder()
    player = FaultPlayer(cluster, lambda kind, **f: None)  # type: ignore[arg-type]
    slow = player.apply(0, _fault(0, action=FaultAction.LATENCY, node="sgx-b", amount=30.0))
    slower = player.apply(1, _fault(1, action=FaultAction.LATENCY, node="sgx-b", amount=60.0))
    assert cluster.calls[-2:] == [("link", "sgx-b", "heal"), ("link", "sgx-b", "latency", 1.5)]
    cut = player.apply(2, _fault(2, action=FaultAction.PARTITION, node="sgx-b"))
    assert cluster.calls[-1] == ("link", "sgx-b", "partition")
    assert slow is not None and slower is not None and cut is not None
    slow()
    assert cluster.calls[-1] == ("link", "sgx-b", "partition")  # still cut
    cut()
    assert cluster.calls[-2:] == [("link", "sgx-b", "heal"), ("link", "sgx-b", "latency", 1.0)]


def test_the_latest_callback_fault_decides_until_it_ends_then_the_one_before() -> None:
    cluster = Recorder()
    player = FaultPlayer(cluster, lambda kind, **f: None)  # type: ignore[arg-type]
    first = player.apply(
        0, _fault(0, action=FaultAction.CALLBACK, callback="risk", mode=CallbackFaultMode.RETRY)
    )
    second = player.apply(
        1, _fault(1, action=FaultAction.CALLBACK, callback="risk", mode=CallbackFaultMode.REJECT)
    )
    assert first is not None and second is not None
    second()
    first()
    assert cluster.calls == [
        ("callback", "risk", "retry"),
        ("callback", "risk", "reject"),
        ("callback", "risk", "retry"),
        ("callback", "risk", None),
    ]


def test_a_callback_fault_on_a_url_handler_is_refused(tmp_path: Path) -> None:
    text = DRILL.read_text().replace(
        'latency = "1s"\naction = "APPROVE"\n', 'url = "https://risk.example/"\n'
    )
    text += '\n[[faults]]\nat = "7m"\naction = "callback"\ncallback = "risk"\nmode = "reject"\nfor = "10s"\n'
    path = tmp_path / "url-handler.toml"
    path.write_text(text)
    assert refusals(load_scenario(path)) == [
        "faults[3].callback: only a scripted handler takes injected faults"
    ]


def test_jitter_is_scaled_the_largest_applies_and_latencies_add_up_as_in_simulation() -> None:
    cluster = Recorder()  # time scale 60
    player = FaultPlayer(cluster, lambda kind, **f: None)  # type: ignore[arg-type]
    jittery = player.apply(0, _fault(0, action=FaultAction.LATENCY, node="sgx-b", amount=30.0, jitter=6.0))
    assert cluster.calls[-1] == ("link", "sgx-b", "latency", 0.5, 0.1)
    steady = player.apply(1, _fault(1, action=FaultAction.LATENCY, node="sgx-b", amount=60.0, jitter=3.0))
    assert cluster.calls[-1] == ("link", "sgx-b", "latency", 1.5, 0.1)  # summed delays, the larger jitter
    assert jittery is not None and steady is not None
    jittery()
    assert cluster.calls[-1] == ("link", "sgx-b", "latency", 1.0, 0.05)
    steady()
    assert cluster.calls[-1] == ("link", "sgx-b", "heal")


def test_a_link_with_the_saas_is_the_node_s_proxy_and_a_link_between_two_nodes_changes_nothing() -> None:
    cluster = Recorder()
    player = FaultPlayer(cluster, lambda kind, **f: None)  # type: ignore[arg-type]
    node_node = _fault(0, action=FaultAction.PARTITION, link=("sgx-a", "sgx-b"))
    assert player.targets(node_node) == ("sgx-a<->sgx-b", ("sgx-a", "sgx-b"))  # as the simulation names it
    heal = player.apply(0, node_node)
    assert cluster.calls == [] and heal is not None
    heal()
    assert cluster.calls == [], "nodes never talk to each other: no proxy sits between them"
    cut = player.apply(1, _fault(1, action=FaultAction.PARTITION, link=("saas", "sgx-c")))
    slow = player.apply(2, _fault(2, action=FaultAction.LATENCY, link=("sgx-b", "saas"), amount=60.0))
    assert cluster.calls == [
        ("link", "sgx-c", "partition"),
        ("link", "sgx-b", "heal"),
        ("link", "sgx-b", "latency", 1.0),
    ]
    assert cut is not None and slow is not None
    cut()
    assert cluster.calls[-1] == ("link", "sgx-c", "heal")


class _Answer:
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status_code, self._body = status, body
        self.is_error = status >= 400
        self.text = str(body)

    def json(self) -> dict[str, Any]:
        return self._body


class Console:
    """The SaaS's control API as the player sees it: records each request, answers from `answers`."""

    def __init__(self, *answers: _Answer) -> None:
        self.requests: list[tuple[str, str, Any]] = []
        self.answers = list(answers)

    def request(self, method: str, url: str, json: Any) -> _Answer:
        self.requests.append((method, url, json))
        return self.answers.pop(0)


def test_an_aged_token_is_asked_for_what_a_token_that_old_has_left_and_a_refusal_is_a_fault_error(
    tmp_path: Path,
) -> None:
    cluster = Recorder()  # time scale 60
    cluster.control = Console(  # type: ignore[attr-defined]
        _Answer(201, {"token": "t1"}), _Answer(409, {"error": "CONFLICT", "message": "signer-b is ACTIVE"})
    )
    cluster.home = lambda name: tmp_path / name  # type: ignore[attr-defined]  # no node serves there
    recorded: list[tuple[str, dict[str, Any]]] = []
    player = FaultPlayer(cluster, lambda kind, **f: recorded.append((kind, f)))  # type: ignore[arg-type]
    pair = _fault(0, action=FaultAction.PAIR, node="sgx-a", api_user="signer-b", token_age=1200.0)
    assert player.apply(0, pair) is None
    # used 1200/60 = 20 real seconds from now, when a token 1200 s old has 1200 s less of its lifetime
    assert cluster.control.requests == [  # type: ignore[attr-defined]
        ("POST", "/workspaces/acme/pairing-tokens", {"api_user": "signer-b", "age": 1200.0 - 20.0})
    ]
    assert recorded == [], "issued, not used yet: nothing to report"
    player.apply(1, _fault(1, action=FaultAction.PAIR, node="sgx-b", api_user="signer-b"))
    assert cluster.control.requests[-1] == (  # type: ignore[attr-defined]
        "POST",
        "/workspaces/acme/pairing-tokens",
        {"api_user": "signer-b"},
    )
    assert recorded == [
        (
            "fault_error",
            {
                "index": 1,
                "action": "pair",
                "nodes": ["sgx-b"],
                "api_user": "signer-b",
                "code": "CONFLICT",
                "reason": "signer-b is ACTIVE",
            },
        )
    ]


def test_an_unpairing_cancelled_later_is_its_fault_s_fault_error_and_a_completed_one_is_not() -> None:
    cluster = Recorder()
    cluster.control = Console(  # type: ignore[attr-defined]
        _Answer(202, {"request": "req-7"}),
        _Answer(202, {"request": "req-8"}),
        _Answer(200, {"id": "req-7", "status": "WAITING_FOR_APPROVAL", "detail": ""}),
        _Answer(200, {"id": "req-8", "status": "COMPLETED", "detail": "unpaired"}),
        _Answer(200, {"id": "req-7", "status": "CANCELLED", "detail": "req-8 unpaired signer-b first"}),
    )
    recorded: list[tuple[str, dict[str, Any]]] = []
    player = FaultPlayer(cluster, lambda kind, **f: recorded.append((kind, f)))  # type: ignore[arg-type]
    player.apply(0, _fault(0, action=FaultAction.UNPAIR, node="sgx-b", api_user="signer-b"))
    player.apply(1, _fault(1, action=FaultAction.UNPAIR, node="sgx-b", api_user="signer-b"))
    player.poll()
    assert recorded == [], "one waits for the admin, the other completed: nothing refused"
    player.poll()
    assert recorded == [
        (
            "fault_error",
            {
                "index": 0,
                "action": "unpair",
                "nodes": ["sgx-b"],
                "api_user": "signer-b",
                "code": "CANCELLED",
                "reason": "req-8 unpaired signer-b first",
            },
        )
    ]
    player.poll()  # decided: not asked again
    assert [url for _, url, _ in cluster.control.requests] == [  # type: ignore[attr-defined]
        "/workspaces/acme/unpair",
        "/workspaces/acme/unpair",
        "/requests/req-7",
        "/requests/req-8",
        "/requests/req-7",
    ]
