"""The operator surface: an admin API under /admin/v1 with its own scoped tokens, its audit
log, and a CLI over it (`python -m bff.admin`)."""
