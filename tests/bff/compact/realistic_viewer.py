"""A factory of one realistic viewer's dashboard: what a busy user of a real ML app sees.

50 datasets of 8 kinds (each with its own columns), 12 models, 200 training jobs with the
hyperparameters, metrics and error messages our training service really produces, and 100
notifications shaped like the ones the services send (70 unread). Values are random where real
ones are (ids, full-precision metrics, timestamps), so the bench's byte counts are not flattered.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bff.dashboard import Dashboard, Section
from proto.datasets import ColumnSchema, Dataset
from proto.inference import FeatureSpec, Model
from proto.notifications import Notification
from proto.training import TrainingJob

DATASETS = 50
MODELS = 12
JOBS = 200
NOTIFICATIONS = 100
UNREAD = 70


@dataclass(frozen=True)
class _Kind:
    """A kind of dataset people upload again and again (monthly exports, cleaned copies)."""

    stems: tuple[str, ...]
    columns: tuple[tuple[str, str], ...]  # (name, type), the target last
    task: str
    model_names: tuple[str, ...]
    rows: tuple[int, int]


_KINDS = (
    _Kind(
        ("churn_export_{month}", "customers_{month}_cleaned", "telco_churn"),
        (
            ("customer_id", "string"),
            ("age", "integer"),
            ("tenure_months", "integer"),
            ("monthly_charges", "number"),
            ("total_charges", "number"),
            ("contract", "string"),
            ("payment_method", "string"),
            ("internet_service", "string"),
            ("churned", "boolean"),
        ),
        "classification",
        ("Churn predictor", "churn-rf"),
        (2_000, 120_000),
    ),
    _Kind(
        ("house_prices_train", "listings_{month}", "Ames housing (no outliers)"),
        (
            ("listing_id", "string"),
            ("lot_area", "number"),
            ("year_built", "integer"),
            ("overall_quality", "integer"),
            ("neighborhood", "string"),
            ("bedrooms", "integer"),
            ("bathrooms", "number"),
            ("garage_cars", "integer"),
            ("listed_at", "datetime"),
            ("sale_price", "number"),
        ),
        "regression",
        ("House price estimate",),
        (1_400, 30_000),
    ),
    _Kind(
        ("support_tickets_{month}", "zendesk_export_{month}"),
        (
            ("ticket_id", "string"),
            ("opened_at", "datetime"),
            ("channel", "string"),
            ("product", "string"),
            ("first_response_minutes", "number"),
            ("reopened", "boolean"),
            ("priority", "string"),
        ),
        "classification",
        ("Ticket priority", "ticket-triage-mlp"),
        (5_000, 200_000),
    ),
    _Kind(
        ("loan_applications_{month}", "credit_risk_sample"),
        (
            ("applicant_id", "string"),
            ("income", "number"),
            ("loan_amount", "number"),
            ("term_months", "integer"),
            ("employment_years", "number"),
            ("home_ownership", "string"),
            ("purpose", "string"),
            ("credit_score", "integer"),
            ("defaulted", "boolean"),
        ),
        "classification",
        ("Default risk",),
        (10_000, 150_000),
    ),
    _Kind(
        ("iris", "iris (copy)"),
        (
            ("sepal_length", "number"),
            ("sepal_width", "number"),
            ("petal_length", "number"),
            ("petal_width", "number"),
            ("species", "string"),
        ),
        "classification",
        ("Iris species",),
        (150, 150),
    ),
    _Kind(
        ("app_sessions_{month}",),
        (
            ("user_id", "string"),
            ("session_start", "datetime"),
            ("device", "string"),
            ("os_version", "string"),
            ("screens_viewed", "integer"),
            ("duration_s", "number"),
            ("country", "string"),
            ("crashed", "boolean"),
        ),
        "classification",
        ("Crash predictor",),
        (50_000, 200_000),
    ),
    _Kind(
        ("smart_meter_{month}", "energy_usage_hourly"),
        (
            ("meter_id", "string"),
            ("read_at", "datetime"),
            ("temperature_c", "number"),
            ("humidity", "number"),
            ("weekday", "integer"),
            ("holiday", "boolean"),
            ("kwh", "number"),
        ),
        "regression",
        ("Energy forecast", "kwh-gbm"),
        (8_760, 190_000),
    ),
    _Kind(
        ("winequality-red", "winequality-white"),
        (
            ("fixed_acidity", "number"),
            ("volatile_acidity", "number"),
            ("citric_acid", "number"),
            ("residual_sugar", "number"),
            ("chlorides", "number"),
            ("ph", "number"),
            ("sulphates", "number"),
            ("alcohol", "number"),
            ("quality", "integer"),
        ),
        "regression",
        ("Wine quality", "wine-mlp"),
        (1_599, 4_898),
    ),
)
_MONTHS = ("2025-07", "2025-08", "2025-09", "2025-10", "2025-11", "2025-12", "2026-01")
_MODEL_KINDS = {
    "classification": ("logistic_regression", "random_forest", "gradient_boosting", "mlp"),
    "regression": ("linear_regression", "random_forest", "gradient_boosting", "mlp"),
}
# The messages services.training.trainer raises, with the details real data gives them.
_ERRORS = (
    "target column {target!r} has fewer than 2 rows with a value",
    "column {feature!r} holds values that are not numbers",
    "the dataset could not be read: Error tokenizing data. C error: Expected {n} fields in "
    "line {line}, saw {m}",
    "the model could not be fitted: Input X contains NaN.",
    "too few rows to hold out a validation split: The test_size = {n} should be greater or "
    "equal to the number of classes = {m}",
    "training was interrupted 3 times; giving up",
)
_ANNOUNCEMENTS = (
    ("product", "Gradient boosting is here", "Train gradient-boosted trees on any dataset."),
    ("product", "Faster uploads", "Large CSVs now upload in resumable chunks on any network."),
    ("account", "New sign-in on iPhone 15", "If this was not you, sign out of all devices."),
    ("billing", "Your trial ends in 3 days", "Keep your models: pick a plan in Settings."),
)


def realistic_dashboard(seed: int = 7) -> Dashboard:
    """The whole of one viewer's data in one dashboard answer (every list newest first)."""
    rnd = random.Random(seed)
    owner = str(_uuid(rnd))
    start = datetime(2025, 9, 1, 8, tzinfo=UTC)

    def moment() -> datetime:
        return start + timedelta(seconds=rnd.uniform(0, 90 * 86400))

    datasets = [_dataset(rnd, owner, moment()) for _ in range(DATASETS)]
    kinds = {d.id: _kind_of(d) for d in datasets}
    models = _models(rnd, owner, moment)
    by_name = {m.name: m for m in models}
    jobs = [_job(rnd, owner, rnd.choice(datasets), kinds, by_name, moment()) for _ in range(JOBS)]
    jobs.sort(key=lambda j: (j.created_at, j.id), reverse=True)
    for job in jobs[:4]:  # the newest few are still waiting or training
        job.status = "queued" if job is jobs[0] else "running"
        job.finished_at = job.error = job.metrics = job.model_id = job.model_version = None
        job.started_at = None if job.status == "queued" else job.started_at
    notifications = _notifications(rnd, jobs)
    datasets.sort(key=lambda d: (d.created_at, d.id), reverse=True)
    unread = [n for n in notifications if n.read_at is None]
    return Dashboard(
        datasets=Section[Dataset](items=datasets),
        models=Section[Model](items=models),
        jobs=Section[TrainingJob](items=jobs),
        notifications=Section[Notification](items=unread),
        unread_count=len(unread),
    )


def _uuid(rnd: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rnd.getrandbits(128), version=4)


def _dataset(rnd: random.Random, owner: str, created: datetime) -> Dataset:
    kind = rnd.choice(_KINDS)
    stem = rnd.choice(kind.stems).format(month=rnd.choice(_MONTHS))
    rows = rnd.randint(*kind.rows)
    columns = [
        ColumnSchema.model_validate(
            {
                "name": name,
                "type": type_,
                "nulls": 0 if rnd.random() < 0.6 else rnd.randint(1, rows // 20 + 1),
                "distinct_estimate": _distinct(rnd, name, type_, rows),
            }
        )
        for name, type_ in kind.columns
    ]
    return Dataset(
        id=_uuid(rnd),
        name=stem,
        owner_id=owner,
        latest_version=rnd.choice((1, 1, 1, 2, 2, 3, 5)),
        row_count=rows,
        columns=columns,
        created_at=created,
        updated_at=created + timedelta(seconds=rnd.uniform(2, 40 * 86400)),
    )


def _distinct(rnd: random.Random, name: str, type_: str, rows: int) -> int:
    if type_ == "boolean":
        return 2
    if name.endswith("_id") or type_ == "datetime":
        return int(rows * rnd.uniform(0.97, 1.0))
    if type_ == "string":
        return rnd.randint(3, 40)
    return rnd.randint(min(rows, 8), rows)


def _kind_of(dataset: Dataset) -> _Kind:
    names = tuple((c.name, c.type) for c in dataset.columns)
    return next(k for k in _KINDS if k.columns == names)


def _models(rnd: random.Random, owner: str, moment: Any) -> list[Model]:
    names = [(kind, name) for kind in _KINDS for name in kind.model_names][:MODELS]
    models = []
    for kind, name in names:
        version = rnd.randint(1, 14)
        aliases = rnd.choice(
            ({}, {"production": version}, {"production": max(1, version - 1), "staging": version})
        )
        created = moment()
        models.append(
            Model(
                id=_uuid(rnd),
                name=name,
                owner_id=owner,
                task=kind.task,
                latest_version=version,
                aliases=aliases,
                features=[
                    FeatureSpec(name=c, type="string" if t == "string" else "number")
                    for c, t in kind.columns[:-1]
                    if not c.endswith("_id")
                ],
                created_at=created,
                updated_at=created + timedelta(seconds=rnd.uniform(60, 30 * 86400)),
            )
        )
    models.sort(key=lambda m: (m.updated_at, m.id), reverse=True)
    return models


def _job(
    rnd: random.Random,
    owner: str,
    dataset: Dataset,
    kinds: dict[uuid.UUID, _Kind],
    models: dict[str, Model],
    created: datetime,
) -> TrainingJob:
    kind = kinds[dataset.id]
    target = kind.columns[-1][0]
    features = [c for c, _ in kind.columns[:-1] if not c.endswith("_id")]
    if rnd.random() < 0.3:  # people try leaving a feature or two out
        features = rnd.sample(features, k=max(1, len(features) - rnd.randint(1, 2)))
    model_kind = rnd.choice(_MODEL_KINDS[kind.task])
    status = rnd.choices(("succeeded", "failed", "cancelled"), weights=(80, 14, 6))[0]
    started = created + timedelta(seconds=rnd.uniform(0.2, 20))
    finished = started + timedelta(seconds=rnd.uniform(3, 900))
    name = rnd.choice(kind.model_names)
    model = models[name]
    succeeded = status == "succeeded"
    return TrainingJob(
        id=_uuid(rnd),
        owner_id=owner,
        status=status,
        dataset_id=dataset.id,
        dataset_version=rnd.randint(1, dataset.latest_version),
        target=target,
        features=features,
        task=kind.task,
        model=model_kind,
        model_name=name,
        hyperparameters=_hyperparameters(rnd, model_kind),
        validation_split=rnd.choice((0.2, 0.2, 0.2, 0.25, 0.3, 0.1)),
        seed=rnd.choice((0, 0, 0, 42, 1234)),
        created_at=created,
        started_at=started,
        finished_at=finished,
        error=_error(rnd, target, features) if status == "failed" else None,
        metrics=_metrics(rnd, kind.task) if succeeded else None,
        model_id=model.id if succeeded else None,
        model_version=rnd.randint(1, model.latest_version) if succeeded else None,
    )


def _hyperparameters(rnd: random.Random, model_kind: str) -> dict[str, Any]:
    if rnd.random() < 0.35:
        return {}  # the defaults
    if model_kind == "logistic_regression":
        return {"C": rnd.choice((0.01, 0.1, 1.0, 10.0)), "max_iter": 1000}
    if model_kind == "linear_regression":
        return {"fit_intercept": rnd.random() < 0.8}
    if model_kind == "random_forest":
        return {
            "n_estimators": rnd.choice((100, 200, 300, 500)),
            "max_depth": rnd.choice((None, 8, 12, 16)),
            "min_samples_leaf": rnd.choice((1, 2, 5)),
        }
    if model_kind == "gradient_boosting":
        return {
            "n_estimators": rnd.choice((100, 200, 400)),
            "learning_rate": rnd.choice((0.05, 0.1, 0.2)),
            "max_depth": rnd.choice((3, 4, 6)),
        }
    return {
        "hidden_layers": rnd.choice(([64, 32], [128, 64], [256, 128, 64])),
        "epochs": rnd.choice((30, 50, 100)),
        "learning_rate": rnd.choice((0.001, 0.0005, 0.003)),
        "dropout": rnd.choice((0.0, 0.1, 0.2)),
    }


def _metrics(rnd: random.Random, task: str) -> dict[str, float]:
    if task == "regression":
        rmse = rnd.uniform(0.4, 40_000)
        return {"mae": rmse * rnd.uniform(0.6, 0.85), "rmse": rmse, "r2": rnd.uniform(0.3, 0.93)}
    held_out = rnd.randint(30, 40_000)
    accuracy = rnd.randint(int(held_out * 0.6), held_out) / held_out
    return {
        "accuracy": accuracy,
        "precision": rnd.uniform(0.5, 0.97),
        "recall": rnd.uniform(0.4, 0.95),
        "f1": rnd.uniform(0.45, 0.95),
        "roc_auc": rnd.uniform(0.6, 0.99),
    }


def _error(rnd: random.Random, target: str, features: list[str]) -> str:
    template = rnd.choice(_ERRORS)
    n = rnd.randint(5, 12)
    return template.format(
        target=target, feature=rnd.choice(features), n=n, m=n + 2, line=rnd.randint(2, 99_999)
    )


def _notifications(rnd: random.Random, jobs: list[TrainingJob]) -> list[Notification]:
    ready = [j for j in jobs if j.status == "succeeded" and j.finished_at is not None]
    items = []
    for job in ready[: NOTIFICATIONS - 15]:
        assert job.finished_at is not None
        items.append(
            Notification(  # as services.training.worker sends it
                id=_uuid(rnd),
                category="training",
                title="Your model is ready",
                data={
                    "type": "model_ready",
                    "job_id": str(job.id),
                    "model_id": str(job.model_id),
                    "model_version": str(job.model_version),
                },
                created_at=job.finished_at + timedelta(seconds=rnd.uniform(0.05, 2)),
            )
        )
    first = min(n.created_at for n in items)
    while len(items) < NOTIFICATIONS:
        category, title, body = rnd.choice(_ANNOUNCEMENTS)
        items.append(
            Notification(
                id=_uuid(rnd),
                category=category,
                title=title,
                body=body,
                data={"type": "announcement", "url": f"https://tern.dev/news/{rnd.randint(1, 40)}"},
                created_at=first + timedelta(seconds=rnd.uniform(0, 80 * 86400)),
            )
        )
    items.sort(key=lambda n: (n.created_at, n.id), reverse=True)
    read = set(rnd.sample(range(NOTIFICATIONS), NOTIFICATIONS - UNREAD))
    for index, item in enumerate(items):
        if index in read:
            item.read_at = item.created_at + timedelta(seconds=rnd.uniform(30, 3 * 86400))
    return items
