# bench/bench.mk — the benchmark program, built with the top-level Makefile's own flags
# and library without touching it:  make -f Makefile -f bench/bench.mk BUILD=DIR DIR/bench/bench
# (bench/bench.c compiles through the Makefile's $(BUILD)/%.o pattern rule).
BENCH_BIN := $(BUILD)/bench/bench

$(BENCH_BIN): $(BUILD)/bench/bench.o $(LIB)
	$(CC) $(OPT) $(SAN_FLAGS) -o $@ $< $(LIB) $(LDLIBS_ALL)

-include $(BUILD)/bench/bench.d
