"""Settings of the training service (env prefix TERN_TRAINING_)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from services.kit.settings import ServiceSettings


class TrainingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="TERN_TRAINING_", extra="ignore")

    service_name: ClassVar[str] = "training"
    accepted_callers: ClassVar[frozenset[str]] = frozenset({"bff"})
    calls: ClassVar[frozenset[str]] = frozenset({"datasets", "inference", "notifications"})

    port: int = 8102
    datasets_url: str = "http://127.0.0.1:8101"
    inference_url: str = "http://127.0.0.1:8103"
    notifications_url: str = "http://127.0.0.1:8104"

    # What a job may ask for.
    min_rows: int = Field(default=10, ge=2)
    max_rows: int = Field(default=1_000_000, ge=2)
    max_dataset_bytes: int = Field(default=512 * 1024 * 1024, gt=0)
    max_active_jobs_per_owner: int = Field(default=5, ge=1)
    # A numeric target with more distinct values than this is treated as regression.
    classification_max_distinct: int = Field(default=20, ge=2)

    # The worker: how many trainings at once, how long each may run, how leases behave.
    worker_enabled: bool = True
    concurrency: int = Field(default=1, ge=1)
    max_run_time_s: float = Field(default=1800.0, gt=0)
    # A running job's lease is renewed every `heartbeat_s`; a job whose replica died (SIGKILL,
    # OOM, a lost node) is claimed again once its lease runs out: within `lease_s` plus one
    # poll. Four heartbeats per lease ride out a database stall of a few seconds.
    lease_s: float = Field(default=6.0, gt=0)
    heartbeat_s: float = Field(default=1.5, gt=0)
    # How often a replica asks whether the owners of the jobs it runs cancelled them (one cheap
    # query for all of them); a cancel then stops the training at its next epoch or stage.
    cancel_poll_s: float = Field(default=1.0, gt=0)
    # How long a cancelled training may run on to its next checkpoint before its process is
    # killed (a single-fit model such as logistic regression has no checkpoint until it ends).
    cancel_grace_s: float = Field(default=30.0, ge=0)
    poll_interval_s: float = Field(default=1.0, gt=0)
    # How many times a job may be started: a crash (or a lease lost on a starved machine) costs
    # one; the chaos run (`make chaos`) saw a crash plus a lost lease fail a job at 2.
    max_attempts: int = Field(default=3, ge=1)
    # How often a running job's progress steps are stored (and so reach SSE listeners).
    progress_interval_s: float = Field(default=0.5, gt=0)
    # How often an SSE stream looks for new events; how long one stream may stay open.
    events_poll_s: float = Field(default=0.5, gt=0)
    events_max_stream_s: float = Field(default=3600.0, gt=0)
    # Threads one training process may use (BLAS, OpenMP, torch); fewer when `concurrency`
    # trainings at once would need more CPUs than the process may use (affinity, cgroup quota).
    train_threads: int = Field(default=1, ge=1, le=8)
    # CPU priority offset of training processes (0-19): the API stays responsive beside them.
    train_nice: int = Field(default=10, ge=0, le=19)

    @model_validator(mode="after")
    def _heartbeat_inside_the_lease(self) -> TrainingSettings:
        if self.heartbeat_s * 2 > self.lease_s:
            raise ValueError(
                "TERN_TRAINING_HEARTBEAT_S must be at most half of TERN_TRAINING_LEASE_S, "
                "or a late heartbeat loses the job to another replica"
            )
        return self
