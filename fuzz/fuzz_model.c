/* fuzz/fuzz_model.c — libFuzzer target for the model loader (acoustic/model_file.c):
   the input is a model file image, parsed as it is, then again with its size field
   and CRC-32 repaired so that mutations reach past the checksum into the sections.
   A file that parses must serialise and re-parse to the same bytes, load as a model
   and, when small, transcribe a short synthetic signal without error or crash.
   Invariants: a refusal names the file in one line; parameters are finite. */
#include "fuzz/fuzz.h"
#include "acoustic/model_file.h"
#include "common/util.h"
#include "frontend/mfcc.h"

#include <math.h>

#define FUZZ_MODEL_NAME "fuzz.voz"
/* Work the transcription stage may cost: frames x weights multiply-adds. */
#define FUZZ_MODEL_MAX_WORK 20000000.0

static void model_refusal(voz_status s)
{
    const char *e = voz_last_error();
    size_t n = strlen(FUZZ_MODEL_NAME);
    FUZZ_CHECK(s != VOZ_OK, "status %d", (int)s);
    FUZZ_CHECK(!strncmp(e, FUZZ_MODEL_NAME, n) && e[n] == ':', "message '%s' does not name the file", e);
    FUZZ_CHECK(!strchr(e, '\n'), "message '%s' is not one line", e);
}

/* The transcription stage: only for models cheap enough to run in a fuzz loop. */
static void transcribe_small(const void *img, size_t size, const struct voz_model_data *d)
{
    double frames = 300.0 / d->feat.frame_shift_ms; /* 0.3 s of audio */
    double work = frames * (double)voz_net_num_weights(&d->net);
    if (d->sample_rate > 48000 || frames > 2000 || work > FUZZ_MODEL_MAX_WORK)
        return;
    struct voz_model *m = NULL;
    voz_status s = voz_model_load_memory(img, size, FUZZ_MODEL_NAME, &m);
    if (s != VOZ_OK) {
        /* Loading adds checks across sections (the word list must fit the alphabet). */
        FUZZ_CHECK(s == VOZ_ERR_FORMAT && !m, "parsed but does not load: status %d: %s", (int)s,
                   voz_last_error());
        model_refusal(s);
        return;
    }
    size_t n = (size_t)(0.3 * d->sample_rate);
    float *pcm = malloc(n * sizeof *pcm);
    if (!pcm) {
        voz_model_free(m);
        return;
    }
    uint32_t r = 12345;
    for (size_t i = 0; i < n; i++) { /* a tone with a little noise, never digital silence */
        r = r * 1664525u + 1013904223u;
        pcm[i] = 0.3f * sinf((float)i * 0.07f) + (float)(r >> 8) * (1.0f / 16777216.0f) * 0.01f;
    }
    for (int dec = VOZ_DECODER_GREEDY; dec <= VOZ_DECODER_BEAM; dec++) {
        voz_decode_params dp = voz_decode_default_params();
        dp.decoder = (voz_decoder)dec;
        dp.beam = 4;
        voz_transcript t;
        memset(&t, 0, sizeof t);
        s = voz_transcribe_pcm(m, pcm, n, &dp, &t);
        if (s != VOZ_OK) {
            /* The only acceptable refusal of a valid model: it computes non-finite
               values (finite but huge weights overflow). */
            FUZZ_CHECK(s == VOZ_ERR_NONFINITE, "valid model fails to transcribe: %s", voz_last_error());
            continue;
        }
        FUZZ_CHECK(t.text != NULL, "no text");
        FUZZ_CHECK(t.n_words >= 0 && (t.n_words == 0 || t.words), "%d words", t.n_words);
        for (int w = 0; w < t.n_words; w++)
            FUZZ_CHECK(t.words[w].text && t.words[w].start <= t.words[w].end && t.words[w].start >= 0 &&
                           t.words[w].end <= t.duration + 0.05,
                       "word %d '%s' %g..%g of %g s", w, t.words[w].text ? t.words[w].text : "(null)",
                       t.words[w].start, t.words[w].end, t.duration);
        voz_transcript_release(&t);
    }
    free(pcm);
    voz_model_free(m);
}

/* Parses one image; on success checks it and runs the later stages. */
static void parse_one(const uint8_t *data, size_t size)
{
    struct voz_model_data d;
    voz_status s = voz_model_data_parse(data, size, FUZZ_MODEL_NAME, &d);
    if (s != VOZ_OK) {
        model_refusal(s);
        return;
    }
    size_t nf = voz_net_num_floats(&d.net);
    for (size_t i = 0; i < nf; i++)
        FUZZ_CHECK(isfinite(d.params[i]), "parameter %zu is %g", i, d.params[i]);
    FUZZ_CHECK(voz_feature_dim(&d.feat) == d.net.input_dim, "input dimension %d", d.net.input_dim);
    /* Writer and reader agree: serialise, parse, serialise again, same bytes. */
    void *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    s = voz_model_data_serialize(&d, &a, &na);
    FUZZ_CHECK(s == VOZ_OK, "a parsed model does not serialise: %s", voz_last_error());
    struct voz_model_data d2;
    s = voz_model_data_parse(a, na, FUZZ_MODEL_NAME, &d2);
    FUZZ_CHECK(s == VOZ_OK, "a serialised model does not parse: %s", voz_last_error());
    s = voz_model_data_serialize(&d2, &b, &nb);
    FUZZ_CHECK(s == VOZ_OK && na == nb && !memcmp(a, b, na), "round trip changes the bytes (%zu, %zu)", na, nb);
    voz_model_data_release(&d2);
    free(b);
    transcribe_small(a, na, &d);
    free(a);
    voz_model_data_release(&d);
}

static uint32_t le32_at(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }

static int fuzz_model_one(const uint8_t *data, size_t size)
{
    parse_one(data, size);
    /* Repaired copy: the header's file size and the checksum made true. */
    if (size >= 28 && !memcmp(data, VOZ_MODEL_MAGIC, 8)) {
        uint8_t *c = malloc(size);
        if (!c)
            return 0;
        memcpy(c, data, size);
        for (int i = 0; i < 8; i++)
            c[16 + i] = (uint8_t)((uint64_t)size >> (8 * i));
        uint32_t crc = voz_crc32(0, c, size - 4);
        for (int i = 0; i < 4; i++)
            c[size - 4 + i] = (uint8_t)(crc >> (8 * i));
        if (le32_at(data + size - 4) != crc || memcmp(c + 16, data + 16, 8))
            parse_one(c, size);
        free(c);
    }
    return 0;
}

#ifndef VOZ_FUZZ_NO_ENTRY
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fuzz_model_one(data, size); }
#endif
