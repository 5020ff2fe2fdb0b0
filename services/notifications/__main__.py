"""`python -m services.notifications`: serve the notifications service."""

from services.kit.server import run
from services.notifications.app import create_app
from services.notifications.settings import NotificationsSettings

if __name__ == "__main__":
    run(create_app, NotificationsSettings())
