"""Foundation: errors, locations, the parameter schema and configuration, the run-directory contract, run
identity, provenance, per-machine numerics, the claims rule and tables.  Imports nothing else of mitolib."""
