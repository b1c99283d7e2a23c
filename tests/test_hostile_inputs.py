"""Hostile and mistaken inputs, for every command that reads files: exit 2 with what and where, never a
traceback, a hang or a destroyed file (issue 14, items 1 and 4)."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from cosigner_ha.cli import main
from cosigner_ha.cluster.bundled import SCENARIOS
from cosigner_ha.inputs import MAX_INPUT_BYTES, MAX_NESTING

SCENARIO = SCENARIOS / "single-cosigner.toml"
TX = (
    '{"initiator":"ops","operation":"TRANSFER","asset":"ETH","amount":%s,'
    '"source":"vault:hot","destination":"one-time:0xabc"}'
)


def _deep_array(folder: Path) -> Path:
    path = folder / "deep-array.toml"
    path.write_text("x = " + "[" * 3000 + "]" * 3000 + "\n")
    return path


def _deep_table(folder: Path) -> Path:
    path = folder / "deep-table.toml"
    path.write_text("x = " + "{a = " * 2000 + "1" + "}" * 2000 + "\n")
    return path


def _deep_json(folder: Path) -> Path:
    path = folder / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    return path


def _huge_integer_toml(folder: Path) -> Path:
    path = folder / "huge-int.toml"
    path.write_text(SCENARIO.read_text().replace("seed = ", "seed = " + "9" * 5000 + " # ", 1))
    return path


def _huge_integer_json(folder: Path) -> Path:
    path = folder / "huge-int.json"
    path.write_text('{"rules": [{"amount": ' + "9" * 5000 + "}]}")
    return path


def _not_utf8(folder: Path) -> Path:
    path = folder / "latin1.toml"
    path.write_bytes(SCENARIO.read_bytes().replace(b"single-cosigner", b"caf\xe9", 1))
    return path


def _too_big(folder: Path) -> Path:
    path = folder / "big.toml"
    with path.open("wb") as handle:
        handle.truncate(MAX_INPUT_BYTES + 1)  # sparse: the size is refused before reading
    return path


def _fifo(folder: Path) -> Path:
    path = folder / "pipe.toml"
    os.mkfifo(path)
    return path


def _folder(folder: Path) -> Path:
    path = folder / "dir.toml"
    path.mkdir()
    return path


def _device(folder: Path) -> Path:
    return Path("/dev/zero")


FILES: dict[str, tuple[Callable[[Path], Path], str]] = {
    "arrays nested thousands deep": (_deep_array, f"at most {MAX_NESTING} levels"),
    "tables nested thousands deep": (_deep_table, f"at most {MAX_NESTING} levels"),
    "an integer beyond the digit limit": (_huge_integer_toml, "a number is too long"),
    "invalid UTF-8": (_not_utf8, "expected UTF-8 text"),
    "a file above the size limit": (_too_big, f"may have at most {MAX_INPUT_BYTES:,}"),
    "a FIFO": (_fifo, "is a FIFO, not a regular file"),
    "a device": (_device, "is a device, not a regular file"),
    "a folder": (_folder, "is a folder"),
}

# every command that reads a scenario file, as argv with {} for the file
SCENARIO_COMMANDS = {
    "run": ["run", "{}"],
    "analyze": ["analyze", "{}"],
    "explore": ["explore", "{}", "--budget", "1", "--out", "{out}"],
    "policy lint": ["policy", "lint", "{}"],
    "policy eval --scenario": ["policy", "eval", str(SCENARIO), "--scenario", "{}", "--tx", TX % '"1"'],
}


def _cli(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _assert_clean_refusal(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err
    assert err.startswith("error: ") or err.lstrip().startswith(("error", "  ")), err
    for needle in needles:
        assert needle in err, err


@pytest.mark.parametrize("command", SCENARIO_COMMANDS)
@pytest.mark.parametrize("case", FILES)
def test_hostile_scenario_files_exit_2_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, case: str
) -> None:
    make, message = FILES[case]
    path = make(tmp_path)
    if command.startswith("policy") and case in ("a FIFO", "a folder"):
        path = path.rename(path.with_suffix(".toml")) if path.suffix != ".toml" else path
    out = tmp_path / "out.toml"
    argv = [a.replace("{}", str(path)).replace("{out}", str(out)) for a in SCENARIO_COMMANDS[command]]
    code, _, err = _cli(capsys, argv)
    _assert_clean_refusal(code, err, str(path), message)
    assert not out.exists()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (_deep_json, f"at most {MAX_NESTING} levels"),
        (_huge_integer_json, "too long"),
    ],
)
def test_hostile_policy_json_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make: Callable[[Path], Path], message: str
) -> None:
    path = make(tmp_path)
    code, _, err = _cli(capsys, ["policy", "lint", str(path)])
    _assert_clean_refusal(code, err, str(path), message)


def test_a_bom_is_accepted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + SCENARIO.read_bytes())
    code, _, err = _cli(capsys, ["analyze", str(path)])
    assert code == 0, err
    policy = tmp_path / "bom.json"
    policy.write_bytes(b'\xef\xbb\xbf{"rules": [{"action": "ALLOW"}]}')
    code, _, err = _cli(capsys, ["policy", "lint", str(policy)])
    assert code in (0, 1), err


@pytest.mark.parametrize(
    ("tx", "message"),
    [
        (TX % '"1e999999999"', "field 'amount': expected a number below 10^60, got '1e999999999'"),
        (TX % ("9" * 5000), "too long"),
        ("[" * 50_000 + "]" * 50_000, f"at most {MAX_NESTING} levels"),
    ],
    ids=["decimal overflow", "huge integer", "deep nesting"],
)
def test_hostile_tx_exits_2(capsys: pytest.CaptureFixture[str], tx: str, message: str) -> None:
    code, _, err = _cli(capsys, ["policy", "eval", str(SCENARIO), "--tx", tx])
    _assert_clean_refusal(code, err, "--tx", message)
    assert len(err) < 400  # long values are shortened


@pytest.mark.parametrize("option", ["--tx", "--history"])
@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: _write(d / "bad.json", b'{"a": "\xff"}'), "expected UTF-8 text"),
        (_fifo, "a FIFO"),
        (_device, "a device"),
    ],
    ids=["invalid UTF-8", "FIFO", "device"],
)
def test_hostile_tx_and_history_files_exit_2(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    option: str,
    make: Callable[[Path], Path],
    message: str,
) -> None:
    path = make(tmp_path)
    argv = ["policy", "eval", str(SCENARIO), "--tx", f"@{path}" if option == "--tx" else TX % '"1"']
    if option == "--history":
        argv += ["--history", str(path)]
    code, _, err = _cli(capsys, argv)
    _assert_clean_refusal(code, err, str(path), message)


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_history_lines_split_on_newline_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A raw U+2028 inside a JSON string is valid JSON, not a line break."""
    history = tmp_path / "history.jsonl"
    line = TX.replace('"ops"', '"ops\u2028"') % '"1"'
    history.write_text(line + "\n", encoding="utf-8")
    code, _, err = _cli(
        capsys, ["policy", "eval", str(SCENARIO), "--tx", TX % '"2"', "--history", str(history)]
    )
    assert code == 2
    assert "line 1, field 'initiator'" in err  # the whole line was read as one object
    assert "invalid JSON" not in err


@pytest.mark.parametrize("seed", ["-1", str(2**63), "9" * 30])
@pytest.mark.parametrize("command", ["run", "explore"])
def test_command_line_seed_is_checked_like_the_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], seed: str, command: str
) -> None:
    argv = [command, str(SCENARIO), "--seed", seed]
    if command == "explore":
        argv += ["--budget", "1", "--out", str(tmp_path / "c.toml")]
    code, _, err = _cli(capsys, argv)
    _assert_clean_refusal(code, err, "--seed must be between 0 and 2^63-1")


# -- outputs ----------------------------------------------------------------------------------------------


def _scenario_copy(folder: Path) -> Path:
    path = folder / "s.toml"
    path.write_bytes(SCENARIO.read_bytes())
    return path


OUTPUTS: dict[str, tuple[Callable[[Path, Path], Path], str]] = {
    "the scenario itself": (lambda d, s: s, "would overwrite an input"),
    "a symlink to the scenario": (lambda d, s: _symlink(d / "link.json", s), "would overwrite an input"),
    "a folder": (lambda d, s: _folder(d), "is a folder"),
    "a FIFO": (lambda d, s: _fifo(d), "is not a regular file"),
    "a symlink to a FIFO": (lambda d, s: _symlink(d / "fifo-link.json", _fifo(d)), "is not a regular file"),
    "a device": (lambda d, s: Path("/dev/null"), "is not a regular file"),
    "a missing folder": (lambda d, s: d / "nowhere" / "r.json", "does not exist"),
}


def _symlink(link: Path, target: Path) -> Path:
    link.symlink_to(target)
    return link


@pytest.mark.parametrize("option", ["--json", "--trace", "--html"])
@pytest.mark.parametrize("case", OUTPUTS)
def test_run_refuses_outputs_that_destroy_or_cannot_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, case: str
) -> None:
    scenario = _scenario_copy(tmp_path)
    before = scenario.read_bytes()
    out = OUTPUTS[case][0](tmp_path, scenario)
    code, _, err = _cli(capsys, ["run", str(scenario), option, str(out)])
    _assert_clean_refusal(code, err, option, OUTPUTS[case][1])
    assert scenario.read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_explore_refuses_out_on_the_scenario(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = _scenario_copy(tmp_path)
    before = scenario.read_bytes()
    code, _, err = _cli(capsys, ["explore", str(scenario), "--budget", "1", "--out", str(scenario)])
    _assert_clean_refusal(code, err, "--out", "would overwrite an input")
    assert scenario.read_bytes() == before


def test_two_outputs_on_one_path_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "same.out"
    code, _, err = _cli(capsys, ["run", str(SCENARIO), "--json", str(out), "--trace", str(out)])
    _assert_clean_refusal(code, err, "the same file as --json")
    assert not out.exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_an_unwritable_folder_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    code, _, err = _cli(capsys, ["run", str(SCENARIO), "--json", str(folder / "r.json")])
    _assert_clean_refusal(code, err, "cannot be written")


def test_outputs_are_written_together_with_one_mode(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = {option: tmp_path / f"r{option.replace('-', '.')}" for option in ("--json", "--trace", "--html")}
    argv = ["run", str(SCENARIO)] + [a for option, p in paths.items() for a in (option, str(p))]
    code, _, err = _cli(capsys, argv)
    assert code in (0, 1), err
    modes = {stat.S_IMODE(p.stat().st_mode) for p in paths.values()}
    assert modes == {0o644}
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths.values())


# -- URLs, handler targets, and the runtime commands' arguments (item 1) --------------------------------


def _with_handler(folder: Path, table: str) -> Path:
    """single-cosigner with its signer behind callback `cb`, given as `table`."""
    text = SCENARIO.read_text().replace('role = "SIGNER"', 'role = "SIGNER"\ncallback = "cb"')
    path = folder / "handler.toml"
    path.write_text(text + f"\n[callbacks.cb]\n{table}\n")
    return path


HANDLERS = {
    "a URL with a bracket left open": ('url = "https://[::1"', ["callbacks.cb.url", "Invalid IPv6 URL"]),
    "a URL with a port out of range": ('url = "https://h:99999"', ["callbacks.cb.url", "port"]),
    "a python target that is not callable": ('python = "os:sep"', ["'os:sep' is a str, not a callable"]),
    "a python target taking no argument": (
        'python = "os:getcwd"',
        ["cannot be called with the request dict"],
    ),
    "an asgi target that is a function": ('asgi = "os:getcwd"', ["not an ASGI app"]),
    "an asgi target that is a module": ('asgi = "json:decoder"', ["is a module, not an ASGI app"]),
}


@pytest.mark.parametrize("case", HANDLERS)
@pytest.mark.parametrize("command", ["run", "analyze"])
def test_hostile_handlers_exit_2_naming_the_callback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str, command: str
) -> None:
    table, needles = HANDLERS[case]
    path = _with_handler(tmp_path, table)
    code, _, err = _cli(capsys, [command, str(path)])
    if command == "analyze" and "callbacks.cb.url" not in needles[0]:
        assert code in (0, 1), err  # analyze reads the file; importing handlers is the run's business
        return
    _assert_clean_refusal(code, err, *needles)
    assert "callback cb" in err or "callbacks.cb" in err


def _runtime_commands(folder: Path) -> dict[str, tuple[list[str], list[str]]]:
    home = folder / "home"
    return {
        "up --webhook": (
            ["up", "single-cosigner", "--webhook", "https://[::1", "--workdir", str(folder / "w")],
            ["--webhook 'https://[::1'", "Invalid IPv6 URL"],
        ),
        "up --api": (["up", "single-cosigner", "--api", "[::1"], ["--api", "IPv6 host must be in brackets"]),
        "up --workdir": (
            ["up", "single-cosigner", "--api", "127.0.0.1:0", "--workdir", "/dev/null/x"],
            ["--workdir /dev/null/x", "cannot write the credentials"],
        ),
        "node hardware --home": (
            ["node", "hardware", "--home", "/dev/null"],
            ["--home /dev/null: not a folder"],
        ),
        "node setup --saas": (
            ["node", "setup", "--home", str(home), "--saas", "[::1", "--token", "t"],
            ["--saas", "IPv6 host must be in brackets"],
        ),
        "node setup --saas-cert": (
            [
                "node",
                "setup",
                "--home",
                str(home),
                "--saas",
                "127.0.0.1:1",
                "--token",
                "t",
                "--saas-cert",
                "/dev/zero",
            ],
            ["/dev/zero", "--saas-cert file"],
        ),
        "node start without a profile": (
            ["node", "start", "--home", str(home), "--saas", "127.0.0.1:1"],
            ["hardware.json: no hardware profile"],
        ),
        "node logs -5": (
            ["node", "logs", "--home", str(home), "-5"],
            ["the number of lines must be 0 or more"],
        ),
        "callback serve --bind": (["callback", "serve", "--bind", "[::1"], ["--bind", "IPv6 host"]),
        "callback serve --jwt-key": (
            ["callback", "serve", "--bind", "127.0.0.1:0", "--jwt-key", "/dev/zero"],
            ["/dev/zero", "--jwt-key file"],
        ),
        "callback serve --cert alone": (
            ["callback", "serve", "--bind", "127.0.0.1:0", "--cert", str(SCENARIO)],
            ["--cert and --tls-key go together"],
        ),
        "callback serve --latency": (
            ["callback", "serve", "--bind", "127.0.0.1:0", "--latency", "nan"],
            ["--latency", "got nan"],
        ),
        "saas serve --gateway": (
            [
                "saas",
                "serve",
                "--state",
                str(folder / "st"),
                "--cert",
                "c",
                "--key",
                "k",
                "--gateway",
                "[::1",
            ],
            ["--gateway", "IPv6 host"],
        ),
        "proxy serve --target": (
            ["proxy", "serve", "--target", "[::1", "--ready", str(folder / "ready")],
            ["--target", "IPv6 host"],
        ),
        "keys --out": (["keys", "single-cosigner", "--out", "/dev/null"], ["--out /dev/null: not a folder"]),
        "sweep --scheduler": (
            ["sweep", "single-cosigner", "--seeds", "1", "--scheduler", "tcp://[::1"],
            ["--scheduler 'tcp://[::1'", "not a scheduler address"],
        ),
        "sweep --seeds": (["sweep", "single-cosigner", "--seeds", "1.." + "9" * 40], ["--seeds", "go up to"]),
    }


@pytest.mark.parametrize("case", sorted(_runtime_commands(Path("/x"))))
def test_runtime_commands_refuse_hostile_arguments_before_starting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    argv, needles = _runtime_commands(tmp_path)[case]
    code, _, err = _cli(capsys, argv)
    _assert_clean_refusal(code, err, *needles)
    assert "NoneType" not in err and len(err) < 2000
    assert not (tmp_path / "ready").exists() and not (tmp_path / "w").exists()


@pytest.mark.parametrize(
    ("value", "needle"),
    [(None, "got null"), (["*", "x" * 10_000], "… (10002 characters)"), (10**40, "got 1" + "0" * 40)],
    ids=["null", "a long string", "a long number"],
)
def test_policy_messages_quote_values_short_and_in_the_file_s_words(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: object, needle: str
) -> None:
    from tests.policy.test_seed_methods import METHOD_2_FIREBLOCKS

    export = json.loads(json.dumps(METHOD_2_FIREBLOCKS))
    export["rules"][0]["dst"] = {"ids": [value if isinstance(value, list) else [value]]}
    path = tmp_path / "export.json"
    path.write_text(json.dumps(export))
    code, _, err = _cli(capsys, ["policy", "lint", str(path)])
    _assert_clean_refusal(code, err, str(path), "dst.ids[0]", needle)
    assert "NoneType" not in err and len(err) < 1000
