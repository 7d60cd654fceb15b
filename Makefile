# The two commands: `make demo` and `make test`. Both bootstrap the machine first.
VENV := .venv
PYTEST := $(VENV)/bin/python -m pytest
# Two workers on this 2-core machine; a test file stays on one worker, so the processes an
# e2e module starts for its tests are started once.
PYTEST_ARGS ?= -n 2 --dist loadfile -q

.PHONY: demo test soak bootstrap bench clean

bootstrap:
	@scripts/bootstrap.sh

demo: bootstrap
	$(VENV)/bin/kassa demo

test: bootstrap
	@scripts/ensure-postgres.sh
	$(PYTEST) $(PYTEST_ARGS)

soak: bootstrap
	@scripts/ensure-postgres.sh
	KASSA_SOAK=full $(PYTEST) $(PYTEST_ARGS) -m soak

bench: bootstrap
	@scripts/ensure-postgres.sh
	@for b in bench/bench_*.py; do echo "== $$b"; $(VENV)/bin/python $$b || exit 1; done

clean:
	rm -rf $(VENV) var .pytest_cache
