"""Synthetic answers of each resource family, to train its compression dictionary on.

Every value is made up here from a seeded random generator (no user's data is ever read), in
the shapes the real contracts in `proto/` and the BFF's own models give the answers: entity
objects dumped by their pydantic models, random ids, timestamps with microseconds, full
precision metrics. A dictionary can only learn what repeats across users (keys, enum values,
the way ids and timestamps are written, common names); what is random stays random. The
compact samples are the same answers through the compact codec, with the key maps of the
BFF's routes (`compact_encoder`).
"""

from __future__ import annotations

import functools
import random
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from fastapi import FastAPI
from pydantic import BaseModel

from bff.compact.codec import encode
from bff.compact.schema import CompactSchema, iter_response_models
from bff.dashboard import Dashboard, Section
from bff.routes import API_ROUTES, include_api_routes
from bff.sync.cursor import SyncCursor
from bff.sync.entities import ENTITY_KINDS
from proto.common import Page
from proto.datasets import Change, ChangeFeed, ColumnSchema, Dataset, DatasetVersion, Label
from proto.inference import FeatureSpec, Model, ModelVersion
from proto.notifications import Device, Notification, Preferences, QuietHours, TopicSubscription
from proto.training import TrainingJob
from services.kit.paging import encode_cursor

Json = dict[str, Any]
Sampler = Callable[[random.Random], bytes]

# The kinds of a sync answer, in the order the sync endpoint lists them.
SYNC_KINDS = tuple(kind.name for kind in ENTITY_KINDS)
_KIND_ORDER = {kind: index for index, kind in enumerate(SYNC_KINDS)}
# How often each kind changes, relatively: labels and notifications far more than datasets.
_SYNC_WEIGHTS = (6, 3, 20, 8, 3, 3, 2, 12, 2, 2, 1, 2)

_START = datetime(2026, 1, 5, 7, tzinfo=UTC)
_SPAN_S = 200 * 86_400
_DATASET_KINDS: tuple[tuple[tuple[str, ...], tuple[tuple[str, str], ...], str], ...] = (
    (
        ("churn_export_{m}", "customers_{m}_cleaned", "telco_churn"),
        (
            ("customer_id", "string"),
            ("age", "integer"),
            ("tenure_months", "integer"),
            ("monthly_charges", "number"),
            ("contract", "string"),
            ("payment_method", "string"),
            ("churned", "boolean"),
        ),
        "classification",
    ),
    (
        ("house_prices_train", "listings_{m}"),
        (
            ("listing_id", "string"),
            ("lot_area", "number"),
            ("year_built", "integer"),
            ("neighborhood", "string"),
            ("bedrooms", "integer"),
            ("listed_at", "datetime"),
            ("sale_price", "number"),
        ),
        "regression",
    ),
    (
        ("support_tickets_{m}", "zendesk_export_{m}"),
        (
            ("ticket_id", "string"),
            ("opened_at", "datetime"),
            ("channel", "string"),
            ("product", "string"),
            ("first_response_minutes", "number"),
            ("priority", "string"),
        ),
        "classification",
    ),
    (
        ("iris", "iris (copy)", "penguins"),
        (
            ("sepal_length", "number"),
            ("sepal_width", "number"),
            ("petal_length", "number"),
            ("petal_width", "number"),
            ("species", "string"),
        ),
        "classification",
    ),
    (
        ("smart_meter_{m}", "energy_usage_hourly"),
        (
            ("meter_id", "string"),
            ("read_at", "datetime"),
            ("temperature_c", "number"),
            ("humidity", "number"),
            ("holiday", "boolean"),
            ("kwh", "number"),
        ),
        "regression",
    ),
)
_MONTHS = ("2026-01", "2026-02", "2026-03", "2026-04", "2026-05", "2026-06")
_MODEL_KINDS = {
    "classification": ("logistic_regression", "random_forest", "gradient_boosting", "mlp"),
    "regression": ("linear_regression", "random_forest", "gradient_boosting", "mlp"),
}
_MODEL_NAMES = (
    "Churn predictor",
    "churn-rf",
    "House price estimate",
    "Ticket priority",
    "Iris species",
    "Energy forecast",
)
_LABELS = ("positive", "negative", "spam", "ham", "cat", "dog", "yes", "no", "setosa", "other")
_NOTES = (None, None, None, "unsure", "check again", "duplicate row", "outlier?")
_ERRORS = (
    "target column {t!r} has fewer than 2 rows with a value",
    "column {t!r} holds values that are not numbers",
    "the model could not be fitted: Input X contains NaN.",
    "training was interrupted 3 times; giving up",
)
_ANNOUNCEMENTS = (
    ("product", "Gradient boosting is here", "Train gradient-boosted trees on any dataset."),
    ("account", "New sign-in on iPhone 15", "If this was not you, sign out of all devices."),
    ("billing", "Your trial ends in 3 days", "Keep your models: pick a plan in Settings."),
)
_LOCALES = ("en-US", "en-GB", "de-DE", "fr-FR", "es-ES", "pt-BR", "ja-JP", "nl-NL")
_TIMEZONES = (
    "Europe/Berlin",
    "America/New_York",
    "America/Los_Angeles",
    "Europe/London",
    "Asia/Tokyo",
    "America/Sao_Paulo",
    "UTC",
)
# The deployable whose change feed holds each kind (bff/sync/entities.py).
_SOURCE_OF = {
    "datasets": "datasets",
    "dataset_versions": "datasets",
    "labels": "datasets",
    "training_jobs": "training",
    "models": "inference",
    "model_versions": "inference",
    "model_aliases": "inference",
    "notifications": "notifications",
    "devices": "notifications",
    "topic_subscriptions": "notifications",
    "push_preferences": "notifications",
    "sessions": "bff",
}
_SOURCES = tuple(dict.fromkeys(_SOURCE_OF.values()))
# What services/training/trainer.py records for a scikit-learn model (the pinned versions).
_LIBRARY_VERSIONS = {
    "scikit-learn": "1.9.1",
    "skl2onnx": "1.20.0",
    "onnx": "1.23.2",
    "numpy": "2.4.6",
    "pyarrow": "26.0.1",
}
_APP_VERSIONS = ("3.4.0", "3.4.1", "3.5.0", "3.5.2", "3.6.0")
_TOPICS = ("product-news", "model-updates", "weekly-digest", "maintenance")


class _Viewer:
    """One made-up user at one moment: the ids their answers share, the rows they are
    labelling and the jobs that just finished (which the "model ready" pushes name)."""

    def __init__(self, rnd: random.Random, span_s: float = 7 * 86_400) -> None:
        self.rnd = rnd
        self.span_s = span_s
        self.owner = str(_uuid(rnd))
        self.datasets = [_uuid(rnd) for _ in range(rnd.randint(1, 8))]
        self.models = [_uuid(rnd) for _ in range(rnd.randint(1, 4))]
        self.devices = [_device_id(rnd) for _ in range(rnd.randint(1, 3))]
        self.now = _START + timedelta(seconds=rnd.uniform(0, _SPAN_S))
        # People label the rows of one dataset version, mostly one after another.
        self.labelling = (rnd.choice(self.datasets), rnd.randint(1, 3))
        self.next_row = rnd.randint(0, 90_000)
        self.finished_jobs: list[TrainingJob] = []

    def moment(self, within_s: float | None = None) -> datetime:
        """A moment before now (microseconds and all, as the services write them)."""
        span = self.span_s if within_s is None else within_s
        return self.now - timedelta(seconds=self.rnd.uniform(0, span))


def sync_answer(
    rnd: random.Random, records: int | None = None, kinds: Sequence[str] | None = None
) -> Json:
    """An answer of POST /api/v1/sync (bff/sync/pull.py): `records` feed entries over the
    kinds that changed (or one entry of each of `kinds`), each upsert with its feed id,
    version and contract data."""
    # Changes since the device last synced: minutes ago for most, days for some.
    viewer = _Viewer(rnd, rnd.choice((300, 3_600, 3_600, 86_400, 7 * 86_400)))
    count = records if records is not None else rnd.choice((1, 2, 3, 5, 8, 12, 20, 40))
    seqs = {source: rnd.randint(1, 10 ** rnd.randint(2, 6)) for source in _SOURCES}
    # The cursor keeps a position per kind (bff/sync/cursor.py): a device that synced before
    # has one for every kind, at its source's feed position once it caught up.
    synced_before = rnd.random() < 0.9
    positions = {kind: seqs[_SOURCE_OF[kind]] for kind in SYNC_KINDS} if synced_before else {}
    changes: dict[str, Json] = {}
    # In the order the answer lists them, so a "model ready" push can name a job listed above.
    if kinds is None:
        kinds = rnd.choices(SYNC_KINDS, weights=_SYNC_WEIGHTS, k=count)
    for kind in sorted(kinds, key=_KIND_ORDER.__getitem__):
        source = _SOURCE_OF[kind]
        seqs[source] += rnd.choice((1, 1, 2, rnd.randint(3, 40)))
        positions[kind] = seqs[source]
        entry = changes.setdefault(kind, {"upserts": [], "deletes": []})
        data = _entity(viewer, kind)
        if rnd.random() < 0.1:
            entry["deletes"].append(_feed_id(viewer, kind, data))
        else:
            entry["upserts"].append(
                {"id": _feed_id(viewer, kind, data), "version": seqs[source], "data": data}
            )
    for kind in positions:  # caught up: every kind of a source at its feed's end
        positions[kind] = seqs[_SOURCE_OF[kind]]
    has_more = rnd.random() < 0.1
    return {
        "cursor": SyncCursor(positions).encode(),
        "has_more": has_more,
        "changes": changes,
        "resets": [rnd.choice(SYNC_KINDS)] if rnd.random() < 0.03 else [],
        "unavailable": [rnd.choice(SYNC_KINDS)] if rnd.random() < 0.03 else [],
    }


def dataset_changes(rnd: random.Random) -> Json:
    """An answer of GET /api/v1/datasets/changes: dataset and label upserts and tombstones."""
    viewer = _Viewer(rnd)
    seq = rnd.randint(1, 50_000)
    changes = []
    for _ in range(rnd.choice((0, 1, 2, 3, 5, 8, 20))):
        seq += rnd.randint(1, 4)
        if rnd.random() < 0.7:
            label = _label(viewer)
            kind, op = "label", "delete" if rnd.random() < 0.1 else "upsert"
            change = Change(
                seq=seq,
                kind=kind,
                op=op,
                dataset_id=label.dataset_id,
                version=label.version,
                row_id=label.row_id,
                label=label if op == "upsert" else None,
                changed_at=label.updated_at,
            )
        else:
            dataset = _dataset(viewer)
            op = "delete" if rnd.random() < 0.1 else "upsert"
            change = Change(
                seq=seq,
                kind="dataset",
                op=op,
                dataset_id=dataset.id,
                dataset=dataset if op == "upsert" else None,
                changed_at=dataset.updated_at,
            )
        changes.append(change)
    feed = ChangeFeed(changes=changes, next_since=seq, has_more=rnd.random() < 0.1)
    return _json(feed)


def notifications_page(rnd: random.Random) -> Json:
    """An answer of GET /api/v1/notifications: a page of the inbox, newest first."""
    viewer = _Viewer(rnd)
    items = sorted(
        (_notification(viewer) for _ in range(rnd.choice((1, 2, 3, 5, 10, 20)))),
        key=lambda n: n.created_at,
        reverse=True,
    )
    more = rnd.random() < 0.3
    cursor = _page_cursor(items[-1].created_at, items[-1].id) if more else None
    return _json(Page[Notification](items=items, next_cursor=cursor))


def dashboard(rnd: random.Random) -> Json:
    """An answer of GET /api/v1/dashboard: first pages of datasets, models, jobs, unread."""
    viewer = _Viewer(rnd)
    unread = [_notification(viewer, read=False) for _ in range(rnd.randint(0, 8))]
    board = Dashboard(
        datasets=Section[Dataset](items=[_dataset(viewer) for _ in range(rnd.randint(0, 6))]),
        models=Section[Model](items=[_model(viewer) for _ in range(rnd.randint(0, 4))]),
        jobs=Section[TrainingJob](items=[_job(viewer) for _ in range(rnd.randint(0, 6))]),
        notifications=Section[Notification](items=unread),
        unread_count=len(unread),
    )
    return _json(board)


def answers(
    sampler: Callable[[random.Random], Json],
    seed: int,
    count: int,
    shape: Callable[[Json], Any] | None = None,
) -> Iterator[bytes]:
    """`count` answers of one family as the BFF encodes them, from `seed` (`shape`d first:
    the compact form, say)."""
    rnd = random.Random(seed)
    for _ in range(count):
        answer = sampler(rnd)
        yield encoded(shape(answer) if shape is not None else answer)


def encoded(answer: Any) -> bytes:
    """An answer's bytes as the representation middleware writes them."""
    return orjson.dumps(answer, option=orjson.OPT_UTC_Z)


def compact_encoder(path: str) -> Callable[[Json], Any]:
    """What the BFF answers for `path` with `Accept: application/vnd.tern.compact+json`, as a
    function of the JSON answer: the compact codec with the key map of the route's response
    model, from the BFF's own routes."""
    schema, models = _bff_key_maps()
    spec = schema.spec_of(models.get(path))
    if spec is None:
        raise LookupError(f"no route of the BFF answers {path} with a key map")
    return lambda answer: encode(answer, spec, schema.resources)


@functools.cache
def _bff_key_maps() -> tuple[CompactSchema, dict[str, Any]]:
    # The BFF's public routes, as bff.app.create_app includes them (without its services).
    app = FastAPI()
    include_api_routes(app, API_ROUTES)
    models = {path: model for path, model in iter_response_models(app.routes) if model}
    return CompactSchema.from_routes(app.routes, "/api/"), models


def _json(model: BaseModel) -> Json:
    data: Json = model.model_dump(mode="json")
    return data


def _uuid(rnd: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rnd.getrandbits(128), version=4)


def _device_id(rnd: random.Random) -> str:
    if rnd.random() < 0.5:  # iOS identifierForVendor
        return str(_uuid(rnd)).upper()
    return f"{rnd.getrandbits(64):016x}"  # Android ID


def _page_cursor(at: datetime, row_id: uuid.UUID) -> str:
    return encode_cursor({"t": at.isoformat(), "id": str(row_id)})


def _feed_id(viewer: _Viewer, kind: str, data: Json) -> str:
    """The id an entity has in its service's change feed."""
    if kind == "dataset_versions":
        return f"{data['dataset_id']}/{data['version']}"
    if kind == "labels":
        return f"{data['dataset_id']}/{data['version']}/{data['row_id']}"
    if kind == "model_versions":
        return f"{data['model_id']}/{data['version']}"
    if kind == "model_aliases":
        return f"{data['model_id']}/{data['alias']}"
    if kind == "devices":
        return str(data["device_id"])
    if kind == "topic_subscriptions":
        return f"{data['device_id']}/{data['topic']}"
    if kind == "push_preferences":
        return viewer.owner
    return str(data["id"])


def _entity(viewer: _Viewer, kind: str) -> Json:
    makers: dict[str, Callable[[_Viewer], BaseModel | Json]] = {
        "datasets": _dataset,
        "dataset_versions": _dataset_version,
        "labels": _label,
        "training_jobs": lambda v: _job(v, with_result=True),
        "models": _model,
        "model_versions": _model_version,
        "model_aliases": _alias,
        "notifications": _notification,
        "devices": _device,
        "topic_subscriptions": _subscription,
        "push_preferences": _preferences,
        "sessions": _session,
    }
    made = makers[kind](viewer)
    return _json(made) if isinstance(made, BaseModel) else made


def _columns(viewer: _Viewer, spec: tuple[tuple[str, str], ...], rows: int) -> list[ColumnSchema]:
    rnd = viewer.rnd
    return [
        ColumnSchema(
            name=name,
            type=type_,
            nulls=0 if rnd.random() < 0.6 else rnd.randint(1, rows // 20 + 1),
            distinct_estimate=2 if type_ == "boolean" else rnd.randint(min(rows, 3), rows),
        )
        for name, type_ in spec
    ]


def _dataset(viewer: _Viewer) -> Dataset:
    rnd = viewer.rnd
    stems, spec, _task = rnd.choice(_DATASET_KINDS)
    rows = rnd.randint(150, 200_000)
    created = viewer.moment(90 * 86_400)
    return Dataset(
        id=rnd.choice(viewer.datasets),
        name=rnd.choice(stems).format(m=rnd.choice(_MONTHS)),
        owner_id=viewer.owner,
        latest_version=rnd.choice((1, 1, 1, 2, 2, 3, 5)),
        row_count=rows,
        columns=_columns(viewer, spec, rows),
        created_at=created,
        updated_at=max(created, viewer.moment()),
    )


def _dataset_version(viewer: _Viewer) -> DatasetVersion:
    rnd = viewer.rnd
    _stems, spec, _task = rnd.choice(_DATASET_KINDS)
    rows = rnd.randint(150, 200_000)
    return DatasetVersion(
        dataset_id=rnd.choice(viewer.datasets),
        version=rnd.randint(1, 6),
        format=rnd.choice(("csv", "csv", "csv", "jsonl", "parquet")),
        row_count=rows,
        size_bytes=rows * rnd.randint(40, 300),
        sha256=rnd.randbytes(32).hex(),
        columns=_columns(viewer, spec, rows),
        created_at=viewer.moment(),
        source_encoding=rnd.choice(("utf-8", "utf-8", "utf-8-sig", "cp1252", None)),
    )


def _label(viewer: _Viewer) -> Label:
    rnd = viewer.rnd
    if rnd.random() < 0.8:
        dataset_id, version = viewer.labelling
    else:
        dataset_id, version = rnd.choice(viewer.datasets), rnd.randint(1, 3)
    viewer.next_row += rnd.choice((1, 1, 1, 2, 3, rnd.randint(4, 500)))
    return Label(
        dataset_id=dataset_id,
        version=version,
        row_id=viewer.next_row,
        label=rnd.choice(_LABELS) if rnd.random() < 0.95 else None,
        note=rnd.choice(_NOTES),
        revision=rnd.choice((1, 1, 1, 2, 3)),
        updated_at=viewer.moment(),
    )


def _job(viewer: _Viewer, *, with_result: bool = False) -> TrainingJob:
    """A job as lists show it, or (`with_result`) as its feed entry and GET show it."""
    rnd = viewer.rnd
    _stems, spec, task = rnd.choice(_DATASET_KINDS)
    kind = rnd.choice(_MODEL_KINDS[task])
    status = rnd.choices(("succeeded", "failed", "running", "queued"), weights=(70, 10, 12, 8))[0]
    created = viewer.moment()
    started = created + timedelta(seconds=rnd.uniform(0.2, 20))
    finished = started + timedelta(seconds=rnd.uniform(3, 900))
    target = spec[-1][0]
    features = [name for name, _ in spec[:-1] if not name.endswith("_id")]
    done = status in ("succeeded", "failed")
    job = TrainingJob(
        id=_uuid(rnd),
        owner_id=viewer.owner,
        status=status,
        dataset_id=rnd.choice(viewer.datasets),
        dataset_version=rnd.randint(1, 3),
        target=target,
        features=features,
        task=task,
        model=kind,
        model_name=rnd.choice(_MODEL_NAMES),
        hyperparameters=_hyperparameters(rnd, kind),
        validation_split=rnd.choice((0.2, 0.2, 0.2, 0.25, 0.1)),
        seed=rnd.choice((0, 0, 0, 42)),
        created_at=created,
        started_at=started if status != "queued" else None,
        finished_at=finished if done else None,
        error=rnd.choice(_ERRORS).format(t=target) if status == "failed" else None,
        metrics=_metrics(rnd, task) if status == "succeeded" else None,
        model_id=rnd.choice(viewer.models) if status == "succeeded" else None,
        model_version=rnd.randint(1, 9) if status == "succeeded" else None,
        result=_result(rnd, task, kind, features)
        if with_result and status == "succeeded"
        else None,
    )
    if status == "succeeded":
        viewer.finished_jobs.append(job)
    return job


def _result(rnd: random.Random, task: str, kind: str, features: list[str]) -> Json:
    """A succeeded job's report, as services/training/report.py and worker.py write it."""
    steps = {"mlp": rnd.randint(12, 50), "random_forest": 10, "gradient_boosting": 10}
    count = steps.get(kind, 1)
    history = []
    for step in range(1, count + 1):
        loss = rnd.uniform(0.05, 1.2) / step**0.5
        history.append(
            {
                "epoch": float(step),
                "eta_s": rnd.uniform(0, 30) * (count - step) / count,
                "loss": loss,
                "metric": rnd.uniform(0.6, 0.99),
                "val_loss": loss * rnd.uniform(1.0, 1.3),
                "val_metric": rnd.uniform(0.55, 0.97),
            }
        )
    report: Json = {"history": history}
    classes = None
    if task == "classification":
        classes = rnd.choice((["no", "yes"], ["False", "True"], ["high", "low", "medium"]))
        size = rnd.randint(30, 4_000)
        report["confusion_matrix"] = {
            "labels": classes,
            "matrix": [[rnd.randint(0, size) for _ in classes] for _ in classes],
        }
        points = rnd.randint(20, 101)
        report["roc_curve"] = [
            {
                "positive_class": positive,
                "fpr": sorted(round(rnd.random(), 6) for _ in range(points)),
                "tpr": sorted(round(rnd.random(), 6) for _ in range(points)),
                "auc": rnd.uniform(0.6, 0.99),
            }
            for positive in (classes[1:] if len(classes) == 2 else classes)
        ]
    report["feature_importance"] = sorted(
        ({"feature": name, "importance": round(rnd.uniform(-0.01, 0.2), 6)} for name in features),
        key=lambda item: -float(item["importance"]),
    )
    train_rows = rnd.randint(120, 160_000)
    return {
        **report,
        "artifact_format": "torch-safetensors" if kind == "mlp" else "onnx",
        "classes": classes,
        "train_rows": train_rows,
        "validation_rows": train_rows // 4,
        "library_versions": _LIBRARY_VERSIONS,
    }


def _hyperparameters(rnd: random.Random, kind: str) -> Json:
    if rnd.random() < 0.4:
        return {}
    if kind == "logistic_regression":
        return {"C": rnd.choice((0.1, 1.0, 10.0)), "max_iter": 1000}
    if kind == "random_forest":
        return {"n_estimators": rnd.choice((100, 300)), "max_depth": rnd.choice((None, 8, 16))}
    if kind == "gradient_boosting":
        return {"n_estimators": 200, "learning_rate": rnd.choice((0.05, 0.1))}
    if kind == "mlp":
        return {"hidden_layers": [128, 64], "epochs": rnd.choice((30, 50)), "dropout": 0.1}
    return {"fit_intercept": True}


def _metrics(rnd: random.Random, task: str) -> dict[str, float]:
    if task == "regression":
        rmse = rnd.uniform(0.4, 40_000)
        return {"mae": rmse * rnd.uniform(0.6, 0.85), "rmse": rmse, "r2": rnd.uniform(0.3, 0.93)}
    return {
        "accuracy": rnd.uniform(0.6, 0.99),
        "precision": rnd.uniform(0.5, 0.97),
        "recall": rnd.uniform(0.4, 0.95),
        "f1": rnd.uniform(0.45, 0.95),
    }


def _features(rnd: random.Random) -> list[FeatureSpec]:
    _stems, spec, _task = rnd.choice(_DATASET_KINDS)
    return [
        FeatureSpec(name=name, type="string" if type_ == "string" else "number")
        for name, type_ in spec[:-1]
        if not name.endswith("_id")
    ]


def _model(viewer: _Viewer) -> Model:
    rnd = viewer.rnd
    version = rnd.randint(1, 12)
    created = viewer.moment(90 * 86_400)
    return Model(
        id=rnd.choice(viewer.models),
        name=rnd.choice(_MODEL_NAMES),
        owner_id=viewer.owner,
        task=rnd.choice(("classification", "regression")),
        latest_version=version,
        aliases=rnd.choice(({}, {"production": version}, {"production": 1, "staging": version})),
        features=_features(rnd),
        created_at=created,
        updated_at=max(created, viewer.moment()),
    )


def _model_version(viewer: _Viewer) -> ModelVersion:
    rnd = viewer.rnd
    task = rnd.choice(("classification", "regression"))
    trained = rnd.random() < 0.85
    return ModelVersion(
        model_id=rnd.choice(viewer.models),
        version=rnd.randint(1, 12),
        task=task,
        format=rnd.choice(("onnx", "onnx", "torch-safetensors")),
        features=_features(rnd),
        classes=rnd.choice((["no", "yes"], ["setosa", "versicolor", "virginica"]))
        if task == "classification"
        else None,
        metrics=_metrics(rnd, task),
        training_job_id=_uuid(rnd) if trained else None,
        dataset_id=rnd.choice(viewer.datasets) if trained else None,
        dataset_version=rnd.randint(1, 3) if trained else None,
        seed=0 if trained else None,
        validation_split=0.2 if trained else None,
        library_versions=_LIBRARY_VERSIONS if trained else {},
        created_at=viewer.moment(),
    )


def _alias(viewer: _Viewer) -> Json:
    rnd = viewer.rnd  # as services/inference/model_feed.py records it
    return {
        "model_id": str(rnd.choice(viewer.models)),
        "alias": rnd.choice(("production", "production", "staging")),
        "version": rnd.randint(1, 12),
    }


def _notification(viewer: _Viewer, *, read: bool | None = None) -> Notification:
    rnd = viewer.rnd
    created = viewer.moment()
    is_read = rnd.random() < 0.4 if read is None else read
    read_at = created + timedelta(seconds=rnd.uniform(30, 86_400)) if is_read else None
    if rnd.random() < 0.75:
        job = viewer.finished_jobs.pop() if viewer.finished_jobs else None
        if job is not None and job.finished_at is not None:
            created = job.finished_at + timedelta(seconds=rnd.uniform(0.05, 2))
        return Notification(  # as the training worker sends it
            id=_uuid(rnd),
            category="training",
            title="Your model is ready",
            data={
                "type": "model_ready",
                "job_id": str(job.id if job else _uuid(rnd)),
                "model_id": str(job.model_id if job else rnd.choice(viewer.models)),
                "model_version": str(job.model_version if job else rnd.randint(1, 12)),
            },
            created_at=created,
            read_at=read_at,
        )
    category, title, body = rnd.choice(_ANNOUNCEMENTS)
    return Notification(
        id=_uuid(rnd),
        category=category,
        title=title,
        body=body,
        data={"type": "announcement", "url": f"https://tern.dev/news/{rnd.randint(1, 40)}"},
        created_at=created,
        read_at=read_at,
    )


def _device(viewer: _Viewer) -> Device:
    rnd = viewer.rnd
    created = viewer.moment(90 * 86_400)
    return Device(
        device_id=rnd.choice(viewer.devices),
        platform=rnd.choice(("ios", "android")),
        app_version=rnd.choice(_APP_VERSIONS),
        locale=rnd.choice(_LOCALES),
        timezone=rnd.choice(_TIMEZONES),
        created_at=created,
        updated_at=max(created, viewer.moment()),
    )


def _subscription(viewer: _Viewer) -> TopicSubscription:
    rnd = viewer.rnd
    return TopicSubscription(
        topic=rnd.choice(_TOPICS), device_id=rnd.choice(viewer.devices), created_at=viewer.moment()
    )


def _preferences(viewer: _Viewer) -> Preferences:
    rnd = viewer.rnd
    quiet = rnd.choice((None, QuietHours(start="22:00", end="07:00")))
    return Preferences(
        timezone=rnd.choice(_TIMEZONES),
        quiet_hours=quiet,
        muted_categories=rnd.choice(([], ["product"], ["billing", "product"])),
        hourly_cap=rnd.choice((None, 10)),
    )


def _session(viewer: _Viewer) -> Json:
    rnd = viewer.rnd  # as bff/auth/tables.py's session_entry records it
    return {
        "id": str(_uuid(rnd)),
        "device_id": rnd.choice(viewer.devices),
        "created_at": viewer.moment().isoformat(),
    }
