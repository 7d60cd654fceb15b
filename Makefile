# The two commands: `make demo` and `make test`. Both bootstrap the machine first.
VENV := .venv
PYTEST := $(VENV)/bin/python -m pytest
# Three workers on this 2-core machine: with two, the cores were busy 1.4 of every 2 seconds
# (the tests wait on processes they start, on browsers, on the network), and the suite took
# 736 s; with three, 598 s. A test file stays on one worker, so the processes an e2e module
# starts for its tests are started once.
PYTEST_ARGS ?= -n 3 --dist loadfile -q

.PHONY: demo test lint typecheck soak bootstrap bench clean

bootstrap:
	@scripts/bootstrap.sh

demo: bootstrap
	$(VENV)/bin/kassa demo

# The suite runs ruff, mypy and the import contracts too (tests/test_lint.py, test_layers.py);
# these two targets run them alone, as the pre-commit hooks do.
test: bootstrap
	@scripts/ensure-postgres.sh
	$(PYTEST) $(PYTEST_ARGS)

lint: bootstrap
	$(VENV)/bin/ruff check kassa tests bench
	$(VENV)/bin/lint-imports --no-cache

typecheck: bootstrap
	$(VENV)/bin/mypy

# The chaos test writes its summary table to var/soak-summary.txt (pytest-xdist keeps a
# test's stdout to itself); it is shown whether the run passed or not.
soak: bootstrap
	@scripts/ensure-postgres.sh
	@rm -f var/soak-summary.txt
	KASSA_SOAK=full $(PYTEST) $(PYTEST_ARGS) -m soak; status=$$?; \
	  cat var/soak-summary.txt 2>/dev/null || echo "no soak summary was written"; exit $$status

bench: bootstrap
	@scripts/ensure-postgres.sh
	@for b in bench/bench_*.py; do echo "== $$b"; $(VENV)/bin/python $$b || exit 1; done

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
