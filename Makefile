# Tern: the usual targets. `make run` and `make test` work on a fresh clone: they build .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-unit test-integration bench fuzz chaos lint fmt contracts certs clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,all]'
	touch $(STAMP)

run: $(STAMP)  ## the whole system on embedded defaults, seeded; Ctrl-C stops it
	$(BIN)/python -m infra.local.run

test: $(STAMP)  ## unit, contract and integration tests (PostgreSQL/Redis too when TEST_* are set)
	$(BIN)/pytest -n 2 --dist loadgroup

test-unit: $(STAMP)
	$(BIN)/pytest -m "not integration"

test-integration: $(STAMP)
	$(BIN)/pytest -m integration

bench: $(STAMP)  ## benchmarks (h2load from nghttp2-client); results in tests/bench/results/
	@command -v h2load >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get install -y -qq nghttp2-client >/dev/null; } \
		|| { echo "h2load is missing: apt-get install nghttp2-client"; exit 1; }
	$(BIN)/python -m tests.bench $(BENCH)

fuzz: $(STAMP)  ## schemathesis against all five OpenAPI documents over the real processes
	$(BIN)/python -m tests.fuzz $(FUZZ_SECONDS)

chaos: $(STAMP)  ## SIGKILL each process under load (PostgreSQL/Redis when TEST_* are set)
	$(BIN)/python -m tests.chaos $(CHAOS_SECONDS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy bff services proto infra

fmt: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

contracts: $(STAMP)  ## regenerate the OpenAPI and GraphQL documents in proto/
	$(BIN)/python -m infra.contracts

certs:  ## a self-signed certificate for trying the BFF over TLS (HTTP/2 by ALPN)
	mkdir -p var/tls
	openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=localhost" \
		-addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
		-keyout var/tls/key.pem -out var/tls/cert.pem

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
