"""`python -m services.training`: serve the training service."""

from services.kit.server import run
from services.training.app import create_app
from services.training.settings import TrainingSettings

if __name__ == "__main__":
    run(create_app, TrainingSettings())
