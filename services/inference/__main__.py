"""`python -m services.inference`: serve the inference service."""

from services.inference.app import create_app
from services.inference.settings import InferenceSettings
from services.kit.server import run

if __name__ == "__main__":
    run(create_app, InferenceSettings())
