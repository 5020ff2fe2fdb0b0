"""`python -m services.notifications`: serve the notifications service."""

from services.notifications.app import create_app
from services.notifications.settings import NotificationsSettings
from services.kit.server import run

if __name__ == "__main__":
    run(create_app, NotificationsSettings())  # type: ignore[arg-type]
