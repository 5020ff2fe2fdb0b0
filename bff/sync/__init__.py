"""Delta sync and the offline queue: POST /api/v1/sync (pull), POST /api/v1/sync/push."""
