"""User accounts and sessions: passwords, access tokens, rotating refresh tokens."""
