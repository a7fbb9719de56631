/* tests/test_model_file.c — the model file (round trip, truncation, every flipped bit,
   crafted files with a valid checksum but bad content), the model handle and utterance
   decoding (hand-solvable constant models for word times and segment cuts), and the
   end-to-end reference: PyTorch's log-posteriors and greedy transcript of the committed
   clip (tests/fixtures/e2e, written by tools/fixtures_e2e.py). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "acoustic/model_file.h"
#include "common/util.h"
#include "frontend/audio.h"
#include "frontend/mfcc.h"
#include "recognizer/decode.h"
#include "recognizer/internal.h"

#define E2E_DIR "tests/fixtures/e2e/"

/* ---- building small models --------------------------------------------------------- */

static char *xstrdup(const char *s)
{
    char *d = strdup(s);
    assert_non_null(d);
    return d;
}

static char **str_array(const char *const *v, int n)
{
    char **a = calloc((size_t)n, sizeof *a);
    assert_non_null(a);
    for (int i = 0; i < n; i++)
        a[i] = xstrdup(v[i]);
    return a;
}

static const char *const ALPHABET[] = { "", " ", "a", "b", "\xc3\xa9" /* é */ };
#define N_ALPHA 5

/* A model over ALPHABET; parameters pseudo-random in [-0.5, 0.5) (padding stays 0). */
static void make_model(struct voz_model_data *m, voz_cell_type cell, int layers, int bidi, int H, int extras)
{
    memset(m, 0, sizeof *m);
    m->feat = voz_feature_default_params();
    m->sample_rate = (int)m->feat.sample_rate;
    m->net = (voz_net_config){ .cell = cell, .input_dim = voz_feature_dim(&m->feat), .hidden = H,
                               .layers = layers, .bidirectional = bidi, .classes = N_ALPHA };
    m->blank = 0;
    m->classes = str_array(ALPHABET, N_ALPHA);
    if (extras) {
        static const char *const words[] = { "a", "ab", "ba", "\xc3\xa9" "a" };
        m->words = str_array(words, 4);
        m->n_words = 4;
        assert_int_equal(voz_model_data_set_meta(m, "name", "test model"), VOZ_OK);
        assert_int_equal(voz_model_data_set_meta(m, "recipe", "made by test_model_file.c"), VOZ_OK);
        assert_int_equal(voz_model_data_set_meta(m, "name", "tiny"), VOZ_OK); /* replaces */
    }
    size_t nf = voz_net_num_floats(&m->net);
    m->params = voz_alloc_aligned(nf * sizeof(float));
    assert_non_null(m->params);
    uint32_t state = 12345;
    for (int t = 0; t < voz_net_num_tensors(&m->net); t++) {
        voz_tensor_info ti;
        voz_net_tensor(&m->net, t, &ti);
        for (size_t k = 0; k < ti.numel; k++) {
            state = state * 1664525u + 1013904223u;
            m->params[ti.offset + k] = (float)(state >> 8) / (float)(1u << 24) - 0.5f;
        }
    }
}

/* A model whose output ignores the input: every weight 0, so the recurrent output is 0
   and the log-posteriors are log_softmax(fc.bias); `favour` gets the highest bias. */
static void make_constant_model(struct voz_model_data *m, int favour)
{
    make_model(m, VOZ_CELL_LSTM, 1, 1, 4, 0);
    memset(m->params, 0, voz_net_num_floats(&m->net) * sizeof(float));
    for (int t = 0; t < voz_net_num_tensors(&m->net); t++) {
        voz_tensor_info ti;
        voz_net_tensor(&m->net, t, &ti);
        if (!strcmp(ti.name, "fc.bias"))
            for (int k = 0; k < N_ALPHA; k++)
                m->params[ti.offset + k] = k == favour ? 5.0f : 0.0f;
    }
}

static void serialize(const struct voz_model_data *m, unsigned char **buf, size_t *n)
{
    void *b;
    assert_int_equal(voz_model_data_serialize(m, &b, n), VOZ_OK);
    *buf = b;
}

/* ---- locating fields in a serialised file, to craft bad ones ------------------------- */

static uint32_t rd32(const unsigned char *p) { return (uint32_t)p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }
static void wr32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> 8 * i);
}
static void wr64(unsigned char *p, uint64_t v)
{
    wr32(p, (uint32_t)v);
    wr32(p + 4, (uint32_t)(v >> 32));
}
static uint64_t rd64(const unsigned char *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }

/* Recomputes the checksum, so a crafted file passes it and reaches validation. */
static void reseal(unsigned char *buf, size_t n) { wr32(buf + n - 4, voz_crc32(0, buf, n - 4)); }

/* Offset of the payload of section `tag`. */
static size_t section(const unsigned char *buf, size_t n, const char *tag)
{
    size_t pos = 24;
    while (pos + 16 <= n - 4) {
        uint64_t size = rd64(buf + pos + 8);
        if (!memcmp(buf + pos, tag, 4))
            return pos + 16;
        pos += 16 + (size_t)((size + 7) & ~(uint64_t)7);
    }
    fail_msg("section %s not found", tag);
    return 0;
}

/* Offset of tensor entry `name` in the table (at its name length field). */
static size_t tensor_entry(const unsigned char *buf, size_t n, const char *name)
{
    size_t p = section(buf, n, "TENS");
    uint32_t count = rd32(buf + p);
    p += 4;
    for (uint32_t i = 0; i < count; i++) {
        uint32_t len = rd32(buf + p);
        uint32_t ndim = rd32(buf + p + 4 + len + 4);
        if (len == strlen(name) && !memcmp(buf + p + 4, name, len))
            return p;
        p += 4 + len + 8 + 8 * ndim + 16;
    }
    fail_msg("tensor %s not found", name);
    return 0;
}

static voz_status parse_expect(const unsigned char *buf, size_t n, voz_status want, const char *msg_part)
{
    struct voz_model_data d;
    voz_clear_error();
    voz_status s = voz_model_data_parse(buf, n, "m.voz", &d);
    if (s == VOZ_OK)
        voz_model_data_release(&d);
    if (s != want || (msg_part && !strstr(voz_last_error(), msg_part)))
        fail_msg("status %d (%s), expected %d; message '%s', expected to contain '%s'", s, voz_status_str(s), want,
                 voz_last_error(), msg_part ? msg_part : "");
    /* Every failure is one line naming the file. */
    if (s != VOZ_OK) {
        assert_true(!strncmp(voz_last_error(), "m.voz: ", 7));
        assert_null(strchr(voz_last_error(), '\n'));
    }
    return s;
}

/* ---- the file format ----------------------------------------------------------------- */

static void assert_same_model(const struct voz_model_data *a, const struct voz_model_data *b)
{
    assert_int_equal(a->sample_rate, b->sample_rate);
    const voz_feature_params *f = &a->feat, *g = &b->feat;
#define SAME(x) assert_true(f->x == g->x)
    SAME(sample_rate); SAME(frame_length_ms); SAME(frame_shift_ms); SAME(preemph); SAME(remove_dc);
    SAME(window); SAME(round_pow2); SAME(snip_edges); SAME(dither); SAME(num_mel_bins); SAME(low_freq);
    SAME(high_freq); SAME(num_ceps); SAME(cepstral_lifter); SAME(use_energy); SAME(raw_energy);
    SAME(energy_floor); SAME(htk_compat); SAME(delta_order); SAME(delta_window); SAME(cmvn); SAME(cmvn_var);
#undef SAME
    assert_int_equal(a->net.cell, b->net.cell);
    assert_int_equal(a->net.input_dim, b->net.input_dim);
    assert_int_equal(a->net.hidden, b->net.hidden);
    assert_int_equal(a->net.layers, b->net.layers);
    assert_int_equal(a->net.bidirectional, b->net.bidirectional);
    assert_int_equal(a->net.classes, b->net.classes);
    assert_int_equal(a->blank, b->blank);
    for (int k = 0; k < a->net.classes; k++)
        assert_string_equal(a->classes[k], b->classes[k]);
    assert_int_equal(a->n_words, b->n_words);
    for (int i = 0; i < a->n_words; i++)
        assert_string_equal(a->words[i], b->words[i]);
    assert_int_equal(a->n_meta, b->n_meta);
    for (int i = 0; i < a->n_meta; i++) {
        assert_string_equal(a->meta_keys[i], b->meta_keys[i]);
        assert_string_equal(a->meta_values[i], b->meta_values[i]);
    }
    assert_memory_equal(a->params, b->params, voz_net_num_floats(&a->net) * sizeof(float));
}

static void test_round_trip(void **state)
{
    (void)state;
    const struct { voz_cell_type cell; int layers, bidi, H, extras; } cases[] = {
        { VOZ_CELL_LSTM, 2, 1, 3, 1 }, { VOZ_CELL_GRU, 1, 0, 5, 0 }, { VOZ_CELL_RNN_TANH, 3, 1, 2, 1 },
        { VOZ_CELL_RNN_RELU, 1, 1, 1, 0 },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        struct voz_model_data m, r, f;
        make_model(&m, cases[c].cell, cases[c].layers, cases[c].bidi, cases[c].H, cases[c].extras);
        unsigned char *buf, *buf2;
        size_t n, n2;
        serialize(&m, &buf, &n);
        assert_int_equal(n % 4, 0);
        assert_memory_equal(buf, "VOZMODEL", 8);
        assert_int_equal(voz_model_data_parse(buf, n, "rt.voz", &r), VOZ_OK);
        assert_same_model(&m, &r);
        assert_int_equal(r.file_size, n);
        assert_int_equal(r.checksum, rd32(buf + n - 4));
        if (cases[c].extras)
            assert_string_equal(voz_model_data_get_meta(&r, "name"), "tiny");
        assert_null(voz_model_data_get_meta(&r, "nonesuch"));
        /* Serialising what was read gives the same bytes. */
        serialize(&r, &buf2, &n2);
        assert_int_equal(n, n2);
        assert_memory_equal(buf, buf2, n);
        /* Every tensor is 64-byte aligned in the file. */
        for (int t = 0; t < voz_net_num_tensors(&m.net); t++) {
            voz_tensor_info ti;
            voz_net_tensor(&m.net, t, &ti);
            size_t e = tensor_entry(buf, n, ti.name);
            uint32_t len = rd32(buf + e);
            uint64_t off = rd64(buf + e + 4 + len + 8 + 8 * (size_t)ti.ndim);
            assert_int_equal(off % 64, 0);
        }
        /* Through a file. */
        char path[] = "/tmp/voz-test-model-XXXXXX";
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        close(fd);
        assert_int_equal(voz_model_data_write(&m, path), VOZ_OK);
        assert_int_equal(voz_model_data_read(path, &f), VOZ_OK);
        assert_same_model(&m, &f);
        unlink(path);
        free(buf);
        free(buf2);
        voz_model_data_release(&m);
        voz_model_data_release(&r);
        voz_model_data_release(&f);
    }
}

static void test_truncation_everywhere(void **state)
{
    (void)state;
    struct voz_model_data m;
    make_model(&m, VOZ_CELL_LSTM, 1, 1, 2, 1);
    unsigned char *buf;
    size_t n;
    serialize(&m, &buf, &n);
    for (size_t len = 0; len < n; len++) {
        /* A copy of exactly len bytes, so reading past it is a memory error under ASan. */
        unsigned char *cut = malloc(len ? len : 1);
        assert_non_null(cut);
        memcpy(cut, buf, len);
        struct voz_model_data d;
        voz_status s = voz_model_data_parse(cut, len, "m.voz", &d);
        if (s == VOZ_OK)
            fail_msg("a file truncated to %zu of %zu bytes was accepted", len, n);
        assert_int_equal(s, VOZ_ERR_FORMAT);
        assert_true(!strncmp(voz_last_error(), "m.voz: ", 7));
        free(cut);
    }
    /* The message for a cut in the middle states both lengths. */
    char want[128];
    snprintf(want, sizeof want, "m.voz: truncated: header says %zu bytes, file has %zu", n, n / 2);
    parse_expect(buf, n / 2, VOZ_ERR_FORMAT, want);
    parse_expect(buf, 0, VOZ_ERR_FORMAT, "empty file");
    free(buf);
    voz_model_data_release(&m);
}

static void test_every_flipped_bit(void **state)
{
    (void)state;
    struct voz_model_data m;
    make_model(&m, VOZ_CELL_GRU, 1, 1, 2, 1);
    unsigned char *buf;
    size_t n;
    serialize(&m, &buf, &n);
    size_t accepted = 0, first_bad = 0;
    for (size_t i = 0; i < n; i++)
        for (int bit = 0; bit < 8; bit++) {
            buf[i] ^= (unsigned char)(1u << bit);
            struct voz_model_data d;
            voz_status s = voz_model_data_parse(buf, n, "m.voz", &d);
            if (s == VOZ_OK) {
                if (!accepted++)
                    first_bad = i;
                voz_model_data_release(&d);
            }
            buf[i] ^= (unsigned char)(1u << bit);
        }
    if (accepted)
        fail_msg("%zu single-bit corruptions accepted, the first at byte %zu of %zu", accepted, first_bad, n);
    /* A flipped byte in the body is reported as a checksum mismatch with both values. */
    size_t at = section(buf, n, "DATA") + 100;
    buf[at] ^= 0xff;
    char want[128];
    snprintf(want, sizeof want, "m.voz: checksum mismatch (file says 0x%08x, computed 0x%08x)", rd32(buf + n - 4),
             voz_crc32(0, buf, n - 4));
    parse_expect(buf, n, VOZ_ERR_FORMAT, want);
    free(buf);
    voz_model_data_release(&m);
}

static void test_header_errors(void **state)
{
    (void)state;
    struct voz_model_data m;
    make_model(&m, VOZ_CELL_LSTM, 1, 0, 2, 0);
    unsigned char *buf;
    size_t n;
    serialize(&m, &buf, &n);
    unsigned char *b = malloc(n + 8);
    assert_non_null(b);

    memcpy(b, buf, n);
    b[0] = 'X';
    parse_expect(b, n, VOZ_ERR_FORMAT, "m.voz: not a voz model (bad magic)");
    parse_expect((const unsigned char *)"RIFF....WAVEfmt ", 16, VOZ_ERR_FORMAT, "bad magic");

    memcpy(b, buf, n);
    wr32(b + 8, 7);
    reseal(b, n);
    parse_expect(b, n, VOZ_ERR_UNSUPPORTED, "m.voz: format version 7 is newer than this voz supports (2)");
    wr32(b + 8, 0);
    reseal(b, n);
    parse_expect(b, n, VOZ_ERR_FORMAT, "format version 0");

    memcpy(b, buf, n);
    wr32(b + 12, 20); /* header size not a multiple of 8 */
    reseal(b, n);
    parse_expect(b, n, VOZ_ERR_FORMAT, "header size 20");
    wr32(b + 12, 0xfffffff8u);
    reseal(b, n);
    parse_expect(b, n, VOZ_ERR_FORMAT, "header size");

    /* Trailing bytes after the checksum. */
    memcpy(b, buf, n);
    memset(b + n, 0, 8);
    parse_expect(b, n + 8, VOZ_ERR_FORMAT, "header says");

    /* A section claiming more bytes than the file has (64-bit sizes near the top). */
    memcpy(b, buf, n);
    size_t feat = section(b, n, "FEAT");
    wr64(b + feat - 8, UINT64_MAX - 7);
    reseal(b, n);
    parse_expect(b, n, VOZ_ERR_FORMAT, "truncated: section FEAT says");

    /* A required section renamed away. */
    memcpy(b, buf, n);
    memcpy(b + section(b, n, "ALPH") - 16, "XLPH", 4);
    reseal(b, n);
    parse_expect(b, n, VOZ_ERR_FORMAT, "section ALPH is missing");

    /* A section twice. */
    memcpy(b, buf, n);
    memcpy(b + section(b, n, "ALPH") - 16, "NET ", 4);
    reseal(b, n);
    parse_expect(b, n, VOZ_ERR_FORMAT, "section NET  appears twice");

    free(b);
    free(buf);
    voz_model_data_release(&m);
}

/* A copy of the file image buf[n] into b, changed by `stmt`, resealed (so the checksum
   passes) and parsed: it must fail with `status` and a message containing `msg`. */
#define CRAFT(stmt, status, msg)                                                                                   \
    do {                                                                                                           \
        memcpy(b, buf, n);                                                                                         \
        stmt;                                                                                                      \
        reseal(b, n);                                                                                              \
        parse_expect(b, n, status, msg);                                                                           \
    } while (0)

/* Bad content behind a valid checksum: what the validation must catch on its own. */
static void test_crafted_content(void **state)
{
    (void)state;
    struct voz_model_data m;
    make_model(&m, VOZ_CELL_LSTM, 2, 1, 3, 1);
    unsigned char *buf;
    size_t n;
    serialize(&m, &buf, &n);
    unsigned char *b = malloc(n);
    assert_non_null(b);
    const size_t net = section(buf, n, "NET "), alph = section(buf, n, "ALPH"), feat = section(buf, n, "FEAT");

    /* Absurd dimensions. */
    CRAFT(wr32(b + net + 8, 1u << 30), VOZ_ERR_FORMAT, "bad network configuration");
    CRAFT(wr32(b + net + 8, 0), VOZ_ERR_FORMAT, "bad network configuration");
    CRAFT(wr32(b + net + 12, 1000), VOZ_ERR_FORMAT, "bad network configuration");
    CRAFT(wr32(b + net + 20, 0x7fffffff), VOZ_ERR_FORMAT, NULL);
    CRAFT(wr32(b + net + 0, 9), VOZ_ERR_FORMAT, "cell type 9 is unknown");
    CRAFT(wr32(b + net + 4, 40), VOZ_ERR_FORMAT, "network input dimension is 40, expected 39");
    CRAFT(wr32(b + net + 24, 5), VOZ_ERR_FORMAT, "blank index 5 is out of range, expected 0..4");
    CRAFT(wr32(b + net + 24, 0xffffffffu), VOZ_ERR_FORMAT, "blank index -1 is out of range");
    /* Blank moved to a class that has a string. */
    CRAFT(wr32(b + net + 24, 2), VOZ_ERR_FORMAT, "the blank class 2 is \"a\", expected \"\"");
    /* Feature options. */
    CRAFT(wr32(b + feat, 0), VOZ_ERR_FORMAT, "sample rate 0 Hz is out of range");
    CRAFT(wr32(b + feat + 4, 0x45fa0000u /* 8000.0f */), VOZ_ERR_FORMAT, "feature sample rate 8000 differs");
    CRAFT(wr32(b + feat + 24, 17), VOZ_ERR_FORMAT, "feature option window is 17");
    CRAFT(wr32(b + feat + 12, 0x7fc00000u /* NaN shift */), VOZ_ERR_FORMAT, "not a finite number");
    CRAFT(wr32(b + feat + 52, 500), VOZ_ERR_FORMAT, NULL); /* num_ceps 500 */
    /* Alphabet count vs classes, absurd counts and string lengths. */
    CRAFT(wr32(b + alph, 4), VOZ_ERR_FORMAT, "alphabet has 4 classes, expected 5");
    CRAFT(wr32(b + alph, 0xffffffffu), VOZ_ERR_FORMAT, "section ALPH says 4294967295 classes");
    CRAFT(wr32(b + alph + 4 + 4, 0xfffffff0u), VOZ_ERR_FORMAT, "section ALPH ends inside class 1");
    CRAFT(b[alph + 4 + 4 + 4] = 0xff, VOZ_ERR_FORMAT, "class 1 is not valid UTF-8");
    CRAFT(b[alph + 4 + 4 + 4] = 0, VOZ_ERR_FORMAT, "not valid UTF-8");
    CRAFT(wr32(b + section(b, n, "WORD"), 0x40000000u), VOZ_ERR_FORMAT, "section WORD says");
    CRAFT(wr32(b + section(b, n, "META"), 0x20000000u), VOZ_ERR_FORMAT, "section META says");

    /* The tensor table. */
    size_t e = tensor_entry(buf, n, "rnn.weight_ih_l0");
    size_t name_len = strlen("rnn.weight_ih_l0");
    size_t dims = e + 4 + name_len + 8, off = dims + 16, bytes = off + 8;
    CRAFT(wr64(b + dims + 8, 40), VOZ_ERR_FORMAT, "m.voz: tensor 'rnn.weight_ih_l0' has shape [12,40], expected [12,39]");
    CRAFT(wr32(b + e + 4 + name_len + 4, 1), VOZ_ERR_FORMAT, NULL); /* ndim 1: the table no longer lines up */
    CRAFT(wr32(b + e + 4 + name_len, 1), VOZ_ERR_FORMAT, "dtype 1, expected 0 (f32)");
    CRAFT(wr64(b + off, UINT64_MAX - 63), VOZ_ERR_FORMAT, "outside the data section");
    CRAFT(wr64(b + off, ((uint64_t)n + 4096) & ~(uint64_t)63), VOZ_ERR_FORMAT, "outside the data section");
    CRAFT(wr64(b + off, rd64(buf + off) + 4), VOZ_ERR_FORMAT, "not 64-byte aligned");
    CRAFT(wr64(b + off, 0), VOZ_ERR_FORMAT, "outside the data section");
    CRAFT(wr64(b + bytes, UINT64_MAX), VOZ_ERR_FORMAT, "bytes, expected");
    CRAFT(b[e + 4 + 4] = 'X', VOZ_ERR_FORMAT, "unexpected tensor 'rnn.Xeight_ih_l0'");
    /* Two entries pointing at the same data. */
    size_t e2 = tensor_entry(buf, n, "rnn.weight_ih_l0_reverse");
    size_t off2 = e2 + 4 + strlen("rnn.weight_ih_l0_reverse") + 8 + 16;
    CRAFT(wr64(b + off2, rd64(buf + off)), VOZ_ERR_FORMAT, "overlap");
    /* A renamed entry duplicating another name (same length: _l0 -> _l1). */
    CRAFT(b[e + 4 + name_len - 1] = '1', VOZ_ERR_FORMAT, NULL);
    CRAFT(wr32(b + section(b, n, "TENS"), 3), VOZ_ERR_FORMAT, "tensor table has 3 tensors, expected 18");
    /* A NaN parameter. */
    CRAFT(wr32(b + rd64(buf + off) + 8, 0x7fc00000u), VOZ_ERR_NONFINITE,
          "tensor 'rnn.weight_ih_l0' element 2 is nan");
    CRAFT(wr32(b + rd64(buf + off), 0xff800000u), VOZ_ERR_NONFINITE, "is -inf");
    free(b);
    free(buf);
    voz_model_data_release(&m);
}

/* An ensemble: `members` networks of one shape in one file (format version 2). Member j
   is member 0's weights scaled by 1 + j/10, so every block differs. */
static void make_ensemble(struct voz_model_data *m, int members)
{
    make_model(m, VOZ_CELL_LSTM, 2, 1, 3, 1);
    const size_t nf = voz_net_num_floats(&m->net);
    float *p = voz_alloc_aligned((size_t)members * nf * sizeof *p);
    assert_non_null(p);
    for (int j = 0; j < members; j++)
        for (size_t i = 0; i < nf; i++)
            p[(size_t)j * nf + i] = m->params[i] * (1.0f + 0.1f * (float)j);
    voz_free_aligned(m->params);
    m->params = p;
    m->members = members;
}

static void test_members(void **state)
{
    (void)state;
    struct voz_model_data one, m, r;
    unsigned char *buf, *buf1, *buf2;
    size_t n, n1, n2;
    /* One network is written as version 1 whether members says 0 or 1: the files of
       every earlier voz stay what they were. */
    make_model(&one, VOZ_CELL_LSTM, 2, 1, 3, 1);
    serialize(&one, &buf1, &n1);
    assert_int_equal(rd32(buf1 + 8), 1);
    one.members = 1;
    serialize(&one, &buf2, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(buf1, buf2, n1);
    assert_int_equal(voz_model_data_parse(buf1, n1, "one.voz", &r), VOZ_OK);
    assert_int_equal(r.members, 1);
    voz_model_data_release(&r);
    free(buf2);

    /* Three: version 2, member j's tensors under "member<j>.", a faithful round trip. */
    make_ensemble(&m, 3);
    serialize(&m, &buf, &n);
    assert_int_equal(rd32(buf + 8), 2);
    assert_int_equal(voz_model_data_parse(buf, n, "ens.voz", &r), VOZ_OK);
    assert_int_equal(r.members, 3);
    assert_same_model(&m, &r);
    const size_t nf = voz_net_num_floats(&m.net);
    assert_memory_equal(m.params, r.params, 3 * nf * sizeof(float));
    serialize(&r, &buf2, &n2);
    assert_int_equal(n, n2);
    assert_memory_equal(buf, buf2, n);
    free(buf2);
    voz_model_data_release(&r);
    size_t e = tensor_entry(buf, n, "member2.fc.bias");
    uint64_t off = rd64(buf + e + 4 + strlen("member2.fc.bias") + 8 + 8);
    assert_int_equal(off % 64, 0);
    assert_true(n > 2 * n1);

    unsigned char *b = malloc(n);
    assert_non_null(b);
    /* Version 1 holds one network. */
    CRAFT(wr32(b + 8, 1), VOZ_ERR_FORMAT, "tensor table has 54 tensors, expected 18 for this network (several networks need format version 2)");
    /* A count that is not a whole number of networks. */
    CRAFT(wr32(b + section(b, n, "TENS"), 53), VOZ_ERR_FORMAT,
          "tensor table has 53 tensors, expected 18 per network for 1 to 8 networks");
    /* A member the table does not hold (member3 in a file of three). */
    e = tensor_entry(buf, n, "member2.fc.bias");
    CRAFT(b[e + 4 + 6] = '3', VOZ_ERR_FORMAT, "unexpected tensor 'member3.fc.bias' for 2-layer bidirectional lstm "
          "networks (the table holds 3)");
    CRAFT(b[e + 4 + 6] = '0', VOZ_ERR_FORMAT, "unexpected tensor 'member0.fc.bias'");
    /* A non-finite weight in a later member is named with its prefix. */
    e = tensor_entry(buf, n, "member1.rnn.weight_hh_l1");
    off = rd64(buf + e + 4 + strlen("member1.rnn.weight_hh_l1") + 8 + 16);
    CRAFT(wr32(b + off, 0x7f800000u), VOZ_ERR_NONFINITE, "tensor 'member1.rnn.weight_hh_l1' element 0 is inf");
    free(b);

    /* The writer refuses more than fit, and what no reader would load: 8 networks of
       hidden 1024 are 1.1 GiB (refused from the shape, before any weight is read). */
    m.members = VOZ_MODEL_MAX_MEMBERS + 1;
    void *big;
    size_t nbig;
    assert_int_equal(voz_model_data_serialize(&m, &big, &nbig), VOZ_ERR_INVALID);
    m.members = VOZ_MODEL_MAX_MEMBERS;
    const int hidden = m.net.hidden;
    m.net.hidden = 1024;
    assert_int_equal(voz_model_data_serialize(&m, &big, &nbig), VOZ_ERR_INVALID);
    assert_non_null(strstr(voz_last_error(), "more than a model file may hold (256 MiB)"));
    m.net.hidden = hidden;
    m.members = 3;
    free(buf);
    free(buf1);
    voz_model_data_release(&m);
    voz_model_data_release(&one);
}

static void test_read_errors(void **state)
{
    (void)state;
    struct voz_model_data d;
    assert_int_equal(voz_model_data_read("/nonexistent/model.voz", &d), VOZ_ERR_IO);
    assert_non_null(strstr(voz_last_error(), "/nonexistent/model.voz: cannot open"));
    assert_int_equal(voz_model_data_read("/tmp", &d), VOZ_ERR_IO);
    assert_non_null(strstr(voz_last_error(), "/tmp: is a directory"));
    struct voz_model *m = (struct voz_model *)1;
    assert_int_equal(voz_model_load("/nonexistent/model.voz", &m), VOZ_ERR_IO);
    assert_null(m);
    struct voz_model_data bad;
    make_model(&bad, VOZ_CELL_LSTM, 1, 1, 2, 0);
    bad.blank = 7;
    void *buf = NULL;
    size_t n;
    assert_int_equal(voz_model_data_serialize(&bad, &buf, &n), VOZ_ERR_INVALID);
    assert_null(buf);
    bad.blank = 0;
    voz_model_data_release(&bad);
}

/* ---- the model handle and decoding ------------------------------------------------------ */

static struct voz_model *load_data(const struct voz_model_data *d)
{
    unsigned char *buf;
    size_t n;
    serialize(d, &buf, &n);
    struct voz_model *m = NULL;
    assert_int_equal(voz_model_load_memory(buf, n, "const.voz", &m), VOZ_OK);
    free(buf);
    return m;
}

static void test_accessors(void **state)
{
    (void)state;
    struct voz_model_data d;
    make_model(&d, VOZ_CELL_LSTM, 1, 1, 2, 1);
    struct voz_model *m = load_data(&d);
    assert_int_equal(voz_model_sample_rate(m), 16000);
    assert_int_equal(voz_model_num_classes(m), N_ALPHA);
    assert_int_equal(voz_model_blank(m), 0);
    assert_string_equal(voz_model_class(m, 0), "");
    assert_string_equal(voz_model_class(m, 4), "\xc3\xa9");
    assert_null(voz_model_class(m, 5));
    int nw = 0;
    const char *const *w = voz_model_words(m, &nw);
    assert_int_equal(nw, 4);
    assert_string_equal(w[1], "ab");
    assert_int_equal(voz_model_features(m)->num_ceps, 13);
    assert_true(fabs(voz_model_frame_seconds(m) - 0.01) < 1e-12);
    voz_decode_params p = voz_decode_default_params();
    assert_int_equal(p.decoder, VOZ_DECODER_AUTO);
    assert_int_equal(p.beam, 16);
    assert_int_equal(p.threads, 1);
    assert_null(p.words);
    voz_model_free(m);
    voz_model_data_release(&d);
    /* The default model: either none (UNSUPPORTED) or one that loads. */
    struct voz_model *def = NULL;
    voz_status s = voz_model_load_default(&def);
    assert_true(s == VOZ_OK || s == VOZ_ERR_UNSUPPORTED);
    assert_true((s == VOZ_OK) == (def != NULL));
    voz_model_free(def);
}

/* Metadata values often carry file names, which need not be UTF-8: the bytes that are
   not are stored as \xNN, so the file still loads (it used to be written, then refused
   by the reader: "META value 6 is not valid UTF-8 text"). The writer refuses other
   strings that are not UTF-8 rather than write such a file. */
static void test_meta_not_utf8(void **state)
{
    (void)state;
    struct voz_model_data d, back;
    make_model(&d, VOZ_CELL_LSTM, 1, 1, 2, 1);
    assert_int_equal(voz_model_data_set_meta(&d, "data", "clips/caf\xe9.wav, ok \xc3\xa9, cut \xc3"), VOZ_OK);
    assert_int_equal(voz_model_data_set_meta(&d, "k\xff", "v"), VOZ_OK);
    unsigned char *buf;
    size_t n;
    serialize(&d, &buf, &n);
    assert_int_equal(voz_model_data_parse(buf, n, "m.voz", &back), VOZ_OK);
    assert_string_equal(voz_model_data_get_meta(&back, "data"), "clips/caf\\xe9.wav, ok \xc3\xa9, cut \\xc3");
    assert_string_equal(voz_model_data_get_meta(&back, "k\\xff"), "v");
    voz_model_data_release(&back);
    free(buf);
    free(d.classes[4]);
    d.classes[4] = strdup("\xe9");
    void *b;
    assert_int_equal(voz_model_data_serialize(&d, &b, &n), VOZ_ERR_INVALID);
    assert_string_equal(voz_last_error(), "model: class 4 is not valid UTF-8 text");
    voz_model_data_release(&d);
}

static float *noise(size_t n, uint32_t seed, float amp)
{
    float *x = malloc(n * sizeof *x);
    assert_non_null(x);
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = amp * ((float)(seed >> 8) / (float)(1u << 24) - 0.5f);
    }
    return x;
}

/* The constant model says "a" on every frame: greedy merges it to one label, so the
   transcript is the word "a" from 0 to the last frame's end. */
static void test_decode_constant(void **state)
{
    (void)state;
    struct voz_model_data d;
    make_constant_model(&d, 2);
    struct voz_model *m = load_data(&d);
    const size_t n = 16000; /* 1 s: T = 1 + (16000 - 400) / 160 = 98 frames */
    float *x = noise(n, 1, 0.1f);
    voz_transcript t;
    float *lp = NULL;
    size_t T = 0;
    voz_decode_params p = voz_decode_default_params();
    p.decoder = VOZ_DECODER_GREEDY;
    assert_int_equal(voz_decode_utterance(m, x, n, &p, 2.0, &t, &lp, &T), VOZ_OK);
    assert_int_equal(T, 98);
    assert_string_equal(t.text, "a");
    assert_int_equal(t.n_words, 1);
    assert_string_equal(t.words[0].text, "a");
    assert_float_equal(t.words[0].start, 2.0, 1e-6);
    assert_float_equal(t.words[0].end, 2.0 + 0.97 + 0.025, 1e-5);
    assert_float_equal(t.duration, 1.0, 1e-9);
    /* log_softmax([0, 0, 5, 0, 0]) on every frame */
    double lse = log(4.0 + exp(5.0));
    for (size_t i = 0; i < T * N_ALPHA; i++)
        assert_float_equal(lp[i], (i % N_ALPHA == 2 ? 5.0 : 0.0) - lse, 1e-5);
    free(lp);
    voz_transcript_release(&t);

    /* Shorter than one frame, and empty: an empty transcript, not an error. */
    assert_int_equal(voz_decode_utterance(m, x, 399, &p, 0, &t, NULL, NULL), VOZ_OK);
    assert_string_equal(t.text, "");
    assert_int_equal(t.n_words, 0);
    voz_transcript_release(&t);
    assert_int_equal(voz_transcribe_pcm(m, NULL, 0, &p, &t), VOZ_OK);
    assert_string_equal(t.text, "");
    assert_float_equal(t.duration, 0, 0);
    voz_transcript_release(&t);

    /* Non-finite audio or features are an error, never a transcript. */
    x[5000] = NAN;
    assert_int_equal(voz_decode_utterance(m, x, n, &p, 0, &t, NULL, NULL), VOZ_ERR_NONFINITE);
    assert_null(t.text);
    x[5000] = INFINITY;
    assert_int_equal(voz_transcribe_pcm(m, x, n, &p, &t), VOZ_ERR_NONFINITE);
    float feats[2 * 39] = { 0 };
    feats[45] = NAN;
    assert_int_equal(voz_decode_features(m, feats, 2, &p, 0, &t, NULL), VOZ_ERR_NONFINITE);
    feats[45] = 0;
    assert_int_equal(voz_decode_features(m, feats, 2, &p, 0, &t, NULL), VOZ_OK);
    assert_string_equal(t.text, "a");
    voz_transcript_release(&t);

    /* Bad parameters. */
    p.threads = 3;
    assert_int_equal(voz_decode_utterance(m, x, n, &p, 0, &t, NULL, NULL), VOZ_ERR_INVALID);
    p.threads = 1;
    p.beam = 0;
    assert_int_equal(voz_decode_features(m, feats, 2, &p, 0, &t, NULL), VOZ_ERR_INVALID);
    free(x);
    voz_model_free(m);
    voz_model_data_release(&d);
}

/* Members' posteriors are averaged by the beam decoder (every member on every warp) and
   the first alone feeds greedy. Constant models make the expected mean exact: member 0
   puts bias 5 on 'a', member 1 bias 3 on 'b', so each frame's posterior is
   (softmax(b0) + softmax(b1)) / 2. */
static void test_decode_members(void **state)
{
    (void)state;
    struct voz_model_data d;
    make_constant_model(&d, 2);
    const size_t nf = voz_net_num_floats(&d.net);
    float *p2 = voz_alloc_aligned(2 * nf * sizeof *p2);
    assert_non_null(p2);
    memcpy(p2, d.params, nf * sizeof *p2);
    memcpy(p2 + nf, d.params, nf * sizeof *p2);
    for (int t = 0; t < voz_net_num_tensors(&d.net); t++) {
        voz_tensor_info ti;
        voz_net_tensor(&d.net, t, &ti);
        if (!strcmp(ti.name, "fc.bias"))
            for (int k = 0; k < N_ALPHA; k++)
                p2[nf + ti.offset + k] = k == 3 ? 3.0f : 0.0f;
    }
    voz_free_aligned(d.params);
    d.params = p2;
    d.members = 2;
    struct voz_model *m = load_data(&d);
    double p0[N_ALPHA], p1[N_ALPHA], z0 = 4 + exp(5.0), z1 = 4 + exp(3.0);
    for (int k = 0; k < N_ALPHA; k++) {
        p0[k] = (k == 2 ? exp(5.0) : 1.0) / z0;
        p1[k] = (k == 3 ? exp(3.0) : 1.0) / z1;
    }
    const size_t n = 16000;
    float *x = noise(n, 3, 0.1f);
    float feats[4 * 39] = { 0 };
    voz_transcript t;
    float *lp;
    size_t T;
    /* which: 0 member 0 alone, 2 the mean of both */
#define EXPECT_LP(params, which, from_features)                                                                    \
    do {                                                                                                           \
        if (from_features) {                                                                                       \
            assert_int_equal(voz_decode_features(m, feats, 4, &(params), 0, &t, &lp), VOZ_OK);                    \
            T = 4;                                                                                                 \
        } else {                                                                                                   \
            assert_int_equal(voz_decode_utterance(m, x, n, &(params), 0, &t, &lp, &T), VOZ_OK);                   \
        }                                                                                                          \
        for (size_t i = 0; i < T * N_ALPHA; i++) {                                                                 \
            int k = (int)(i % N_ALPHA);                                                                            \
            assert_float_equal(lp[i], log((which) ? 0.5 * (p0[k] + p1[k]) : p0[k]), 2e-6);                       \
        }                                                                                                          \
        free(lp);                                                                                                  \
        voz_transcript_release(&t);                                                                                \
    } while (0)
    voz_decode_params p = voz_decode_default_params();
    EXPECT_LP(p, 0, 0); /* no word list: auto means greedy, the first network alone */
    EXPECT_LP(p, 0, 1);
    p.decoder = VOZ_DECODER_BEAM;
    EXPECT_LP(p, 2, 0);
    EXPECT_LP(p, 2, 1);
    p.n_warps = 2; /* two warps x two members: four passes, the same mean here */
    p.warps[0] = 0.9f;
    p.warps[1] = 1.1f;
    EXPECT_LP(p, 2, 0);
    p.n_members = 1;
    EXPECT_LP(p, 0, 0);
    EXPECT_LP(p, 0, 1);
    p.n_warps = -1;
    p.n_members = 2;
    EXPECT_LP(p, 2, 1);
#undef EXPECT_LP
    /* Refused: more members than the model has, out of range, or an ensemble for greedy. */
    struct voz_decode_ctx *c;
    p.n_members = 3;
    assert_int_equal(voz_decode_ctx_create(m, &p, &c), VOZ_ERR_INVALID);
    assert_non_null(strstr(voz_last_error(), "3 member networks asked for, const.voz has 2"));
    p.n_members = VOZ_MAX_MEMBERS + 1;
    assert_int_equal(voz_decode_utterance(m, x, n, &p, 0, &t, NULL, NULL), VOZ_ERR_INVALID);
    p.n_members = -1;
    assert_int_equal(voz_decode_utterance(m, x, n, &p, 0, &t, NULL, NULL), VOZ_ERR_INVALID);
    p.n_members = 2;
    p.decoder = VOZ_DECODER_GREEDY;
    assert_int_equal(voz_decode_ctx_create(m, &p, &c), VOZ_ERR_INVALID);
    assert_non_null(strstr(voz_last_error(), "an ensemble of networks needs the beam decoder"));
    p.n_members = 1;
    assert_int_equal(voz_decode_ctx_create(m, &p, &c), VOZ_OK);
    voz_decode_ctx_free(c);
    free(x);
    voz_model_free(m);
    voz_model_data_release(&d);
}

/* Passes run two at a time on a 2-thread context (voz_net_forward2): the posteriors
   must be the very numbers of the 1-thread context, for even and odd pass counts. */
static void test_decode_members_threads(void **state)
{
    (void)state;
    struct voz_model_data d;
    make_ensemble(&d, 3);
    struct voz_model *m = load_data(&d);
    const size_t n = 24000;
    float *x = noise(n, 7, 0.2f);
    const struct { int members, warps; } cases[] = { { 0, 0 }, { 2, 0 }, { 0, 2 }, { 1, 3 }, { 2, 3 }, { 3, 1 } };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        float *lp[2];
        size_t T[2];
        voz_transcript t;
        for (int th = 0; th < 2; th++) {
            voz_decode_params p = voz_decode_default_params();
            p.decoder = VOZ_DECODER_BEAM;
            p.threads = th + 1;
            p.n_members = cases[k].members;
            p.n_warps = cases[k].warps;
            for (int w = 0; w < p.n_warps; w++)
                p.warps[w] = 0.9f + 0.1f * (float)w;
            assert_int_equal(voz_decode_utterance(m, x, n, &p, 0, &t, &lp[th], &T[th]), VOZ_OK);
            voz_transcript_release(&t);
        }
        assert_int_equal(T[0], T[1]);
        assert_memory_equal(lp[0], lp[1], T[0] * N_ALPHA * sizeof(float));
        free(lp[0]);
        free(lp[1]);
    }
    free(x);
    voz_model_free(m);
    voz_model_data_release(&d);
}

/* The beam search constrained to a word list, chosen by AUTO when words are given. */
static void test_decode_beam(void **state)
{
    (void)state;
    struct voz_model_data d;
    make_constant_model(&d, 3); /* "b" everywhere */
    struct voz_model *m = load_data(&d);
    float *x = noise(8000, 2, 0.1f);
    static const char *const words[] = { "b", "ab" };
    voz_decode_params p = voz_decode_default_params();
    p.words = words;
    p.n_words = 2;
    voz_transcript t;
    assert_int_equal(voz_decode_utterance(m, x, 8000, &p, 0, &t, NULL, NULL), VOZ_OK);
    assert_string_equal(t.text, "b");
    voz_transcript_release(&t);
    p.decoder = VOZ_DECODER_BEAM;
    p.words = NULL;
    p.n_words = 0;
    assert_int_equal(voz_decode_utterance(m, x, 8000, &p, 0, &t, NULL, NULL), VOZ_OK);
    assert_string_equal(t.text, "b");
    voz_transcript_release(&t);
    free(x);
    voz_model_free(m);
    voz_model_data_release(&d);
}

/* Long input is cut at the quietest 10 ms within the last third of the maximum
   segment: with a 1 s maximum and silent 10 ms gaps at 0.85 s and 1.70 s, the cuts are
   at their centres, and the constant model says one word per segment. */
static void test_segment_cuts(void **state)
{
    (void)state;
    struct voz_model_data d;
    make_constant_model(&d, 2);
    struct voz_model *m = load_data(&d);
    const size_t n = 40000; /* 2.5 s */
    float *x = noise(n, 3, 0.5f);
    for (size_t i = 0; i < 160; i++) {
        x[13600 + i] = 0.001f * x[13600 + i];
        x[27200 + i] = 0.001f * x[27200 + i];
    }
    /* A quiet background (40 dB down) opening each segment, so the batch region finder
       (noise floor = a segment's 10th-percentile frame) hears one burst of "speech" per
       segment, reaching its edges; stationary noise alone gives no words. */
    for (size_t i = 0; i < n; i++)
        if (i < 3200 || (i >= 13680 && i < 16000) || (i >= 27280 && i < 29600))
            x[i] *= 0.01f;
    /* Louder than anything in the last third of the first segment before the gap. */
    voz_decode_params p = voz_decode_default_params();
    voz_transcript t;
    assert_int_equal(voz_transcribe_pcm_segmented(m, x, n, &p, 1.0, &t), VOZ_OK);
    assert_int_equal(t.n_words, 3);
    assert_string_equal(t.text, "a a a");
    assert_float_equal(t.duration, 2.5, 1e-9);
    assert_float_equal(t.words[0].start, 0.0, 1e-6);
    assert_float_equal(t.words[1].start, 0.855, 1e-6);
    assert_float_equal(t.words[2].start, 1.705, 1e-6);
    /* Segment 1 is 13680 samples: 84 frames, the last ending at 0.855 s. */
    assert_float_equal(t.words[0].end, 0.855, 1e-5);
    voz_transcript_release(&t);
    /* The default 30 s maximum leaves it whole. */
    assert_int_equal(voz_transcribe_pcm(m, x, n, &p, &t), VOZ_OK);
    assert_int_equal(t.n_words, 1);
    voz_transcript_release(&t);
    /* Through a file, read in blocks, the same cuts. */
    char path[] = "/tmp/voz-test-seg-XXXXXX.wav";
    int fd = mkstemps(path, 4);
    assert_true(fd >= 0);
    close(fd);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    unsigned char hdr[44];
    uint32_t data_bytes = (uint32_t)n * 2;
    memcpy(hdr, "RIFF", 4);
    wr32(hdr + 4, 36 + data_bytes);
    memcpy(hdr + 8, "WAVEfmt ", 8);
    wr32(hdr + 16, 16);
    wr32(hdr + 20, 1 | 1 << 16);  /* PCM, mono */
    wr32(hdr + 24, 16000);
    wr32(hdr + 28, 32000);
    wr32(hdr + 32, 2 | 16 << 16); /* block align 2, 16 bits */
    memcpy(hdr + 36, "data", 4);
    wr32(hdr + 40, data_bytes);
    fwrite(hdr, 1, 44, fp);
    for (size_t i = 0; i < n; i++) {
        int v = (int)lrintf(x[i] * 32767.0f);
        unsigned char s2[2] = { (unsigned char)(v & 0xff), (unsigned char)((v >> 8) & 0xff) };
        fwrite(s2, 1, 2, fp);
    }
    assert_int_equal(fclose(fp), 0);
    assert_int_equal(voz_transcribe_file_segmented(m, path, &p, 1.0, &t), VOZ_OK);
    assert_int_equal(t.n_words, 3);
    assert_float_equal(t.words[1].start, 0.855, 1e-6);
    assert_float_equal(t.words[2].start, 1.705, 1e-6);
    assert_float_equal(t.duration, 2.5, 1e-9);
    voz_transcript_release(&t);
    unlink(path);
    free(x);
    voz_model_free(m);
    voz_model_data_release(&d);
}

/* ---- the end-to-end reference ---------------------------------------------------------- */

static void *read_all(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        fail_msg("cannot open %s (run /usr/bin/python3 tools/fixtures_e2e.py)", path);
    fseek(fp, 0, SEEK_END);
    long len = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *buf = malloc((size_t)len + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)len, fp), (size_t)len);
    fclose(fp);
    buf[len] = 0;
    *n = (size_t)len;
    return buf;
}

struct e2e {
    struct voz_model *m;
    float *pcm;
    size_t n;
    float *lp;     /* decoded by the worker */
    size_t T;
    char *text;
    voz_status s;
};

static void *e2e_worker(void *arg)
{
    struct e2e *e = arg;
    voz_transcript t;
    voz_decode_params p = voz_decode_default_params();
    p.decoder = VOZ_DECODER_GREEDY;
    e->s = voz_decode_utterance(e->m, e->pcm, e->n, &p, 0, &t, &e->lp, &e->T);
    if (e->s == VOZ_OK) {
        e->text = strdup(t.text);
        voz_transcript_release(&t);
    }
    return NULL;
}

static void test_e2e_reference(void **state)
{
    (void)state;
    struct voz_model *m = NULL;
    if (voz_model_load(E2E_DIR "model.voz", &m) != VOZ_OK)
        fail_msg("%s", voz_last_error());
    float *pcm;
    size_t n;
    if (voz_audio_load(E2E_DIR "clip.wav", voz_model_sample_rate(m), &pcm, &n) != VOZ_OK)
        fail_msg("%s", voz_last_error());
    size_t ref_bytes, text_len;
    float *ref = read_all(E2E_DIR "logprobs.f32", &ref_bytes);
    char *want = read_all(E2E_DIR "transcript.txt", &text_len);
    while (text_len && (want[text_len - 1] == '\n' || want[text_len - 1] == '\r'))
        want[--text_len] = 0;
    const size_t C = (size_t)voz_model_num_classes(m);

    /* Two threads decode the same model at once: both must match the reference. */
    struct e2e jobs[2];
    pthread_t th[2];
    for (int j = 0; j < 2; j++) {
        jobs[j] = (struct e2e){ .m = m, .pcm = pcm, .n = n };
        assert_int_equal(pthread_create(&th[j], NULL, e2e_worker, &jobs[j]), 0);
    }
    for (int j = 0; j < 2; j++)
        pthread_join(th[j], NULL);
    for (int j = 0; j < 2; j++) {
        struct e2e *e = &jobs[j];
        if (e->s != VOZ_OK)
            fail_msg("decode failed: %s", voz_last_error());
        if (e->T * C * sizeof(float) != ref_bytes)
            fail_msg("voz gives %zu frames x %zu classes, PyTorch %zu floats", e->T, C, ref_bytes / sizeof(float));
        double worst = 0;
        size_t at = 0;
        for (size_t i = 0; i < e->T * C; i++) {
            double diff = fabs((double)e->lp[i] - ref[i]);
            if (diff > worst)
                worst = diff, at = i;
        }
        if (worst > 1e-4)
            fail_msg("log-posteriors differ from PyTorch by %g at frame %zu class %zu (voz %g, torch %g)", worst,
                     at / C, at % C, e->lp[at], ref[at]);
        assert_string_equal(e->text, want);
        free(e->lp);
        free(e->text);
    }
    /* The features alone, so a mismatch above can be told apart from one here. */
    size_t fb;
    float *ref_feats = read_all(E2E_DIR "features.f32", &fb);
    float *feats = NULL;
    size_t T = 0;
    assert_int_equal(voz_features_compute(voz_model_features(m), pcm, n, &feats, &T), VOZ_OK);
    const size_t D = (size_t)voz_feature_dim(voz_model_features(m));
    assert_int_equal(T * D * sizeof(float), fb);
    double worst = 0;
    size_t at = 0;
    for (size_t i = 0; i < T * D; i++)
        if (fabs((double)feats[i] - ref_feats[i]) > worst)
            worst = fabs((double)feats[i] - ref_feats[i]), at = i;
    if (worst > 1e-3)
        fail_msg("features differ from torchaudio's by %g at frame %zu dim %zu (voz %g, torch %g)", worst, at / D,
                 at % D, feats[at], ref_feats[at]);
    free(feats);
    free(ref_feats);

    /* The file was written by tools/torch2voz.py: the C writer, given what the C
       reader understood, must produce the very same bytes. */
    size_t file_bytes, c_bytes;
    unsigned char *file = read_all(E2E_DIR "model.voz", &file_bytes);
    void *c_file;
    assert_int_equal(voz_model_data_serialize(&m->data, &c_file, &c_bytes), VOZ_OK);
    assert_int_equal(c_bytes, file_bytes);
    for (size_t i = 0; i < file_bytes; i++)
        if (((unsigned char *)c_file)[i] != file[i])
            fail_msg("C and Python writers differ first at byte %zu of %zu", i, file_bytes);
    free(c_file);
    free(file);

    /* The one-call path gives the same text. */
    voz_decode_params p = voz_decode_default_params();
    p.decoder = VOZ_DECODER_GREEDY;
    voz_transcript t;
    assert_int_equal(voz_transcribe_file(m, E2E_DIR "clip.wav", &p, &t), VOZ_OK);
    assert_string_equal(t.text, want);
    assert_float_equal(t.duration, (double)n / voz_model_sample_rate(m), 1e-9);
    voz_transcript_release(&t);
    free(ref);
    free(want);
    free(pcm);
    voz_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_meta_not_utf8),
        cmocka_unit_test(test_truncation_everywhere),
        cmocka_unit_test(test_every_flipped_bit),
        cmocka_unit_test(test_header_errors),
        cmocka_unit_test(test_crafted_content),
        cmocka_unit_test(test_members),
        cmocka_unit_test(test_read_errors),
        cmocka_unit_test(test_accessors),
        cmocka_unit_test(test_decode_constant),
        cmocka_unit_test(test_decode_beam),
        cmocka_unit_test(test_decode_members),
        cmocka_unit_test(test_decode_members_threads),
        cmocka_unit_test(test_segment_cuts),
        cmocka_unit_test(test_e2e_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
