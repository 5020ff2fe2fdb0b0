"""`python -m services.fake_push`: serve the fake FCM/APNs provider (h2c and HTTP/1.1)."""

from services.fake_push.app import create_app
from services.fake_push.settings import FakePushSettings
from services.kit.server import run

if __name__ == "__main__":
    run(create_app, FakePushSettings())
