# The two commands: `make run` and `make test`. Everything else is what they need.
PY ?= python3
UV := $(shell uv --version >/dev/null 2>&1 && echo uv || echo "$(PY) -m uv")
MANAGE := $(UV) run --frozen python manage.py

.PHONY: run test install lint format check-deploy bench screenshots clean

run: install .env
	$(MANAGE) migrate --noinput -v 0
	$(MANAGE) seed_demo
	@$(MANAGE) ensure_local_admin
	$(MANAGE) runserver 127.0.0.1:8000

test: install
	$(UV) run --frozen pytest -q

install: .venv/.installed

.venv/.installed: pyproject.toml uv.lock
	@uv --version >/dev/null 2>&1 || $(PY) -m uv --version >/dev/null 2>&1 || \
		$(PY) -m pip install --quiet --disable-pip-version-check uv
	$(UV) sync --frozen
	@touch $@

# Local settings with generated keys, written once and never committed.
.env:
	@$(PY) -c "import base64, os, secrets; \
	key = base64.b64encode(os.urandom(32)).decode(); \
	open('.env', 'x').write('DEBUG=true\nSECRET_KEY=' + secrets.token_urlsafe(50) + '\nENCRYPTION_KEYS=local1:' + key + '\n')"
	@echo "wrote .env with a generated SECRET_KEY and ENCRYPTION_KEYS (keep it; it decrypts .data/)"

lint: install
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .

format: install
	$(UV) run --frozen ruff format .
	$(UV) run --frozen ruff check --fix .

bench: install
	$(UV) run --frozen python bench/run.py

clean:
	rm -rf .venv .data
