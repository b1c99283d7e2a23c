"""A local Fireblocks REST API (`/v1`) over the SaaS simulator, for the official `fireblocks` SDK.

`server.build_app(RestApi(saas, workspace, credentials))` is a Starlette app: authentication as Fireblocks does it
(auth.py), transactions, vault accounts and external wallets, the TAP policy, the Co-signers API and API
users, with Fireblocks' error bodies; `WebhookNotifier` posts signed transaction webhooks. See
docs/rest-api.md.
"""

from cosigner_ha.saas_sim.rest.app import PREFIX, RestApi
from cosigner_ha.saas_sim.rest.auth import ApiCredential, Authenticator, load_public_key
from cosigner_ha.saas_sim.rest.balances import Balances

__all__ = ["PREFIX", "ApiCredential", "Authenticator", "Balances", "RestApi", "load_public_key"]
