# The two commands that matter: `make run` and `make test`. Both run the
# idempotent set-up first, so they work from a fresh clone.
VENV ?= .venv
BIN := $(VENV)/bin
export PATH := $(abspath $(BIN)):$(PATH)
export ANSIBLE_FORCE_COLOR ?= 0

# A real FaunaDB release for the real tier and `make image`: the one beside the
# clone (../shared/faunadb) unless given.
FAUNADB_RELEASE ?= $(firstword $(wildcard ../shared/faunadb/faunadb-*.tar.gz))

.PHONY: help setup run test lint unit real integration bench-smoke molecule bench tarball image clean

help:
	@echo "make run    set-up if needed, then ansible-playbook site.yml (local 3x3 cluster)"
	@echo "make test   set-up if needed, then every test: lint, unit, real, integration, bench-smoke, molecule"
	@echo "make setup  packages, Docker engine, .venv, collections, images (idempotent)"
	@echo "make lint | unit | real | integration | bench-smoke | molecule | bench | tarball"
	@echo "make real   the real tier: a real FaunaDB release (FAUNADB_RELEASE) on a 3x1, tests/real"
	@echo "make image FAUNADB_RELEASE=faunadb-VERSION.tar.gz [FAUNADB_IMAGE=name:tag]   FaunaDB image from a release tarball"

setup:
	@scripts/setup.sh

# site.yml builds the images its inventory needs, so set-up leaves them to it.
run:
	@SETUP_IMAGES=false scripts/setup.sh
	$(BIN)/ansible-playbook site.yml

test: setup lint unit real integration bench-smoke molecule

lint:
	$(BIN)/yamllint --strict .
	$(BIN)/ruff check .
	$(BIN)/ansible-lint --offline -q

unit:
	$(BIN)/pytest tests/unit

# The real tier (tests/real/README.md): site.yml, the day-2 playbooks and the chaos
# scenarios on a real FaunaDB release, 3x1. Without a release it is skipped, and says
# so; with FAUNADB_REAL_TIER=required (CI) a missing release fails the run.
real:
	@if [ -n "$(FAUNADB_RELEASE)" ]; then \
	  FAUNADB_RELEASE="$(abspath $(FAUNADB_RELEASE))" $(BIN)/pytest --durations=10 tests/real; \
	elif [ "$$FAUNADB_REAL_TIER" = required ]; then \
	  echo "real tier REQUIRED but no FaunaDB release: set FAUNADB_RELEASE=path/to/faunadb-VERSION.tar.gz" >&2; exit 1; \
	else \
	  echo "== real tier SKIPPED: no FaunaDB release (../shared/faunadb/faunadb-*.tar.gz or FAUNADB_RELEASE=...)"; \
	fi

# The slowest tests are listed at the end: where CI's time goes, run by run.
integration:
	$(BIN)/pytest --durations=15 tests/integration

# Every benchmark in its smoke mode (bench/bench.py --smoke: one short run of each on
# its own 3x1 cluster, removed at the end), so they keep working; it fails only when
# something could not be measured, never on a goal.
bench-smoke:
	$(BIN)/python bench/bench.py --smoke

# The service scenario's "VM" image is built here, not by setup (make run does not need it).
molecule:
	$(BIN)/ansible-playbook playbooks/docker_hosts.yml -e faunadb_vm_image_wanted=true
	@for scenario in $$(ls molecule); do $(BIN)/molecule test -s $$scenario || exit 1; done

bench: setup
	$(BIN)/python bench/bench.py

tarball:
	$(BIN)/python tests/faunadb_double/package.py

# FaunaDB image from a release tarball the operator provides (images/faunadb).
image:
	@FAUNADB_VERSION="$(FAUNADB_VERSION)" EXTRA_PACKAGES="$(EXTRA_PACKAGES)" \
	  scripts/build-faunadb-image.sh "$(FAUNADB_RELEASE)" "$(FAUNADB_IMAGE)"

clean:
	rm -rf build .pytest_cache .ruff_cache
