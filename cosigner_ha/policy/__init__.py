"""Transaction Authorization Policy: model, loaders, first-match evaluator, ledger, validator, lint.

Imports nothing else of ours."""
