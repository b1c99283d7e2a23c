"""The custody SaaS simulator. Never imports `cosigner_ha.node`."""
