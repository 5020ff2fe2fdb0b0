"""Remote app config: version gate, maintenance mode and feature flags, kept in the BFF's DB."""
