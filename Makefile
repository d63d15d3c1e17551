# SPDX-License-Identifier: MIT
# JIVE build: libjivecore.a, the three services and jivectl; tests, lint, run.
#
#   make            release-ish build into build/
#   make SAN=1      the same with ASan+UBSan into build/san/
#   make test       bootstrap check, sanitizer build, unit + integration tests
#   make run        local stack (Postgres + Redis under .jive/) and the three services
#   make test-faults  the fault suite's long form;  make soak  10-minute soak with RSS samples
#   make bench      loopback benchmarks, rewrites docs/PERFORMANCE.md;  make fuzz  libFuzzer
#   make lint       clang-format check, cppcheck, clang-tidy, banned functions

ifeq ($(origin CC),default)
CC      := gcc
endif
PKGS    := libevent libpq hiredis libcjson libjwt openssl yaml-0.1 libcurl
PY      := /usr/bin/python3

WARN    := -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wformat=2 -Wundef -Wpointer-arith -Wvla -Werror
CSTD    := -std=c17 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE
VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)

ifeq ($(SAN),1)
BUILD   := build/san
OPT     := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g -O1
else
BUILD   := build
OPT     := -O2 -g
endif

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CFLAGS  += $(CSTD) $(WARN) $(OPT) -Ilibjivecore/include $(PKG_CFLAGS) -DJC_VERSION='"$(VERSION)"' -MMD -MP
LDFLAGS += $(OPT)

LIB_SRC := $(wildcard libjivecore/src/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
LIB     := $(BUILD)/lib/libjivecore.a

SVC_MCP := $(wildcard svc-mcp/*.c)
SVC_WH  := $(wildcard svc-webhook/*.c)
SVC_ORC := $(wildcard svc-orchestrator/*.c)
CTL     := $(wildcard libjivecore/cli/*.c)

BINS    := $(BUILD)/bin/jive-mcp $(BUILD)/bin/jive-webhook $(BUILD)/bin/jive-orchestrator $(BUILD)/bin/jivectl

UNIT_SRC  := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all units bootstrap test test-deps test-unit test-faults soak fuzz fuzzers bench run lint format clean
all: $(LIB) $(BINS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	@echo "  AR      $@"
	@rm -f $@ && ar rcs $@ $^

# Each service is an archive of everything but its main.c: the binary is main.o and the
# archive; the service's unit suites (tests/unit/test_<svc>_*.c) and the fuzzers link it too.
SVC_LIBS := $(BUILD)/lib/libmcp.a $(BUILD)/lib/libwebhook.a $(BUILD)/lib/liborchestrator.a

$(BUILD)/lib/libmcp.a: $(filter-out $(BUILD)/obj/svc-mcp/main.o,$(SVC_MCP:%.c=$(BUILD)/obj/%.o))
$(BUILD)/lib/libwebhook.a: $(filter-out $(BUILD)/obj/svc-webhook/main.o,$(SVC_WH:%.c=$(BUILD)/obj/%.o))
$(BUILD)/lib/liborchestrator.a: $(filter-out $(BUILD)/obj/svc-orchestrator/main.o,$(SVC_ORC:%.c=$(BUILD)/obj/%.o))
$(SVC_LIBS):
	@mkdir -p $(dir $@)
	@echo "  AR      $@"
	@rm -f $@ && ar rcs $@ $^

$(BUILD)/bin/jive-mcp: $(BUILD)/obj/svc-mcp/main.o $(BUILD)/lib/libmcp.a $(LIB)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	@$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/bin/jive-webhook: $(BUILD)/obj/svc-webhook/main.o $(BUILD)/lib/libwebhook.a $(LIB)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	@$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/bin/jive-orchestrator: $(BUILD)/obj/svc-orchestrator/main.o $(BUILD)/lib/liborchestrator.a $(LIB)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	@$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/bin/jivectl: $(CTL:%.c=$(BUILD)/obj/%.o) $(LIB)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	@$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(LIB)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	@$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lcmocka

# a service's suites see its internal header and link its archive before the library
$(BUILD)/obj/tests/unit/test_mcp_%.o: CFLAGS += -Isvc-mcp
$(BUILD)/obj/tests/unit/test_webhook_%.o: CFLAGS += -Isvc-webhook
$(BUILD)/obj/tests/unit/test_orch_%.o: CFLAGS += -Isvc-orchestrator
$(BUILD)/tests/test_mcp_%: $(BUILD)/obj/tests/unit/test_mcp_%.o $(BUILD)/lib/libmcp.a $(LIB)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	@$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lcmocka
$(BUILD)/tests/test_webhook_%: $(BUILD)/obj/tests/unit/test_webhook_%.o $(BUILD)/lib/libwebhook.a $(LIB)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	@$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lcmocka
$(BUILD)/tests/test_orch_%: $(BUILD)/obj/tests/unit/test_orch_%.o $(BUILD)/lib/liborchestrator.a $(LIB)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	@$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lcmocka

.SECONDARY:

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

bootstrap:
	@bash deploy/bootstrap.sh

# The README's test command. Everything runs against the sanitizer build; the pytest session
# starts its own Postgres and Redis on free loopback ports and runs the cmocka suites too.
test: bootstrap test-deps
	$(MAKE) SAN=1 all units
	$(MAKE) fuzzers
	JIVE_BUILD=build/san $(PY) -m pytest -q -p no:cacheprovider tests/integration

units: $(UNIT_BINS)

# libFuzzer targets (clang, ASan+UBSan). The library and the services are compiled once more
# with the fuzzers' instrumentation into archives of their own (build/fuzz/lib), the same
# archives as the build's; each target links what it needs. `make fuzz` runs each for
# FUZZ_SECONDS; make test runs each briefly.
FUZZ_SRC     := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS    := $(FUZZ_SRC:tests/fuzz/%.c=build/fuzz/%)
FUZZ_SECONDS ?= 60
FUZZ_CFLAGS  := -std=c17 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -g -O1 \
                -fno-sanitize-recover=all -Ilibjivecore/include $(PKG_CFLAGS) \
                -DJC_VERSION='"fuzz"'
FUZZ_LIB     := build/fuzz/lib/libjivecore.a

build/fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $< (fuzz)"
	@clang $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link,address,undefined -MMD -MP -c $< -o $@

$(FUZZ_LIB): $(LIB_SRC:%.c=build/fuzz/obj/%.o)
build/fuzz/lib/libmcp.a: $(filter-out build/fuzz/obj/svc-mcp/main.o,$(SVC_MCP:%.c=build/fuzz/obj/%.o))
build/fuzz/lib/libwebhook.a: $(filter-out build/fuzz/obj/svc-webhook/main.o,$(SVC_WH:%.c=build/fuzz/obj/%.o))
$(FUZZ_LIB) build/fuzz/lib/libmcp.a build/fuzz/lib/libwebhook.a:
	@mkdir -p $(dir $@)
	@echo "  AR      $@"
	@rm -f $@ && ar rcs $@ $^

# What each target links besides the library: a service's archive, the harness that runs the
# whole service on a thread (tests/fuzz/harness.c) for the HTTP ones.
FUZZ_EXTRA_fuzz_route        := build/fuzz/lib/libwebhook.a
FUZZ_EXTRA_fuzz_mcp_http     := build/fuzz/obj/tests/fuzz/harness.o build/fuzz/lib/libmcp.a
FUZZ_EXTRA_fuzz_webhook_http := build/fuzz/obj/tests/fuzz/harness.o build/fuzz/lib/libwebhook.a

build/fuzz/obj/tests/fuzz/fuzz_route.o: FUZZ_CFLAGS += -Isvc-webhook
build/fuzz/obj/tests/fuzz/fuzz_webhook_http.o: FUZZ_CFLAGS += -Isvc-webhook
build/fuzz/obj/tests/fuzz/fuzz_mcp_http.o: FUZZ_CFLAGS += -Isvc-mcp

.SECONDEXPANSION:
build/fuzz/%: build/fuzz/obj/tests/fuzz/%.o $$(FUZZ_EXTRA_$$*) $(FUZZ_LIB)
	@mkdir -p $(dir $@)
	@echo "  FUZZ    $@"
	@clang $(FUZZ_CFLAGS) -fsanitize=fuzzer,address,undefined $^ -o $@ $(PKG_LIBS) -lpthread

-include $(shell find build/fuzz/obj -name '*.d' 2>/dev/null)

fuzzers: $(FUZZ_BINS)

fuzz: bootstrap fuzzers
	@for f in $(FUZZ_BINS); do \
	    n=$$(basename $$f); mkdir -p build/fuzz/corpus-$$n; \
	    echo "== $$n for $(FUZZ_SECONDS) s"; \
	    $$f -max_total_time=$(FUZZ_SECONDS) -timeout=10 -print_final_stats=1 \
	        build/fuzz/corpus-$$n tests/fuzz/corpus/$$n || exit 1; \
	done

# npm test fixtures (GitHub's example payloads, the MCP SDK client), pinned by tests/package-lock.json
test-deps: tests/node_modules/.package-lock.json

tests/node_modules/.package-lock.json: tests/package.json tests/package-lock.json
	cd tests && npm ci --no-audit --no-fund --loglevel=error

test-unit: bootstrap
	$(MAKE) SAN=1 all units
	JIVE_BUILD=build/san $(PY) -m pytest -q -p no:cacheprovider tests/integration/test_unit_suites.py

# The fault suite's long form (make test runs the short one): longer outages, three rounds;
# the table of counts goes to build/faults.md.
test-faults: bootstrap test-deps
	$(MAKE) SAN=1 all
	JIVE_FAULTS=long JIVE_FAULT_REPORT=build/faults.md JIVE_BUILD=build/san \
	    $(PY) -m pytest -q -s -p no:cacheprovider tests/integration/test_faults.py

# Soak (not in CI): the release build under mixed load for SOAK_SECONDS with RSS sampled every
# 10 s, then the sanitizer build for SOAK_SAN_SECONDS; reports in build/soak*.md.
SOAK_SECONDS     ?= 600
SOAK_SAN_SECONDS ?= 120
soak: bootstrap test-deps
	$(MAKE) all
	$(MAKE) SAN=1 all
	$(PY) tests/soak/soak.py --seconds $(SOAK_SECONDS) --report build/soak.md
	$(PY) tests/soak/soak.py --build build/san --seconds $(SOAK_SAN_SECONDS) --report build/soak-san.md

# Benchmarks on loopback; rewrites docs/PERFORMANCE.md from the run (not part of make test).
bench: bootstrap test-deps all
	$(PY) tests/bench/bench_webhook.py --write docs/PERFORMANCE.md
	$(PY) tests/bench/bench_orchestrator.py --write docs/PERFORMANCE.md
	$(PY) tests/bench/bench_pipeline.py --write docs/PERFORMANCE.md
	$(PY) tests/bench/bench_mcp.py --write docs/PERFORMANCE.md
	$(PY) tests/bench/bench_events.py --write docs/PERFORMANCE.md
	$(PY) tests/bench/bench_governance.py --write docs/PERFORMANCE.md
	$(PY) tests/bench/chart.py --write docs/PERFORMANCE.md

run: bootstrap all
	@bash deploy/local-stack.sh run

lint:
	@bash deploy/lint.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build
