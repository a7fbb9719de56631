/* recognizer/stream.c — voz_stream_*: samples in, utterances out. The stream keeps
   the samples that may still belong to an utterance (from the endpointer's
   keep_from, or from the start of the current long-input segment) and decodes each
   finished utterance from exactly its samples on one decoding context (decode.h), so
   an utterance gets the per-utterance features and CMVN a one-shot decode of the same
   samples would get, while the scratch (and, at 2 threads, the network's worker
   thread) is made once per stream instead of once per utterance and per partial. All
   decisions are made on absolute sample positions, so the utterances do not depend on
   how the input is split into blocks. */
#include "recognizer/decode.h"
#include "common/util.h"
#include "frontend/audio.h"
#include "frontend/endpoint.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LONG_SEARCH_S 10.0 /* VOZ_SEGMENT_LONG: the cut is searched this far before the limit */
#define MAX_PARTIAL_BACKOFF_S 4.0

struct voz_stream {
    const struct voz_model *m;
    voz_stream_params p;
    int rate;
    struct voz_endpoint *ep;   /* VOZ_SEGMENT_ENDPOINT only */
    struct voz_decode_ctx *ctx; /* decoding scratch for every utterance and partial; made at
                                   the first decode, grown to the longest span decoded */

    float *buf;                /* [cap] samples from position buf_start on, n of them */
    size_t n, cap;
    uint64_t buf_start;
    uint64_t total;            /* samples fed so far */
    size_t chunk;              /* feed works through the input in pieces of this size */

    /* VOZ_SEGMENT_LONG */
    uint64_t seg_start;        /* first sample of the current segment */
    size_t max_seg, search;    /* samples: segment limit, cut search window before it */

    /* partial results */
    uint64_t partial_every;    /* samples between partials (0: none) */
    uint64_t partial_for;      /* segment start the partial state refers to */
    uint64_t next_partial;     /* position when the next partial is due */
    int partial_open;          /* partial state refers to a live segment */
};

voz_stream_params voz_stream_default_params(void)
{
    return (voz_stream_params){
        .decode = voz_decode_default_params(),
        .segment = VOZ_SEGMENT_ENDPOINT,
        .endpoint = { .threshold_db = 9.0f, .hangover_ms = 200.0f, .min_speech_ms = 150.0f,
                      .pad_ms = 200.0f, .max_utterance_s = 20.0f, .calibrate_ms = 500.0f },
        .max_segment_s = 30.0f,
        .partial_interval_s = 0.25f,
        .on_utterance = NULL,
        .on_partial = NULL,
        .user_data = NULL,
    };
}

voz_status voz_stream_create(const struct voz_model *m, const voz_stream_params *p,
                             struct voz_stream **out)
{
    if (!out)
        return voz_fail(VOZ_ERR_INVALID, "stream: no place for the stream handle");
    *out = NULL;
    if (!m || !p)
        return voz_fail(VOZ_ERR_INVALID, "stream: a model and parameters are required");
    if (p->segment != VOZ_SEGMENT_LONG && p->segment != VOZ_SEGMENT_ENDPOINT)
        return voz_fail(VOZ_ERR_INVALID, "stream: segment mode %d is unknown, expected %d or %d",
                        (int)p->segment, VOZ_SEGMENT_LONG, VOZ_SEGMENT_ENDPOINT);
    if (!(isfinite(p->partial_interval_s) && p->partial_interval_s >= 0 && p->partial_interval_s <= 60))
        return voz_fail(VOZ_ERR_INVALID, "stream: partial_interval_s must be 0..60 s, found %g",
                        p->partial_interval_s);
    if (p->segment == VOZ_SEGMENT_LONG &&
        !(isfinite(p->max_segment_s) && p->max_segment_s >= 0.1f && p->max_segment_s <= 3600))
        return voz_fail(VOZ_ERR_INVALID, "stream: max_segment_s must be 0.1..3600 s, found %g",
                        p->max_segment_s);
    /* Decoding nothing validates the decoder options now rather than mid-stream. */
    voz_transcript probe;
    voz_status st = voz_decode_utterance(m, NULL, 0, &p->decode, 0, &probe, NULL, NULL);
    if (st != VOZ_OK)
        return st;
    voz_transcript_release(&probe);

    struct voz_stream *s = calloc(1, sizeof *s);
    if (!s)
        return voz_fail(VOZ_ERR_NOMEM, "stream: out of memory");
    s->m = m;
    s->p = *p;
    s->rate = voz_model_sample_rate(m);
    if (p->segment == VOZ_SEGMENT_ENDPOINT) {
        if ((st = voz_endpoint_create(&p->endpoint, s->rate, &s->ep)) != VOZ_OK) {
            free(s);
            return st;
        }
    } else {
        s->max_seg = (size_t)((double)p->max_segment_s * s->rate);
        double search_s = fmin(LONG_SEARCH_S, p->max_segment_s / 3.0);
        s->search = (size_t)(search_s * s->rate);
        if (s->max_seg < 1)
            s->max_seg = 1;
        if (s->search > s->max_seg)
            s->search = s->max_seg;
    }
    s->partial_every = p->on_partial ? (uint64_t)llround((double)p->partial_interval_s * s->rate) : 0;
    s->chunk = s->partial_every ? (size_t)s->partial_every : (size_t)s->rate;
    if (s->chunk > (size_t)s->rate)
        s->chunk = (size_t)s->rate;
    if (s->chunk < 1)
        s->chunk = 1;
    *out = s;
    return VOZ_OK;
}

void voz_stream_free(struct voz_stream *s)
{
    if (!s)
        return;
    voz_endpoint_free(s->ep);
    voz_decode_ctx_free(s->ctx);
    free(s->buf);
    free(s);
}

static voz_status reserve(struct voz_stream *s, size_t extra)
{
    if (s->n + extra <= s->cap)
        return VOZ_OK;
    size_t cap = s->cap ? s->cap : (size_t)s->rate * 4;
    while (cap < s->n + extra) {
        if (cap > SIZE_MAX / 2 / sizeof(float))
            return voz_fail(VOZ_ERR_NOMEM, "stream: the utterance buffer cannot grow further");
        cap *= 2;
    }
    float *b = realloc(s->buf, cap * sizeof *b);
    if (!b)
        return voz_fail(VOZ_ERR_NOMEM, "stream: out of memory for %zu buffered samples", cap);
    s->buf = b;
    s->cap = cap;
    return VOZ_OK;
}

/* Drops buffered samples before absolute position `from`. */
static void trim(struct voz_stream *s, uint64_t from)
{
    if (from <= s->buf_start)
        return;
    size_t k = (size_t)(from - s->buf_start);
    if (k > s->n)
        k = s->n;
    memmove(s->buf, s->buf + k, (s->n - k) * sizeof *s->buf);
    s->n -= k;
    s->buf_start += k;
}

/* Decodes samples [start, end) (absolute positions, both buffered). */
static voz_status decode_span(struct voz_stream *s, uint64_t start, uint64_t end, voz_transcript *t)
{
    if (start < s->buf_start || end > s->buf_start + s->n)
        return voz_fail(VOZ_ERR_INVALID, "stream: utterance [%llu, %llu) is not buffered (have [%llu, %llu))",
                        (unsigned long long)start, (unsigned long long)end,
                        (unsigned long long)s->buf_start, (unsigned long long)(s->buf_start + s->n));
    const float *x = s->buf + (size_t)(start - s->buf_start);
    voz_status st;
    if (!s->ctx && (st = voz_decode_ctx_create(s->m, &s->p.decode, &s->ctx)) != VOZ_OK)
        return st;
    return voz_decode_ctx_utterance(s->ctx, x, (size_t)(end - start), (double)start / s->rate, t, NULL, NULL);
}

static voz_status emit(struct voz_stream *s, uint64_t start, uint64_t end)
{
    s->partial_open = 0;
    if (end <= start)
        return VOZ_OK;
    voz_transcript t;
    voz_status st = decode_span(s, start, end, &t);
    if (st != VOZ_OK)
        return st;
    t.start = (double)start / s->rate;
    t.end = (double)end / s->rate;
    if (s->p.on_utterance)
        s->p.on_utterance(&t, s->p.user_data);
    voz_transcript_release(&t);
    return VOZ_OK;
}

/* Re-decodes the growing utterance when a partial is due. The interval stretches
   while a decode takes longer than half of it, so a slow machine falls back to
   fewer partials instead of falling behind the audio. */
static voz_status maybe_partial(struct voz_stream *s)
{
    if (!s->partial_every)
        return VOZ_OK;
    uint64_t start;
    if (s->ep) {
        if (!voz_endpoint_active(s->ep, &start)) {
            s->partial_open = 0;
            return VOZ_OK;
        }
    } else {
        start = s->seg_start;
    }
    if (!s->partial_open || s->partial_for != start) {
        s->partial_open = 1;
        s->partial_for = start;
        s->next_partial = (s->total > start ? s->total : start) + s->partial_every;
        return VOZ_OK;
    }
    if (s->total < s->next_partial || s->total <= start)
        return VOZ_OK;
    double t0 = voz_now();
    voz_transcript t;
    voz_status st = decode_span(s, start, s->total, &t);
    if (st != VOZ_OK)
        return st;
    s->p.on_partial(t.text, (double)start / s->rate, s->p.user_data);
    voz_transcript_release(&t);
    double cost = voz_now() - t0;
    double wait = fmin(fmax((double)s->partial_every / s->rate, 2.0 * cost), MAX_PARTIAL_BACKOFF_S);
    s->next_partial = s->total + (uint64_t)(wait * s->rate);
    return VOZ_OK;
}

static voz_status run_endpoint(struct voz_stream *s, const float *x, size_t n)
{
    size_t used = 0;
    while (used < n) {
        voz_endpoint_segment seg;
        int done;
        used += voz_endpoint_process(s->ep, x + used, n - used, &seg, &done);
        if (done) {
            voz_status st = emit(s, seg.start, seg.end);
            if (st != VOZ_OK)
                return st;
        }
    }
    return VOZ_OK;
}

static voz_status run_long(struct voz_stream *s)
{
    while (s->total - s->seg_start > s->max_seg) {
        size_t base = (size_t)(s->seg_start - s->buf_start);
        size_t lo = base + s->max_seg - s->search, hi = base + s->max_seg;
        uint64_t cut = s->buf_start + voz_endpoint_quietest(s->buf, s->n, s->rate, s->buf_start, lo, hi);
        if (cut <= s->seg_start)
            cut = s->seg_start + s->max_seg;
        voz_status st = emit(s, s->seg_start, cut);
        if (st != VOZ_OK)
            return st;
        s->seg_start = cut;
    }
    return VOZ_OK;
}

voz_status voz_stream_feed(struct voz_stream *s, const float *pcm, size_t n)
{
    if (!s)
        return voz_fail(VOZ_ERR_INVALID, "stream: no stream");
    if (n && !pcm)
        return voz_fail(VOZ_ERR_INVALID, "stream: %zu samples announced but no buffer", n);
    size_t i = voz_audio_first_bad(pcm, n); /* the file reader's rule */
    if (i < n)
        return voz_fail(VOZ_ERR_NONFINITE, "stream: audio sample %llu is %g, expected finite audio "
                        "within -%g..%g (full scale is 1)", (unsigned long long)(s->total + i),
                        (double)pcm[i], (double)VOZ_AUDIO_MAX_ABS, (double)VOZ_AUDIO_MAX_ABS);
    while (n > 0) {
        size_t k = n < s->chunk ? n : s->chunk;
        voz_status st = reserve(s, k);
        if (st != VOZ_OK)
            return st;
        memcpy(s->buf + s->n, pcm, k * sizeof *pcm);
        s->n += k;
        s->total += k;
        st = s->ep ? run_endpoint(s, pcm, k) : run_long(s);
        if (st == VOZ_OK)
            st = maybe_partial(s);
        trim(s, s->ep ? voz_endpoint_keep_from(s->ep) : s->seg_start);
        if (st != VOZ_OK)
            return st;
        pcm += k;
        n -= k;
    }
    return VOZ_OK;
}

voz_status voz_stream_finish(struct voz_stream *s)
{
    if (!s)
        return voz_fail(VOZ_ERR_INVALID, "stream: no stream");
    voz_status st = VOZ_OK;
    if (s->ep) {
        voz_endpoint_segment seg;
        while (st == VOZ_OK && voz_endpoint_drain(s->ep, &seg))
            st = emit(s, seg.start, seg.end);
        trim(s, voz_endpoint_keep_from(s->ep));
    } else {
        st = emit(s, s->seg_start, s->total);
        s->seg_start = s->total;
        trim(s, s->seg_start);
    }
    s->partial_open = 0;
    return st;
}
