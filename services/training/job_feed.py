"""A job as its owner sees it: its contract, and its entry in the kit's change feed
(services/kit/change_feed.py), one per job, moved on by every change of that contract."""

from __future__ import annotations

from proto.training import FEED_TRAINING_JOB, TrainingJob
from services.kit.change_feed import ChangeWriter
from services.training.tables import Job

TRAINING_JOB = FEED_TRAINING_JOB


def to_contract(job: Job, *, with_result: bool = True) -> TrainingJob:
    """The contract shape of a job row; lists leave the (large) result out."""
    return TrainingJob(
        id=job.id,
        owner_id=job.owner_id,
        status=job.status,
        dataset_id=job.dataset_id,
        dataset_version=job.dataset_version,
        target=job.target,
        features=list(job.features),
        task=job.task,
        model=job.model,
        model_name=job.model_name,
        hyperparameters=dict(job.hyperparameters),
        validation_split=job.validation_split,
        seed=job.seed,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        error=job.error,
        metrics=job.metrics,
        result=job.result if with_result else None,
        model_id=job.model_id,
        model_version=job.model_version,
        report_ready_at=job.report_ready_at,
    )


async def record_job(changes: ChangeWriter, job: Job) -> None:
    """The job's entry: what GET /jobs/{id} answers now (with the result, once there is one)."""
    await changes.record(
        TRAINING_JOB, str(job.id), "upsert", to_contract(job).model_dump(mode="json")
    )
