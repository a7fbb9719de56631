/* tests/test_regions.c — the offline speech-region finder of batch transcription
   (voz_endpoint_regions) on hand-made frame-energy sequences whose regions are known
   by construction (10 ms frames, dB): silence-speech-silence, two words 300 ms apart
   (one region), two bursts 5 s apart (two regions), stationary noise and hum (none),
   a 5 ms click (none), a tight clip with no silence at all (one region, the whole
   clip), hiss after a word and hum between words in a digitally silent file (the words'
   regions only); plus voz_endpoint_frame_db on the absolute grid. */
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

#define MAXF 2000

struct seq { float db[MAXF]; size_t n; };

static void fill(struct seq *s, size_t from, size_t to, float db)
{
    for (size_t i = from; i < to && i < MAXF; i++)
        s->db[i] = db;
    if (to > s->n)
        s->n = to;
}

/* Deterministic jitter of +-amp dB, as a noise floor's frame energies have. */
static void jitter(struct seq *s, size_t from, size_t to, float amp)
{
    uint32_t r = 2463534242u;
    for (size_t i = from; i < to; i++) {
        r ^= r << 13;
        r ^= r >> 17;
        r ^= r << 5;
        s->db[i] += amp * (2.0f * (float)(r % 10001) / 10000.0f - 1.0f);
    }
}

/* Runs the finder with the defaults and checks the regions against want[2 * k]
   (start, end pairs), printing all of them on a mismatch. */
static void expect(const struct seq *s, const size_t *want, size_t k, const char *what)
{
    voz_region_params p = voz_endpoint_region_default_params();
    static float scratch[MAXF];
    static voz_region out[MAXF / 2 + 1];
    size_t got = voz_endpoint_regions(s->db, s->n, &p, scratch, out);
    int ok = got == k;
    for (size_t i = 0; ok && i < k; i++)
        ok = out[i].start == want[2 * i] && out[i].end == want[2 * i + 1];
    if (!ok) {
        fprintf(stderr, "%s: %zu regions, expected %zu\n", what, got, k);
        for (size_t i = 0; i < got; i++)
            fprintf(stderr, "  got [%zu, %zu)\n", out[i].start, out[i].end);
        for (size_t i = 0; i < k; i++)
            fprintf(stderr, "  want [%zu, %zu)\n", want[2 * i], want[2 * i + 1]);
    }
    assert_true(ok);
}

/* 1 s of -60 dB, 500 ms of -30 dB speech, 1 s of -60 dB: speech frames 100..150,
   padded by 20 frames each side. */
static void test_silence_speech_silence(void **state)
{
    (void)state;
    static struct seq s;
    memset(&s, 0, sizeof s);
    fill(&s, 0, 250, -60);
    jitter(&s, 0, 250, 1);
    fill(&s, 100, 150, -30);
    static const size_t want[] = { 80, 170 };
    expect(&s, want, 1, "silence-speech-silence");
}

/* Two 300 ms words 300 ms apart in digital silence: one region (a digit string must be
   decoded whole); and 5 s apart: two regions. */
static void test_pause_merge(void **state)
{
    (void)state;
    static struct seq s;
    memset(&s, 0, sizeof s);
    fill(&s, 0, 200, VOZ_ENDPOINT_FLOOR_DB);
    fill(&s, 50, 80, -25);
    fill(&s, 110, 140, -28);
    static const size_t one[] = { 30, 160 };
    expect(&s, one, 1, "two words 300 ms apart");

    memset(&s, 0, sizeof s);
    fill(&s, 0, 700, VOZ_ENDPOINT_FLOOR_DB);
    fill(&s, 50, 80, -25);
    fill(&s, 580, 610, -25);
    static const size_t two[] = { 30, 100, 560, 630 };
    expect(&s, two, 2, "two bursts 5 s apart");
}

/* 1 s of digital silence, a 500 ms word, then 4 s of -65 dB hiss: the silence sets the
   segment's floor at -100 dB, under which the hiss passed as speech (decoded as "six
   six"). Steady for two seconds, the hiss is background: the word alone stays, padded.
   So is a hum between two words in digital silence, 1 s from each; a digit string
   whose pauses are digital silence keeps its one region. */
static void test_hiss_after_digital_silence(void **state)
{
    (void)state;
    static struct seq s;
    memset(&s, 0, sizeof s);
    fill(&s, 0, 100, VOZ_ENDPOINT_FLOOR_DB);
    fill(&s, 100, 150, -30);
    fill(&s, 150, 550, -65);
    jitter(&s, 150, 550, 1);
    static const size_t word[] = { 80, 170 };
    expect(&s, word, 1, "word, then hiss, after digital silence");

    memset(&s, 0, sizeof s);
    fill(&s, 0, 900, VOZ_ENDPOINT_FLOOR_DB);
    fill(&s, 100, 150, -30);
    fill(&s, 250, 650, -50);
    for (size_t i = 250; i < 650; i += 2) /* hum: frames swing 7 dB with the phase */
        s.db[i] -= 7;
    fill(&s, 750, 800, -32);
    static const size_t two[] = { 80, 170, 730, 820 };
    expect(&s, two, 2, "a hum between two words");

    /* A vowel held for 1.6 s (a word said four times slower) is speech, not steady sound. */
    memset(&s, 0, sizeof s);
    fill(&s, 0, 360, VOZ_ENDPOINT_FLOOR_DB);
    fill(&s, 100, 260, -30);
    jitter(&s, 100, 260, 3);
    static const size_t held[] = { 80, 280 };
    expect(&s, held, 1, "a vowel held 1.6 s");

    memset(&s, 0, sizeof s);
    fill(&s, 0, 400, VOZ_ENDPOINT_FLOOR_DB);
    for (int w = 0; w < 7; w++) /* 7 words of 300 ms, 150 ms apart */
        fill(&s, 20 + 45 * (size_t)w, 50 + 45 * (size_t)w, -28 - (float)(w % 3));
    static const size_t string[] = { 0, 340 };
    expect(&s, string, 1, "a digit string with digital-silence pauses");
}

/* Stationary noise at any level (jitter of +-2 dB, more than 80-sample frames of
   white noise show), and a hum whose frames swing 7 dB with the phase: no frame 9 dB
   over the 10th percentile, no region. Loud noise (-30 dB) included: the level is
   not what makes speech. */
static void test_stationary_none(void **state)
{
    (void)state;
    static struct seq s;
    float levels[] = { -96, -70, -60, -30 };
    for (size_t l = 0; l < sizeof levels / sizeof *levels; l++) {
        memset(&s, 0, sizeof s);
        fill(&s, 0, 1000, levels[l]);
        jitter(&s, 0, 1000, 2);
        expect(&s, NULL, 0, "stationary noise");
    }
    memset(&s, 0, sizeof s);
    for (size_t i = 0; i < 1000; i++)
        s.db[i] = -50 + 7.0f * (float)((i * 3) % 5) / 4.0f; /* -50..-43 in a cycle */
    s.n = 1000;
    expect(&s, NULL, 0, "hum");
}

/* A 5 ms click in dither touches one or two frames: no region; 50 ms of it (5
   frames) still none; the same burst lasting 100 ms is speech. */
static void test_click_none(void **state)
{
    (void)state;
    static struct seq s;
    memset(&s, 0, sizeof s);
    fill(&s, 0, 500, -96);
    jitter(&s, 0, 500, 0.7f);
    s.db[200] = -20;
    s.db[201] = -35;
    expect(&s, NULL, 0, "5 ms click");
    fill(&s, 200, 205, -20);
    expect(&s, NULL, 0, "50 ms click");
    fill(&s, 200, 210, -20);
    static const size_t want[] = { 180, 230 };
    expect(&s, want, 1, "100 ms burst");
}

/* A tight 250 ms clip with no silence at all: a soft onset, a loud middle and a decay,
   the 10th percentile in the onset; the region is every frame (so the decoder sees the
   whole clip, as before regions). Speech below the absolute minimum (-82 dBFS) is no
   speech however far it stands above digital silence. */
static void test_tight_clip(void **state)
{
    (void)state;
    static struct seq s;
    static const float clip[] = { -45, -39, -35, -35, -30, -28, -25, -24, -23, -24, -26, -27, -29,
                                  -29, -30, -30, -32, -31, -31, -32, -36, -33, -40, -37, -42 };
    memset(&s, 0, sizeof s);
    for (size_t i = 0; i < sizeof clip / sizeof *clip; i++)
        s.db[i] = clip[i];
    s.n = sizeof clip / sizeof *clip;
    static const size_t want[] = { 0, 25 };
    expect(&s, want, 1, "tight clip");

    memset(&s, 0, sizeof s);
    fill(&s, 0, 300, VOZ_ENDPOINT_FLOOR_DB);
    fill(&s, 100, 200, -85);
    expect(&s, NULL, 0, "speech below -82 dBFS");
    s.n = 0;
    expect(&s, NULL, 0, "no frames");
}

/* Frame energies on the absolute 10 ms grid: a buffer starting at absolute sample 37
   of 8 kHz audio has its first whole frame at offset 43; a sine of amplitude A gives
   10 log10(A^2 / 2), digital silence the floor. */
static void test_frame_db(void **state)
{
    (void)state;
    enum { RATE = 8000, N = 8000 };
    static float x[N];
    for (size_t i = 0; i < N; i++)
        x[i] = i < N / 2 ? 0.0f : (float)(0.1 * sin(2 * M_PI * 400.0 * (double)i / RATE));
    float db[N / 80];
    size_t first = 99;
    size_t nf = voz_endpoint_frame_db(x, N, RATE, 37, db, &first);
    assert_int_equal(first, 43);
    assert_int_equal(nf, (N - 43) / 80);
    assert_true(fabsf(db[0] - VOZ_ENDPOINT_FLOOR_DB) < 1e-4f);
    float want = 10.0f * log10f(0.01f / 2);
    assert_true(fabsf(db[nf - 1] - want) < 0.05f);
    assert_int_equal(voz_endpoint_frame_db(x, 0, RATE, 0, db, &first), 0);
    assert_int_equal(voz_endpoint_frame_db(x, 50, RATE, 0, db, &first), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_silence_speech_silence),
        cmocka_unit_test(test_pause_merge),
        cmocka_unit_test(test_hiss_after_digital_silence),
        cmocka_unit_test(test_stationary_none),
        cmocka_unit_test(test_click_none),
        cmocka_unit_test(test_tight_clip),
        cmocka_unit_test(test_frame_db),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
