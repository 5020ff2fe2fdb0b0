"""`python -m bff`: serve the BFF."""

from bff.app import create_app
from bff.settings import BffSettings
from services.kit.server import run

if __name__ == "__main__":
    run(create_app, BffSettings())
