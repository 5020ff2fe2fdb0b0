"""`make fuzz`: schemathesis against all five OpenAPI documents, over the real processes.

The whole system starts on loopback (embedded defaults); each document's operations get
generated requests, valid and invalid, for a time budget, signed in as a user (the BFF) or
with a service token (the services). The checks: no input is answered with a 5xx (what
matters for every other user), and the contract tells the truth: every status an operation
answers is one its document lists, and every answer's body, content type and headers are
what its document says for that status. A summary per document is printed; the exit status is
1 on any failure. `tests/integration/test_fuzz.py` runs a short version in CI.

    python -m tests.fuzz [seconds per document, default 60]
"""

from __future__ import annotations

import secrets
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path

import httpx

from infra.local.stack import SERVICES, Stack, StackConfig
from services.kit.service_auth import ServiceTokenIssuer
from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = ("bff", "datasets", "training", "inference", "notifications")
_TOKEN_TTL_S = 290  # the services accept tokens living up to 300 s
_MOBILE = {"X-Device-ID": "fuzz-device-1", "X-Platform": "ios", "X-App-Version": "1.4.0"}


@dataclass(frozen=True)
class DocumentResult:
    """What schemathesis found for one document."""

    document: str
    operations: int
    failures: list[str]  # "METHOD /path: the check that failed": a 5xx, an undocumented status
    tool_errors: int  # operations schemathesis itself could not generate for
    output_tail: str

    @property
    def passed(self) -> bool:
        return not self.failures


def run(seconds_per_document: float = 60.0, workdir: Path | None = None) -> list[DocumentResult]:
    """Start the stack, fuzz each document against its process, stop the stack."""
    work = workdir or Path(tempfile.mkdtemp(prefix="tern-fuzz-"))
    secret = secrets.token_urlsafe(32)
    config = StackConfig(
        data_dir=work / "data",
        ports={name: free_port() for name, _module, _port in SERVICES},
        service_token_secret=secret,
        jwt_secret=secrets.token_urlsafe(32),
        environment="test",
    )
    stack = Stack(config)
    stack.start(timeout_s=120)
    try:
        headers = _headers(config, secret)
        return [
            fuzz_document(
                ROOT / "proto" / "openapi" / f"{name}.json",
                config.bff_url if name == "bff" else config.url(name),
                headers[name],
                seconds_per_document,
                work,
            )
            for name in DOCUMENTS
        ]
    finally:
        stack.stop()


def _headers(config: StackConfig, secret: str) -> dict[str, dict[str, str]]:
    """What each document's requests carry: a user's session (BFF), a service token acting for
    that user (the services, as the BFF calls them)."""
    signed_up = httpx.post(
        f"{config.bff_url}/api/v1/auth/register",
        json={"email": "fuzz@example.com", "password": "correct horse battery"},
        headers=_MOBILE,
        timeout=30,
    )
    signed_up.raise_for_status()
    user = signed_up.json()
    issuer = ServiceTokenIssuer(secret, "bff", ttl_s=_TOKEN_TTL_S)
    headers = {"bff": {"Authorization": f"Bearer {user['access_token']}", **_MOBILE}}
    for name in DOCUMENTS[1:]:
        headers[name] = {"Authorization": f"Bearer {issuer.mint(name, user['user']['id'])}"}
    return headers


CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "response_schema_conformance",
    "content_type_conformance",
    "response_headers_conformance",
)


def fuzz_document(
    document: Path, url: str, headers: dict[str, str], seconds: float, work: Path
) -> DocumentResult:
    """Generated requests for every operation of `document`, sent to `url` for `seconds`."""
    name = document.stem
    report = work / f"{name}.junit.xml"
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        str(document),
        "--url",
        url,
        "--checks",
        ",".join(CHECKS),
        "--max-time",
        str(max(1, round(seconds))),
        "--workers",
        "2",
        "--request-timeout",
        "10",
        "--report",
        "junit",
        "--report-junit-path",
        str(report),
    ]
    for header, value in headers.items():
        command += ["--header", f"{header}: {value}"]
    finished = subprocess.run(  # in `work`: schemathesis keeps its state in the working dir
        command, capture_output=True, text=True, timeout=seconds + 120, check=False, cwd=work
    )
    output = finished.stdout + finished.stderr
    return _read_report(name, report, output)


def _read_report(name: str, report: Path, output: str) -> DocumentResult:
    if not report.exists():
        raise RuntimeError(f"schemathesis wrote no report for {name}:\n{output[-4000:]}")
    operations, failures, tool_errors = 0, [], 0
    for case in ElementTree.parse(report).getroot().iter("testcase"):
        operations += 1
        for failure in case.iter("failure"):
            text = failure.get("message") or failure.text or ""
            failures.append(f"{case.get('name')}: {text.strip().splitlines()[0][:300]}")
        tool_errors += sum(1 for _ in case.iter("error"))
    return DocumentResult(name, operations, failures, tool_errors, output[-4000:])


def summary(results: list[DocumentResult]) -> str:
    lines = ["| document | operations | failures | not generated (tool errors) |"]
    lines.append("|---|---|---|---|")
    for result in results:
        lines.append(
            f"| {result.document} | {result.operations} | {len(result.failures)} "
            f"| {result.tool_errors} |"
        )
    for result in results:
        lines += [f"- {result.document}: {failure}" for failure in result.failures]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    seconds = float(argv[0]) if argv else 60.0
    results = run(seconds)
    print(summary(results))
    return 0 if all(result.passed for result in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
