"""What training tests set up: settings, job rows, a datasets API and CSV files."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from services.kit.clock import utc_now
from services.training.settings import TrainingSettings
from services.training.tables import Job
from tests.support.apps import service_headers
from tests.support.settings import make_settings

ALICE = "user-alice"
BOB = "user-bob"


def training_settings(data_dir: Path, **overrides: Any) -> TrainingSettings:
    """Test settings of the training service; the worker is off unless a test turns it on."""
    values: dict[str, Any] = {"log_json": False, "worker_enabled": False, **overrides}
    return make_settings(TrainingSettings, data_dir, **values)


def new_job(**overrides: Any) -> Job:
    """A queued job row as the API would store it."""
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "owner_id": ALICE,
        "status": "queued",
        "dataset_id": uuid.uuid4(),
        "dataset_version": 1,
        "target": "label",
        "features": ["size"],
        "column_types": {"size": "number", "label": "string"},
        "task": "classification",
        "model": "logistic_regression",
        "model_name": "label (logistic_regression)",
        "hyperparameters": {},
        "validation_split": 0.2,
        "seed": 0,
        "created_at": utc_now(),
        "attempts": 0,
        "cancel_requested": False,
    }
    values.update(overrides)
    return Job(**values)


@dataclass
class DatasetsApi:
    """The real datasets service on a loopback port, as a test fills it."""

    base_url: str

    async def upload_csv(self, user: str, csv: str, filename: str = "data.csv") -> dict[str, Any]:
        """Upload a CSV in chunks as `user`; the DatasetVersion it became."""
        data = csv.encode()
        headers = service_headers("datasets", user)
        async with httpx.AsyncClient(base_url=self.base_url + "/internal/v1") as client:
            created = await client.post(
                "/uploads",
                headers=headers,
                json={
                    "filename": filename,
                    "size": len(data),
                    "sha256": hashlib.sha256(data).hexdigest(),
                },
            )
            assert created.status_code == 201, created.text
            upload = created.json()
            size = upload["chunk_size"]
            for n in range(upload["chunk_count"]):
                chunk = data[n * size : (n + 1) * size]
                sent = await client.put(
                    f"/uploads/{upload['upload_id']}/chunks/{n}",
                    content=chunk,
                    headers={**headers, "X-Chunk-SHA256": hashlib.sha256(chunk).hexdigest()},
                )
                assert sent.status_code == 200, sent.text
            done = await client.post(f"/uploads/{upload['upload_id']}/complete", headers=headers)
            assert done.status_code == 201, done.text
            version: dict[str, Any] = done.json()
            return version


def people_csv(rows: int = 40) -> str:
    """Rows with a number, a category with gaps, a boolean, a two-class label and a score."""
    lines = ["age,city,member,bought,spend,constant"]
    cities = ["paris", "oslo", "", "rome"]
    for i in range(rows):
        age = 20 + (i * 7) % 45
        bought = "yes" if (age > 40) != (i % 9 == 0) else "no"
        member = "true" if i % 3 else "false"
        lines.append(f"{age},{cities[i % 4]},{member},{bought},{age * 2.5 + i % 5},same")
    return "\n".join(lines) + "\n"
