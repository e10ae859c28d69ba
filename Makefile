# hashemb: `make` builds build/hashemb; `make help` lists the targets.
CC      ?= gcc
ifeq ($(origin CC),default)
CC      := gcc
endif
BUILD   ?= build
OPT     ?= -O3 -march=native
# ISO C mode keeps -ffp-contract=off: the same sums in the same order as the reference kernels.
CFLAGS  := -std=c11 -D_GNU_SOURCE $(OPT) -g -Wall -Wextra -Wshadow -Wno-unused-parameter -fopenmp
LDLIBS  := -lxxhash -lz -lm
ifeq ($(WERROR),1)
CFLAGS  += -Werror
endif
ifneq ($(SAN),)
CFLAGS  += -fsanitize=$(SAN) -fno-omit-frame-pointer
LDFLAGS += -fsanitize=$(SAN)
endif

# OpenBLAS: the OpenMP build, by its own directory and an rpath (SPEC 8). pkg-config would pick the
# pthread build where both are installed, and its threads fight OpenMP's for the cores.
BLAS_DIR ?= /usr/lib/x86_64-linux-gnu/openblas-openmp
BLAS_INC ?= /usr/include/x86_64-linux-gnu/openblas-openmp
CFLAGS  += -I$(BLAS_INC)
LDFLAGS += -L$(BLAS_DIR) -Wl,-rpath,$(BLAS_DIR)
LDLIBS  := -lopenblas $(LDLIBS)

GIT_SHA := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)$(shell git diff --quiet HEAD -- src Makefile 2>/dev/null || echo -dirty)

DEB_PKGS := libopenblas-openmp-dev libxxhash-dev zlib1g-dev gnuplot-nox parallel
# make test-slurm's: a Slurm controller, node daemon and client, and MUNGE for their authentication
SLURM_PKGS := slurm-wlm munge

# The layers, each a directory of src/ (README, "Layout"); includes name the directory ("emb/emb.h").
SRC_DIRS := core data model emb cli
CFLAGS   += -Isrc
LIB_SRC  := $(filter-out src/cli/main.c,$(wildcard $(SRC_DIRS:%=src/%/*.c)))
LIB_OBJ  := $(LIB_SRC:src/%.c=$(BUILD)/obj/%.o)
TEST_SRC := $(wildcard tests/test_*.c)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/%)
TEST_SH  := $(sort $(wildcard tests/test_*.sh))

.PRECIOUS: $(BUILD)/obj/tests/%.o
.PHONY: all test test-cores test-slurm asan bench bench-peer clean deps deps-slurm help check-deps
.DEFAULT_GOAL := all

all: check-deps $(BUILD)/hashemb

help:
	@echo "make            build build/hashemb"
	@echo "make test       build with warnings as errors, run the unit tests and the end-to-end tests"
	@echo "make test-cores the unit tests once per OpenBLAS core this CPU can run (OPENBLAS_CORETYPE forced)"
	@echo "make test-slurm a real single-node Slurm cluster (started and stopped by the test, as root): the"
	@echo "                tiny sweep as a job array, and a requeued task that resumes from its checkpoint"
	@echo "make asan       the same tests under AddressSanitizer, UBSan and LeakSanitizer (build/asan)"
	@echo "make bench      speed and memory measurements, written to results/bench/"
	@echo "make bench-peer install Debian's python3-torch for the PyTorch peer in make bench"
	@echo "make deps       install the Debian packages that are missing ($(DEB_PKGS))"
	@echo "make deps-slurm install those make test-slurm needs ($(SLURM_PKGS))"
	@echo "make clean      remove build/"

# What the build needs, and what was found.
check-deps:
	@missing=""; \
	[ -f $(BLAS_DIR)/libopenblas.so ] && [ -f $(BLAS_INC)/cblas.h ] || missing="$$missing libopenblas-openmp-dev"; \
	[ -f /usr/include/xxhash.h ] || missing="$$missing libxxhash-dev"; \
	[ -f /usr/include/zlib.h ] || missing="$$missing zlib1g-dev"; \
	echo 'int main(void){return 0;}' | $(CC) -fopenmp -x c - -o /dev/null 2>/dev/null || missing="$$missing (OpenMP: a gcc with -fopenmp)"; \
	if [ -n "$$missing" ]; then echo "hashemb: missing:$$missing -- run 'make deps'" >&2; exit 1; fi
	@[ -f $(BUILD)/.found ] || { mkdir -p $(BUILD); \
	  echo "found: OpenMP ($(CC) -fopenmp), OpenBLAS OpenMP build ($(BLAS_DIR)), xxHash, zlib$$(command -v gnuplot >/dev/null && echo ', gnuplot' || echo '; gnuplot not found: no plots (make deps)')" | tee $(BUILD)/.found; }

deps:
	@need=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || need="$$need $$p"; done; \
	if [ -z "$$need" ]; then echo "deps: all installed ($(DEB_PKGS))"; exit 0; fi; \
	echo "deps: installing$$need"; \
	if [ "$$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then SUDO=sudo; \
	else echo "deps: not root and no sudo: run  sudo apt-get update && sudo apt-get install -y$$need" >&2; exit 1; fi; \
	$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq$$need
	@rm -f $(BUILD)/.found

DEPFLAGS := -MMD -MP
# Rebuild everything when the flags change (e.g. `make test` adds -Werror).
$(BUILD)/.flags: FORCE
	@mkdir -p $(BUILD)/obj
	@echo '$(CC) $(CFLAGS) $(DEPFLAGS) $(LDFLAGS) $(LDLIBS)' | cmp -s - $@ || echo '$(CC) $(CFLAGS) $(DEPFLAGS) $(LDFLAGS) $(LDLIBS)' > $@
FORCE:

# Each object depends on the headers it includes (-MMD writes them to a .d beside it; -MP keeps a
# removed header from breaking the build).
$(BUILD)/obj/%.o: src/%.c $(BUILD)/.flags
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(DEPFLAGS) -c $< -o $@
$(BUILD)/obj/tests/%.o: tests/%.c $(BUILD)/.flags
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(DEPFLAGS) -c $< -o $@
-include $(wildcard $(BUILD)/obj/*/*.d)

# Only cmd.o carries the commit, so a new commit rebuilds one file.
$(BUILD)/.sha: FORCE
	@mkdir -p $(BUILD)
	@echo '$(GIT_SHA)' | cmp -s - $@ || echo '$(GIT_SHA)' > $@
$(BUILD)/obj/cli/cmd.o: $(BUILD)/.sha
$(BUILD)/obj/cli/cmd.o: CFLAGS += -DGIT_SHA='"$(GIT_SHA)"'

$(BUILD)/libhashemb.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/hashemb: $(BUILD)/obj/cli/main.o $(BUILD)/libhashemb.a
	$(CC) $(CFLAGS) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/test_%: $(BUILD)/obj/tests/test_%.o $(BUILD)/libhashemb.a
	$(CC) $(CFLAGS) $(LDFLAGS) $^ $(LDLIBS) -o $@

tests: $(BUILD)/hashemb $(TEST_BIN)

# Unit tests (one binary per tests/test_*.c), then the command-line tests (tests/test_*.sh).
test: check-deps
	@$(MAKE) --no-print-directory WERROR=1 tests
	@BUILD=$(BUILD) ./tests/run_tests.sh $(TEST_BIN) $(TEST_SH)

# The unit binaries under every OpenBLAS core this CPU can run (tests/run_cores.sh names them).
test-cores: check-deps
	@$(MAKE) --no-print-directory WERROR=1 tests
	@BUILD=$(BUILD) ./tests/run_cores.sh $(TEST_BIN)

# Slurm: installs slurm-wlm and munge where missing (as make deps does), then the cluster test.
test-slurm: deps-slurm all
	@./tests/slurm/test_slurm.sh

deps-slurm:
	@$(MAKE) --no-print-directory deps DEB_PKGS="$(SLURM_PKGS)"

asan: check-deps
	@$(MAKE) --no-print-directory BUILD=build/asan OPT=-O1 SAN=address,undefined WERROR=1 tests
	@ASAN_OPTIONS=detect_leaks=1 BUILD=build/asan HASHEMB_QUICK=1 ./tests/run_tests.sh $(TEST_BIN:$(BUILD)/%=build/asan/%) $(TEST_SH)

bench: all
	./bench/bench.sh

bench-peer:
	@dpkg-query -W -f='$${Status}' python3-torch 2>/dev/null | grep -q 'ok installed' || \
	  { [ "$$(id -u)" = 0 ] && SUDO="" || SUDO=sudo; $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq python3-torch; }

clean:
	rm -rf $(BUILD)
