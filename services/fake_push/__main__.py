"""`python -m services.fake_push`: serve the fake FCM/APNs provider (h2c and HTTP/1.1)."""

from services.fake_push.app import create_app
from services.fake_push.provider_streams import provider_h2_protocol
from services.fake_push.settings import FakePushSettings
from services.kit.server import run

if __name__ == "__main__":
    settings = FakePushSettings()
    app = create_app(settings)
    run(lambda _settings: app, settings, provider_h2_protocol(app.state.provider_routes))
