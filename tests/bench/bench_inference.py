"""Predict over HTTP/1.1 on loopback: a logistic regression (ONNX) and a small MLP
(torch-safetensors), at concurrency 1, 16 and 64, micro-batching on vs off in the same run.

Two inference processes (batching on / off, otherwise identical, prediction cache off so every
request runs its model) serve the same two models; a load process with keep-alive connections
sends one-row requests (different rows) for a fixed time per cell, alternating the two servers.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

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
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.inference"],
        env=_server_env(data_dir, port, batching),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(f"{url}/health", timeout=0.5).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("inference server did not start")


def _token() -> str:
    from services.kit.service_auth import ServiceTokenIssuer

    return ServiceTokenIssuer(SECRET, "bench", ttl_s=300).mint("inference", USER)


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


def _load(url: str, model_id: str, rows: list[dict[str, Any]], concurrency: int) -> dict[str, Any]:
    """Run the load generator in its own process; its figures as a dict."""
    spec = json.dumps(
        {
            "url": url,
            "path": f"/internal/v1/models/{model_id}/predict",
            "token": _token(),
            "rows": rows,
            "concurrency": concurrency,
            "seconds": SECONDS_PER_CELL,
            "warmup": WARMUP_S,
        }
    )
    out = subprocess.run(
        [sys.executable, "-m", "tests.bench.bench_inference", "load"],
        input=spec.encode(),
        capture_output=True,
        check=True,
        timeout=120,
    )
    figures: dict[str, Any] = json.loads(out.stdout)
    return figures


def _model_only(
    models: dict[str, tuple[dict[str, Any], bytes, list[dict[str, Any]]]],
) -> dict[str, Any]:
    """Without HTTP: 64 one-row runs vs one 64-row run of each model (median of 7, ms)."""
    from proto.inference import FeatureSpec
    from services.inference.model_cache import ModelRunner
    from services.inference.onnx_artifacts import onnx_runner
    from services.inference.torch_artifacts import open_torch_runner

    figures: dict[str, Any] = {}
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
        single_ms = statistics.median(singles) * 1000
        batch_ms = statistics.median(batched) * 1000
        figures[f"{name}: model only, 64 rows one by one / as one batch (ms)"] = (
            f"{single_ms:.2f} / {batch_ms:.2f} ({single_ms / batch_ms:.1f}x)"
        )
    return figures


def run() -> BenchResult:
    models = _models()
    model_only = _model_only(models)
    servers = {mode: _start_server(batching=mode == "on") for mode in MODES}
    rows_out: list[dict[str, Any]] = []
    try:
        ids = {
            (mode, name): _register(url, metadata, artifact)
            for mode, (_proc, url) in servers.items()
            for name, (metadata, artifact, _rows) in models.items()
        }
        for name, (_metadata, _artifact, rows) in models.items():
            for concurrency in CONCURRENCY:
                for mode in MODES:
                    url = servers[mode][1]
                    figures = _load(url, ids[(mode, name)], rows, concurrency)
                    rows_out.append(
                        {"model": name, "concurrency": concurrency, "batching": mode, **figures}
                    )
    finally:
        for proc, _url in servers.values():
            proc.terminate()
            proc.wait(10)
    return BenchResult(
        name="inference",
        title="Inference predict over HTTP/1.1 on loopback (one row per request)",
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
        ],
        rows=rows_out,
        summary={**_summary(rows_out), **model_only},
        notes=[
            f"{SECONDS_PER_CELL:g} s per cell after {WARMUP_S:g} s warm-up; on/off alternate per "
            "cell. Server: one Hypercorn/uvloop process each, 2 inference threads, prediction "
            "cache off, batch max 256 rows / 2 ms. Load: one asyncio process, keep-alive "
            f"connections. Machine: {len(os.sched_getaffinity(0))} CPUs shared with the load "
            "generator (and other work).",
            "Batching removes per-call model cost (the 'model only' lines: 64 one-row runs vs "
            "one 64-row run); over HTTP it can only win that share, so where the HTTP stack "
            "costs more per request than the model, on/off ratios stay near 1.",
        ],
    )


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    cell = {(r["model"], r["concurrency"], r["batching"]): r for r in rows}
    summary: dict[str, Any] = {}
    for model in sorted({r["model"] for r in rows}):
        on, off = cell[(model, 64, "on")], cell[(model, 64, "off")]
        summary[f"{model}: throughput on/off at 64"] = round(on["req/s"] / off["req/s"], 2)
        one_on, one_off = cell[(model, 1, "on")], cell[(model, 1, "off")]
        summary[f"{model}: p99 on - off at 1 (ms)"] = round(one_on["p99 ms"] - one_off["p99 ms"], 2)
        summary[f"{model}: p99 at 64, batching on (ms)"] = on["p99 ms"]
    return summary


# ---- the load generator (its own process) ----


async def _drive(spec: dict[str, Any]) -> dict[str, Any]:
    host_port = spec["url"].removeprefix("http://")
    host, port = host_port.split(":")
    bodies = [json.dumps({"rows": [row]}).encode() for row in spec["rows"]]
    head = (
        f"POST {spec['path']} HTTP/1.1\r\nhost: {host_port}\r\n"
        f"authorization: Bearer {spec['token']}\r\ncontent-type: application/json\r\n"
    ).encode()
    requests = [head + f"content-length: {len(b)}\r\n\r\n".encode() + b for b in bodies]
    latencies: list[float] = []
    errors = 0
    loop = asyncio.get_running_loop()
    measure_from = loop.time() + spec["warmup"]
    stop_at = measure_from + spec["seconds"]

    async def worker(offset: int) -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, int(port))
        i = offset
        try:
            while (now := loop.time()) < stop_at:
                started = time.perf_counter()
                writer.write(requests[i % len(requests)])
                status, length = _parse_head(await reader.readuntil(b"\r\n\r\n"))
                await reader.readexactly(length)
                elapsed = time.perf_counter() - started
                if now >= measure_from:
                    latencies.append(elapsed)
                    errors += status != 200
                i += 1
        finally:
            writer.close()

    await asyncio.gather(*(worker(n * 7) for n in range(spec["concurrency"])))
    latencies.sort()

    def pct(q: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000, 2)

    return {
        "requests": len(latencies),
        "errors": errors,
        "req/s": round(len(latencies) / spec["seconds"], 1),
        "p50 ms": pct(0.50),
        "p95 ms": pct(0.95),
        "p99 ms": pct(0.99),
        "mean ms": round(statistics.fmean(latencies) * 1000, 2),
    }


def _parse_head(head: bytes) -> tuple[int, int]:
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    return status, length


if __name__ == "__main__":
    if sys.argv[1:] == ["load"]:
        import uvloop

        print(json.dumps(uvloop.run(_drive(json.loads(sys.stdin.read())))))
