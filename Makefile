# voz — GNU Makefile. Objects and binaries live under $(BUILD); variants by variable:
#   make SANITIZE=1   AddressSanitizer + UndefinedBehaviorSanitizer (own build dir)
#   make DEBUG=1      -O0 -g
#   make BUILD=dir    private build folder (parallel work trees)

PREFIX   ?= /usr/local
SANITIZE ?= 0
DEBUG    ?= 0
ifeq ($(SANITIZE),1)
BUILD    ?= build/asan
else ifeq ($(DEBUG),1)
BUILD    ?= build/debug
else
BUILD    ?= build/release
endif

VERSION  := 0.1.0
PKGS     := sndfile soxr kissfft-float openblas portaudio-2.0
# Debian packages behind every pkg-config module and tool the build, tests and demo use
# (python3: standard library only, for test helpers; valgrind: the leak checks).
DEB_PKGS := build-essential pkg-config libsndfile1-dev libsoxr-dev libkissfft-dev \
            libopenblas-dev portaudio19-dev libasound2-dev libcmocka-dev alsa-utils \
            espeak-ng sox python3 python3-numpy valgrind

CC       ?= cc
CFLAGS_BASE := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter \
               -Iinclude -I. -DVOZ_VERSION=\"$(VERSION)\" -pthread -MMD -MP
ifeq ($(DEBUG),1)
OPT := -O0 -g
else
OPT := -O2 -g -march=x86-64-v2 -ffp-contract=off
endif
SAN_FLAGS :=
ifeq ($(SANITIZE),1)
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
OPT := -O1 -g
endif

PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
ALL_CFLAGS = $(CFLAGS_BASE) $(OPT) $(SAN_FLAGS) $(PKG_CFLAGS) $(CFLAGS)
LDLIBS_ALL = $(PKG_LIBS) -lm -lpthread $(LDLIBS)

LIB_DIRS := common frontend acoustic decoder recognizer train
LIB_SRC  := $(foreach d,$(LIB_DIRS),$(wildcard $(d)/*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o) $(BUILD)/models/default_model.o
CLI_SRC  := $(wildcard cli/*.c)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_SRC := $(wildcard tests/test_*.c)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
DEFAULT_MODEL ?= models/digits-en/digits-en.voz

LIB := $(BUILD)/libvoz.a
VOZ := $(BUILD)/voz

.PHONY: all deps build demo test unit-test e2e-test install bench clean fixtures fuzz
all: build
build: deps $(VOZ) $(LIB) voz

# deps: install missing Debian packages once; quiet when everything is present.
DEPS_STAMP := build/.deps-ok
deps: $(DEPS_STAMP)
$(DEPS_STAMP): Makefile
	@./tools/install-deps.sh $(DEB_PKGS)
	@mkdir -p build && touch $@

# A convenience link at the top of the tree, to the release binary only (sanitizer
# and debug builds leave it alone).
.PHONY: voz
voz: $(VOZ)
	@$(if $(filter build/release,$(BUILD)),ln -sfn $(VOZ) voz,:)

$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	@rm -f $@
	@$(if $(Q),echo "  AR      $@")
	$(Q)ar rcs $@ $^

$(VOZ): $(CLI_OBJ) $(LIB)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(OPT) $(SAN_FLAGS) -o $@ $(CLI_OBJ) $(LIB) $(LDLIBS_ALL)

# V=1 shows whole command lines.
V ?= 0
ifeq ($(V),1)
Q :=
else
Q := @
endif

$(BUILD)/%.o: %.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

# The default model is linked into the library as a blob (see models/default_model.S).
$(BUILD)/models/default_model.o: models/default_model.S $(wildcard $(DEFAULT_MODEL))
	@mkdir -p $(dir $@)
	$(CC) -c -DVOZ_DEFAULT_MODEL_PATH=\"$(if $(wildcard $(DEFAULT_MODEL)),$(DEFAULT_MODEL),models/empty.bin)\" $< -o $@

$(BUILD)/tests/%: tests/%.c $(LIB) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  TEST    $@")
	$(Q)$(CC) $(ALL_CFLAGS) $< -o $@ $(LIB) $(LDLIBS_ALL) -lcmocka

demo: build
	./tools/make-sample.sh build/sample.wav
	$(VOZ) transcribe build/sample.wav

# make test: every cmocka suite, then the end-to-end scripts. A failing test's log is
# shown, passing ones are summarised in one line each.
test: build $(TEST_BIN)
	@VOZ=$(VOZ) BUILD=$(BUILD) ./tests/run-tests.sh $(TEST_BIN)

install: build
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include
	install -m 755 $(VOZ) $(DESTDIR)$(PREFIX)/bin/voz
	install -m 644 $(LIB) $(DESTDIR)$(PREFIX)/lib/libvoz.a
	install -m 644 include/voz.h $(DESTDIR)$(PREFIX)/include/voz.h
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' -e 's|@PKGS@|$(PKGS)|' \
	    tools/voz.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/voz.pc

# Each script writes its own folder under tests/fixtures (the e2e one trains a small model).
FIXTURE_SCRIPTS := ctc mfcc rnn train e2e
fixtures:
	@set -e; for s in $(FIXTURE_SCRIPTS); do echo "  FIXTURE tools/fixtures_$$s.py"; /usr/bin/python3 tools/fixtures_$$s.py; done

bench:
	./bench/run.sh

# libFuzzer targets (clang, ASan + UBSan) for FUZZ_SECONDS each.
FUZZ_SECONDS ?= 60
fuzz:
	./fuzz/run.sh $(FUZZ_SECONDS)

clean:
	rm -rf build voz

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TEST_BIN:=.d)
