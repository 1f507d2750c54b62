# reconcile: one non-recursive Makefile (git's Makefile is the model).
#
#   make                      build lib/libreconcile.a and reconciler/reconcile
#   make check                unit tests (prove) and integration tests
#   make check-unit           unit tests only
#   make check-integration    integration tests only (needs root, docker.io, ...),
#                             INTEGRATION_JOBS=4 scripts at a time
#   make check-valgrind       unit tests under valgrind, zero reports
#   make SANITIZE=address,undefined check
#   make fuzz                 libFuzzer targets (clang) in tests/fuzz/
#   make install PREFIX=/usr/local DESTDIR=   program, man pages, units, cron file,
#                             bash completion, default config (never overwritten)
#   make check-layers         the house rules: layers, purity, no include circle
#   make check-headers        every header compiles on its own
#   make analyze              cppcheck over lib/ and reconciler/, zero reports
#   make style [STYLE_BASE=main]  changed lines formatted as .clang-format says
#   V=1                       show the commands

PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
MANDIR  ?= $(PREFIX)/share/man
# /usr is the system's own prefix: its configuration is in /etc and, as
# Debian 12 does it, its units in /lib/systemd/system
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
SYSTEMDUNITDIR ?= $(if $(filter /usr,$(PREFIX)),/lib/systemd/system,$(PREFIX)/lib/systemd/system)
CRONDIR ?= $(SYSCONFDIR)/cron.d
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
CC      ?= cc
CLANG   ?= clang
PKG_CONFIG ?= pkg-config
PKGS    := yaml-0.1 jansson libcurl libgit2 libssh2 libcrypto libpcre2-8 libmicrohttpd

ifeq ($(V),1)
Q :=
QP := @true
else
Q := @
QP := @printf '  %-8s %s\n'
endif

IS_CLANG := $(shell $(CC) --version 2>/dev/null | grep -q clang && echo yes)

WARN := -std=c11 -Wall -Wextra -Wpedantic -Werror -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wformat=2 -Wvla -Wwrite-strings \
	-Werror=implicit-function-declaration
ifneq ($(IS_CLANG),yes)
WARN += -Wjump-misses-init
endif

PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS))
PKG_LIBS   := $(shell $(PKG_CONFIG) --libs $(PKGS))

OPT ?= -O2 -g
BASE_CFLAGS := $(WARN) $(OPT) -DGIT_DEPRECATE_HARD -iquote lib $(PKG_CFLAGS)
ifneq ($(SANITIZE),)
BASE_CFLAGS += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
SAN_LDFLAGS := -fsanitize=$(SANITIZE)
endif
ALL_CFLAGS  := $(BASE_CFLAGS) $(CFLAGS)
ALL_LDFLAGS := $(SAN_LDFLAGS) $(LDFLAGS)
LIBS := $(PKG_LIBS) -lpthread

LIB_DIRS := base source template manifest docker plan run serve
LIB_SRC  := $(sort $(foreach d,$(LIB_DIRS),$(wildcard lib/$(d)/*.c)))
LIB_OBJ  := $(LIB_SRC:.c=.o)
LIB_A    := lib/libreconcile.a
PROG_SRC := $(sort $(wildcard reconciler/*.c))
PROG_OBJ := $(PROG_SRC:.c=.o)
PROG     := reconciler/reconcile
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:.c=)
UNIT_HELPER_SRC := $(filter-out $(UNIT_SRC),$(wildcard tests/unit/*.c))
UNIT_HELPER_OBJ := $(UNIT_HELPER_SRC:.c=.o)
BENCH_SRC := $(sort $(wildcard tests/bench/*.c))
BENCH_BIN := $(BENCH_SRC:.c=)
TOOL_SRC := $(sort $(wildcard tests/lib/*.c))
TOOL_BIN := $(TOOL_SRC:.c=)
# test tools that need the library (fixture encoders)
LTOOL_SRC := $(sort $(wildcard tests/tools/*.c))
LTOOL_BIN := $(LTOOL_SRC:.c=)
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BIN := $(FUZZ_SRC:.c=)
DEPS := $(wildcard lib/*/*.d reconciler/*.d tests/unit/*.d tests/bench/*.d tests/tools/*.d \
	tests/fuzz/obj/lib/*/*.d tests/fuzz/obj/tests/fuzz/*.d)

# the GET-only proxy a review runner reaches the Docker hosts through (contrib/getonly-proxy/README.md)
PROXY := contrib/getonly-proxy/reconcile-getonly-proxy

all: $(PROG) $(PROXY)

# Rebuild everything when the flags change (plain <-> SANITIZE), as git's GIT-CFLAGS.
BUILD-FLAGS: FORCE
	@f='$(subst ','\'',$(ALL_CFLAGS) $(ALL_LDFLAGS))'; \
	if test x"$$f" != x"`cat $@ 2>/dev/null`"; then echo "$$f" >$@; fi

%.o: %.c BUILD-FLAGS
	$(QP) CC $@
	$(Q)$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(LIB_A): $(LIB_OBJ)
	$(QP) AR $@
	$(Q)rm -f $@ && ar rcs $@ $^

$(PROG): $(PROG_OBJ) $(LIB_A)
	$(QP) LINK $@
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $(PROG_OBJ) $(LIB_A) $(LIBS)

tests/unit/%.o: CFLAGS += -Itests/unit
tests/unit/test_%: tests/unit/test_%.o $(UNIT_HELPER_OBJ) $(LIB_A)
	$(QP) LINK $@
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $< $(UNIT_HELPER_OBJ) $(LIB_A) $(LIBS) -lcmocka

tests/bench/%: tests/bench/%.o $(LIB_A)
	$(QP) LINK $@
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $< $(LIB_A) $(LIBS)

# test tools: standalone programs the integration tests run (no library)
tests/lib/%: tests/lib/%.c BUILD-FLAGS
	$(QP) CC $@
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) $(ALL_LDFLAGS) -o $@ $<

$(PROXY): $(PROXY).c BUILD-FLAGS
	$(QP) CC $@
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) $(ALL_LDFLAGS) -o $@ $<

tests/tools/%: tests/tools/%.o $(LIB_A)
	$(QP) LINK $@
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $< $(LIB_A) $(LIBS)

# reads of a channel's stderr made slow on purpose (tests/tools/ssh-exec.c)
tests/tools/ssh-exec: tests/tools/ssh-exec.o $(LIB_A)
	$(QP) LINK $@
	$(Q)$(CC) $(ALL_LDFLAGS) -Wl,--wrap=libssh2_channel_read_ex -o $@ $< $(LIB_A) $(LIBS)

tools: $(TOOL_BIN) $(LTOOL_BIN)
unit: $(UNIT_BIN)
bench: $(BENCH_BIN) $(PROG)

check: check-unit check-integration

# The house (HACKING.md): stages only include downwards, the planner stays pure.
check-layers:
	@python3 scripts/check-house.py

HEADERS := $(sort $(wildcard lib/*/*.h reconciler/*.h))
check-headers:
	@fail=0; for h in $(HEADERS); do \
		printf '#include "%s"\ntypedef int check_headers_nonempty;\n' "$$(echo $$h | sed 's|^lib/||;s|^reconciler/||')" | \
		$(CC) $(BASE_CFLAGS) -iquote reconciler -fsyntax-only -x c - || { echo "check-headers: $$h does not compile alone"; fail=1; }; \
	done; test $$fail = 0 && echo "check-headers: $(words $(HEADERS)) headers compile alone"

CPPCHECK_FLAGS := --enable=warning,portability --std=c11 --inline-suppr --error-exitcode=1 -q \
	-I lib -I reconciler --include=$(shell $(PKG_CONFIG) --variable=includedir jansson)/jansson.h
analyze:
	@cppcheck $(CPPCHECK_FLAGS) lib reconciler && echo "analyze: cppcheck found nothing"

STYLE_BASE ?= HEAD
style:
	@scripts/style.sh $(STYLE_BASE)

check-unit: $(UNIT_BIN)
	@CMOCKA_MESSAGE_OUTPUT=TAP prove --exec '' $(UNIT_BIN)

check-valgrind: $(UNIT_BIN)
	@CMOCKA_MESSAGE_OUTPUT=TAP prove --exec 'valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect --track-fds=no' $(UNIT_BIN)

# Integration scripts run INTEGRATION_JOBS at a time, the slowest first (as
# tests/integration/timings lists them); a script with a line
# test_run_alone='why' runs after them, alone (scripts/run-integration.sh).
INTEGRATION_JOBS ?= 4
check-integration: $(PROG) $(PROXY) $(TOOL_BIN) $(LTOOL_BIN) $(UNIT_BIN)
	@scripts/run-integration.sh -j $(INTEGRATION_JOBS)

# libFuzzer targets: the whole library is linked into each target, compiled
# with clang and the fuzzer's flags once, into objects of their own under
# $(FUZZ_OBJ_DIR) (beside the plain or SANITIZE objects, which they never replace).
FUZZ_CFLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -DGIT_DEPRECATE_HARD -iquote lib $(PKG_CFLAGS) -std=c11
FUZZ_OBJ_DIR := tests/fuzz/obj
FUZZ_LIB_OBJ := $(addprefix $(FUZZ_OBJ_DIR)/,$(LIB_OBJ))
$(FUZZ_OBJ_DIR)/%.o: %.c
	$(QP) FUZZCC $@
	$(Q)mkdir -p $(@D) && $(CLANG) $(FUZZ_CFLAGS) -MMD -MP -c -o $@ $<

tests/fuzz/fuzz_%: $(FUZZ_OBJ_DIR)/tests/fuzz/fuzz_%.o $(FUZZ_LIB_OBJ)
	$(QP) FUZZ $@
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -o $@ $< $(FUZZ_LIB_OBJ) $(PKG_LIBS) -lpthread

fuzz: $(FUZZ_BIN)

# The units and the cron file name the installed program and config file.
INSTALL_PATHS := sed -e 's|/usr/local/bin/reconcile|$(BINDIR)/reconcile|g' \
	-e 's|/etc/reconcile/|$(SYSCONFDIR)/reconcile/|g'

install: $(PROG) $(PROXY)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)$(CRONDIR) $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(SYSCONFDIR)/reconcile
	install -m 0755 $(PROG) $(DESTDIR)$(BINDIR)/reconcile
	install -m 0755 $(PROXY) $(DESTDIR)$(BINDIR)/reconcile-getonly-proxy
	for s in 1 5 7; do for m in doc/*.$$s; do test -f "$$m" || continue; \
	  install -D -m 0644 "$$m" $(DESTDIR)$(MANDIR)/man$$s/$${m##*/} || exit 1; done; done
	for u in contrib/systemd/*.service contrib/systemd/*.timer; do \
	  $(INSTALL_PATHS) "$$u" >$(DESTDIR)$(SYSTEMDUNITDIR)/$${u##*/} && chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/$${u##*/} || exit 1; done
	$(INSTALL_PATHS) contrib/cron/reconcile >$(DESTDIR)$(CRONDIR)/reconcile && chmod 0644 $(DESTDIR)$(CRONDIR)/reconcile
	install -m 0644 contrib/bash-completion/reconcile $(DESTDIR)$(BASHCOMPDIR)/reconcile
	# the default configuration, never over one that is there
	test -e $(DESTDIR)$(SYSCONFDIR)/reconcile/reconcile.yaml || \
	  install -m 0644 contrib/reconcile.yaml $(DESTDIR)$(SYSCONFDIR)/reconcile/reconcile.yaml

clean:
	rm -rf lib/*/*.o lib/*/*.d $(LIB_A) reconciler/*.o reconciler/*.d $(PROG) \
	  tests/unit/*.o tests/unit/*.d $(UNIT_BIN) tests/bench/*.o tests/bench/*.d $(BENCH_BIN) \
	  $(FUZZ_BIN) $(FUZZ_OBJ_DIR) $(TOOL_BIN) $(PROXY) tests/tools/*.o tests/tools/*.d $(LTOOL_BIN) BUILD-FLAGS


.PHONY: check-layers check-headers analyze style
.PHONY: all check check-unit check-valgrind check-integration unit tools bench fuzz install clean FORCE
.SECONDARY:
.DELETE_ON_ERROR:

-include $(DEPS)
