"""GraphQL object types, one per file."""
