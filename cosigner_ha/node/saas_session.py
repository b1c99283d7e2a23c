"""The node's session with the SaaS: access tokens from the paired users' refresh tokens, and calls that
refresh once on a token refusal and retry while the SaaS is unreachable."""

from __future__ import annotations

from collections.abc import Callable

from cosigner_ha.node.errors import (
    SaasError,
    SaasUnreachable,
)
from cosigner_ha.node.lifecycle import Lifecycle
from cosigner_ha.wire import (
    Error,
    RefreshAccess,
    Request,
    Response,
    TokenGrant,
)


class SaasSession(Lifecycle):
    """Token-authenticated requests to the SaaS."""

    def _cached_token(self) -> str:
        """The access token while it is good for more than `token_margin` seconds, else ""."""
        proc = self.proc
        if proc.token and proc.token_expires - self.config.token_margin > self.env.clock.wall():
            return proc.token
        return ""

    async def _access_token(self) -> str:
        # Every request asks for the token and it is almost always still good: read without the lock,
        # which only has to keep refreshes from overlapping (taking it is a schedule point each time).
        token = self._cached_token()
        if token:
            return token
        async with self.proc.token_lock:
            token = self._cached_token()  # another task may have refreshed it while this one waited
            if token:
                return token
            for user in self._users():
                answer = await self.saas.request(RefreshAccess(self.cosigner_id, user.refresh_token))
                if isinstance(answer, TokenGrant):
                    self.proc.token, self.proc.token_expires = answer.access_token, answer.expires_at
                    self.env.trace.record("token_refreshed", node=self.name, expires_at=answer.expires_at)
                    return self.proc.token
                if isinstance(answer, Error) and answer.code == "TOKEN_REVOKED":
                    self._unpair(user.api_user, f"the SaaS revoked its refresh token ({answer.message})")
                    continue
                code = answer.code if isinstance(answer, Error) else answer.TYPE
                raise SaasError(f"refreshing the access token failed: {code}", code=code)
            raise SaasError("no paired API user has a refresh token", code="NOT_PAIRED")

    async def _call(self, make: Callable[[str], Request], *, until: float | None = None) -> Response:
        """Send a request that needs the access token; refresh once on a token refusal; retry when the
        SaaS is unreachable until `until` (wall clock), if given."""
        backoff = self.config.backoff_min
        refreshed = False
        while True:
            try:
                answer = await self.saas.request(make(await self._access_token()))
            except SaasUnreachable:
                if until is None or self.env.clock.wall() + backoff > until:
                    raise
                await self.env.clock.sleep(backoff)
                backoff = min(backoff * 2, self.config.backoff_max)
                continue
            if isinstance(answer, Error) and answer.code.startswith("TOKEN") and not refreshed:
                self.proc.token = ""
                refreshed = True
                continue
            return answer
