"""The customer's reference callback handler: a server the co-signer calls, not a part of the node.

See docs/node.md (callback handlers). The `cosigner-ha callback serve` command lives in
`cosigner_ha.callback_handler.cli` (not imported here).
"""

from cosigner_ha.callback_handler.handler import HandlerRules, ReferenceHandler, amount_usd, serve

__all__ = ["HandlerRules", "ReferenceHandler", "amount_usd", "serve"]
