/* recognizer/transcribe.c — one-call transcription of a file or a buffer. Samples
   collect in a segment buffer of bounded size; a segment longer than the maximum is
   cut at its quietest 10 ms frame within the last part, the part before the cut is
   decoded and the rest carried over, so an hour of audio needs the memory of one
   segment and long speech is cut at pauses. A segment with no frame louder than the
   speech gate (voz_transcribe_has_speech) gives no words: it is not decoded, since
   per-utterance CMVN would scale dither up to unit variance and the model hears
   digits in it. Segments with speech are decoded whole, exactly as without the gate. */
#include "recognizer/decode.h"
#include "common/util.h"
#include "frontend/audio.h"
#include "frontend/endpoint.h"

#include <stdlib.h>
#include <string.h>

#define DEFAULT_MAX_SEGMENT_S 30.0
#define SEARCH_S 10.0 /* the cut is searched in the segment's last SEARCH_S seconds */
#define GATE_DB (VOZ_ENDPOINT_FLOOR_DB + 2 * 9.0f) /* -82 dBFS: see voz_transcribe_has_speech */

int voz_transcribe_has_speech(const float *pcm, size_t n, int rate, uint64_t pcm_start)
{
    return voz_endpoint_loudest_db(pcm, n, rate, pcm_start) > GATE_DB;
}

struct segmenter {
    const struct voz_model *m;
    const voz_decode_params *p;
    struct voz_decode_ctx *ctx; /* decoding scratch kept across segments (first decode makes it) */
    int rate;
    float *buf;          /* [cap] samples of the current segment */
    size_t n, cap;
    size_t max_seg;      /* samples a segment may reach before it is cut */
    size_t search;       /* samples before max_seg searched for the quietest frame */
    size_t hop;          /* 10 ms in samples */
    uint64_t consumed;   /* samples before buf[0], for absolute times */
    voz_word *words;     /* accumulated over segments */
    int n_words, cap_words;
};

static voz_status seg_init(struct segmenter *sg, const struct voz_model *m, const voz_decode_params *p,
                           double max_segment_s)
{
    memset(sg, 0, sizeof *sg);
    sg->m = m;
    sg->p = p;
    sg->rate = voz_model_sample_rate(m);
    if (!(max_segment_s >= 0.1 && max_segment_s <= 3600))
        return voz_fail(VOZ_ERR_INVALID, "transcribe: maximum segment %g s is out of range, expected 0.1..3600",
                        max_segment_s);
    sg->max_seg = (size_t)(max_segment_s * sg->rate);
    sg->hop = (size_t)sg->rate / 100 ? (size_t)sg->rate / 100 : 1;
    if (sg->max_seg < sg->hop)
        sg->max_seg = sg->hop;
    double search_s = SEARCH_S < max_segment_s / 3 ? SEARCH_S : max_segment_s / 3;
    sg->search = (size_t)(search_s * sg->rate);
    if (sg->search < sg->hop)
        sg->search = sg->hop;
    if (sg->search > sg->max_seg)
        sg->search = sg->max_seg;
    sg->cap = sg->max_seg + (size_t)sg->rate; /* room for one more second per append */
    sg->buf = malloc(sg->cap * sizeof *sg->buf);
    if (!sg->buf)
        return voz_fail(VOZ_ERR_NOMEM, "transcribe: out of memory for a %g s segment", max_segment_s);
    return VOZ_OK;
}

static void seg_release(struct segmenter *sg)
{
    for (int i = 0; i < sg->n_words; i++)
        free(sg->words[i].text);
    free(sg->words);
    free(sg->buf);
    voz_decode_ctx_free(sg->ctx);
    memset(sg, 0, sizeof *sg);
}

/* Decodes buf[0, len) and moves its words (with absolute times) to the accumulator. */
static voz_status seg_decode(struct segmenter *sg, size_t len)
{
    voz_transcript t;
    double t0 = (double)sg->consumed / sg->rate;
    voz_status s = VOZ_OK;
    memset(&t, 0, sizeof t);
    if (voz_transcribe_has_speech(sg->buf, len, sg->rate, sg->consumed) &&
        (sg->ctx || !(s = voz_decode_ctx_create(sg->m, sg->p, &sg->ctx))))
        s = voz_decode_ctx_utterance(sg->ctx, sg->buf, len, t0, &t, NULL, NULL);
    if (s)
        return s;
    if (sg->n_words + t.n_words > sg->cap_words) {
        int cap = sg->cap_words ? sg->cap_words : 16;
        while (cap < sg->n_words + t.n_words)
            cap *= 2;
        voz_word *w = realloc(sg->words, (size_t)cap * sizeof *w);
        if (!w) {
            voz_transcript_release(&t);
            return voz_fail(VOZ_ERR_NOMEM, "transcribe: out of memory");
        }
        sg->words = w;
        sg->cap_words = cap;
    }
    for (int i = 0; i < t.n_words; i++) {
        sg->words[sg->n_words++] = t.words[i];
        t.words[i].text = NULL;
    }
    voz_transcript_release(&t);
    memmove(sg->buf, sg->buf + len, (sg->n - len) * sizeof *sg->buf);
    sg->n -= len;
    sg->consumed += len;
    return VOZ_OK;
}

/* The cut point of an over-long segment: the centre of the 10 ms frame of lowest
   energy among those ending at or before max_seg and starting in the search window.
   Frames lie on a 10 ms grid counted from the start of the input, so where a cut
   falls does not depend on where earlier cuts fell. */
static size_t seg_cut_point(const struct segmenter *sg)
{
    size_t lo = sg->max_seg - sg->search, best = sg->max_seg;
    size_t phase = (size_t)((sg->consumed + lo) % sg->hop);
    if (phase)
        lo += sg->hop - phase;
    if (lo + sg->hop > sg->max_seg)
        lo = sg->max_seg - sg->hop;
    double best_e = -1;
    for (size_t at = lo; at + sg->hop <= sg->max_seg; at += sg->hop) {
        double e = 0;
        for (size_t k = 0; k < sg->hop; k++)
            e += (double)sg->buf[at + k] * sg->buf[at + k];
        if (best_e < 0 || e < best_e) {
            best_e = e;
            best = at + sg->hop / 2;
        }
    }
    return best ? best : sg->max_seg;
}

static voz_status seg_feed(struct segmenter *sg, const float *pcm, size_t n)
{
    while (n > 0) {
        size_t take = sg->cap - sg->n < n ? sg->cap - sg->n : n;
        memcpy(sg->buf + sg->n, pcm, take * sizeof *pcm);
        sg->n += take;
        pcm += take;
        n -= take;
        while (sg->n > sg->max_seg) {
            voz_status s = seg_decode(sg, seg_cut_point(sg));
            if (s)
                return s;
        }
    }
    return VOZ_OK;
}

/* Decodes the tail and hands the words over to `out` (text = words joined by spaces). */
static voz_status seg_finish(struct segmenter *sg, voz_transcript *out)
{
    voz_status s = sg->n ? seg_decode(sg, sg->n) : VOZ_OK;
    if (s)
        return s;
    size_t len = 1;
    for (int i = 0; i < sg->n_words; i++)
        len += strlen(sg->words[i].text) + 1;
    char *text = malloc(len);
    if (!text)
        return voz_fail(VOZ_ERR_NOMEM, "transcribe: out of memory");
    size_t k = 0;
    text[0] = 0;
    for (int i = 0; i < sg->n_words; i++) {
        size_t wl = strlen(sg->words[i].text);
        if (k)
            text[k++] = ' ';
        memcpy(text + k, sg->words[i].text, wl + 1);
        k += wl;
    }
    memset(out, 0, sizeof *out);
    out->text = text;
    out->words = sg->words;
    out->n_words = sg->n_words;
    out->duration = (double)sg->consumed / sg->rate;
    out->start = 0;
    out->end = out->duration;
    sg->words = NULL;
    sg->n_words = sg->cap_words = 0;
    return VOZ_OK;
}

voz_status voz_transcribe_pcm_segmented(const struct voz_model *m, const float *pcm, size_t n,
                                        const voz_decode_params *p, double max_segment_s, voz_transcript *out)
{
    struct segmenter sg;
    memset(out, 0, sizeof *out);
    voz_status s = seg_init(&sg, m, p, max_segment_s);
    if (!s)
        s = seg_feed(&sg, pcm, n);
    if (!s)
        s = seg_finish(&sg, out);
    seg_release(&sg);
    return s;
}

voz_status voz_transcribe_pcm(const struct voz_model *m, const float *pcm, size_t n,
                              const voz_decode_params *p, voz_transcript *out)
{
    return voz_transcribe_pcm_segmented(m, pcm, n, p, DEFAULT_MAX_SEGMENT_S, out);
}

voz_status voz_transcribe_file_segmented(const struct voz_model *m, const char *path,
                                         const voz_decode_params *p, double max_segment_s,
                                         voz_transcript *out)
{
    struct segmenter sg;
    struct voz_audio *a = NULL;
    memset(out, 0, sizeof *out);
    voz_status s = seg_init(&sg, m, p, max_segment_s);
    if (s)
        return s;
    if ((s = voz_audio_open(path, sg.rate, &a))) {
        seg_release(&sg);
        return s;
    }
    /* Read straight into the free part of the segment buffer (at least a second). */
    for (;;) {
        size_t got = 0;
        if ((s = voz_audio_read(a, sg.buf + sg.n, sg.cap - sg.n, &got)) || got == 0)
            break;
        sg.n += got;
        while (sg.n > sg.max_seg)
            if ((s = seg_decode(&sg, seg_cut_point(&sg))))
                break;
        if (s)
            break;
    }
    voz_audio_close(a);
    if (!s)
        s = seg_finish(&sg, out);
    seg_release(&sg);
    return s;
}

voz_status voz_transcribe_file(const struct voz_model *m, const char *path, const voz_decode_params *p,
                               voz_transcript *out)
{
    return voz_transcribe_file_segmented(m, path, p, DEFAULT_MAX_SEGMENT_S, out);
}
