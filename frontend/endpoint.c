/* frontend/endpoint.c — energy endpointer. Frames are judged against a noise floor
   that is calibrated on the first calibrate_ms (a low percentile of the frame
   energies, so speech or a dropout during calibration hardly moves it) and then
   tracked: it falls fast towards quieter frames and rises slowly, a little faster
   on frames judged non-speech than on speech, so a steady noise level change is
   followed within seconds while a long utterance does not lift the floor into the
   speech. An onset becomes an utterance after min_speech_ms of speech frames; it
   ends after hangover_ms without speech; a confirmed utterance reaching
   max_utterance_s is cut at the quietest 50 ms of its last seconds and goes on.
   All positions are absolute sample counts, so nothing depends on block sizes. */
#include "frontend/endpoint.h"
#include "common/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Tracking constants (not exposed: they only shape how fast the floor moves). */
#define FALL_RATE 0.3f          /* per frame, towards a frame quieter than the floor */
#define TAU_QUIET_S 1.0f        /* rise time constant on non-speech frames */
#define TAU_SPEECH_S 4.0f       /* rise time constant on speech frames */
#define CALIB_PERCENTILE 0.10f  /* of calibration frame energies */
#define CUT_LOOKBACK_S 2.0f     /* a long utterance is cut within this much before the limit */
#define SMOOTH_HALF 2           /* quietest point: mean over 2 * 2 + 1 frames (50 ms) */
/* Steady sound, as the region finder judges it (FLAT_FRAMES, FLAT_DB): 2 s of frames
   within 10 dB of each other is hiss or hum, never speech. */
#define STEADY_S 2.0f
#define STEADY_DB 10.0f
#define QUIET_FLOOR_DB (-90.0f) /* quietest point: energies below this count as equal (the
                                   latest wins), so cuts in digital silence stay put */

enum { IDLE, CANDIDATE, ACTIVE };

struct frame { float lin; uint64_t start; }; /* variance (floored) and first sample */

struct voz_endpoint {
    voz_endpoint_params p;
    int rate;
    size_t F;                  /* samples per frame */
    float frame_s;             /* F / rate */
    float floor_lin;           /* VOZ_ENDPOINT_FLOOR_DB as a variance */
    uint64_t pad;              /* pad_ms in samples */
    uint64_t max_len;          /* max_utterance_s in samples, 0: no limit */
    int hang_frames;           /* silence frames ending a candidate */
    int close_frames;          /* silence frames ending an utterance: max(hangover, pad) */
    int min_frames;            /* speech frames confirming an utterance (>= 1) */

    /* the frame being accumulated */
    size_t acc_n;
    double acc_s1, acc_s2;
    uint64_t frame_pos;        /* first sample of that frame */
    uint64_t pos;              /* samples consumed */

    /* calibration: frames wait here until the floor is known, then are replayed */
    int calibrating;
    struct frame *pend;        /* [calib_frames] */
    int calib_frames, pend_n, pend_idx;
    float floor_db;

    /* recent evaluated frames for the length cut */
    struct frame *hist;        /* [hist_cap] ring indexed by n_eval */
    float *scratch;            /* [hist_cap + calib_frames] cut window energies, calibration sort */
    size_t hist_cap;
    uint64_t n_eval;

    /* the utterance state machine */
    int state;
    uint64_t onset;            /* candidate's first speech sample */
    uint64_t last_end;         /* end of the latest speech frame */
    int speech_count, silence_run;
    uint64_t seg_start, seg_speech_start;
    int seg_has_speech;        /* a speech frame since seg_start (false after a cut in silence) */
    uint64_t prev_end;         /* end of the previous utterance: the next may not overlap it */
    /* the current run of frames within STEADY_DB of each other (steady sound) */
    float steady_lo, steady_hi;
    int steady_n, steady_speech; /* frames in the run, and how many of them are speech */
    uint64_t pre_steady_end;   /* end of the latest speech frame before it */
};

static int finite_in(float v, float lo, float hi) { return isfinite(v) && v >= lo && v <= hi; }

voz_status voz_endpoint_params_check(const voz_endpoint_params *p)
{
    if (!finite_in(p->threshold_db, 0, 100))
        return voz_fail(VOZ_ERR_INVALID, "endpoint: threshold_db must be 0..100 dB, found %g",
                        p->threshold_db);
    if (!finite_in(p->hangover_ms, 10, 10000))
        return voz_fail(VOZ_ERR_INVALID, "endpoint: hangover_ms must be 10..10000, found %g",
                        p->hangover_ms);
    if (!finite_in(p->min_speech_ms, 0, 10000))
        return voz_fail(VOZ_ERR_INVALID, "endpoint: min_speech_ms must be 0..10000, found %g",
                        p->min_speech_ms);
    if (!finite_in(p->pad_ms, 0, 5000))
        return voz_fail(VOZ_ERR_INVALID, "endpoint: pad_ms must be 0..5000, found %g", p->pad_ms);
    if (!(p->max_utterance_s == 0 || finite_in(p->max_utterance_s, 1, 3600)))
        return voz_fail(VOZ_ERR_INVALID,
                        "endpoint: max_utterance_s must be 0 (no limit) or 1..3600 s, found %g",
                        p->max_utterance_s);
    if (!finite_in(p->calibrate_ms, 0, 10000))
        return voz_fail(VOZ_ERR_INVALID, "endpoint: calibrate_ms must be 0..10000, found %g",
                        p->calibrate_ms);
    return VOZ_OK;
}

static int frames_of_ms(float ms) { return (int)ceilf(ms / 10.0f - 1e-4f); }

voz_status voz_endpoint_create(const voz_endpoint_params *p, int sample_rate,
                               struct voz_endpoint **out)
{
    *out = NULL;
    voz_status st = voz_endpoint_params_check(p);
    if (st != VOZ_OK)
        return st;
    if (sample_rate < 1000 || sample_rate > 384000)
        return voz_fail(VOZ_ERR_INVALID, "endpoint: sample rate must be 1000..384000 Hz, found %d",
                        sample_rate);
    struct voz_endpoint *e = calloc(1, sizeof *e);
    if (!e)
        return voz_fail(VOZ_ERR_NOMEM, "endpoint: out of memory");
    e->p = *p;
    e->rate = sample_rate;
    e->F = (size_t)lround(sample_rate / 100.0);
    e->frame_s = (float)e->F / (float)sample_rate;
    e->floor_lin = powf(10.0f, VOZ_ENDPOINT_FLOOR_DB / 10.0f);
    e->pad = (uint64_t)llround(p->pad_ms * 1e-3 * sample_rate);
    e->max_len = (uint64_t)llround((double)p->max_utterance_s * sample_rate);
    e->hang_frames = frames_of_ms(p->hangover_ms);
    if (e->hang_frames < 1)
        e->hang_frames = 1;
    int pad_frames = frames_of_ms(p->pad_ms);
    e->close_frames = e->hang_frames > pad_frames ? e->hang_frames : pad_frames;
    e->min_frames = frames_of_ms(p->min_speech_ms);
    if (e->min_frames < 1)
        e->min_frames = 1;
    e->calib_frames = frames_of_ms(p->calibrate_ms);
    e->calibrating = e->calib_frames > 0;
    /* Without calibration the first frame's energy seeds the floor. */
    e->floor_db = NAN;

    size_t look = (size_t)ceilf(CUT_LOOKBACK_S * 100.0f);
    e->hist_cap = look + 1;
    e->hist = calloc(e->hist_cap, sizeof *e->hist);
    e->scratch = calloc(e->hist_cap + (size_t)e->calib_frames, sizeof *e->scratch);
    e->pend = calloc((size_t)e->calib_frames + 1, sizeof *e->pend);
    if (!e->hist || !e->scratch || !e->pend) {
        voz_endpoint_free(e);
        return voz_fail(VOZ_ERR_NOMEM, "endpoint: out of memory");
    }
    *out = e;
    return VOZ_OK;
}

void voz_endpoint_free(struct voz_endpoint *e)
{
    if (!e)
        return;
    free(e->hist);
    free(e->scratch);
    free(e->pend);
    free(e);
}

/* ---- the quietest place -------------------------------------------------------- */

typedef float (*energy_at_fn)(const void *ctx, size_t i);

/* Index of the frame whose neighbourhood (SMOOTH_HALF frames each side, clipped
   to the range) has the lowest mean energy; the latest one on ties. */
static size_t quietest_index(size_t count, energy_at_fn at, const void *ctx)
{
    size_t best = 0;
    double best_v = INFINITY;
    for (size_t c = 0; c < count; c++) {
        size_t a = c >= SMOOTH_HALF ? c - SMOOTH_HALF : 0;
        size_t b = c + SMOOTH_HALF < count ? c + SMOOTH_HALF : count - 1;
        double s = 0;
        for (size_t i = a; i <= b; i++)
            s += at(ctx, i);
        s /= (double)(b - a + 1);
        if (s <= best_v) {
            best_v = s;
            best = c;
        }
    }
    return best;
}

static float variance_floored(double s1, double s2, size_t n, float floor_lin)
{
    double m = s1 / (double)n;
    float v = (float)(s2 / (double)n - m * m);
    return v >= floor_lin ? v : floor_lin; /* also maps NaN to the floor */
}

struct pcm_frames { const float *x; size_t F; float floor_lin; };

static float pcm_frame_energy(const void *ctx, size_t i)
{
    const struct pcm_frames *c = ctx;
    const float *x = c->x + i * c->F;
    double s1 = 0, s2 = 0;
    for (size_t k = 0; k < c->F; k++) {
        s1 += x[k];
        s2 += (double)x[k] * x[k];
    }
    return variance_floored(s1, s2, c->F, c->floor_lin);
}

static float array_energy(const void *ctx, size_t i) { return ((const float *)ctx)[i]; }

size_t voz_endpoint_quietest(const float *pcm, size_t n, int rate, uint64_t pcm_start, size_t lo,
                             size_t hi)
{
    size_t F = rate > 0 ? (size_t)lround(rate / 100.0) : 0;
    if (hi > n)
        hi = n;
    if (F == 0 || lo >= hi)
        return lo;
    size_t first = lo + (size_t)((F - (pcm_start + lo) % F) % F);
    if (first >= hi || hi - first < F)
        return lo;
    struct pcm_frames c = { pcm + first, F, powf(10.0f, QUIET_FLOOR_DB / 10.0f) };
    return first + quietest_index((hi - first) / F, pcm_frame_energy, &c) * F;
}

float voz_endpoint_loudest_db(const float *pcm, size_t n, int rate, uint64_t pcm_start)
{
    float floor_lin = powf(10.0f, VOZ_ENDPOINT_FLOOR_DB / 10.0f), best = floor_lin;
    size_t F = rate > 0 ? (size_t)lround(rate / 100.0) : 0;
    if (n == 0 || F == 0)
        return VOZ_ENDPOINT_FLOOR_DB;
    size_t first = (size_t)((F - pcm_start % F) % F);
    if (first >= n || n - first < F) {
        first = 0; /* shorter than one grid frame: the whole range is the frame */
        F = n;
    }
    struct pcm_frames c = { pcm + first, F, floor_lin };
    for (size_t i = 0, count = (n - first) / F; i < count; i++) {
        float v = pcm_frame_energy(&c, i);
        best = v > best ? v : best;
    }
    return 10.0f * log10f(best);
}

/* ---- offline speech regions ------------------------------------------------------ */

voz_region_params voz_endpoint_region_default_params(void)
{
    return (voz_region_params){
        .threshold_db = 9.0f,
        .extend_db = 3.0f,
        .min_db = VOZ_ENDPOINT_FLOOR_DB + 2 * 9.0f,
        .percentile = CALIB_PERCENTILE,
        .bridge_frames = 20,
        .min_frames = 8,
        .merge_frames = 150,
        .pad_frames = 20,
    };
}

size_t voz_endpoint_frame_db(const float *pcm, size_t n, int rate, uint64_t pcm_start, float *db,
                             size_t *first)
{
    size_t F = rate > 0 ? (size_t)lround(rate / 100.0) : 0;
    *first = 0;
    if (F == 0 || n == 0)
        return 0;
    size_t off = (size_t)((F - pcm_start % F) % F);
    if (off >= n)
        return 0;
    *first = off;
    struct pcm_frames c = { pcm + off, F, powf(10.0f, VOZ_ENDPOINT_FLOOR_DB / 10.0f) };
    size_t count = (n - off) / F;
    for (size_t i = 0; i < count; i++)
        db[i] = 10.0f * log10f(pcm_frame_energy(&c, i));
    return count;
}

static int cmp_float(const void *a, const void *b);

/* flat[i] = 1 for frames inside some window of FLAT_FRAMES audible frames (all above
   `weak`) whose energies stay within FLAT_DB: steady hiss, hum or a tone. Speech is
   not that steady for two seconds (syllables, consonants and pauses swing its energy by
   15 dB and more); white noise in 10 ms frames swings about 4 dB, mains hum about 7. */
/* 2 s: with 1 s, a word slowed four times (a 1.2 s vowel) lost its vowel. */
#define FLAT_FRAMES 200
#define FLAT_DB 10.0f
static void mark_flat(const float *db, size_t nf, float weak, float *flat)
{
    memset(flat, 0, nf * sizeof *flat);
    if (nf < FLAT_FRAMES)
        return;
    size_t cover_end = 0; /* frames [.., cover_end) already marked */
    for (size_t s = 0; s + FLAT_FRAMES <= nf; s++) {
        float lo = db[s], hi = db[s];
        size_t i = s;
        for (; i < s + FLAT_FRAMES && db[i] > weak; i++) {
            lo = db[i] < lo ? db[i] : lo;
            hi = db[i] > hi ? db[i] : hi;
            if (hi - lo >= FLAT_DB)
                break;
        }
        if (i < s + FLAT_FRAMES)
            continue;
        for (size_t k = s > cover_end ? s : cover_end; k < s + FLAT_FRAMES; k++)
            flat[k] = 1;
        cover_end = s + FLAT_FRAMES;
    }
}

size_t voz_endpoint_regions(const float *db, size_t nf, const voz_region_params *p, float *scratch,
                            voz_region *out)
{
    if (nf == 0)
        return 0;
    memcpy(scratch, db, nf * sizeof *db);
    qsort(scratch, nf, sizeof *scratch, cmp_float);
    float pc = p->percentile >= 0 && p->percentile <= 1 ? p->percentile : CALIB_PERCENTILE;
    float floor_db = scratch[(size_t)(pc * (float)(nf - 1))];
    float strong = floor_db + p->threshold_db, weak = floor_db + p->extend_db;
    strong = strong > p->min_db ? strong : p->min_db;
    weak = weak > p->min_db ? weak : p->min_db;
    size_t bridge = p->bridge_frames > 1 ? (size_t)p->bridge_frames : 1;
    size_t min_frames = p->min_frames > 1 ? (size_t)p->min_frames : 1;
    size_t merge = p->merge_frames > 0 ? (size_t)p->merge_frames : 0;
    size_t pad = p->pad_frames > 0 ? (size_t)p->pad_frames : 0;
    /* Steady sound is background whatever its level: digital silence elsewhere in a file
       sets the floor far below the hiss that may follow the speech (4 s of -65 dBFS white
       noise after "seven" was decoded "seven six six"). scratch is free again. */
    float *flat = scratch;
    mark_flat(db, nf, weak, flat);

    /* Bursts: [b0, b1) from the first to the last weak frame, with `count` weak frames
       and `loud` set by a strong one; a burst closes at the first gap of `bridge`
       frames below the weak level (or steady). Kept bursts are merged into the open
       region (out[k - 1]) or start a new one. */
    size_t k = 0, f = 0;
    while (f < nf) {
        while (f < nf && !(db[f] > weak && !flat[f]))
            f++;
        if (f == nf)
            break;
        size_t b0 = f, b1 = f, count = 0;
        int loud = 0;
        for (; f < nf && f - b1 < bridge; f++) {
            if (db[f] > weak && !flat[f]) {
                count++;
                b1 = f + 1;
                loud |= db[f] > strong;
            }
        }
        f = b1;
        if (!loud || count < min_frames)
            continue;
        if (k > 0 && b0 - out[k - 1].end < merge)
            out[k - 1].end = b1;
        else
            out[k++] = (voz_region){ b0, b1 };
    }
    /* Padding, clipped; regions that meet after it become one. */
    size_t m = 0;
    for (size_t i = 0; i < k; i++) {
        size_t s = out[i].start > pad ? out[i].start - pad : 0;
        size_t e = nf - out[i].end > pad ? out[i].end + pad : nf;
        if (m > 0 && s <= out[m - 1].end)
            out[m - 1].end = e;
        else
            out[m++] = (voz_region){ s, e };
    }
    return m;
}

/* ---- the state machine ----------------------------------------------------------- */

static uint64_t sat_sub(uint64_t a, uint64_t b) { return a > b ? a - b : 0; }
static uint64_t max_u64(uint64_t a, uint64_t b) { return a > b ? a : b; }
static uint64_t min_u64(uint64_t a, uint64_t b) { return a < b ? a : b; }

static void confirm(struct voz_endpoint *e)
{
    e->state = ACTIVE;
    e->seg_start = max_u64(sat_sub(e->onset, e->pad), e->prev_end);
    e->seg_speech_start = e->onset;
    e->seg_has_speech = 1;
}

/* Cuts the open utterance at the quietest frame among the recent ones that start
   after seg_start, and fills *seg with the part before it. */
static void cut(struct voz_endpoint *e, uint64_t fend, voz_endpoint_segment *seg)
{
    size_t avail = e->n_eval < e->hist_cap ? (size_t)e->n_eval : e->hist_cap;
    size_t k = 0;
    uint64_t first = e->n_eval - avail;
    uint64_t starts_from = 0;
    for (uint64_t i = first; i < e->n_eval; i++) {
        const struct frame *f = &e->hist[i % e->hist_cap];
        if (f->start <= e->seg_start)
            continue;
        if (k == 0)
            starts_from = i;
        e->scratch[k++] = f->lin;
    }
    uint64_t at;
    if (k == 0) {
        at = fend; /* cannot happen with max_len >= 1 s; cut at the limit */
    } else {
        size_t q = quietest_index(k, array_energy, e->scratch);
        at = e->hist[(starts_from + q) % e->hist_cap].start;
    }
    seg->start = e->seg_start;
    seg->end = at;
    seg->speech_start = e->seg_speech_start;
    seg->speech_end = min_u64(e->last_end, at);
    seg->cut = 1;
    e->prev_end = at;
    e->seg_start = e->seg_speech_start = at;
    e->seg_has_speech = e->last_end > at;
}

/* Fills *seg with the open utterance, its speech ending at speech_end, padded up to
   the current frame's end fend. */
static void close_utterance(struct voz_endpoint *e, uint64_t speech_end, uint64_t fend, voz_endpoint_segment *seg)
{
    uint64_t end = min_u64(speech_end + e->pad, fend);
    seg->start = e->seg_start;
    seg->end = end;
    seg->speech_start = e->seg_speech_start;
    seg->speech_end = speech_end;
    seg->cut = 0;
    e->prev_end = end;
}

/* Judges one frame; returns 1 when an utterance closed into *seg. */
static int evaluate(struct voz_endpoint *e, const struct frame *fr, voz_endpoint_segment *seg)
{
    e->hist[e->n_eval % e->hist_cap] = *fr;
    e->n_eval++;
    uint64_t fend = fr->start + e->F;
    float db = 10.0f * log10f(fr->lin);
    if (isnan(e->floor_db))
        e->floor_db = db;
    int speech = db > e->floor_db + e->p.threshold_db;

    if (db < e->floor_db)
        e->floor_db += FALL_RATE * (db - e->floor_db);
    else
        e->floor_db += (db - e->floor_db) * e->frame_s / (speech ? TAU_SPEECH_S : TAU_QUIET_S);

    /* Steady sound louder than the floor it follows (hiss after a start in digital
       silence) would pass as speech until the slow rise caught up: "six six six" for 4 s
       of -65 dBFS hiss. After STEADY_S of speech frames within STEADY_DB, the floor moves
       to the run's level; the utterance keeps what came before the run, or is dropped. */
    if (e->steady_n && fmaxf(e->steady_hi, db) - fminf(e->steady_lo, db) < STEADY_DB) {
        e->steady_lo = fminf(e->steady_lo, db);
        e->steady_hi = fmaxf(e->steady_hi, db);
        e->steady_n++;
        e->steady_speech += speech;
    } else {
        e->steady_lo = e->steady_hi = db;
        e->steady_n = 1;
        e->steady_speech = speech;
        e->pre_steady_end = e->last_end;
    }
    if (e->state != IDLE && e->steady_speech == e->steady_n && (float)e->steady_n * e->frame_s >= STEADY_S) {
        e->floor_db = e->steady_lo;
        e->steady_n = 0;
        int had_speech = e->state == ACTIVE && e->pre_steady_end > e->seg_speech_start;
        e->state = IDLE;
        if (!had_speech)
            return 0;
        close_utterance(e, e->pre_steady_end, fend, seg);
        return 1;
    }

    if (e->state == IDLE && speech) {
        e->state = CANDIDATE; /* this frame counts as the candidate's first speech frame */
        e->onset = fr->start;
        e->speech_count = 0;
    }
    switch (e->state) {
    case IDLE:
        break;
    case CANDIDATE:
        if (speech) {
            e->speech_count++;
            e->last_end = fend;
            e->silence_run = 0;
            if (e->speech_count >= e->min_frames)
                confirm(e);
        } else if (++e->silence_run >= e->hang_frames) {
            e->state = IDLE; /* a click or a short noise burst */
        }
        break;
    case ACTIVE:
        if (speech) {
            e->last_end = fend;
            e->silence_run = 0;
            e->seg_has_speech = 1;
        } else {
            e->silence_run++;
        }
        if (e->silence_run >= e->close_frames) {
            e->state = IDLE;
            close_utterance(e, e->last_end, fend, seg);
            return e->seg_has_speech;
        }
        if (e->max_len && fend - e->seg_start >= e->max_len) {
            cut(e, fend, seg);
            return 1;
        }
        break;
    }
    return 0;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static void end_calibration(struct voz_endpoint *e)
{
    e->calibrating = 0;
    e->pend_idx = 0;
    if (e->pend_n == 0)
        return;
    float *db = e->scratch; /* sized for the calibration frames too */
    for (int i = 0; i < e->pend_n; i++)
        db[i] = 10.0f * log10f(e->pend[i].lin);
    qsort(db, (size_t)e->pend_n, sizeof *db, cmp_float);
    e->floor_db = db[(int)(CALIB_PERCENTILE * (float)(e->pend_n - 1))];
}

/* Completes the frame being accumulated (possibly short at the end of input). */
static void take_frame(struct voz_endpoint *e, struct frame *fr)
{
    fr->lin = variance_floored(e->acc_s1, e->acc_s2, e->acc_n, e->floor_lin);
    fr->start = e->frame_pos;
    e->frame_pos += e->acc_n;
    e->acc_n = 0;
    e->acc_s1 = e->acc_s2 = 0;
}

size_t voz_endpoint_process(struct voz_endpoint *e, const float *x, size_t n,
                            voz_endpoint_segment *seg, int *done)
{
    size_t used = 0;
    *done = 0;
    for (;;) {
        while (!e->calibrating && e->pend_idx < e->pend_n) {
            if (evaluate(e, &e->pend[e->pend_idx++], seg)) {
                *done = 1;
                return used;
            }
        }
        if (e->pend_idx == e->pend_n)
            e->pend_idx = e->pend_n = 0;
        if (used == n)
            return used;
        size_t take = e->F - e->acc_n;
        if (take > n - used)
            take = n - used;
        double s1 = e->acc_s1, s2 = e->acc_s2;
        for (size_t i = 0; i < take; i++) {
            double v = x[used + i];
            s1 += v;
            s2 += v * v;
        }
        e->acc_s1 = s1;
        e->acc_s2 = s2;
        e->acc_n += take;
        used += take;
        e->pos += take;
        if (e->acc_n < e->F)
            continue;
        struct frame fr;
        take_frame(e, &fr);
        if (e->calibrating) {
            e->pend[e->pend_n++] = fr;
            if (e->pend_n >= e->calib_frames)
                end_calibration(e);
        } else if (evaluate(e, &fr, seg)) {
            *done = 1;
            return used;
        }
    }
}

int voz_endpoint_drain(struct voz_endpoint *e, voz_endpoint_segment *seg)
{
    /* A last partial frame decides nothing; its samples stay with the caller and
       an open utterance still extends over them below. */
    if (e->acc_n > 0) {
        e->frame_pos += e->acc_n;
        e->acc_n = 0;
        e->acc_s1 = e->acc_s2 = 0;
    }
    if (e->calibrating)
        end_calibration(e);
    while (e->pend_idx < e->pend_n)
        if (evaluate(e, &e->pend[e->pend_idx++], seg))
            return 1;
    e->pend_idx = e->pend_n = 0;
    if (e->state == ACTIVE) {
        e->state = IDLE;
        if (e->seg_has_speech) {
            seg->start = e->seg_start;
            seg->end = min_u64(e->last_end + e->pad, e->pos);
            seg->speech_start = e->seg_speech_start;
            seg->speech_end = e->last_end;
            seg->cut = 0;
            e->prev_end = seg->end;
            return 1;
        }
    }
    e->state = IDLE;
    e->silence_run = 0;
    return 0;
}

uint64_t voz_endpoint_keep_from(const struct voz_endpoint *e)
{
    uint64_t next = e->pend_idx < e->pend_n ? e->pend[e->pend_idx].start : e->frame_pos;
    switch (e->state) {
    case ACTIVE:
        return e->seg_start;
    case CANDIDATE:
        return max_u64(sat_sub(e->onset, e->pad), e->prev_end);
    default:
        return min_u64(max_u64(sat_sub(next, e->pad), e->prev_end), e->pos);
    }
}

int voz_endpoint_active(const struct voz_endpoint *e, uint64_t *start)
{
    if (e->state != ACTIVE)
        return 0;
    if (start)
        *start = e->seg_start;
    return 1;
}

uint64_t voz_endpoint_position(const struct voz_endpoint *e) { return e->pos; }

float voz_endpoint_noise_floor_db(const struct voz_endpoint *e) { return e->floor_db; }
