"""`python -m services.datasets`: serve the datasets service."""

from services.datasets.app import create_app
from services.datasets.settings import DatasetsSettings
from services.kit.server import run

if __name__ == "__main__":
    run(create_app, DatasetsSettings())
