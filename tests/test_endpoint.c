/* tests/test_endpoint.c — the endpointer on synthetic signals whose answers are
   known by construction: tone bursts in noise, digital silence (and hiss after it), a
   long utterance
   cut at its quietest point near the limit, clicks and short bursts that must be
   ignored, speech during calibration, and block-size independence. Signals are
   16 kHz; noise comes from a fixed-seed generator so every run sees the same input. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "frontend/endpoint.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RATE 16000
#define F 160 /* samples per endpointer frame at RATE */

static size_t at_s(double t) { return (size_t)llround(t * RATE); }

/* ---- signals ------------------------------------------------------------------- */

static uint64_t rng_state;
static double uniform01(void)
{
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return ((double)(rng_state >> 11) + 0.5) / 9007199254740992.0;
}
static double gauss(void)
{
    return sqrt(-2.0 * log(uniform01())) * cos(2.0 * M_PI * uniform01());
}

static float *noise(double seconds, double stddev, size_t *n)
{
    rng_state = 12345;
    *n = at_s(seconds);
    float *x = malloc(*n * sizeof *x);
    assert_non_null(x);
    for (size_t i = 0; i < *n; i++)
        x[i] = (float)(stddev * gauss());
    return x;
}

static void add_tone(float *x, size_t n, double t0, double t1, double amp, double hz)
{
    for (size_t i = at_s(t0); i < at_s(t1) && i < n; i++)
        x[i] += (float)(amp * sin(2.0 * M_PI * hz * (double)i / RATE));
}

/* ---- running the endpointer -------------------------------------------------------- */

#define MAX_SEGS 32
struct segs { int n; voz_endpoint_segment s[MAX_SEGS]; };

static void push(struct segs *out, const voz_endpoint_segment *s)
{
    assert_true(out->n < MAX_SEGS);
    out->s[out->n++] = *s;
}

/* Feeds x in blocks of `block` samples (0: all at once) and drains. Also checks
   that keep_from never moves back and never passes a segment still to come. */
static struct segs run(const voz_endpoint_params *p, const float *x, size_t n, size_t block)
{
    struct voz_endpoint *e;
    assert_int_equal(voz_endpoint_create(p, RATE, &e), VOZ_OK);
    struct segs out = { 0 };
    uint64_t keep_prev = 0;
    size_t pos = 0;
    while (pos < n) {
        size_t len = block && n - pos > block ? block : n - pos;
        size_t used = 0;
        while (used < len) {
            voz_endpoint_segment s;
            int done;
            used += voz_endpoint_process(e, x + pos + used, len - used, &s, &done);
            if (done)
                push(&out, &s);
        }
        pos += len;
        uint64_t k = voz_endpoint_keep_from(e);
        assert_true(k >= keep_prev);
        assert_true(k <= voz_endpoint_position(e));
        keep_prev = k;
    }
    voz_endpoint_segment s;
    while (voz_endpoint_drain(e, &s))
        push(&out, &s);
    voz_endpoint_free(e);
    for (int i = 1; i < out.n; i++) /* in order, never overlapping */
        assert_true(out.s[i].start >= out.s[i - 1].end);
    return out;
}

static voz_endpoint_params defaults(void)
{
    return (voz_endpoint_params){ .threshold_db = 9, .hangover_ms = 400, .min_speech_ms = 150,
                                  .pad_ms = 200, .max_utterance_s = 20, .calibrate_ms = 500 };
}

static void print_segs(const struct segs *g)
{
    for (int i = 0; i < g->n; i++)
        print_message("  segment %d: [%.3f, %.3f) speech [%.3f, %.3f) cut %d\n", i,
                      g->s[i].start / (double)RATE, g->s[i].end / (double)RATE,
                      g->s[i].speech_start / (double)RATE, g->s[i].speech_end / (double)RATE,
                      g->s[i].cut);
}

/* |found - expected| <= tol seconds, with a message naming the quantity. */
static void near_s(const char *what, uint64_t found, double expected, double tol)
{
    double f = found / (double)RATE;
    if (fabs(f - expected) > tol)
        fail_msg("%s is %.4f s, expected %.4f +- %.4f s", what, f, expected, tol);
}

/* ---- tests --------------------------------------------------------------------- */

static void test_params_check(void **state)
{
    (void)state;
    voz_endpoint_params p = defaults();
    assert_int_equal(voz_endpoint_params_check(&p), VOZ_OK);
    p.threshold_db = NAN;
    assert_int_equal(voz_endpoint_params_check(&p), VOZ_ERR_INVALID);
    p = defaults();
    p.hangover_ms = 0;
    assert_int_equal(voz_endpoint_params_check(&p), VOZ_ERR_INVALID);
    p = defaults();
    p.max_utterance_s = 0.5f;
    assert_int_equal(voz_endpoint_params_check(&p), VOZ_ERR_INVALID);
    p.max_utterance_s = 0; /* no limit */
    assert_int_equal(voz_endpoint_params_check(&p), VOZ_OK);
    p = defaults();
    p.pad_ms = -1;
    assert_int_equal(voz_endpoint_params_check(&p), VOZ_ERR_INVALID);
    struct voz_endpoint *e = (void *)1;
    p = defaults();
    assert_int_equal(voz_endpoint_create(&p, 0, &e), VOZ_ERR_INVALID);
    assert_null(e);
}

static void test_tone_bursts_in_noise(void **state)
{
    (void)state;
    size_t n;
    float *x = noise(5.0, 0.003, &n); /* about -50 dB */
    add_tone(x, n, 1.000, 1.800, 0.3, 440);
    add_tone(x, n, 3.300, 3.900, 0.3, 700);
    voz_endpoint_params p = defaults();
    struct segs g = run(&p, x, n, 320);
    print_segs(&g);
    assert_int_equal(g.n, 2);
    /* Frames are 10 ms: an edge is found within the frame that holds it. */
    near_s("first speech start", g.s[0].speech_start, 1.000, 0.011);
    near_s("first speech end", g.s[0].speech_end, 1.800, 0.011);
    near_s("second speech start", g.s[1].speech_start, 3.300, 0.011);
    near_s("second speech end", g.s[1].speech_end, 3.900, 0.011);
    for (int i = 0; i < 2; i++) {
        assert_true(g.s[i].start == g.s[i].speech_start - at_s(0.2)); /* pad before */
        assert_true(g.s[i].end == g.s[i].speech_end + at_s(0.2));     /* pad after */
        assert_int_equal(g.s[i].cut, 0);
    }
    free(x);
}

static void test_digital_silence(void **state)
{
    (void)state;
    size_t n = at_s(4.0);
    float *x = calloc(n, sizeof *x);
    assert_non_null(x);
    voz_endpoint_params p = defaults();
    struct segs g = run(&p, x, n, 1000);
    assert_int_equal(g.n, 0);

    struct voz_endpoint *e;
    assert_int_equal(voz_endpoint_create(&p, RATE, &e), VOZ_OK);
    size_t used = 0;
    while (used < n) {
        voz_endpoint_segment s;
        int done;
        used += voz_endpoint_process(e, x + used, n - used, &s, &done);
        assert_int_equal(done, 0);
    }
    float fl = voz_endpoint_noise_floor_db(e);
    assert_true(isfinite(fl));
    assert_true(fabsf(fl - VOZ_ENDPOINT_FLOOR_DB) < 1e-3f);
    voz_endpoint_free(e);

    /* Speech between stretches of exact zeros is found, and ends. */
    add_tone(x, n, 2.0, 2.5, 0.1, 300);
    g = run(&p, x, n, 1000);
    print_segs(&g);
    assert_int_equal(g.n, 1);
    near_s("speech start", g.s[0].speech_start, 2.0, 0.011);
    near_s("speech end", g.s[0].speech_end, 2.5, 0.011);
    /* A quiet burst far below full scale still counts against digital silence. */
    memset(x, 0, n * sizeof *x);
    add_tone(x, n, 1.0, 1.4, 1e-3, 300);
    g = run(&p, x, n, 0);
    assert_int_equal(g.n, 1);
    free(x);
}

/* Digital silence sets the floor at -100 dB; hiss at -65 dBFS that follows a word then
   stood 35 dB over it, and the floor's slow rise let 4 s of it pass as an utterance
   ("six six six" from voz live). After 2 s of steady sound the floor jumps to it: the
   word ends where the hiss starts, and an island of hiss between two words is dropped. */
static void test_hiss_after_digital_silence(void **state)
{
    (void)state;
    size_t n = at_s(9.0);
    float *x = calloc(n, sizeof *x);
    assert_non_null(x);
    rng_state = 777;
    const double sd = sqrt(pow(10.0, -6.5)); /* -65 dBFS */
    add_tone(x, n, 1.0, 1.5, 0.1, 300);
    for (size_t i = at_s(1.5); i < at_s(5.5); i++)
        x[i] = (float)(sd * gauss());
    voz_endpoint_params p = defaults();
    struct segs g = run(&p, x, n, 1000);
    print_segs(&g);
    assert_int_equal(g.n, 1);
    near_s("speech end", g.s[0].speech_end, 1.5, 0.011);
    assert_true(g.s[0].end <= at_s(1.5 + 0.2 + 0.011));

    memset(x, 0, n * sizeof *x);
    add_tone(x, n, 1.0, 1.5, 0.1, 300);
    for (size_t i = at_s(2.5); i < at_s(6.5); i++)
        x[i] = (float)(sd * gauss());
    add_tone(x, n, 7.5, 8.0, 0.1, 300);
    g = run(&p, x, n, 1000);
    print_segs(&g);
    assert_int_equal(g.n, 2);
    near_s("second word", g.s[1].speech_start, 7.5, 0.011);
    free(x);
}

/* Syllable-like speech: a tone whose amplitude swings at 4 Hz. */
static void add_speechlike(float *x, size_t n, double t0, double t1, double amp)
{
    for (size_t i = at_s(t0); i < at_s(t1) && i < n; i++) {
        double t = (double)i / RATE;
        double env = 0.3 + 0.7 * 0.5 * (1.0 + cos(2.0 * M_PI * 4.0 * t));
        x[i] += (float)(amp * env * sin(2.0 * M_PI * 220.0 * t));
    }
}

static void quieten(float *x, size_t n, double t0, double t1, double gain)
{
    for (size_t i = at_s(t0); i < at_s(t1) && i < n; i++)
        x[i] *= (float)gain;
}

static void test_long_utterance_cut_at_quietest(void **state)
{
    (void)state;
    size_t n;
    float *x = noise(14.5, 0.002, &n);
    add_speechlike(x, n, 1.0, 13.0, 0.4);
    /* A deep pause long before the limit (outside the look-back window), and a
       shallower one inside each window: the cut must take the nearby ones. */
    quieten(x, n, 2.50, 2.58, 0.0);
    quieten(x, n, 4.90, 4.98, 0.02);
    quieten(x, n, 8.50, 8.58, 0.02);
    voz_endpoint_params p = defaults();
    p.max_utterance_s = 5;
    struct segs g = run(&p, x, n, 480);
    print_segs(&g);
    assert_int_equal(g.n, 3);
    /* Segment 0 starts 200 ms before the speech, reaches the limit at 5.8 s and is
       cut in the pause at 4.90..4.98; the next one is cut 5 s later in 8.50..8.58. */
    near_s("first start", g.s[0].start, 0.8, 0.011);
    near_s("first cut", g.s[0].end, 4.94, 0.03);
    assert_int_equal(g.s[0].cut, 1);
    assert_true(g.s[1].start == g.s[0].end);
    near_s("second cut", g.s[1].end, 8.54, 0.03);
    assert_int_equal(g.s[1].cut, 1);
    assert_true(g.s[2].start == g.s[1].end);
    near_s("last speech end", g.s[2].speech_end, 13.0, 0.011);
    assert_int_equal(g.s[2].cut, 0);
    for (int i = 0; i < g.n; i++)
        assert_true(g.s[i].end - g.s[i].start <= at_s(5.0));
    free(x);
}

static void test_clicks_and_short_bursts_ignored(void **state)
{
    (void)state;
    size_t n;
    float *x = noise(8.0, 0.003, &n);
    for (int k = 0; k < 6; k++) { /* 5 ms clicks, 700 ms apart */
        double t = 1.0 + 0.7 * k;
        add_tone(x, n, t, t + 0.005, 0.8, 2000);
    }
    add_tone(x, n, 5.5, 5.6, 0.3, 440); /* 100 ms < min_speech_ms */
    voz_endpoint_params p = defaults();
    struct segs g = run(&p, x, n, 160);
    print_segs(&g);
    assert_int_equal(g.n, 0);
    add_tone(x, n, 6.5, 6.8, 0.3, 440); /* 300 ms: an utterance */
    g = run(&p, x, n, 160);
    print_segs(&g);
    assert_int_equal(g.n, 1);
    near_s("burst start", g.s[0].speech_start, 6.5, 0.011);
    free(x);
}

static void test_speech_during_calibration(void **state)
{
    (void)state;
    size_t n;
    float *x = noise(3.0, 0.003, &n);
    add_tone(x, n, 0.1, 0.9, 0.3, 440);
    voz_endpoint_params p = defaults();
    struct segs g = run(&p, x, n, 256);
    print_segs(&g);
    assert_int_equal(g.n, 1);
    near_s("speech start", g.s[0].speech_start, 0.1, 0.011);
    near_s("speech end", g.s[0].speech_end, 0.9, 0.011);
    assert_true(g.s[0].start == 0); /* padding clipped at the start of input */
    free(x);
}

static void test_open_utterance_closed_by_drain(void **state)
{
    (void)state;
    size_t n;
    float *x = noise(2.0, 0.003, &n);
    add_tone(x, n, 1.0, 2.0, 0.3, 440); /* still speaking when input ends */
    voz_endpoint_params p = defaults();
    struct segs g = run(&p, x, n, 0);
    print_segs(&g);
    assert_int_equal(g.n, 1);
    assert_true(g.s[0].end == n);
    free(x);
}

static void test_block_size_independent(void **state)
{
    (void)state;
    size_t n;
    float *x = noise(9.0, 0.003, &n);
    add_tone(x, n, 0.7, 1.5, 0.2, 440);
    add_speechlike(x, n, 2.2, 8.0, 0.3);
    voz_endpoint_params p = defaults();
    p.max_utterance_s = 2;
    struct segs ref = run(&p, x, n, 0);
    assert_true(ref.n >= 3);
    const size_t blocks[] = { 1, 7, 159, 160, 161, 4096 };
    for (size_t b = 0; b < sizeof blocks / sizeof blocks[0]; b++) {
        struct segs g = run(&p, x, n, blocks[b]);
        int same = g.n == ref.n;
        for (int i = 0; same && i < g.n; i++)
            same = g.s[i].start == ref.s[i].start && g.s[i].end == ref.s[i].end &&
                   g.s[i].speech_start == ref.s[i].speech_start &&
                   g.s[i].speech_end == ref.s[i].speech_end && g.s[i].cut == ref.s[i].cut;
        if (!same) {
            print_segs(&ref);
            print_segs(&g);
            fail_msg("block size %zu gives different segments", blocks[b]);
        }
    }
    free(x);
}

static void test_quietest_helper(void **state)
{
    (void)state;
    size_t n;
    float *x = noise(3.0, 0.01, &n);
    add_tone(x, n, 0.0, 3.0, 0.3, 300);
    quieten(x, n, 1.70, 1.75, 0.0);
    size_t q = voz_endpoint_quietest(x, n, RATE, 0, at_s(1.0), at_s(2.5));
    near_s("quietest point", q, 1.72, 0.02);
    assert_true(q % F == 0);
    /* The same samples buffered from absolute position 12345 on: the answer moves
       with them and stays on the absolute 10 ms grid. */
    const size_t off = 12345;
    size_t q2 = voz_endpoint_quietest(x + off, n - off, RATE, off, at_s(1.0) - off, at_s(2.5) - off);
    assert_true(q2 + off == q);
    /* Degenerate ranges give lo back. */
    assert_int_equal(voz_endpoint_quietest(x, n, RATE, 0, 100, 150), 100);
    assert_int_equal(voz_endpoint_quietest(x, n, RATE, 0, 500, 400), 500);
    assert_int_equal(voz_endpoint_quietest(x, n, RATE, 0, 10, 200), 10); /* no whole grid frame */
    /* On a constant signal the latest frame wins (keeps segments long). */
    float flat[10 * F];
    for (size_t i = 0; i < 10 * F; i++)
        flat[i] = 0;
    assert_int_equal(voz_endpoint_quietest(flat, 10 * F, RATE, 0, 0, 10 * F), 9 * F);
    assert_int_equal(voz_endpoint_quietest(flat, 10 * F, RATE, 5, 0, 10 * F), 8 * F + (F - 5));
    free(x);
}

/* 16-bit TPDF dither as sox writes it over digital silence: the difference of two
   uniform values of one LSB each, quantised to whole LSBs (about -96 dBFS). */
static float *dither16(double seconds, size_t *n)
{
    rng_state = 777;
    *n = at_s(seconds);
    float *x = malloc(*n * sizeof *x);
    assert_non_null(x);
    for (size_t i = 0; i < *n; i++)
        x[i] = (float)(round(uniform01() - uniform01()) / 32768.0);
    return x;
}

/* Very quiet speech: a tone burst at -77 dBFS peak (-80 dB frame energy) in digital
   silence, and one at -66 dBFS peak in dither, are both one utterance; the dither
   alone and the silence alone are none. With the old -90 dB floor the first was lost. */
static void test_quiet_speech_and_dither(void **state)
{
    (void)state;
    voz_endpoint_params p = defaults();
    size_t n;
    float *x = calloc(at_s(3.0), sizeof *x);
    n = at_s(3.0);
    assert_non_null(x);
    add_tone(x, n, 1.0, 1.6, 1.414e-4, 300); /* variance 1e-8: -80 dB */
    struct segs g = run(&p, x, n, 0);
    print_segs(&g);
    assert_int_equal(g.n, 1);
    assert_true(g.s[0].speech_start >= at_s(0.98) && g.s[0].speech_start <= at_s(1.02));
    assert_true(g.s[0].speech_end >= at_s(1.58) && g.s[0].speech_end <= at_s(1.62));
    free(x);

    x = dither16(10.0, &n);
    g = run(&p, x, n, 0);
    print_segs(&g);
    assert_int_equal(g.n, 0);
    add_tone(x, n, 4.0, 4.5, 5e-4, 300); /* -66 dBFS peak, 30 dB over the dither */
    g = run(&p, x, n, 0);
    print_segs(&g);
    assert_int_equal(g.n, 1);
    assert_true(g.s[0].speech_start >= at_s(3.98) && g.s[0].speech_start <= at_s(4.02));
    free(x);
}

/* voz_endpoint_loudest_db on hand-solvable input: a full-scale-ish sine of amplitude A
   has frame variance A^2 / 2; zeros give the floor; a range under one frame is one frame. */
static void test_loudest_helper(void **state)
{
    (void)state;
    size_t n = at_s(1.0);
    float *x = calloc(n, sizeof *x);
    assert_non_null(x);
    assert_true(fabsf(voz_endpoint_loudest_db(x, n, RATE, 0) - VOZ_ENDPOINT_FLOOR_DB) < 1e-4f);
    assert_true(fabsf(voz_endpoint_loudest_db(x, 0, RATE, 0) - VOZ_ENDPOINT_FLOOR_DB) < 1e-4f);
    add_tone(x, n, 0.5, 0.6, 0.01, 500); /* 500 Hz: whole periods per 10 ms frame */
    float want = 10.0f * log10f(0.01f * 0.01f / 2);
    float got = voz_endpoint_loudest_db(x, n, RATE, 0);
    print_message("  loudest %.3f dB, expected %.3f\n", got, want);
    assert_true(fabsf(got - want) < 0.05f);
    /* the grid is absolute: starting mid-frame gives the same answer */
    assert_true(fabsf(voz_endpoint_loudest_db(x + 37, n - 37, RATE, 37) - want) < 0.05f);
    assert_true(fabsf(voz_endpoint_loudest_db(x + at_s(0.55), 50, RATE, 0) - want) < 1.0f);
    free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_params_check),
        cmocka_unit_test(test_tone_bursts_in_noise),
        cmocka_unit_test(test_digital_silence),
        cmocka_unit_test(test_hiss_after_digital_silence),
        cmocka_unit_test(test_long_utterance_cut_at_quietest),
        cmocka_unit_test(test_clicks_and_short_bursts_ignored),
        cmocka_unit_test(test_speech_during_calibration),
        cmocka_unit_test(test_open_utterance_closed_by_drain),
        cmocka_unit_test(test_block_size_independent),
        cmocka_unit_test(test_quietest_helper),
        cmocka_unit_test(test_quiet_speech_and_dither),
        cmocka_unit_test(test_loudest_helper),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
