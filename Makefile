# The two commands of the README: `make demo` and `make test`.
.PHONY: install demo test test-fast bench

install:
	./scripts/install.sh

demo: install
	.venv/bin/csq demo

test: install
	./scripts/ensure-postgres.sh
	.venv/bin/python -m pytest -n 2 -q

test-fast: install
	.venv/bin/python -m pytest -n 2 -q -m "not slow and not browser"

bench: install
	.venv/bin/csq bench scan
