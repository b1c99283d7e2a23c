"""Users' own handlers (`python =`, `asgi =`) in simulation, as a new user plugs them in (issue 17).

A failing handler is a failing request, never a failing run; an asyncio app runs on an event loop of
its own with its lifespan around the run; the handler's wall time never enters virtual time; latency and
jitter apply to user code too.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from cosigner_ha.cli import main
from cosigner_ha.cluster.scenario import scenario_from_dict, to_toml
from tests.cluster.handlers import plain
from tests.cluster.runs import Run, run, scenario_dict

H = "tests.cluster.handlers.plain"


def handler_scenario(tmp_path: Path, callback: dict[str, Any], **sections: Any) -> dict[str, Any]:
    if "asgi" in callback and "public_key" not in callback:
        key = tmp_path / "handler_public.pem"
        key.write_text(plain.PUBLIC_PEM)
        callback = {**callback, "public_key": str(key)}
    data = scenario_dict(callback=callback, **sections)
    data["scenario"] = {**data["scenario"], "duration": "5m"}
    return data


def run_with(tmp_path: Path, callback: dict[str, Any], **sections: Any) -> Run:
    return run(handler_scenario(tmp_path, callback, **sections))


def errors(r: Run) -> Counter[str]:
    return Counter(str(e.fields["error"]) for e in r.of("callback_error"))


def cli_run(tmp_path: Path, data: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    path = tmp_path / "s.toml"
    path.write_text(to_toml(scenario_from_dict(data)), encoding="utf-8")
    code = main(["run", str(path), "--json", str(tmp_path / "r.json")])
    return code, capsys.readouterr().err


# -- item 2: a failing handler is a failing request ---------------------------------------------------


@pytest.mark.parametrize(
    ("target", "words"), [("raises", "KeyError: 'riskScore'"), ("exits", "SystemExit(3)")]
)
def test_a_python_handler_that_raises_fails_each_request_and_the_run_goes_on(
    tmp_path: Path, target: str, words: str
) -> None:
    r = run_with(tmp_path, {"python": f"{H}:{target}"})
    failures = r.of("callback_error")
    assert failures and {e.fields["error"] for e in failures} == {"HANDLER_ERROR"}
    assert all(words in str(e.fields["detail"]) for e in failures)
    # Fireblocks' rule for a failed callback (callback_failure = FAIL, the default): the transaction fails
    assert r.statuses().get("FAILED", 0) >= 1 and "COMPLETED" not in r.statuses()
    assert r.of("end")


@pytest.mark.parametrize("loop", ["asyncio", "trio"])
def test_an_asgi_app_that_raises_is_that_requests_http_500(tmp_path: Path, loop: str) -> None:
    r = run_with(tmp_path, {"asgi": f"{H}:failing_app", "loop": loop})
    failures = r.of("callback_error")
    assert failures and {e.fields["error"] for e in failures} == {"HTTP_STATUS"}
    assert "HTTP 500" in str(failures[0].fields["detail"])
    assert "COMPLETED" not in r.statuses() and r.of("end")


@pytest.mark.parametrize(
    ("callback", "words"),
    [
        ({"python": f"{H}:NOT_CALLABLE"}, "is a dict, not a callable"),
        ({"asgi": f"{H}:not_asgi"}, "is a function, not an ASGI app"),
        ({"asgi": f"{H}:NOT_CALLABLE"}, "is a dict, not an ASGI app"),
    ],
)
def test_a_target_that_is_not_a_handler_is_refused_before_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], callback: dict[str, Any], words: str
) -> None:
    code, err = cli_run(tmp_path, handler_scenario(tmp_path, callback), capsys)
    assert code == 2
    assert err.startswith("error: callback cb: ") and words in err, err
    assert not (tmp_path / "r.json").exists()


# -- item 1: asyncio handlers with their lifespan -----------------------------------------------------


@pytest.mark.parametrize(
    ("target", "words"),
    [
        ("failing_startup", "startup raised RuntimeError: cannot load plugins from /etc/handler/plugins"),
        ("exiting_startup", "startup raised SystemExit('missing HANDLER_KEY')"),
    ],
)
def test_a_lifespan_startup_failure_exits_2_naming_the_handler(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], target: str, words: str
) -> None:
    code, err = cli_run(tmp_path, handler_scenario(tmp_path, {"asgi": f"{H}:{target}"}), capsys)
    assert code == 2
    assert err.startswith("error: callback cb: the lifespan ") and words in err, err
    assert "Traceback" not in err and not (tmp_path / "r.json").exists()


def test_a_lifespan_shutdown_failure_is_reported_not_fatal(tmp_path: Path) -> None:
    r = run_with(tmp_path, {"asgi": f"{H}:failing_shutdown"})
    assert r.statuses().get("COMPLETED", 0) >= 1 and not r.of("callback_error")
    (event,) = [e for e in r.events if e.kind == "callback_shutdown_error"]
    assert event.fields == {
        "callback": "cb",
        "detail": "the lifespan shutdown failed: could not flush the audit log",
    }


def test_an_asyncio_handler_keeps_the_run_deterministic_whatever_its_wall_time(tmp_path: Path) -> None:
    first = run_with(tmp_path, {"asgi": f"{H}:slow_on_the_wall"})
    second = run_with(tmp_path, {"asgi": f"{H}:slow_on_the_wall"})
    assert first.statuses().get("COMPLETED", 0) >= 5 and not first.of("callback_error")
    assert first.result.report.trace_hash == second.result.report.trace_hash
    # the handler slept 20 ms of wall time per request; none of it is virtual time
    answers = first.of("callback_response")
    assert answers and all(e.fields["latency"] == 0 for e in answers)


# -- item 6: latency and jitter for user code ----------------------------------------------------------


@pytest.mark.parametrize("kind", ["python", "asgi"])
def test_latency_applies_to_user_handlers_and_past_the_deadline_is_a_timeout(
    tmp_path: Path, kind: str
) -> None:
    target = f"{H}:approve" if kind == "python" else f"{H}:slow_on_the_wall"
    quick = run_with(tmp_path, {kind: target, "latency": "2s", "jitter": "1s"})
    latencies = [e.fields["latency"] for e in quick.of("callback_response")]
    assert latencies and all(2.0 <= x <= 3.0 for x in latencies) and len(set(latencies)) > 1
    late = run_with(tmp_path, {kind: target, "latency": "45s"})
    assert errors(late) and set(errors(late)) == {"TIMEOUT"}
    assert "COMPLETED" not in late.statuses()


# -- item 4: Fireblocks' request format -----------------------------------------------------------------


def test_the_request_carries_fireblocks_fields_and_a_retry_resends_it_identically(tmp_path: Path) -> None:
    plain.RECORDED.clear()
    extra = {"rawMessageData": {"algorithm": "MPC_ECDSA_SECP256K1"}, "note": "batch 7"}
    data = handler_scenario(
        tmp_path,
        {"python": f"{H}:recording"},
        saas={"callback_retry_interval": "30s"},
    )
    data["workload"][0]["extra_parameters"] = extra
    r = run(data)
    assert r.statuses().get("COMPLETED", 0) >= 5
    bodies = plain.RECORDED
    first = bodies[0]
    assert first["requestId"] != first["txId"] and len(first["requestId"]) == 36  # a UUID, as in the product
    assert first["extraParameters"] == extra
    for key in (
        "operation",
        "sourceType",
        "sourceId",
        "destType",
        "destId",
        "asset",
        "amountStr",
        "requestedAmountStr",
        "amount",
        "requestedAmount",
        "destAddressType",
        "destAddress",
        "signerId",
        "players",
        "destinations",
        "note",
        "externalTxId",
    ):
        assert key in first, key
    action_info = first["destinations"][0]["actionInfo"]
    assert action_info["byRule"] is True and action_info["capturedRule"].startswith("{")
    # the RETRY sent the identical request again
    again = [b for b in bodies[1:] if b["requestId"] == first["requestId"]]
    assert again and again[0] == first
    retried = [e for e in r.of("callback_response", action="RETRY")]
    assert retried and all(e.fields["tx"] != e.fields["request"] for e in retried)


def test_an_answer_echoing_another_request_id_is_its_own_failure(tmp_path: Path) -> None:
    r = run_with(tmp_path, {"python": f"{H}:wrong_echo"})
    assert set(errors(r)) == {"REQUEST_ID_MISMATCH"}
    assert "COMPLETED" not in r.statuses()


# -- item 6: a handler has a site ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["python", "scripted"])
def test_a_site_outage_takes_the_handler_at_that_site_down(tmp_path: Path, kind: str) -> None:
    outage = {"at": "1m", "action": "site-outage", "site": "aws/us-east-1", "for": "2m"}
    callback: dict[str, Any] = {"python": f"{H}:approve"} if kind == "python" else {"latency": "50ms"}
    elsewhere = run(handler_scenario(tmp_path, callback, faults=[outage]))
    assert not errors(elsewhere)  # the handler is not at the site: node b goes on signing
    shared = run(handler_scenario(tmp_path, {**callback, "site": "aws/us-east-1/b"}, faults=[outage]))
    down = shared.of("callback_error", error="UNREACHABLE")
    assert down and all(60 <= shared.at(e) < 180 for e in down)
    assert all("its site is down" in str(e.fields["detail"]) for e in down)
    assert all(e.fields["node"] == "b" for e in down)  # node a is down itself
    assert not shared.between("callback_error", 181, 300)
