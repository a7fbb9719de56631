/* tests/test_stream.c — voz_stream_*: the utterances of a stream do not depend on
   how the input is split into blocks, each one equals a batch decode of exactly
   its samples (per-utterance CMVN), spans match the endpointer's, VOZ_SEGMENT_LONG
   cuts long input into contiguous pieces, partials refer to the open utterance,
   the decoding context a stream keeps across utterances and partials gives exactly
   the words of fresh one-shot decodes, and bad input or options are refused. The model is a small bidirectional LSTM
   with fixed pseudo-random weights built in memory: its words are arbitrary but
   deterministic, which is all these properties need. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "recognizer/internal.h"
#include "frontend/endpoint.h"
#include "common/util.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RATE 16000

static const char *const alphabet[] = { "", " ", "a", "b", "c", "d" };
#define N_CLASSES 6

static char **strings(const char *const *src, int n)
{
    char **out = calloc((size_t)n, sizeof *out);
    assert_non_null(out);
    for (int i = 0; i < n; i++) {
        out[i] = strdup(src[i]);
        assert_non_null(out[i]);
    }
    return out;
}

static struct voz_model *make_model(void)
{
    struct voz_model_data d;
    memset(&d, 0, sizeof d);
    d.feat = voz_feature_default_params();
    d.sample_rate = (int)d.feat.sample_rate;
    d.net = (voz_net_config){ .cell = VOZ_CELL_LSTM, .input_dim = voz_feature_dim(&d.feat),
                              .hidden = 8, .layers = 1, .bidirectional = 1, .classes = N_CLASSES };
    d.blank = 0;
    d.classes = strings(alphabet, N_CLASSES);
    size_t nf = voz_net_num_floats(&d.net);
    d.params = voz_alloc_aligned(nf * sizeof(float));
    assert_non_null(d.params);
    uint32_t st = 777;
    for (int t = 0; t < voz_net_num_tensors(&d.net); t++) {
        voz_tensor_info ti;
        voz_net_tensor(&d.net, t, &ti);
        for (size_t k = 0; k < ti.numel; k++) {
            st = st * 1664525u + 1013904223u;
            d.params[ti.offset + k] = 2.0f * ((float)(st >> 8) / (float)(1u << 24) - 0.5f);
        }
    }
    void *buf;
    size_t n;
    assert_int_equal(voz_model_data_serialize(&d, &buf, &n), VOZ_OK);
    struct voz_model *m = NULL;
    assert_int_equal(voz_model_load_memory(buf, n, "stream-test.voz", &m), VOZ_OK);
    free(buf);
    voz_model_data_release(&d);
    return m;
}

/* Noise with tone bursts (distinct pitches so the words differ). */
static float *signal(size_t *n, double seconds)
{
    *n = (size_t)(seconds * RATE);
    float *x = malloc(*n * sizeof *x);
    assert_non_null(x);
    uint32_t st = 99;
    for (size_t i = 0; i < *n; i++) {
        st = st * 1664525u + 1013904223u;
        x[i] = 0.004f * ((float)(st >> 8) / (float)(1u << 24) - 0.5f);
    }
    static const double bursts[][3] = { { 0.8, 1.6, 300 }, { 2.6, 3.1, 900 }, { 4.0, 5.2, 550 } };
    for (int b = 0; b < 3; b++)
        for (size_t i = (size_t)(bursts[b][0] * RATE); i < (size_t)(bursts[b][1] * RATE) && i < *n; i++) {
            double t = (double)i / RATE;
            x[i] += (float)(0.3 * sin(2 * M_PI * bursts[b][2] * t) * (0.6 + 0.4 * sin(2 * M_PI * 3 * t)));
        }
    return x;
}

/* ---- collecting utterances -------------------------------------------------------- */

#define MAX_UTT 64
#define MAX_WORDS 32
struct utt {
    double start, end;
    char text[256];
    int n_words;
    double w0, w1;                           /* first word's start, last word's end (-1: none) */
    double ws[MAX_WORDS], we[MAX_WORDS];     /* every word's span, the first MAX_WORDS */
    char word[MAX_WORDS][32];
};
struct result {
    int n;
    struct utt u[MAX_UTT];
    int partials;
    int partial_bad_start; /* partials whose start is not a later utterance's start */
    double partial_starts[256];
};

static void on_utt(const voz_transcript *t, void *user)
{
    struct result *r = user;
    assert_true(r->n < MAX_UTT);
    struct utt *u = &r->u[r->n++];
    u->start = t->start;
    u->end = t->end;
    snprintf(u->text, sizeof u->text, "%s", t->text);
    u->n_words = t->n_words;
    u->w0 = t->n_words ? t->words[0].start : -1;
    u->w1 = t->n_words ? t->words[t->n_words - 1].end : -1;
    for (int k = 0; k < t->n_words && k < MAX_WORDS; k++) {
        u->ws[k] = t->words[k].start;
        u->we[k] = t->words[k].end;
        snprintf(u->word[k], sizeof u->word[k], "%s", t->words[k].text);
    }
}

static void on_part(const char *text, double start, void *user)
{
    struct result *r = user;
    assert_non_null(text);
    if (r->partials < 256)
        r->partial_starts[r->partials] = start;
    r->partials++;
}

static struct result *run(const struct voz_model *m, voz_stream_params p, const float *x, size_t n,
                          size_t block)
{
    struct result *r = calloc(1, sizeof *r);
    assert_non_null(r);
    p.on_utterance = on_utt;
    p.user_data = r;
    struct voz_stream *s = NULL;
    assert_int_equal(voz_stream_create(m, &p, &s), VOZ_OK);
    for (size_t at = 0; at < n;) {
        size_t k = block && n - at > block ? block : n - at;
        voz_status st = voz_stream_feed(s, x + at, k);
        if (st != VOZ_OK)
            fail_msg("feed at %zu: %s", at, voz_last_error());
        at += k;
    }
    assert_int_equal(voz_stream_finish(s), VOZ_OK);
    voz_stream_free(s);
    return r;
}

static void print_result(const char *what, const struct result *r)
{
    print_message("%s: %d utterances\n", what, r->n);
    for (int i = 0; i < r->n; i++)
        print_message("  [%.3f, %.3f) '%s' (%d words)\n", r->u[i].start, r->u[i].end, r->u[i].text,
                      r->u[i].n_words);
}

static void expect_same(const struct result *a, const struct result *b, const char *what)
{
    int same = a->n == b->n;
    for (int i = 0; same && i < a->n; i++)
        same = a->u[i].start == b->u[i].start && a->u[i].end == b->u[i].end &&
               !strcmp(a->u[i].text, b->u[i].text) && a->u[i].n_words == b->u[i].n_words &&
               a->u[i].w0 == b->u[i].w0 && a->u[i].w1 == b->u[i].w1;
    if (!same) {
        print_result("reference", a);
        print_result(what, b);
        fail_msg("%s: utterances differ from the reference", what);
    }
}

/* ---- tests ------------------------------------------------------------------------ */

static void test_defaults(void **state)
{
    (void)state;
    voz_stream_params p = voz_stream_default_params();
    assert_int_equal(p.segment, VOZ_SEGMENT_ENDPOINT);
    assert_true(p.endpoint.threshold_db == 9.0f && p.endpoint.hangover_ms == 200.0f &&
                p.endpoint.min_speech_ms == 150.0f && p.endpoint.pad_ms == 200.0f &&
                p.endpoint.max_utterance_s == 20.0f && p.endpoint.calibrate_ms == 500.0f);
    assert_true(p.max_segment_s == 30.0f && p.partial_interval_s == 0.25f);
    assert_int_equal(voz_endpoint_params_check(&p.endpoint), VOZ_OK);
    assert_null(p.on_utterance);
}

static void test_block_sizes_endpoint(void **state)
{
    (void)state;
    struct voz_model *m = make_model();
    size_t n;
    float *x = signal(&n, 6.0);
    voz_stream_params p = voz_stream_default_params();
    p.partial_interval_s = 0;
    struct result *ref = run(m, p, x, n, 0);
    print_result("whole input", ref);
    assert_int_equal(ref->n, 3);
    int nonempty = 0;
    for (int i = 0; i < ref->n; i++)
        nonempty += ref->u[i].text[0] != 0;
    assert_true(nonempty > 0); /* the comparison below must compare words, not nothing */
    const size_t blocks[] = { 1, 37, 160, 441, 4000, 16000 };
    for (size_t b = 0; b < sizeof blocks / sizeof blocks[0]; b++) {
        char what[64];
        snprintf(what, sizeof what, "blocks of %zu", blocks[b]);
        struct result *r = run(m, p, x, n, blocks[b]);
        expect_same(ref, r, what);
        free(r);
    }
    /* Partials re-run the model in between; they must not change the finals. */
    voz_stream_params pp = p;
    pp.partial_interval_s = 0.1f;
    pp.on_partial = on_part;
    struct result *r = run(m, pp, x, n, 800);
    expect_same(ref, r, "with partials");
    free(r);
    free(ref);
    free(x);
    voz_model_free(m);
}

static void test_matches_endpointer_and_batch(void **state)
{
    (void)state;
    struct voz_model *m = make_model();
    size_t n;
    float *x = signal(&n, 6.0);
    voz_stream_params p = voz_stream_default_params();
    p.partial_interval_s = 0;
    struct result *r = run(m, p, x, n, 1234);

    struct voz_endpoint *e;
    assert_int_equal(voz_endpoint_create(&p.endpoint, RATE, &e), VOZ_OK);
    voz_endpoint_segment segs[8];
    int ns = 0;
    for (size_t used = 0; used < n;) {
        int done;
        used += voz_endpoint_process(e, x + used, n - used, &segs[ns], &done);
        if (done)
            ns++;
    }
    while (voz_endpoint_drain(e, &segs[ns]))
        ns++;
    voz_endpoint_free(e);
    assert_int_equal(ns, r->n);
    for (int i = 0; i < ns; i++) {
        assert_true(fabs(r->u[i].start - segs[i].start / (double)RATE) < 1e-9);
        assert_true(fabs(r->u[i].end - segs[i].end / (double)RATE) < 1e-9);
        /* Identical to decoding the same samples in one go. */
        voz_transcript t;
        voz_decode_params dp = p.decode;
        assert_int_equal(voz_decode_utterance(m, x + segs[i].start, (size_t)(segs[i].end - segs[i].start),
                                              &dp, segs[i].start / (double)RATE, &t, NULL, NULL),
                         VOZ_OK);
        if (strcmp(t.text, r->u[i].text) != 0)
            fail_msg("utterance %d: stream says '%s', batch decode says '%s'", i, r->u[i].text, t.text);
        assert_int_equal(t.n_words, r->u[i].n_words);
        if (t.n_words)
            assert_true(t.words[0].start == r->u[i].w0);
        voz_transcript_release(&t);
    }
    free(r);
    free(x);
    voz_model_free(m);
}

static void test_long_mode(void **state)
{
    (void)state;
    struct voz_model *m = make_model();
    size_t n;
    float *x = signal(&n, 6.0);
    voz_stream_params p = voz_stream_default_params();
    p.segment = VOZ_SEGMENT_LONG;
    p.max_segment_s = 2.0f;
    p.partial_interval_s = 0;
    struct result *ref = run(m, p, x, n, 0);
    print_result("long mode", ref);
    assert_true(ref->n >= 3);
    assert_true(ref->u[0].start == 0);
    for (int i = 0; i < ref->n; i++) {
        assert_true(ref->u[i].end - ref->u[i].start <= 2.0 + 1e-9);
        if (i)
            assert_true(ref->u[i].start == ref->u[i - 1].end); /* contiguous */
    }
    assert_true(fabs(ref->u[ref->n - 1].end - (double)n / RATE) < 1e-9);
    const size_t blocks[] = { 100, 3000, 32000 };
    for (size_t b = 0; b < sizeof blocks / sizeof blocks[0]; b++) {
        char what[64];
        snprintf(what, sizeof what, "long mode, blocks of %zu", blocks[b]);
        struct result *r = run(m, p, x, n, blocks[b]);
        expect_same(ref, r, what);
        free(r);
    }
    /* Short input in long mode: one utterance, the whole of it. */
    struct result *one = run(m, p, x, RATE, 333);
    assert_int_equal(one->n, 1);
    assert_true(one->u[0].start == 0 && fabs(one->u[0].end - 1.0) < 1e-9);
    free(one);
    free(ref);
    free(x);
    voz_model_free(m);
}

static void test_partials_and_refeed(void **state)
{
    (void)state;
    struct voz_model *m = make_model();
    size_t n;
    float *x = signal(&n, 6.0);
    struct result *r = calloc(1, sizeof *r);
    assert_non_null(r);
    voz_stream_params p = voz_stream_default_params();
    p.on_utterance = on_utt;
    p.on_partial = on_part;
    p.partial_interval_s = 0.1f;
    p.user_data = r;
    struct voz_stream *s;
    assert_int_equal(voz_stream_create(m, &p, &s), VOZ_OK);
    for (size_t at = 0; at < n; at += 320)
        assert_int_equal(voz_stream_feed(s, x + at, n - at < 320 ? n - at : 320), VOZ_OK);
    assert_int_equal(voz_stream_finish(s), VOZ_OK);
    assert_int_equal(r->n, 3);
    assert_true(r->partials >= 3);
    /* Every partial belongs to an utterance that later came out with that start. */
    for (int i = 0; i < r->partials && i < 256; i++) {
        int found = 0;
        for (int k = 0; k < r->n; k++)
            found |= fabs(r->partial_starts[i] - r->u[k].start) < 1e-9;
        if (!found)
            fail_msg("partial %d starts at %.3f s, which no utterance does", i, r->partial_starts[i]);
    }
    /* Feeding again after finish continues the clock. */
    assert_int_equal(voz_stream_feed(s, x, n), VOZ_OK);
    assert_int_equal(voz_stream_finish(s), VOZ_OK);
    assert_int_equal(r->n, 6);
    for (int i = 0; i < 3; i++)
        assert_true(fabs(r->u[i + 3].start - (r->u[i].start + (double)n / RATE)) < 0.05);
    voz_stream_free(s);
    free(r);
    free(x);
    voz_model_free(m);
}

/* The stream decodes every utterance and partial on one context that grows and is
   reused at other lengths (partials every 50 ms, utterances of 0.9 to 1.6 s, long-mode
   segments): each final must be exactly what a fresh one-shot decode of its samples
   says, text and every word time, for the greedy and the beam decoder at 1 and 2
   threads (2: the network's worker thread lives as long as the stream). */
static void test_context_reuse_equals_one_shot(void **state)
{
    (void)state;
    struct voz_model *m = make_model();
    size_t n1;
    float *x1 = signal(&n1, 6.0);
    /* The signal, then the same reversed in time and quieter: six utterances with
       different words, so the context is reused after both longer and shorter spans. */
    size_t n = 2 * n1;
    float *x = malloc(n * sizeof *x);
    assert_non_null(x);
    memcpy(x, x1, n1 * sizeof *x);
    for (size_t i = 0; i < n1; i++)
        x[n1 + i] = 0.5f * x1[n1 - 1 - i];
    free(x1);
    static const char *const words[] = { "a", "b", "ab", "ba", "cab", "dad", "bad" };
    struct { const char *what; voz_decoder dec; int words; voz_segment_mode seg; } cases[] = {
        { "greedy", VOZ_DECODER_GREEDY, 0, VOZ_SEGMENT_ENDPOINT },
        { "beam", VOZ_DECODER_BEAM, 0, VOZ_SEGMENT_ENDPOINT },
        { "beam with words", VOZ_DECODER_BEAM, 1, VOZ_SEGMENT_ENDPOINT },
        { "greedy, long mode", VOZ_DECODER_GREEDY, 0, VOZ_SEGMENT_LONG },
    };
    int compared_words = 0;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (int threads = 1; threads <= 2; threads++) {
            voz_stream_params p = voz_stream_default_params();
            p.decode.decoder = cases[c].dec;
            p.decode.threads = threads;
            if (cases[c].words) {
                p.decode.words = words;
                p.decode.n_words = (int)(sizeof words / sizeof words[0]);
            }
            p.segment = cases[c].seg;
            p.max_segment_s = 1.7f;
            p.partial_interval_s = 0.05f;
            p.on_partial = on_part;
            struct result *r = run(m, p, x, n, 441);
            char what[64];
            snprintf(what, sizeof what, "%s, %d thread%s", cases[c].what, threads, threads > 1 ? "s" : "");
            print_result(what, r);
            assert_true(r->n >= 6);
            assert_true(r->partials > 0);
            for (int i = 0; i < r->n; i++) {
                const struct utt *u = &r->u[i];
                uint64_t a = (uint64_t)llround(u->start * RATE), b = (uint64_t)llround(u->end * RATE);
                assert_true(a < b && b <= n);
                voz_transcript t;
                assert_int_equal(voz_decode_utterance(m, x + a, (size_t)(b - a), &p.decode, (double)a / RATE,
                                                      &t, NULL, NULL),
                                 VOZ_OK);
                if (strcmp(t.text, u->text) != 0 || t.n_words != u->n_words)
                    fail_msg("%s: utterance %d [%.3f, %.3f): stream says '%s' (%d words), one-shot '%s' (%d)",
                             what, i, u->start, u->end, u->text, u->n_words, t.text, t.n_words);
                assert_true(t.n_words <= MAX_WORDS);
                for (int k = 0; k < t.n_words; k++) {
                    if (strcmp(t.words[k].text, u->word[k]) != 0 || t.words[k].start != u->ws[k] ||
                        t.words[k].end != u->we[k])
                        fail_msg("%s: utterance %d word %d: stream '%s' [%.9f, %.9f], one-shot '%s' [%.9f, %.9f]",
                                 what, i, k, u->word[k], u->ws[k], u->we[k], t.words[k].text, t.words[k].start,
                                 t.words[k].end);
                }
                compared_words += t.n_words;
                voz_transcript_release(&t);
            }
            free(r);
        }
    assert_true(compared_words > 0); /* words were compared, not only empty lines */
    free(x);
    voz_model_free(m);
}

static void test_errors(void **state)
{
    (void)state;
    struct voz_model *m = make_model();
    voz_stream_params p = voz_stream_default_params();
    struct voz_stream *s = (void *)1;
    p.endpoint.hangover_ms = -5;
    assert_int_equal(voz_stream_create(m, &p, &s), VOZ_ERR_INVALID);
    assert_null(s);
    assert_non_null(strstr(voz_last_error(), "hangover"));
    p = voz_stream_default_params();
    p.segment = (voz_segment_mode)7;
    assert_int_equal(voz_stream_create(m, &p, &s), VOZ_ERR_INVALID);
    p = voz_stream_default_params();
    p.partial_interval_s = NAN;
    assert_int_equal(voz_stream_create(m, &p, &s), VOZ_ERR_INVALID);
    p = voz_stream_default_params();
    p.decode.beam = 0;
    p.decode.decoder = VOZ_DECODER_BEAM;
    assert_int_not_equal(voz_stream_create(m, &p, &s), VOZ_OK);
    p = voz_stream_default_params();
    p.segment = VOZ_SEGMENT_LONG;
    p.max_segment_s = 0;
    assert_int_equal(voz_stream_create(m, &p, &s), VOZ_ERR_INVALID);

    p = voz_stream_default_params();
    assert_int_equal(voz_stream_create(m, &p, &s), VOZ_OK);
    float bad[100] = { 0 };
    bad[42] = NAN;
    assert_int_equal(voz_stream_feed(s, bad, 100), VOZ_ERR_NONFINITE);
    assert_non_null(strstr(voz_last_error(), "42"));
    bad[42] = 1e36f; /* finite but not audio: the file reader's limit applies to streams too */
    assert_int_equal(voz_stream_feed(s, bad, 100), VOZ_ERR_NONFINITE);
    assert_non_null(strstr(voz_last_error(), "1e+36"));
    bad[42] = 0;
    assert_int_equal(voz_stream_feed(s, NULL, 5), VOZ_ERR_INVALID);
    assert_int_equal(voz_stream_feed(s, NULL, 0), VOZ_OK);
    assert_int_equal(voz_stream_finish(s), VOZ_OK);
    voz_stream_free(s);
    voz_stream_free(NULL);
    voz_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_block_sizes_endpoint),
        cmocka_unit_test(test_matches_endpointer_and_batch),
        cmocka_unit_test(test_long_mode),
        cmocka_unit_test(test_partials_and_refeed),
        cmocka_unit_test(test_context_reuse_equals_one_shot),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
