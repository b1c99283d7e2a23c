"""The customer's callback handlers as the simulated world runs them: scripted reference handlers, the
user's own Python callables and ASGI apps (imported, hosted, delayed by their configured latency), and the
checks a scenario's callback faults must pass. Apart from world.py, which wires them to the nodes."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import jwt

from cosigner_ha.cluster.scenario import (
    AsgiCallback,
    PythonCallback,
    Scenario,
    ScriptedCallback,
    UrlCallback,
)
from cosigner_ha.env import Environment
from cosigner_ha.handler.reference import HandlerRules, RecentCounts, ReferenceHandler
from cosigner_ha.node.asgi_host import AsyncioAsgiHost, is_asgi_app
from cosigner_ha.node.callback import HandlerDirectory, InProcessHandler
from cosigner_ha.node.records import CallbackSettings
from cosigner_ha.node.rsa_keys import generate_rsa_key, load_private_key_pem


class WorldError(ValueError):
    """The scenario cannot be built (an import target that does not exist, say): exit 2, nothing ran."""


@dataclasses.dataclass
class CallbackRuntime:
    """A callback handler as the world runs it: where nodes reach it, and the knobs faults turn."""

    name: str
    url: str
    settings: CallbackSettings
    reference: ReferenceHandler | None = None  # the scripted handler, whose rules faults change
    site: str | None = None
    outages: int = 0  # site outages now covering its site

    def available(self) -> bool:
        return self.outages == 0


def check_callback_faults(scenario: Scenario, callbacks: dict[str, CallbackRuntime]) -> None:
    """A `callback` fault changes a scripted handler's answers; user code (Python, ASGI) answers what it
    answers, so a fault on it is refused before the run rather than halfway through."""
    for index, fault in enumerate(scenario.faults):
        if fault.callback is not None and callbacks[fault.callback].reference is None:
            kind = type(scenario.callback(fault.callback)).__name__.removesuffix("Callback").lower()
            raise WorldError(
                f"{scenario.origin}: faults[{index}].callback: {fault.callback!r} is a {kind} handler; "
                "a callback fault acts on a scripted handler (latency, action, ...) only"
            )


def import_target(target: str, what: str, path: Path | None = None) -> Any:
    """The handler object; `path` (its folder) joins the import path for the run, lazy imports included."""
    if path is not None and str(path) not in sys.path:
        sys.path.insert(0, str(path))
    module_name, _, attribute = target.partition(":")
    try:
        return getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise WorldError(f"callback {what}: cannot import {target!r}: {exc}") from None
    except (Exception, SystemExit) as exc:  # the module itself failed while importing
        raise WorldError(f"callback {what}: importing {target!r} raised {describe(exc)}") from None


def describe(error: BaseException) -> str:
    if isinstance(error, SystemExit):
        return f"SystemExit({error.code!r})"
    return f"{type(error).__name__}: {error}"


def _handler_delay(env: Environment, spec: PythonCallback | AsgiCallback) -> Callable[[], float] | None:
    """The configured latency plus jitter drawn from the seed, per attempt; None when both are zero."""
    if not spec.latency and not spec.jitter:
        return None
    rng = env.rng(f"callback/{spec.name}/latency")
    return lambda: spec.latency + (rng.uniform(0, spec.jitter) if spec.jitter else 0.0)


class SilentFirstAttempts:
    """ASGI middleware: the first `n` attempts of each request get no answer (`timeout_first_n`).

    An attempt is a POST; its request is the `requestId` (or `txId`) inside the body, a JWT or plain JSON.
    The node gives up at its callback deadline, then retries or reports the failure; a later attempt of
    the same request reaches the handler behind this.
    """

    def __init__(self, app: Any, n: int, sleep: Callable[[float], Awaitable[None]], *, hang: float) -> None:
        self.app = app
        self.n = n
        self.sleep = sleep
        self.hang = hang
        self.attempts = RecentCounts()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        messages = [await receive()]
        while messages[-1].get("more_body", False):
            messages.append(await receive())
        request = _request_id(b"".join(m.get("body", b"") for m in messages))
        if self.attempts.add(request) <= self.n:
            await self.sleep(self.hang)
        replay = iter(messages)

        async def again() -> Any:
            return next(replay, {"type": "http.disconnect"})

        await self.app(scope, again, send)


def _request_id(body: bytes) -> str:
    try:
        text = body.decode()
        data = (
            json.loads(text)
            if text.lstrip().startswith("{")
            else jwt.decode(text.strip(), options={"verify_signature": False})
        )
    except (UnicodeDecodeError, ValueError, jwt.PyJWTError):
        return ""
    if not isinstance(data, dict):
        return ""
    return str(data.get("requestId") or data.get("txId") or "")


def build_callbacks(
    scenario: Scenario, env: Environment, directory: HandlerDirectory, hosts: dict[str, AsyncioAsgiHost]
) -> dict[str, CallbackRuntime]:
    built: dict[str, CallbackRuntime] = {}
    for spec in scenario.callbacks:
        url = f"https://callback-{spec.name}.sim"
        if isinstance(spec, ScriptedCallback) and spec.private_key is not None:
            key = load_private_key_pem(spec.private_key.pem.encode(), what=str(spec.private_key.path))
        else:
            key = generate_rsa_key(env.child(f"callback/{spec.name}").randbytes)
        if isinstance(spec, ScriptedCallback):
            jitter_rng = env.rng(f"callback/{spec.name}/latency")

            async def sleep(seconds: float, _spec: ScriptedCallback = spec, _rng: Any = jitter_rng) -> None:
                await env.clock.sleep(seconds + (_rng.uniform(0, _spec.jitter) if _spec.jitter else 0.0))

            rules = HandlerRules(
                action=str(spec.action),
                latency=spec.latency,
                reject_above_usd=spec.reject_above_usd,
                retry_first=spec.retry_first_n,
            )
            handler = ReferenceHandler(rules, key=key, sleep=sleep)
            app: Any = handler.app
            if spec.timeout_first_n:
                app = SilentFirstAttempts(app, spec.timeout_first_n, env.clock.sleep, hang=rules.hang)
            directory.register(url, InProcessHandler(app=app))
            settings = CallbackSettings(url=url, public_key=handler.public_key)
            built[spec.name] = CallbackRuntime(spec.name, url, settings, handler)
        elif isinstance(spec, PythonCallback):
            function = import_target(spec.target, spec.name, spec.path)
            if not callable(function):
                raise WorldError(
                    f"callback {spec.name}: {spec.target!r} is a {type(function).__name__}, not a callable; "
                    "expected a function taking the request dict and returning the response dict"
                )
            _check_takes_one(function, spec)
            directory.register(url, InProcessHandler(function=function, delay=_handler_delay(env, spec)))
            settings = CallbackSettings(url=url, public_key=ReferenceHandler(key=key).public_key)
            built[spec.name] = CallbackRuntime(spec.name, url, settings)
        elif isinstance(spec, AsgiCallback):
            app = import_target(spec.target, spec.name, spec.path)
            if not is_asgi_app(app):
                raise WorldError(
                    f"callback {spec.name}: {spec.target!r} is a {type(app).__name__}, not an ASGI app; "
                    "expected an async callable (scope, receive, send), such as a Starlette or FastAPI app"
                )
            delay = _handler_delay(env, spec)
            if spec.loop == "asyncio":
                host = AsyncioAsgiHost(app, base_url=url)
                hosts[spec.name] = host
                directory.register(url, InProcessHandler(host=host, delay=delay))
            else:
                directory.register(url, InProcessHandler(app=app, delay=delay))
            public = spec.public_key.pem if spec.public_key else ReferenceHandler(key=key).public_key
            settings = CallbackSettings(url=url, public_key=public)
            built[spec.name] = CallbackRuntime(spec.name, url, settings)
        else:
            assert isinstance(spec, UrlCallback)
            raise WorldError(
                f"callback {spec.name}: a url handler ({spec.url}) needs the runtime, not the simulator"
            )
        runtime = built[spec.name]
        if spec.site is not None:  # a site outage above it takes it down
            runtime.site = spec.site
            registered = directory.lookup(url)
            assert registered is not None
            directory.register(url, dataclasses.replace(registered, available=runtime.available))
    return built


def _check_takes_one(function: Any, spec: PythonCallback) -> None:
    """A handler is called with one argument, the request dict: one that cannot take it is refused before
    the run, not found failing on every request (a signature Python cannot read is given the benefit)."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return
    try:
        signature.bind({})
    except TypeError as exc:
        raise WorldError(
            f"callback {spec.name}: {spec.target!r} cannot be called with the request dict ({exc}); "
            "expected a function taking the request dict and returning the response dict"
        ) from None
