"""The API co-signer node. Never imports `cosigner_ha.saas_sim`."""
