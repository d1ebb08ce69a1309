# keyhole - one non-recursive GNU Makefile.
#
#   make deps      install missing Debian packages (build, tests, benchmarks)
#   make           build/keyhole
#   make test      unit tests, then the black-box suites (tests/integration and
#                  tests/attack) in parallel (pytest-xdist, KH_TEST_WORKERS), the
#                  few marked serial alone after them; last line "N passed, N failed"
#   make test-one-process  the black-box suites again, the daemons they start with
#                  start_keyhole in one process (KH_TEST_PRIVSEP=0: privsep: false); part of CI
#   make unit-asan the unit tests built with ASan+UBSan (build/asan); part of CI
#   make asan      the whole suite built with ASan+UBSan (build/asan); not in CI
#   make fuzz      libFuzzer harnesses, each run FUZZ_SECONDS (default 15)
#   make fuzz-short  every harness FUZZ_SHORT_SECONDS (default 30), FUZZ_JOBS at a time (CI)
#   make run       build, then run the daemon in the foreground
#   make install   binary, man page, bash/zsh completion; PREFIX=/usr/local, DESTDIR
#   make lint      include directions, banned functions, clang-format, cppcheck
#   .ci/run        CI: deps, lint, test, unit-asan, fuzz-short, in that order
#   make format    clang-format the C sources
#   make bench     side-by-side benchmark against peers (not part of test)
#   make bench-quick  agent-like scenarios only, under a minute

.DEFAULT_GOAL := all
SHELL := /bin/bash

BUILD ?= build
PREFIX ?= /usr/local
CC ?= cc
SAN ?=
FUZZ_SECONDS ?= 15
FUZZ_SHORT_SECONDS ?= 30
FUZZ_JOBS ?= $(shell nproc 2>/dev/null || echo 1)

PKGS := openssl yaml-0.1 jansson zlib libcares libseccomp
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN := -Wall -Wextra -Wshadow -Wformat=2 -Wvla -Wmissing-prototypes \
	-Wstrict-prototypes -Wpointer-arith -Wundef
HARDEN := -fstack-protector-strong -fstack-clash-protection -fcf-protection -fPIE
LDHARDEN := -pie -Wl,-z,relro -Wl,-z,now -Wl,-z,noexecstack

ifeq ($(SAN),1)
  OPT ?= -O1 -g -fno-omit-frame-pointer
  SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined
else
  OPT ?= -O2 -g
  HARDEN += -D_FORTIFY_SOURCE=2
  SANFLAGS :=
endif

CFLAGS_ALL := -std=c17 -D_GNU_SOURCE $(OPT) $(WARN) $(HARDEN) $(SANFLAGS) $(PKG_CFLAGS) \
	-iquote src -MMD -MP $(CFLAGS)
ifeq ($(CI),true)
  CFLAGS_ALL += -Werror
endif
LDFLAGS_ALL := $(LDHARDEN) $(SANFLAGS) $(LDFLAGS)
LDLIBS_ALL := $(PKG_LIBS) -lpthread $(LDLIBS)

# Sources live one folder per layer (src/LAYERS says which may include which).
SRC := $(sort $(wildcard src/*.c src/*/*.c))
LIB_SRC := $(filter-out src/main.c,$(SRC))
LIB_OBJ := $(LIB_SRC:src/%.c=$(BUILD)/obj/%.o)
MAIN_OBJ := $(BUILD)/obj/main.o
LIB := $(BUILD)/libkeyhole.a
BIN := $(BUILD)/keyhole

UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_DIR := build/fuzz
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=$(FUZZ_DIR)/%)
FUZZ_OBJ := $(LIB_SRC:src/%.c=$(FUZZ_DIR)/obj/%.o)
FUZZ_CFLAGS := -std=c17 -D_GNU_SOURCE -O1 -g -fno-omit-frame-pointer $(WARN) $(PKG_CFLAGS) \
	-iquote src -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -MMD -MP

.PHONY: all deps deps-build deps-test test test-one-process unit integration asan unit-asan fuzz fuzz-short run install uninstall clean format lint bench bench-quick

all: $(BIN)

$(BUILD)/obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

$(LIB): $(LIB_OBJ)
	rm -f $@
	ar rcs $@ $^

$(BIN): $(MAIN_OBJ) $(LIB)
	$(CC) $(LDFLAGS_ALL) -o $@ $(MAIN_OBJ) $(LIB) $(LDLIBS_ALL)

$(BUILD)/tests/%: tests/unit/%.c tests/unit/tap.h $(LIB) | $(BUILD)/tests
	$(CC) $(CFLAGS_ALL) -iquote tests/unit $(LDFLAGS_ALL) -o $@ $< $(LIB) $(LDLIBS_ALL)

$(BUILD)/tests:
	mkdir -p $@

deps:
	@scripts/deps.sh all

deps-build:
	@scripts/deps.sh build

deps-test:
	@scripts/deps.sh test

unit: $(BIN) $(UNIT_BIN)
	@scripts/run-tests.sh --unit-only $(BUILD)

integration: $(BIN)
	@scripts/run-tests.sh --integration-only $(BUILD)

# test and run first install what they need if it is missing (no-op otherwise),
# so they are the only two commands a new user has to know.
test: deps-test
	@$(MAKE) --no-print-directory $(BIN) $(UNIT_BIN)
	@scripts/run-tests.sh $(BUILD)

# privsep: false stays a supported mode (it saves a process hop per exchange):
# the same black-box suites, the daemons they start with start_keyhole (most of
# them; not those started by `keyhole start` itself) in one process.
test-one-process: deps-test
	@$(MAKE) --no-print-directory $(BIN)
	@KH_TEST_PRIVSEP=0 scripts/run-tests.sh --integration-only $(BUILD)

asan: deps-test
	@$(MAKE) --no-print-directory BUILD=build/asan SAN=1 CC=$${ASAN_CC:-clang} \
		build/asan/keyhole $(UNIT_SRC:tests/unit/%.c=build/asan/tests/%)
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		scripts/run-tests.sh build/asan

# Only the unit tests under ASan+UBSan (CI runs this; make asan runs everything).
unit-asan: deps-test
	@$(MAKE) --no-print-directory BUILD=build/asan SAN=1 CC=$${ASAN_CC:-clang} \
		$(UNIT_SRC:tests/unit/%.c=build/asan/tests/%)
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		scripts/run-tests.sh --unit-only build/asan

# libFuzzer needs clang. Each harness runs on a scratch copy of its seed corpus.
$(FUZZ_DIR)/obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -c $< -o $@

$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_OBJ)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_OBJ) $(PKG_LIBS) -lpthread

# llhttp (Debian's node-llhttp sources) is compiled into the differential harness.
$(FUZZ_DIR)/fuzz_http1_llhttp: FUZZ_CFLAGS += -isystem /usr/share/include/llhttp

# Keep the fuzz objects: make would otherwise treat them as intermediates and delete them.
.SECONDARY: $(FUZZ_OBJ)

fuzz: $(FUZZ_BIN)
	@FUZZ_JOBS=$(FUZZ_JOBS) scripts/run-fuzz.sh $(FUZZ_DIR) $(FUZZ_SECONDS) $(FUZZ_BIN)

# The CI set: every harness briefly, as many at a time as there are cores.
fuzz-short: $(FUZZ_BIN)
	@FUZZ_JOBS=$(FUZZ_JOBS) scripts/run-fuzz.sh $(FUZZ_DIR) $(FUZZ_SHORT_SECONDS) $(FUZZ_BIN)

run: deps-build
	@$(MAKE) --no-print-directory $(BIN)
	$(BIN) proxy

install: $(BIN)
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/keyhole
	install -D -m 0644 docs/keyhole.1 $(DESTDIR)$(PREFIX)/share/man/man1/keyhole.1
	install -D -m 0644 completions/keyhole.bash \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions/keyhole
	install -D -m 0644 completions/_keyhole $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_keyhole

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/keyhole $(DESTDIR)$(PREFIX)/share/man/man1/keyhole.1 \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions/keyhole \
		$(DESTDIR)$(PREFIX)/share/zsh/site-functions/_keyhole

clean:
	rm -rf build

format:
	clang-format -i src/*.c src/*/*.c src/*/*.h tests/unit/*.c tests/unit/*.h tests/fuzz/*.c

lint:
	@scripts/lint.sh

bench: $(BIN)
	@bench/run.sh $(BENCH_ARGS)

# Agent-like scenarios only (bench/agents.py), a subset of clients, 2 rounds: under a minute.
BENCH_QUICK_OUT ?= /tmp/keyhole-bench-agents-quick.md
bench-quick: $(BIN)
	@bench/run.sh --quick --only agents --wait-quiet 0 --out $(BENCH_QUICK_OUT) $(BENCH_ARGS)

-include $(LIB_OBJ:.o=.d) $(MAIN_OBJ:.o=.d) $(UNIT_BIN:=.d) $(FUZZ_OBJ:.o=.d)
