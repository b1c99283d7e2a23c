"""Token authentication: a paired node trades its refresh token for short-lived access tokens, and every
request after pairing carries a valid, current access token of a registered co-signer."""

from __future__ import annotations

from cosigner_ha import wire
from cosigner_ha.saas_sim.context import SaasContext
from cosigner_ha.saas_sim.errors import TokenForeign, TokenRevoked
from cosigner_ha.saas_sim.registry import Cosigner


class TokenAuthentication:
    def __init__(self, ctx: SaasContext) -> None:
        self.ctx = ctx

    def refresh(self, msg: wire.RefreshAccess) -> wire.TokenGrant:
        claims = self.ctx.tokens.verify(msg.refresh_token, "refresh")
        if claims.cosigner_id != msg.cosigner_id:
            raise TokenForeign(
                f"the refresh token belongs to co-signer {claims.cosigner_id!r}, not {msg.cosigner_id!r}"
            )
        cosigner = self.ctx.registry.find(msg.cosigner_id)
        pairing = None
        if cosigner is not None and not cosigner.archived:
            pairing = next(
                (
                    p
                    for p in cosigner.pairings
                    if p.api_user_id == claims.subject and p.workspace_id == claims.workspace_id
                ),
                None,
            )
        if cosigner is None or pairing is None or pairing.refresh_jti != claims.jti:
            raise TokenRevoked("the refresh token's pairing was undone (unpaired or re-enrolled)")
        token, access = self.ctx.tokens.issue_access(
            cosigner_id=cosigner.id, ttl=self.ctx.config.access_token_ttl, generation=cosigner.generation
        )
        assert access.expires_at is not None
        self.ctx.record(
            "access_granted", cosigner=cosigner.id, api_user=pairing.api_user, expires_at=access.expires_at
        )
        return wire.TokenGrant(token, access.expires_at)

    def authenticate(self, token: str, cosigner_id: str | None = None) -> Cosigner:
        """Every request after pairing: a valid, current access token of a registered co-signer."""
        claims = self.ctx.tokens.verify(token, "access")
        if cosigner_id is not None and claims.subject != cosigner_id:
            raise TokenForeign(
                f"the access token was issued to co-signer {claims.subject!r}, not {cosigner_id!r}"
            )
        cosigner = self.ctx.registry.find(claims.subject)
        if cosigner is None or cosigner.archived:
            raise TokenRevoked(f"co-signer {claims.subject!r} is no longer registered")
        if claims.raw.get("gen") != cosigner.generation or not (cosigner.pairings or cosigner.unpairing):
            raise TokenRevoked(
                f"a pairing of co-signer {cosigner.id!r} was undone since this access token was issued; refresh it"
            )
        return cosigner
