/* frontend/resample.c — mono float sample-rate conversion in blocks with libsoxr (high
   quality). Input soxr has not taken yet waits in `pending`, so a caller may offer any
   block and drain the output in pieces of any size. */
#include "frontend/audio.h"
#include "common/util.h"

#include <math.h>
#include <soxr.h>
#include <stdlib.h>
#include <string.h>

struct voz_resampler {
    soxr_t soxr;
    double in_rate, out_rate;
    float *pending;        /* [pending_len] input offered but not yet consumed by soxr */
    size_t pending_len, pending_cap;
    int flushed;           /* end of input was signalled to soxr */
};

#define MIN_RATE 1.0
#define MAX_RATE 10e6

voz_status voz_resampler_create(double in_rate, double out_rate, struct voz_resampler **out)
{
    *out = NULL;
    if (!(in_rate >= MIN_RATE && in_rate <= MAX_RATE && out_rate >= MIN_RATE && out_rate <= MAX_RATE))
        return voz_fail(VOZ_ERR_INVALID, "resampler: rates must be 1 Hz to 10 MHz, found %g -> %g",
                        in_rate, out_rate);
    struct voz_resampler *r = calloc(1, sizeof *r);
    if (!r)
        return voz_fail(VOZ_ERR_NOMEM, "resampler: out of memory");
    soxr_error_t err = NULL;
    soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
    soxr_quality_spec_t q = soxr_quality_spec(SOXR_HQ, 0);
    r->soxr = soxr_create(in_rate, out_rate, 1, &err, &io, &q, NULL);
    if (!r->soxr || err) {
        voz_resampler_free(r);
        return voz_fail(VOZ_ERR_INVALID, "resampler: libsoxr cannot convert %g Hz to %g Hz: %s",
                        in_rate, out_rate, soxr_strerror(err));
    }
    r->in_rate = in_rate;
    r->out_rate = out_rate;
    *out = r;
    return VOZ_OK;
}

void voz_resampler_free(struct voz_resampler *r)
{
    if (!r)
        return;
    if (r->soxr)
        soxr_delete(r->soxr);
    free(r->pending);
    free(r);
}

static voz_status pending_append(struct voz_resampler *r, const float *in, size_t n)
{
    if (r->pending_len + n > r->pending_cap) {
        size_t cap = r->pending_cap ? r->pending_cap : 4096;
        while (cap < r->pending_len + n) {
            if (cap > SIZE_MAX / 2 / sizeof(float))
                return voz_fail(VOZ_ERR_NOMEM, "resampler: input queue too large");
            cap *= 2;
        }
        float *p = realloc(r->pending, cap * sizeof *p);
        if (!p)
            return voz_fail(VOZ_ERR_NOMEM, "resampler: out of memory for %zu queued samples", cap);
        r->pending = p;
        r->pending_cap = cap;
    }
    memcpy(r->pending + r->pending_len, in, n * sizeof *in);
    r->pending_len += n;
    return VOZ_OK;
}

voz_status voz_resampler_process(struct voz_resampler *r, const float *in, size_t n,
                                 float *out, size_t max_out, size_t *got, int flush)
{
    *got = 0;
    if (n && r->flushed)
        return voz_fail(VOZ_ERR_INVALID, "resampler: input after the final flush");
    voz_status s;
    if (n && (s = pending_append(r, in, n)) != VOZ_OK)
        return s;
    size_t total = 0;
    while (total < max_out) {
        size_t idone = 0, odone = 0;
        soxr_error_t err;
        if (r->pending_len) {
            err = soxr_process(r->soxr, r->pending, r->pending_len, &idone, out + total, max_out - total, &odone);
            if (idone) {
                memmove(r->pending, r->pending + idone, (r->pending_len - idone) * sizeof *r->pending);
                r->pending_len -= idone;
            }
        } else if (flush) {
            /* in = NULL: end of input; soxr emits the filter's tail over as many calls as
               the output space needs. */
            r->flushed = 1;
            err = soxr_process(r->soxr, NULL, 0, NULL, out + total, max_out - total, &odone);
        } else {
            break;
        }
        if (err)
            return voz_fail(VOZ_ERR_INVALID, "resampler: libsoxr failed: %s", soxr_strerror(err));
        total += odone;
        if (!idone && !odone)
            break; /* soxr needs more input (or the tail is drained) */
    }
    *got = total;
    return VOZ_OK;
}

voz_status voz_resample_buffer(const float *in, size_t n, double in_rate, double out_rate,
                               float **out, size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    struct voz_resampler *r;
    voz_status s = voz_resampler_create(in_rate, out_rate, &r);
    if (s != VOZ_OK)
        return s;
    /* Expected length plus the filter's slack; grown if soxr gives more. */
    double est = ceil((double)n * out_rate / in_rate) + 64;
    size_t cap = est < 1e9 ? (size_t)est : (size_t)1e9, len = 0;
    float *buf = malloc(cap * sizeof *buf);
    if (!buf) {
        voz_resampler_free(r);
        return voz_fail(VOZ_ERR_NOMEM, "resampler: out of memory for %zu samples", cap);
    }
    const size_t block = 1 << 16;
    size_t pos = 0;
    for (;;) {
        if (cap - len < 4096) {
            float *nb = cap > SIZE_MAX / 2 / sizeof *nb ? NULL : realloc(buf, 2 * cap * sizeof *nb);
            if (!nb) {
                s = voz_fail(VOZ_ERR_NOMEM, "resampler: out of memory for %zu samples", 2 * cap);
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t take = n - pos < block ? n - pos : block, got, room = cap - len;
        int last = pos + take == n;
        if ((s = voz_resampler_process(r, in + pos, take, buf + len, room, &got, last)) != VOZ_OK)
            break;
        pos += take;
        len += got;
        if (last && got < room)
            break; /* flushed and the output had room left: the tail is drained */
    }
    voz_resampler_free(r);
    if (s != VOZ_OK) {
        free(buf);
        return s;
    }
    *out = buf;
    *n_out = len;
    return VOZ_OK;
}
