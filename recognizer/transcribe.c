/* recognizer/transcribe.c — batch transcription of a file, a buffer or a manifest row.
   Samples collect in a segment buffer of bounded size; a segment longer than the maximum
   is cut at its quietest 10 ms frame within the last part, the part before the cut is
   handled and the rest carried over, so an hour of audio needs the memory of one segment
   and long speech is cut at pauses. Within a segment only the speech regions are decoded
   (voz_endpoint_regions: an offline noise floor over the whole segment), each on its own
   with its own CMVN, as the live endpointer's utterances are: decoding a whole segment
   let per-utterance CMVN scale the silence, dither or hum beside the speech up to unit
   variance, and the model heard digits in it. */
#include "recognizer/decode.h"
#include "common/util.h"
#include "frontend/audio.h"
#include "frontend/endpoint.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_MAX_SEGMENT_S VOZ_TRANSCRIBE_MAX_SEGMENT_S
#define SEARCH_S 10.0 /* the cut is searched in the segment's last SEARCH_S seconds */
#define GATE_DB (VOZ_ENDPOINT_FLOOR_DB + 2 * 9.0f) /* -82 dBFS: see voz_transcribe_has_speech */

int voz_transcribe_has_speech(const float *pcm, size_t n, int rate, uint64_t pcm_start)
{
    return voz_endpoint_loudest_db(pcm, n, rate, pcm_start) > GATE_DB;
}

struct segmenter {
    struct voz_decode_ctx *ctx; /* the caller's decoding context, kept across segments */
    int rate;
    float *buf;          /* [cap] samples of the current segment */
    size_t n, cap;
    float *db, *db_sort; /* [cap / hop] frame energies of a segment, and their sorted copy */
    voz_region *regions; /* [cap / hop / 2 + 1] */
    voz_region_params rp;
    double decode_s;     /* time spent in seg_decode */
    size_t max_seg;      /* samples a segment may reach before it is cut */
    size_t search;       /* samples before max_seg searched for the quietest frame */
    size_t hop;          /* 10 ms in samples */
    uint64_t consumed;   /* samples before buf[0], for absolute times */
    voz_word *words;     /* accumulated over segments */
    int n_words, cap_words;
};

static voz_status seg_init(struct segmenter *sg, const struct voz_model *m, struct voz_decode_ctx *ctx,
                           double max_segment_s)
{
    memset(sg, 0, sizeof *sg);
    sg->ctx = ctx;
    sg->rp = voz_endpoint_region_default_params();
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
    size_t frames = sg->cap / sg->hop + 1;
    sg->buf = malloc(sg->cap * sizeof *sg->buf);
    sg->db = malloc(frames * sizeof *sg->db);
    sg->db_sort = malloc(frames * sizeof *sg->db_sort);
    sg->regions = malloc((frames / 2 + 1) * sizeof *sg->regions);
    if (!sg->buf || !sg->db || !sg->db_sort || !sg->regions)
        return voz_fail(VOZ_ERR_NOMEM, "transcribe: out of memory for a %g s segment", max_segment_s);
    return VOZ_OK;
}

static void seg_release(struct segmenter *sg)
{
    for (int i = 0; i < sg->n_words; i++)
        free(sg->words[i].text);
    free(sg->words);
    free(sg->buf);
    free(sg->db);
    free(sg->db_sort);
    free(sg->regions);
    memset(sg, 0, sizeof *sg);
}

/* Appends t's words to the accumulator (their texts move over). */
static voz_status seg_take_words(struct segmenter *sg, voz_transcript *t)
{
    if (sg->n_words + t->n_words > sg->cap_words) {
        int cap = sg->cap_words ? sg->cap_words : 16;
        while (cap < sg->n_words + t->n_words)
            cap *= 2;
        voz_word *w = realloc(sg->words, (size_t)cap * sizeof *w);
        if (!w)
            return voz_fail(VOZ_ERR_NOMEM, "transcribe: out of memory");
        sg->words = w;
        sg->cap_words = cap;
    }
    for (int i = 0; i < t->n_words; i++) {
        sg->words[sg->n_words++] = t->words[i];
        t->words[i].text = NULL;
    }
    return VOZ_OK;
}

/* Decodes the speech regions of buf[0, len), moves their words (absolute times) to the
   accumulator and drops the samples. A region touching the first or last whole grid
   frame reaches the segment's edge, so a clip that is speech throughout is decoded
   exactly whole. */
static voz_status seg_decode(struct segmenter *sg, size_t len)
{
    double t_start = voz_now();
    size_t first;
    size_t nf = voz_endpoint_frame_db(sg->buf, len, sg->rate, sg->consumed, sg->db, &first);
    size_t nr = voz_endpoint_regions(sg->db, nf, &sg->rp, sg->db_sort, sg->regions);
    voz_status s = VOZ_OK;
    for (size_t r = 0; r < nr && !s; r++) {
        size_t a = sg->regions[r].start ? first + sg->regions[r].start * sg->hop : 0;
        size_t b = sg->regions[r].end < nf ? first + sg->regions[r].end * sg->hop : len;
        voz_transcript t;
        memset(&t, 0, sizeof t);
        s = voz_decode_ctx_utterance(sg->ctx, sg->buf + a, b - a, (double)(sg->consumed + a) / sg->rate, &t,
                                     NULL, NULL);
        if (!s)
            s = seg_take_words(sg, &t);
        voz_transcript_release(&t);
    }
    sg->decode_s += voz_now() - t_start;
    if (s)
        return s;
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

voz_status voz_transcribe_samples(const struct voz_model *m, struct voz_decode_ctx *ctx,
                                  voz_samples_read_fn read, void *user, double max_segment_s,
                                  voz_transcript *out, double *decode_s)
{
    struct segmenter sg;
    memset(out, 0, sizeof *out);
    if (decode_s)
        *decode_s = 0;
    voz_status s = seg_init(&sg, m, ctx, max_segment_s);
    /* Read straight into the free part of the segment buffer (at least a second). */
    while (!s) {
        size_t got = 0;
        if ((s = read(user, sg.buf + sg.n, sg.cap - sg.n, &got)) || got == 0)
            break;
        sg.n += got;
        while (!s && sg.n > sg.max_seg)
            s = seg_decode(&sg, seg_cut_point(&sg));
    }
    if (!s)
        s = seg_finish(&sg, out);
    if (decode_s)
        *decode_s = sg.decode_s;
    seg_release(&sg);
    return s;
}

struct pcm_source { const float *pcm; size_t n, at; };

static voz_status pcm_read(void *user, float *buf, size_t max, size_t *got)
{
    struct pcm_source *src = user;
    size_t k = src->n - src->at < max ? src->n - src->at : max;
    /* Checked here, as the file reader and voz_stream_feed do: a region finder that
       skips noise would otherwise never look at a bad sample outside speech. */
    size_t i = k ? voz_audio_first_bad(src->pcm + src->at, k) : 0; /* pcm may be NULL */
    if (i < k)
        return voz_fail(VOZ_ERR_NONFINITE, "transcribe: audio sample %zu is %g, expected finite audio "
                        "within -%g..%g (full scale is 1)", src->at + i, (double)src->pcm[src->at + i],
                        (double)VOZ_AUDIO_MAX_ABS, (double)VOZ_AUDIO_MAX_ABS);
    if (k) /* pcm may be NULL when n = 0 */
        memcpy(buf, src->pcm + src->at, k * sizeof *buf);
    src->at += k;
    *got = k;
    return VOZ_OK;
}

static voz_status audio_read(void *user, float *buf, size_t max, size_t *got)
{
    return voz_audio_read(user, buf, max, got);
}

voz_status voz_transcribe_pcm_segmented(const struct voz_model *m, const float *pcm, size_t n,
                                        const voz_decode_params *p, double max_segment_s, voz_transcript *out)
{
    struct voz_decode_ctx *ctx;
    struct pcm_source src = { pcm, n, 0 };
    memset(out, 0, sizeof *out);
    voz_status s = voz_decode_ctx_create(m, p, &ctx);
    if (s)
        return s;
    s = voz_transcribe_samples(m, ctx, pcm_read, &src, max_segment_s, out, NULL);
    voz_decode_ctx_free(ctx);
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
    struct voz_decode_ctx *ctx;
    struct voz_audio *a = NULL;
    memset(out, 0, sizeof *out);
    voz_status s = voz_decode_ctx_create(m, p, &ctx);
    if (s)
        return s;
    if (!(s = voz_audio_open(path, voz_model_sample_rate(m), &a))) {
        s = voz_transcribe_samples(m, ctx, audio_read, a, max_segment_s, out, NULL);
        voz_audio_close(a);
    }
    voz_decode_ctx_free(ctx);
    return s;
}

voz_status voz_transcribe_file(const struct voz_model *m, const char *path, const voz_decode_params *p,
                               voz_transcript *out)
{
    return voz_transcribe_file_segmented(m, path, p, DEFAULT_MAX_SEGMENT_S, out);
}
