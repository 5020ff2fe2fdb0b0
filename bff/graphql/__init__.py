"""The GraphQL API: one schema, a per-request context, one type per file."""
