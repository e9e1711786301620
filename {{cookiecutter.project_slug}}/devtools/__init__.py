"""Tools for working on the app locally: an embedded PostgreSQL and the `make dev` server."""
