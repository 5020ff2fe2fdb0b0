"""Predict over HTTP/2 (h2c) on loopback: a logistic regression (ONNX) and a small MLP
(torch-safetensors), at concurrency 1, 16 and 64, micro-batching on vs off in the same run.

Two inference processes (batching on / off, otherwise identical, prediction cache off so every
request runs its model) serve the same two models. h2load (C, one thread: the load costs little
next to the service) sends one-row requests for a fixed time per cell, alternating the two
servers; the server's own CPU time per request is read from /proc around each cell, a figure
that other work on the machine skews far less than it skews latency.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from tests.bench import subprocess_server
from tests.bench.h2load import h2load_path
from tests.bench.reporting import BenchResult
from tests.support.servers import free_port

SECRET = "bench-service-token-secret-0123456789abcdef"
USER = "bench-user"
CONCURRENCY = (1, 16, 64)
SECONDS_PER_CELL = 4.0
WARMUP_S = 1.0
MODES = ("on", "off")


def _server_env(data_dir: Path, port: int, batching: bool) -> dict[str, str]:
    return {
        **os.environ,
        "TERN_INFERENCE_ENVIRONMENT": "test",
        "TERN_INFERENCE_SERVICE_TOKEN_SECRET": SECRET,
        "TERN_INFERENCE_DATA_DIR": str(data_dir),
        "TERN_INFERENCE_PORT": str(port),
        "TERN_INFERENCE_LOG_LEVEL": "WARNING",
        "TERN_INFERENCE_BATCHING_ENABLED": "true" if batching else "false",
        "TERN_INFERENCE_PREDICTION_CACHE_ENABLED": "false",
        "TERN_INFERENCE_PREDICT_RATE_LIMIT": "1000000000",
    }


def _start_server(batching: bool) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    data_dir = Path(tempfile.mkdtemp(prefix="bench-inference-"))
    url = f"http://127.0.0.1:{port}"
    env = _server_env(data_dir, port, batching)
    return subprocess_server.start("services.inference", [], f"{url}/health", env, 600), url


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        # A graceful shutdown can take its full grace period after a load run.
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def _token() -> str:
    from services.kit.service_auth import ServiceTokenIssuer

    return ServiceTokenIssuer(SECRET, "bff", ttl_s=300).mint("inference", USER)


def _models() -> dict[str, tuple[dict[str, Any], bytes, list[dict[str, Any]]]]:
    """name -> (registration metadata, artifact, rows to send)."""
    from tests.services.inference.torch_models import train_torch_mlp
    from tests.support.onnx_models import train_classifier

    logistic = train_classifier(seed=0)
    mlp = train_torch_mlp("classification", seed=0, hidden_sizes=(64, 64))
    return {
        "logistic_regression (onnx)": (
            logistic.register_metadata("logistic"),
            logistic.onnx_bytes,
            logistic.held_out,
        ),
        "mlp 64x64 (torch-safetensors)": (mlp.register_metadata("mlp"), mlp.artifact, mlp.held_out),
    }


def _register(url: str, metadata: dict[str, Any], artifact: bytes) -> str:
    response = httpx.post(
        f"{url}/internal/v1/models/versions",
        headers={"authorization": f"Bearer {_token()}"},
        files={
            "metadata": (None, json.dumps(metadata), "application/json"),
            "artifact": ("model", artifact, "application/octet-stream"),
        },
        timeout=60,
    )
    response.raise_for_status()
    model_id: str = response.json()["model_id"]
    return model_id


def _predict(
    server: subprocess.Popen[bytes], url: str, model_id: str, body: Path, concurrency: int
) -> dict[str, Any]:
    """One predict cell: POST `body` to the model with a fresh service token."""
    request = [
        *("-d", str(body)),
        *("-H", f"authorization: Bearer {_token()}"),
        *("-H", "content-type: application/json"),
    ]
    return _load(server, f"{url}/internal/v1/models/{model_id}/predict", concurrency, request)


def _load(
    server: subprocess.Popen[bytes], target: str, concurrency: int, request: list[str]
) -> dict[str, Any]:
    """One cell: h2load with `concurrency` connections, one request in flight on each (as the
    pooled internal client sends them), after a warm-up run; its figures and the server's CPU."""
    common = [h2load_path(), "-c", str(concurrency), "-m", "1", *request]
    warmup = max(concurrency * 10, int(WARMUP_S * 200))
    subprocess.run([*common, "-n", str(warmup), target], capture_output=True, check=True)
    with tempfile.NamedTemporaryFile(suffix=".tsv") as log:
        cpu_before = _cpu_seconds(server.pid)
        subprocess.run(
            [*common, "-D", f"{SECONDS_PER_CELL:g}", "--log-file", log.name, target],
            capture_output=True,
            check=True,
            timeout=SECONDS_PER_CELL + 60,
        )
        cpu_s = _cpu_seconds(server.pid) - cpu_before
        # One line per request: start (us since epoch), status, microseconds to the last byte.
        lines = [line.split("\t") for line in Path(log.name).read_text().splitlines() if line]
    latencies = sorted(int(us) / 1000 for _start, _status, us in lines)
    errors = sum(status != "200" for _start, status, _us in lines)

    def pct(q: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))], 2)

    return {
        "requests": len(latencies),
        "errors": errors,
        "req/s": round(len(latencies) / SECONDS_PER_CELL, 1),
        "p50 ms": pct(0.50),
        "p95 ms": pct(0.95),
        "p99 ms": pct(0.99),
        "mean ms": round(statistics.fmean(latencies), 2),
        "server CPU ms/req": round(cpu_s * 1000 / max(1, len(latencies)), 3),
    }


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _model_only(
    models: dict[str, tuple[dict[str, Any], bytes, list[dict[str, Any]]]],
) -> dict[str, tuple[float, float]]:
    """Without HTTP: (64 one-row runs, one 64-row run) of each model, median of 7, in ms."""
    from proto.inference import FeatureSpec
    from services.inference.model_cache import ModelRunner
    from services.inference.onnx_artifacts import onnx_runner
    from services.inference.torch_artifacts import open_torch_runner

    figures: dict[str, tuple[float, float]] = {}
    for name, (metadata, artifact, rows) in models.items():
        features = [FeatureSpec.model_validate(f) for f in metadata["features"]]
        runner: ModelRunner = (
            onnx_runner(artifact, metadata["task"], features, 1)
            if metadata["format"] == "onnx"
            else open_torch_runner(artifact, 1)
        )
        batch = [rows[i % len(rows)] for i in range(64)]
        singles, batched = [], []
        for _ in range(7):
            started = time.perf_counter()
            for row in batch:
                runner.run([row])
            singles.append(time.perf_counter() - started)
            started = time.perf_counter()
            runner.run(batch)
            batched.append(time.perf_counter() - started)
        figures[name] = (statistics.median(singles) * 1000, statistics.median(batched) * 1000)
    return figures


def run() -> BenchResult:
    models = _models()
    model_only = _model_only(models)
    servers = {mode: _start_server(batching=mode == "on") for mode in MODES}
    bodies = Path(tempfile.mkdtemp(prefix="bench-inference-bodies-"))
    rows_out: list[dict[str, Any]] = []
    try:
        ids = {
            (mode, name): _register(url, metadata, artifact)
            for mode, (_proc, url) in servers.items()
            for name, (metadata, artifact, _rows) in models.items()
        }
        for index, (name, (_metadata, _artifact, rows)) in enumerate(models.items()):
            body = bodies / f"{index}.json"
            body.write_text(json.dumps({"rows": [rows[0]]}))
            for concurrency in CONCURRENCY:
                for mode in MODES:
                    proc, url = servers[mode]
                    figures = _predict(proc, url, ids[(mode, name)], body, concurrency)
                    rows_out.append(
                        {"model": name, "concurrency": concurrency, "batching": mode, **figures}
                    )
        # The floor: the same server answering GET /health (no auth, body or model).
        proc, url = servers["on"]
        health = _load(proc, f"{url}/health", 64, [])
    finally:
        for proc, _url in servers.values():
            _stop(proc)
    return BenchResult(
        name="inference",
        title="Inference predict over h2c on loopback (one row per request, h2load)",
        columns=[
            "model",
            "concurrency",
            "batching",
            "requests",
            "errors",
            "req/s",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "server CPU ms/req",
        ],
        rows=rows_out,
        summary={
            **_summary(rows_out, model_only, health["server CPU ms/req"]),
            "stack floor: GET /health at 64, server CPU ms/req (req/s)": (
                f"{health['server CPU ms/req']:.3f} ({health['req/s']:.0f})"
            ),
        },
        notes=[
            f"{SECONDS_PER_CELL:g} s per cell after a warm-up run; on/off alternate per cell. "
            "Server: one process each on its default server (Granian) and uvloop, 2 inference "
            "threads, prediction cache off, batch max 256 rows / 2 ms (a batch only waits while "
            "another runs). Load: "
            "h2load over h2c, one connection per concurrent caller, one request in flight on "
            "each, the same one-row body every time. Machine: "
            f"{len(os.sched_getaffinity(0))} CPUs shared by both servers, the load generator "
            "and other work; 'server CPU ms/req' is the server process's user+system time per "
            "answered request.",
            "Batching removes per-call costs (the model run, the thread-pool hop; see the "
            "'model only' lines); over HTTP it can only win that share. The 'stack floor' is the "
            "batching-on server answering GET /health (no token, body, validation or model); "
            "the 'bound' line is the best on/off throughput ratio possible at 64 if batching "
            "made everything above that floor free: server CPU per request off / floor.",
        ],
    )


def _summary(
    rows: list[dict[str, Any]], model_only: dict[str, tuple[float, float]], floor_cpu_ms: float
) -> dict[str, Any]:
    cell = {(r["model"], r["concurrency"], r["batching"]): r for r in rows}
    summary: dict[str, Any] = {}
    for model, (singles_ms, batch_ms) in model_only.items():
        on, off = cell[(model, 64, "on")], cell[(model, 64, "off")]
        one_on, one_off = cell[(model, 1, "on")], cell[(model, 1, "off")]
        summary[f"{model}: throughput on/off at 64"] = round(on["req/s"] / off["req/s"], 2)
        summary[f"{model}: p99 on - off at 1 (ms)"] = round(one_on["p99 ms"] - one_off["p99 ms"], 2)
        summary[f"{model}: p99 at 64, batching on (ms)"] = on["p99 ms"]
        summary[f"{model}: server CPU per request at 64, on / off (ms)"] = (
            f"{on['server CPU ms/req']:.3f} / {off['server CPU ms/req']:.3f}"
        )
        summary[f"{model}: model only, 64 rows one by one / as one batch (ms)"] = (
            f"{singles_ms:.2f} / {batch_ms:.2f} ({singles_ms / batch_ms:.1f}x)"
        )
        # Even if batching made the model and its thread hop free, a request would still cost
        # the stack's floor: the bound on what batching can buy at this load.
        bound = off["server CPU ms/req"] / floor_cpu_ms
        summary[f"{model}: bound on throughput on/off (CPU off / floor)"] = round(bound, 2)
    return summary
