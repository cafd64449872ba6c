# The two commands: `make run` and `make test`. Everything else is what they need.
PY ?= python3
UV := $(shell uv --version >/dev/null 2>&1 && echo uv || echo "$(PY) -m uv")
MANAGE := $(UV) run --frozen python manage.py

.PHONY: run test install lint format check-deploy bench screenshots clean

run: install .env
	@chmod 600 .env  # one written before .env was created 0600
	$(MANAGE) migrate --noinput -v 0
	$(MANAGE) seed_demo
	@$(MANAGE) ensure_local_admin
	@# The worker (background tasks: data services, rotation, webhooks) runs beside the server;
	@# Ctrl-C stops both, and the worker goes when the server exits.
	@$(MANAGE) resume_data_services >/dev/null
	@$(MANAGE) deliver_webhooks >/dev/null
	@trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	$(MANAGE) db_worker -v 1 & worker=$$!; \
	$(MANAGE) runserver 127.0.0.1:8000

test: install
	$(UV) run --frozen pytest -q -n auto

install: .venv/.installed

.venv/.installed: pyproject.toml uv.lock
	@uv --version >/dev/null 2>&1 || $(PY) -m uv --version >/dev/null 2>&1 || \
		$(PY) -m pip install --quiet --disable-pip-version-check uv
	$(UV) sync --frozen
	@touch $@

# Local settings with generated keys, written once (owner-readable only) and never committed.
# Keep it: it decrypts .data/.
.env:
	@$(PY) project/local_env.py .env

lint: install
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .

format: install
	$(UV) run --frozen ruff format .
	$(UV) run --frozen ruff check --fix .

# The figures of docs/performance.md and docs/capacity.md need wrk, HAProxy, PgBouncer and
# PostgreSQL (bench/harness.py says how to install what is missing). BENCH_ARGS=--quick: 10^5
# stored values, shorter runs; --tune: gunicorn settings; --only PART: one part.
bench: install
	@$(UV) run --frozen python -c "from bench import harness; harness.require_tools()"
	$(UV) run --frozen python bench/run.py
	$(UV) run --frozen python bench/load.py $(BENCH_ARGS)

# The README's and docs' screenshots (docs/*.png), in Chromium; not part of `make test`.
screenshots: install
	$(UV) run --frozen pytest -q tests/browser/screenshots.py

clean:
	rm -rf .venv .data
