"""The job worker: claims queued jobs and takes each from dataset bytes to a registered model.

One loop per process claims jobs while it has free slots (`concurrency`); each job runs as its
own task that heartbeats its lease, downloads the dataset, trains in the process pool, registers
the ONNX model with inference, records the result, then pushes "model ready" to the owner. The
job succeeds there, with a model that predicts and its metrics; the report (confusion matrix, ROC
curve, permutation importance) is computed meanwhile in the same training process, from the same
fitted model, while inference checks the artifact, and joins the result after (the job keeps its
lease until then: a worker that dies first leaves the report to the next claimer, which fits the
model again for it).
Transient failures of other services leave the lease to expire so the job is retried later.
A second loop asks every `cancel_poll_s` which running jobs their owners cancelled, so a cancel
does not wait for the next heartbeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import shutil
import socket
import time
import uuid
from collections.abc import Awaitable
from concurrent.futures.process import BrokenProcessPool
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from proto.inference import FeatureSpec, ModelVersion, ModelVersionRegister
from proto.notifications import SendToUser
from services.kit.database import Database
from services.kit.http_client import DownstreamError, DownstreamUnavailable
from services.kit.structured_logging import get_logger
from services.training import job_queue
from services.training.cpu_budget import available_cpus, threads_per_training
from services.training.datasets_client import DatasetsClient, DatasetTooLarge
from services.training.inference_client import InferenceClient
from services.training.notifications_client import NotificationsClient
from services.training.progress import ProgressMilestones, ProgressReader
from services.training.push_outbox import PushSender
from services.training.settings import TrainingSettings
from services.training.tables import Job
from services.training.trainer import TrainingCancelled, TrainingError, report_for
from services.training.training_pool import TrainingPool, TrainingRun
from services.training.training_run import (
    FeatureColumn,
    ReportResult,
    TrainingResult,
    TrainingSpec,
)

_log = get_logger(__name__)
T = TypeVar("T")


class _LeaseLost(Exception):
    """Another worker took the job over (our lease expired); stop without touching it."""


class _RunTimeExceeded(Exception):
    pass


class _Retry(Exception):
    """Give the job up for now; its lease expires and a worker claims it again."""


@dataclass
class _JobControl:
    """Signals from the heartbeat and the cancel poll to the task running one job."""

    cancel_flag: Path
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)
    lost: asyncio.Event = field(default_factory=asyncio.Event)

    def cancel(self) -> None:
        """The owner cancelled: the training stops at its next checkpoint (the flag file)."""
        if not self.cancelled.is_set():
            self.cancel_flag.touch()
            self.cancelled.set()


@dataclass(frozen=True, slots=True)
class Downstreams:
    datasets: DatasetsClient
    inference: InferenceClient
    notifications: NotificationsClient


class JobWorker:
    """Claims and runs training jobs of this service's database."""

    def __init__(self, settings: TrainingSettings, db: Database, downstreams: Downstreams) -> None:
        self.settings = settings
        self.db = db
        self.downstreams = downstreams
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        # `concurrency` trainings at once share the CPUs this process may use.
        self.threads = threads_per_training(settings.train_threads, settings.concurrency)
        self.pool = TrainingPool(settings.concurrency, self.threads, settings.train_nice)
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(settings.concurrency)
        self._running: set[asyncio.Task[None]] = set()
        self._controls: dict[uuid.UUID, _JobControl] = {}
        self._loop_tasks: list[asyncio.Task[None]] = []
        # Woken when a job finishes; the poll only retries what the notifications service
        # could not take, so it need not be as eager as the job poll.
        self.pushes = PushSender(db, downstreams.notifications, max(settings.poll_interval_s, 1.0))

    async def start(self, stack: AsyncExitStack) -> None:
        """Start claiming jobs and watching for cancels; stopped when `stack` closes."""
        _log.info(
            "training_worker_started",
            concurrency=self.settings.concurrency,
            threads_per_training=self.threads,
            cpus=available_cpus(),
        )
        self._loop_tasks = [
            asyncio.create_task(self._claim_loop(), name="training-worker"),
            asyncio.create_task(self._cancel_poll_loop(), name="training-cancel-poll"),
            asyncio.create_task(self.pushes.run(), name="training-push-outbox"),
            # The training processes load their libraries now, not during the first jobs.
            asyncio.create_task(self.pool.warm(), name="training-pool-warm-up"),
        ]
        stack.push_async_callback(self.stop)

    def wake(self) -> None:
        """A job was queued: look now instead of at the next poll."""
        self._wake.set()

    async def stop(self) -> None:
        """Stop claiming; jobs in progress are dropped and retried once their leases expire."""
        # The pool first, so that the interrupted jobs start no new training processes.
        self.pool.shutdown()
        tasks = [*self._loop_tasks, *self._running]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _claim_loop(self) -> None:
        while True:
            await self._slots.acquire()
            try:
                job = await job_queue.claim_next(
                    self.db,
                    self.worker_id,
                    lease_s=self.settings.lease_s,
                    max_attempts=self.settings.max_attempts,
                )
            except Exception:
                _log.exception("job_claim_failed")
                job = None
            if job is None:
                self._slots.release()
                await self._idle()
                continue
            task = asyncio.create_task(self._run(job), name=f"training-job-{job.id}")
            self._running.add(task)
            task.add_done_callback(self._job_done)

    def _job_done(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._slots.release()

    async def _cancel_poll_loop(self) -> None:
        """Every `cancel_poll_s`, one query: which of the jobs we run were cancelled."""
        while True:
            await asyncio.sleep(self.settings.cancel_poll_s)
            watched = {i: c for i, c in self._controls.items() if not c.cancelled.is_set()}
            if not watched:
                continue
            try:
                cancelled = await job_queue.cancel_requested(self.db, self.worker_id, watched)
            except Exception:
                _log.exception("job_cancel_poll_failed")
                continue
            for job_id in cancelled:
                watched[job_id].cancel()

    async def _idle(self) -> None:
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation at shutdown.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.settings.poll_interval_s):
                await self._wake.wait()
        self._wake.clear()

    async def _run(self, job: Job) -> None:
        workdir = self.settings.service_dir / "jobs" / f"{job.id}-{job.attempts}"
        workdir.mkdir(parents=True, exist_ok=True)
        control = _JobControl(cancel_flag=workdir / "cancel")
        self._controls[job.id] = control
        heartbeat = asyncio.create_task(self._heartbeat(job.id, control))
        log = _log.bind(job_id=str(job.id), attempt=job.attempts)
        log.info("job_started", model=job.model, task=job.task)
        try:
            await self._settle(job, workdir, control)
        except asyncio.CancelledError:
            log.info("job_interrupted")
            raise
        finally:
            self._controls.pop(job.id, None)
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            shutil.rmtree(workdir, ignore_errors=True)

    async def _settle(self, job: Job, workdir: Path, control: _JobControl) -> None:
        if job.status == "succeeded":  # claimed for its report, which its worker did not store
            await self._recover_report(job, workdir, control)
            return
        finish = functools.partial(self._finish, job)
        try:
            result, version, report = await self._produce_model(job, workdir, control)
        except _LeaseLost:
            _log.warning("job_lease_lost", job_id=str(job.id))
            return
        except (TrainingCancelled, _Cancelled):
            await finish("cancelled", error=None)
            return
        except _Retry as exc:
            _log.warning("job_retry_later", job_id=str(job.id), reason=str(exc))
            return
        except _JobFailed as exc:
            _log.info("job_failed", job_id=str(job.id), error=exc.message)
            await finish("failed", error=exc.message[:2000])
            return
        # Succeeded: the model predicts. The report, already being computed, follows.
        done = await finish(
            "succeeded",
            metrics=result.metrics,
            model_id=version.model_id,
            model_version=version.version,
            result=result_document(result),
            push=model_ready(job, version),
            report_lease_s=self.settings.lease_s,
        )
        if not done:
            return
        _log.info("job_succeeded", job_id=str(job.id), model_id=str(version.model_id))
        self.pushes.wake()
        await self._store_report(job, control, await self._report_of(job, control, report))

    async def _report_of(
        self, job: Job, control: _JobControl, run: TrainingRun[ReportResult]
    ) -> dict[str, Any] | None:
        """The report `run` computes; None when it is left to the next claimer (lease lost, the
        process died); a `report_error` when it cannot be computed."""
        try:
            async with asyncio.timeout(self.settings.max_run_time_s):
                outcome = await self._guarded(
                    control, asyncio.shield(run.result), cancellable=False
                )
        except _LeaseLost:
            return None
        except BrokenProcessPool:
            _log.warning("job_report_retry_later", job_id=str(job.id))
            return None
        except Exception:
            run.kill()  # the limit passed: the process goes, and with it the computation
            _log.exception("job_report_failed", job_id=str(job.id))
            return {"report_error": job_queue.REPORT_FAILED}
        except BaseException:
            run.kill()  # the service is stopping: the next claimer computes the report
            raise
        _log.info(
            "job_report_computed",
            job_id=str(job.id),
            report_ms=outcome.milliseconds,
            refitted=outcome.refitted,
        )
        # The history stays the one of the training that made the registered model.
        return {k: v for k, v in outcome.report.items() if k != "history"}

    async def _store_report(
        self, job: Job, control: _JobControl, report: dict[str, Any] | None
    ) -> None:
        if report is None or control.lost.is_set():
            return
        stored = await job_queue.add_report(self.db, job.id, self.worker_id, report)
        if stored:
            _log.info("job_report_ready", job_id=str(job.id))
        else:
            _log.warning("job_report_lost_lease", job_id=str(job.id))

    async def _recover_report(self, job: Job, workdir: Path, control: _JobControl) -> None:
        """The report of a job that succeeded under a worker that died before storing it: the
        model is fitted again (same data, split, seed, hyperparameters) for it."""
        _log.info("job_report_recovering", job_id=str(job.id), attempt=job.attempts)
        parquet = workdir / "dataset.parquet"
        try:
            async with asyncio.timeout(self.settings.max_run_time_s):
                await self._guarded(control, self._download(job, parquet), cancellable=False)
        except _LeaseLost:
            return
        except DownstreamUnavailable as exc:
            _log.warning("job_report_retry_later", job_id=str(job.id), reason=str(exc))
            return
        except (DownstreamError, DatasetTooLarge, TimeoutError) as exc:
            # The dataset was deleted, or is no longer what the job read: no report.
            _log.warning("job_report_impossible", job_id=str(job.id), reason=str(exc))
            await self._store_report(job, control, {"report_error": job_queue.REPORT_FAILED})
            return
        spec = build_spec(job, self.threads, control.cancel_flag)
        run = await self.pool.start_report(spec, str(parquet))
        await self._store_report(job, control, await self._report_of(job, control, run))

    async def _finish(self, job: Job, status: str, **values: Any) -> bool:
        done = await job_queue.finish(self.db, job.id, self.worker_id, status, **values)
        if not done:
            _log.warning("job_finish_lost_lease", job_id=str(job.id), status=status)
        return done

    async def _produce_model(
        self, job: Job, workdir: Path, control: _JobControl
    ) -> tuple[TrainingResult, ModelVersion, TrainingRun[ReportResult]]:
        """Download, train, register; raises one of this module's outcomes when it cannot.
        The report is being computed in the training process meanwhile: the run returned."""
        limit_s = self.settings.max_run_time_s  # the limit in force when the job started
        try:
            async with asyncio.timeout(limit_s):
                started = time.perf_counter()
                parquet = workdir / "dataset.parquet"
                await self._guarded(control, self._download(job, parquet))
                downloaded = time.perf_counter()
                artifact = workdir / "model.artifact"
                progress = workdir / "progress.jsonl"
                spec = build_spec(job, self.threads, control.cancel_flag, progress)
                reader, milestones = ProgressReader(progress), ProgressMilestones()
                pump = asyncio.create_task(self._pump_progress(job, reader, milestones))
                try:
                    result, run = await self._train(control, spec, parquet, artifact)
                finally:
                    pump.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await pump
                # The report, in the process that holds the fitted model, while inference
                # checks the artifact on another CPU. Should the job not succeed after all,
                # the process is free again once it is done (a fraction of the training).
                report = run.follow_up(report_for, spec, str(parquet))
                trained = time.perf_counter()
                registering = self._register(job, result, artifact.read_bytes())
                _, version = await asyncio.gather(
                    self._store_progress(job, reader, milestones),
                    self._guarded(control, registering),
                )
                _log.info(
                    "job_trained",
                    job_id=str(job.id),
                    download_ms=round((downloaded - started) * 1000, 1),
                    train_ms=round((trained - downloaded) * 1000, 1),
                    register_ms=round((time.perf_counter() - trained) * 1000, 1),
                    steps_ms=result.step_ms,
                )
                return result, version, report
        except TimeoutError as exc:
            if control.cancelled.is_set():  # the limit passed while a cancel was stopping it
                raise _Cancelled() from exc
            raise _JobFailed(
                f"training took longer than the limit of {limit_s:g} "
                "seconds and was stopped; try fewer epochs or estimators, a smaller model, "
                "or fewer rows"
            ) from exc
        except TrainingError as exc:
            raise _JobFailed(str(exc)) from exc
        except DatasetTooLarge as exc:
            raise _JobFailed(str(exc)) from exc
        except BrokenProcessPool as exc:
            raise _Retry("a training process died") from exc
        except DownstreamUnavailable as exc:
            raise _Retry(str(exc)) from exc
        except DownstreamError as exc:
            raise _JobFailed(f"the {exc.service} service refused: {exc.message}") from exc
        except (TrainingCancelled, _Cancelled, _LeaseLost, _JobFailed, _Retry):
            raise
        except Exception as exc:
            _log.exception("job_crashed", job_id=str(job.id))
            raise _JobFailed(f"training failed unexpectedly ({type(exc).__name__})") from exc

    async def _train(
        self, control: _JobControl, spec: TrainingSpec, parquet: Path, artifact: Path
    ) -> tuple[TrainingResult, TrainingRun[TrainingResult]]:
        """Train in a process of the pool; stop that process (only) when the job must stop.
        The run still holds its process (and the fitted model) for the report."""
        start = self.pool.start(spec, str(parquet), str(artifact), keep=True)
        run = await self._guarded(control, start)
        try:
            return await self._guarded(control, asyncio.shield(run.result)), run
        except (_Cancelled, _LeaseLost):
            # Cancelled, or another worker has the job now: the training stops at its next
            # checkpoint, or is killed after the grace period; its work directory goes next.
            control.cancel_flag.touch()
            try:
                await run.stopped(self.settings.cancel_grace_s)
            finally:
                _give_back(run)
            raise
        except BaseException:
            run.kill()  # the run time limit passed, or the service is stopping
            raise

    async def _pump_progress(
        self, job: Job, reader: ProgressReader, milestones: ProgressMilestones
    ) -> None:
        """Store the training's new progress steps as job events, every progress interval."""
        while True:
            await asyncio.sleep(self.settings.progress_interval_s)
            await self._store_progress(job, reader, milestones)

    async def _store_progress(
        self, job: Job, reader: ProgressReader, milestones: ProgressMilestones
    ) -> None:
        """Best effort: progress that cannot be stored now is stored with the next steps (a
        milestone lost that way is not announced; the next one or the finish is)."""
        steps, offset = reader.peek()
        if not steps:
            return
        try:
            await job_queue.append_events(
                self.db,
                job.id,
                self.worker_id,
                job.attempts,
                steps,
                milestone=milestones.reached(steps),
            )
        except Exception:
            _log.exception("job_progress_failed", job_id=str(job.id))
            return
        reader.advance(offset)

    async def _guarded(
        self, control: _JobControl, work: Awaitable[T], *, cancellable: bool = True
    ) -> T:
        """Await `work` unless the owner cancels (if it still can) or the lease is lost first."""
        work_task = asyncio.ensure_future(work)
        cancel = control.cancelled.wait() if cancellable else asyncio.Event().wait()
        cancelled = asyncio.create_task(cancel)
        lost = asyncio.create_task(control.lost.wait())
        try:
            await asyncio.wait({work_task, cancelled, lost}, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            work_task.cancel()  # interrupted (run time limit, shutdown): the work goes too
            raise
        finally:
            cancelled.cancel()
            lost.cancel()
        if work_task.done():
            return work_task.result()
        work_task.cancel()
        if control.lost.is_set():
            raise _LeaseLost()
        raise _Cancelled()

    async def _download(self, job: Job, parquet: Path) -> None:
        await self.downstreams.datasets.download_parquet(
            job.owner_id,
            job.dataset_id,
            job.dataset_version,
            parquet,
            max_bytes=self.settings.max_dataset_bytes,
        )

    async def _register(self, job: Job, result: TrainingResult, artifact: bytes) -> ModelVersion:
        metadata = ModelVersionRegister(
            name=job.model_name,
            task=job.task,
            format=result.artifact_format,
            features=[FeatureSpec(name=f.name, type=f.type) for f in result.features],
            classes=result.classes,
            metrics=result.metrics,
            training_job_id=job.id,
            dataset_id=job.dataset_id,
            dataset_version=job.dataset_version,
            library_versions=result.library_versions,
            seed=job.seed,
            validation_split=job.validation_split,
        )
        return await self.downstreams.inference.register_version(job.owner_id, metadata, artifact)

    async def _heartbeat(self, job_id: uuid.UUID, control: _JobControl) -> None:
        while True:
            await asyncio.sleep(self.settings.heartbeat_s)
            try:
                state = await job_queue.renew_lease(
                    self.db, job_id, self.worker_id, lease_s=self.settings.lease_s
                )
            except Exception:
                _log.exception("job_heartbeat_failed", job_id=str(job_id))
                continue
            if not state.held:
                control.lost.set()
                return
            if state.cancel_requested:
                control.cancel()


class _Cancelled(Exception):
    """The owner asked to cancel while the job waited on something other than training."""


class _JobFailed(Exception):
    """The job cannot succeed; `message` tells its owner why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _give_back(run: TrainingRun[Any]) -> None:
    """A run that was told to stop: its process goes back as it is if the run ended (its model
    is simply not used), else it is killed."""
    finished = run.result.done() and not run.result.cancelled()
    if finished and run.result.exception() is None:
        run.release()
    else:
        run.kill()  # a no-op when the run ended with an error (its process was given back)


def model_ready(job: Job, version: ModelVersion) -> SendToUser:
    """The push a succeeded job owes its owner (once: its idempotency key names the job)."""
    return SendToUser(
        kind="display",
        category="training",
        title="Your model is ready",
        data={
            "type": "model_ready",
            "job_id": str(job.id),
            "model_id": str(version.model_id),
            "model_version": str(version.version),
        },
        idempotency_key=f"model-ready:{job.id}",
    )


def result_document(result: TrainingResult) -> dict[str, Any]:
    """What a succeeded job's `result` holds at success: the history and facts about the
    artifact (the rest of the report joins it later: `job_queue.add_report`)."""
    return {
        **result.report,
        "artifact_format": result.artifact_format,
        "classes": result.classes,
        "train_rows": result.train_rows,
        "validation_rows": result.validation_rows,
        "library_versions": result.library_versions,
    }


def build_spec(
    job: Job, threads: int, cancel_flag: Path, progress: Path | None = None
) -> TrainingSpec:
    """The plain-data training spec of a job row."""
    types = job.column_types
    return TrainingSpec(
        task=job.task,  # type: ignore[arg-type]
        model=job.model,
        target=job.target,
        features=tuple(FeatureColumn(name, types[name]) for name in job.features),  # type: ignore[arg-type]
        hyperparameters=dict(job.hyperparameters),
        validation_split=job.validation_split,
        seed=job.seed,
        threads=threads,
        cancel_flag_path=str(cancel_flag),
        progress_path=str(progress) if progress else None,
    )
