"""A local fake of FCM HTTP v1 and APNs HTTP/2 that records what it receives (dev and tests)."""
