/* tests/test_decode.c — the decoding context (recognizer/decode.h): one context decoding
   a run of utterances of different lengths, in an order that grows and shrinks its
   buffers, gives exactly what a fresh voz_decode_utterance gives for each (text, word
   times, frame count, log-probabilities), with the greedy and the beam decoder and on
   one and two threads, and over a VTLN ensemble. The ensemble itself: the mean of its
   members' posteriors, the model's own list from its metadata, bad lists refused. The
   embedded digits model on FSDD speech. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/audio.h"
#include "recognizer/decode.h"

static float *load_fsdd(const char *name, size_t *n)
{
    const char *shared = getenv("VOZ_SHARED");
    char path[1024];
    snprintf(path, sizeof path, "%s/data/fsdd/%s", shared ? shared : "../shared", name);
    float *pcm = NULL;
    if (voz_audio_load(path, 8000, &pcm, n) != VOZ_OK)
        return NULL;
    return pcm;
}

/* Two digits with 0.3 s of quiet noise before, between and after: a longer utterance. */
static float *pair(const float *a, size_t na, const float *b, size_t nb, size_t *n)
{
    size_t gap = 2400;
    *n = gap + na + gap + nb + gap;
    float *x = malloc(*n * sizeof *x);
    assert_non_null(x);
    uint32_t r = 9;
    for (size_t i = 0; i < *n; i++) {
        r = r * 1664525u + 1013904223u;
        x[i] = 1e-3f * ((float)(r >> 8) / (float)(1u << 24) - 0.5f);
    }
    memcpy(x + gap, a, na * sizeof *a);
    memcpy(x + 2 * gap + na, b, nb * sizeof *b);
    return x;
}

static void expect_same(const char *what, const voz_transcript *got, const voz_transcript *want,
                        const float *lp_got, const float *lp_want, size_t T, int C)
{
    if (strcmp(got->text, want->text) || got->n_words != want->n_words) {
        print_error("%s: text '%s' (%d words), expected '%s' (%d words)\n", what, got->text, got->n_words,
                    want->text, want->n_words);
        fail();
    }
    for (int i = 0; i < got->n_words; i++)
        if (strcmp(got->words[i].text, want->words[i].text) || got->words[i].start != want->words[i].start ||
            got->words[i].end != want->words[i].end) {
            print_error("%s: word %d '%s' %.3f-%.3f, expected '%s' %.3f-%.3f\n", what, i, got->words[i].text,
                        got->words[i].start, got->words[i].end, want->words[i].text, want->words[i].start,
                        want->words[i].end);
            fail();
        }
    if (got->duration != want->duration || got->start != want->start || got->end != want->end) {
        print_error("%s: span %.6f-%.6f (%.6f s), expected %.6f-%.6f (%.6f s)\n", what, got->start, got->end,
                    got->duration, want->start, want->end, want->duration);
        fail();
    }
    for (size_t i = 0; i < T * (size_t)C; i++)
        if (memcmp(&lp_got[i], &lp_want[i], sizeof *lp_got)) {
            print_error("%s: log-probability %zu of frame %zu is %.9g, expected %.9g\n", what, i % (size_t)C,
                        i / (size_t)C, (double)lp_got[i], (double)lp_want[i]);
            fail();
        }
}

static void test_ctx_matches_one_shot(void **state)
{
    (void)state;
    size_t na, nb;
    float *a = load_fsdd("3_jackson_0.wav", &na), *b = load_fsdd("8_george_5.wav", &nb);
    if (!a || !b) {
        printf("  skipped: FSDD not found (VOZ_SHARED)\n");
        free(a);
        free(b);
        skip();
    }
    size_t nab;
    float *ab = pair(a, na, b, nb, &nab);
    struct voz_model *m;
    assert_int_equal(voz_model_load_default(&m), VOZ_OK);
    const int C = voz_model_num_classes(m);
    /* short, long, short, shorter than a frame, empty, long again */
    struct { const float *x; size_t n; } utts[] = { { a, na }, { ab, nab }, { b, nb }, { a, 100 }, { a, 0 }, { ab, nab } };
    const size_t n_utts = sizeof utts / sizeof utts[0];
    int spoke = 0;
    for (int threads = 1; threads <= 2; threads++)
        for (int dec = VOZ_DECODER_GREEDY; dec <= VOZ_DECODER_BEAM + 1; dec++) {
            voz_decode_params p = voz_decode_default_params();
            p.threads = threads;
            p.decoder = (voz_decoder)(dec > VOZ_DECODER_BEAM ? VOZ_DECODER_BEAM : dec);
            if (dec > VOZ_DECODER_BEAM) /* the beam again, over a VTLN ensemble of three */
                p.n_warps = 3, p.warps[0] = 0.85f, p.warps[1] = 1.0f, p.warps[2] = 1.15f;
            struct voz_decode_ctx *c;
            assert_int_equal(voz_decode_ctx_create(m, &p, &c), VOZ_OK);
            for (size_t u = 0; u < n_utts; u++) {
                voz_transcript want, got;
                float *lp_want = NULL, *lp_got = NULL;
                size_t T_want = 0, T_got = 0;
                double t0 = 1.5 * (double)u;
                assert_int_equal(voz_decode_utterance(m, utts[u].x, utts[u].n, &p, t0, &want, &lp_want, &T_want),
                                 VOZ_OK);
                assert_int_equal(voz_decode_ctx_utterance(c, utts[u].x, utts[u].n, t0, &got, &lp_got, &T_got),
                                 VOZ_OK);
                assert_int_equal(T_got, T_want);
                char what[96];
                snprintf(what, sizeof what, "utterance %zu, %s, %d thread(s)", u,
                         dec > VOZ_DECODER_BEAM ? "beam + VTLN ensemble" : dec == VOZ_DECODER_BEAM ? "beam" : "greedy",
                         threads);
                expect_same(what, &got, &want, lp_got, lp_want, T_got, C);
                spoke += got.n_words > 0;
                free(lp_want);
                free(lp_got);
                voz_transcript_release(&want);
                voz_transcript_release(&got);
            }
            voz_decode_ctx_free(c);
        }
    assert_true(spoke >= 6 * 3); /* the three speech utterances gave words every time */
    voz_model_free(m);
    free(a);
    free(b);
    free(ab);
}

static void test_ctx_refuses(void **state)
{
    (void)state;
    struct voz_model *m;
    assert_int_equal(voz_model_load_default(&m), VOZ_OK);
    voz_decode_params p = voz_decode_default_params();
    p.threads = 3;
    struct voz_decode_ctx *c = (void *)1;
    assert_int_equal(voz_decode_ctx_create(m, &p, &c), VOZ_ERR_INVALID);
    assert_null(c);
    assert_int_equal(voz_decode_ctx_create(m, NULL, &c), VOZ_OK); /* NULL: defaults */
    float x[800];
    for (int i = 0; i < 800; i++)
        x[i] = 0.1f * sinf(0.3f * (float)i);
    x[500] = INFINITY;
    voz_transcript t;
    assert_int_equal(voz_decode_ctx_utterance(c, x, 800, 0, &t, NULL, NULL), VOZ_ERR_NONFINITE);
    x[500] = 0;
    /* the context still works after a refused utterance */
    assert_int_equal(voz_decode_ctx_utterance(c, x, 800, 0, &t, NULL, NULL), VOZ_OK);
    voz_transcript_release(&t);
    voz_decode_ctx_free(c);
    voz_model_free(m);
}

/* Decodes x with the given warps (n -1: the model's), returning [T][C] log-probs. The
   first network alone (the default model is an ensemble of two; averaging networks is
   tested in test_model_file.c), so the warps are what changes here. */
static float *warped_lp(const struct voz_model *m, const float *x, size_t n, int n_warps, const float *warps,
                        size_t *T, char **text)
{
    voz_decode_params p = voz_decode_default_params();
    p.n_members = 1;
    p.n_warps = n_warps;
    for (int k = 0; k < n_warps; k++)
        p.warps[k] = warps[k];
    voz_transcript t;
    float *lp = NULL;
    assert_int_equal(voz_decode_utterance(m, x, n, &p, 0, &t, &lp, T), VOZ_OK);
    if (text)
        *text = strdup(t.text);
    voz_transcript_release(&t);
    return lp;
}

static void test_vtln_ensemble(void **state)
{
    (void)state;
    size_t na, nb;
    float *a = load_fsdd("5_jackson_3.wav", &na), *b = load_fsdd("2_lucas_7.wav", &nb);
    if (!a || !b) {
        printf("  skipped: FSDD not found (VOZ_SHARED)\n");
        free(a);
        free(b);
        skip();
    }
    size_t n;
    float *x = pair(a, na, b, nb, &n);
    struct voz_model *m;
    assert_int_equal(voz_model_load_default(&m), VOZ_OK);
    const size_t C = (size_t)voz_model_num_classes(m);
    size_t T0, Ta, Tb, Te, T1;
    const float one = 1.0f, lo = 0.9f, hi = 1.1f, both[2] = { 0.9f, 1.1f };
    float *lp0 = warped_lp(m, x, n, 0, NULL, &T0, NULL);
    float *lp1 = warped_lp(m, x, n, 1, &one, &T1, NULL);
    float *lpa = warped_lp(m, x, n, 1, &lo, &Ta, NULL);
    float *lpb = warped_lp(m, x, n, 1, &hi, &Tb, NULL);
    float *lpe = warped_lp(m, x, n, 2, both, &Te, NULL);
    assert_true(T0 > 0 && T1 == T0 && Ta == T0 && Tb == T0 && Te == T0);
    /* {1} is the plain analysis, bit for bit; a warp changes the posteriors. */
    assert_memory_equal(lp1, lp0, T0 * C * sizeof *lp0);
    double moved = 0, worst = 0;
    for (size_t i = 0; i < T0 * C; i++) {
        moved = fmax(moved, fabs((double)lpa[i] - lp0[i]));
        /* The ensemble averages probabilities: log((e^a + e^b) / 2). */
        double want = log(0.5 * (exp((double)lpa[i]) + exp((double)lpb[i])));
        if (want > -30)
            worst = fmax(worst, fabs(lpe[i] - want));
    }
    printf("  warp 0.9 moves log-probs by up to %.3f; ensemble vs its members' mean: %.2e\n", moved, worst);
    assert_true(moved > 0.01);
    assert_true(worst < 1e-4);

    /* The model's own list (metadata), used when the params say -1 (the default). */
    void *buf;
    size_t size;
    assert_int_equal(voz_model_data_set_meta(&m->data, "vtln_ensemble", "0.9,1.1"), VOZ_OK);
    assert_int_equal(voz_model_data_serialize(&m->data, &buf, &size), VOZ_OK);
    struct voz_model *mw;
    assert_int_equal(voz_model_load_memory(buf, size, "warped", &mw), VOZ_OK);
    free(buf);
    float w[VOZ_MAX_WARPS];
    assert_int_equal(voz_model_warps(mw, w), 2);
    assert_true(w[0] == 0.9f && w[1] == 1.1f);
    size_t Tm;
    float *lpm = warped_lp(mw, x, n, -1, NULL, &Tm, NULL);
    assert_int_equal(Tm, T0);
    assert_memory_equal(lpm, lpe, T0 * C * sizeof *lpe);
    free(lpm);
    float *lpn = warped_lp(mw, x, n, 0, NULL, &Tm, NULL); /* 0: none, whatever the model says */
    assert_memory_equal(lpn, lp0, T0 * C * sizeof *lp0);
    free(lpn);
    /* Greedy reads the plain analysis even when the model has a list, and refuses an
       explicit one. */
    {
        voz_decode_params g = voz_decode_default_params();
        g.decoder = VOZ_DECODER_GREEDY;
        voz_transcript t;
        float *lpg = NULL;
        assert_int_equal(voz_decode_utterance(mw, x, n, &g, 0, &t, &lpg, &Tm), VOZ_OK);
        assert_memory_equal(lpg, lp0, T0 * C * sizeof *lp0);
        free(lpg);
        voz_transcript_release(&t);
        g.n_warps = 2, g.warps[0] = 0.9f, g.warps[1] = 1.1f;
        struct voz_decode_ctx *gc = (void *)1;
        assert_int_equal(voz_decode_ctx_create(mw, &g, &gc), VOZ_ERR_INVALID);
        assert_non_null(strstr(voz_last_error(), "beam"));
        /* ... but a list of unwarped analyses only is the plain analysis itself. */
        g.warps[0] = g.warps[1] = 1.0f;
        assert_int_equal(voz_decode_utterance(mw, x, n, &g, 0, &t, &lpg, &Tm), VOZ_OK);
        assert_memory_equal(lpg, lp0, T0 * C * sizeof *lp0);
        free(lpg);
        voz_transcript_release(&t);
    }
    voz_model_free(mw);

    /* Bad metadata is a bad model file, named at load. */
    static const char *const bad_meta[] = { "0.9,x", "3", "", "1,", ",1", "1,1,1,1,1,1,1,1,1", "nan" };
    for (size_t i = 0; i < sizeof bad_meta / sizeof bad_meta[0]; i++) {
        assert_int_equal(voz_model_data_set_meta(&m->data, "vtln_ensemble", bad_meta[i]), VOZ_OK);
        assert_int_equal(voz_model_data_serialize(&m->data, &buf, &size), VOZ_OK);
        mw = (void *)1;
        voz_status s = voz_model_load_memory(buf, size, "bad.voz", &mw);
        free(buf);
        const char *msg = voz_last_error();
        if (s != VOZ_ERR_FORMAT || mw || !strstr(msg, "bad.voz: metadata vtln_ensemble") || strchr(msg, '\n')) {
            print_error("metadata '%s': status %d, message '%s'\n", bad_meta[i], s, msg);
            fail();
        }
    }
    /* The parser, and decode params out of range. */
    int k;
    assert_int_equal(voz_warps_parse("none", w, &k), VOZ_OK);
    assert_int_equal(k, 0);
    assert_int_equal(voz_warps_parse("0.85,1,1.15", w, &k), VOZ_OK);
    assert_int_equal(k, 3);
    assert_true(w[0] == 0.85f && w[1] == 1.0f && w[2] == 1.15f);
    assert_int_equal(voz_warps_parse("0.4", w, &k), VOZ_ERR_INVALID);
    assert_non_null(strstr(voz_last_error(), "'0.4'"));
    assert_int_equal(voz_warps_parse("1;2", w, &k), VOZ_ERR_INVALID);
    /* Plain decimals only, and the message names the whole bad entry. */
    static const char *const bad_lists[] = { " 0.9", "0.9 ,1.1", "0.9, 1.1", "0x1p0", "1.0.0", "1,,1", "inf" };
    for (size_t i = 0; i < sizeof bad_lists / sizeof bad_lists[0]; i++)
        assert_int_equal(voz_warps_parse(bad_lists[i], w, &k), VOZ_ERR_INVALID);
    assert_int_equal(voz_warps_parse("0.9 ,1.1", w, &k), VOZ_ERR_INVALID);
    assert_non_null(strstr(voz_last_error(), "'0.9 '"));
    assert_int_equal(voz_warps_parse("+1,1e0", w, &k), VOZ_OK);
    assert_int_equal(k, 2);
    voz_decode_params p = voz_decode_default_params();
    struct voz_decode_ctx *c;
    p.n_warps = 9;
    assert_int_equal(voz_decode_ctx_create(m, &p, &c), VOZ_ERR_INVALID);
    p.n_warps = 1, p.warps[0] = 2.5f;
    assert_int_equal(voz_decode_ctx_create(m, &p, &c), VOZ_ERR_INVALID);
    /* A warp the filterbank cannot take (a 1 kHz band has no room for the VTLN knees)
       is refused when the context is made, not per utterance. */
    float rate = m->data.feat.sample_rate;
    m->data.feat.sample_rate = 1000;
    p.n_warps = 1, p.warps[0] = 1.1f;
    assert_int_equal(voz_decode_ctx_create(m, &p, &c), VOZ_ERR_INVALID);
    assert_non_null(strstr(voz_last_error(), "VTLN knees"));
    m->data.feat.sample_rate = rate;
    assert_int_equal(voz_decode_ctx_create(m, &p, &c), VOZ_OK);
    voz_decode_ctx_free(c);

    free(lp0);
    free(lp1);
    free(lpa);
    free(lpb);
    free(lpe);
    voz_model_free(m);
    free(x);
    free(a);
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ctx_matches_one_shot),
        cmocka_unit_test(test_ctx_refuses),
        cmocka_unit_test(test_vtln_ensemble),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
