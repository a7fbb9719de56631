/* frontend/capture.c — PortAudio capture and file replay into one SPSC ring.
   Thread roles: the PortAudio callback thread (or the file producer thread) is the
   only writer of the ring; the caller of voz_capture_read() is the only reader and
   also owns the resampler. Blocking PortAudio work runs on a helper thread that the
   caller waits for with a deadline (run_bounded), so a wedged sound server or
   driver turns into an error message instead of a hang. */
#include "frontend/capture.h"
#include "frontend/audio.h"
#include "frontend/ringbuf.h"
#include "common/util.h"

#include <portaudio.h>

#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_BUFFER_S 30.0
#define DEFAULT_TIMEOUT_S 3.0
#define CB_CHUNK 256          /* callback converts in pieces of this many frames (stack) */
#define SCRATCH 8192          /* device-rate samples per resampling step */
#define FILE_BLOCK_S 0.01     /* the file producer writes 10 ms at a time */
#define POLL_NS 2000000L      /* reader poll period while the ring is empty */

enum { SRC_DEVICE, SRC_FILE };

struct voz_capture {
    int kind;
    char name[256];
    int rate;                       /* Hz of the samples read */
    double src_rate;                /* Hz the source delivers into the ring */
    double timeout_s;
    struct voz_ringbuf ring;        /* src_rate samples */
    struct voz_resampler *rs;       /* NULL when src_rate == rate */
    float *scratch;                 /* [SCRATCH] ring -> resampler staging */
    int flushing;                   /* the resampler's tail is being drained */
    atomic_int ended;               /* the source will write nothing more */
    atomic_int stop;                /* voz_capture_stop() was called */
    size_t stop_limit;              /* ring head when stopped: read no further */
    atomic_llong clock_ns;          /* voz_now() of sample 0, in ns (0: unknown) */

    /* device */
    PaStream *pa;
    int pa_init;                    /* Pa_Initialize succeeded (Pa_Terminate owed) */
    int quiet;                      /* keep sound-library chatter off stderr */
    int channels;                   /* interleaved input channels, downmixed */
    int int16;                      /* 1: paInt16 samples, 0: paFloat32 */
    atomic_uint_fast64_t dev_overflows;

    /* file */
    struct voz_audio *audio;
    pthread_t thread;
    int thread_started, realtime;
    voz_status file_status;         /* written by the producer before `ended` */
    int (*user_abort)(void *);      /* the caller's abort callback (NULL: none) */
    void *user_abort_data;
    char file_error[1024];
    int error_reported;
};

/* ---- keeping sound-library chatter off the terminal -------------------------------- */

static void alsa_silent(const char *file, int line, const char *fn, int err, const char *fmt, ...)
{
    (void)file, (void)line, (void)fn, (void)err, (void)fmt;
}
static void jack_silent(const char *msg) { (void)msg; }

/* ALSA and JACK print straight to stderr while PortAudio probes devices. Their
   message hooks are looked up at run time so voz links against neither library. */
static void silence_sound_libraries(void)
{
    int (*alsa_set)(void (*)(const char *, int, const char *, int, const char *, ...));
    void (*jack_set)(void (*)(const char *));
    void *sym = dlsym(RTLD_DEFAULT, "snd_lib_error_set_handler");
    if (sym) {
        memcpy(&alsa_set, &sym, sizeof sym);
        alsa_set(alsa_silent);
    }
    const char *jack_hooks[] = { "jack_set_error_function", "jack_set_info_function" };
    for (int i = 0; i < 2; i++)
        if ((sym = dlsym(RTLD_DEFAULT, jack_hooks[i]))) {
            memcpy(&jack_set, &sym, sizeof sym);
            jack_set(jack_silent);
        }
}

/* Points fd 2 at /dev/null; returns the saved descriptor (-1: nothing to undo). */
static int stderr_mute(void)
{
    fflush(stderr);
    int saved = dup(2), null = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (saved < 0 || null < 0 || dup2(null, 2) < 0) {
        if (saved >= 0)
            close(saved);
        saved = -1;
    }
    if (null >= 0)
        close(null);
    return saved;
}

static void stderr_restore(int saved)
{
    if (saved < 0)
        return;
    dup2(saved, 2);
    close(saved);
}

static void prepare_portaudio(int quiet)
{
    /* JACK would otherwise try to launch a server, which can take seconds. */
    setenv("JACK_NO_START_SERVER", "1", 0);
    if (quiet)
        silence_sound_libraries();
}

/* ---- bounded waits ------------------------------------------------------------- */

struct guard {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, abandoned;
    void (*work)(void *);
    void (*undo)(void *); /* run by the helper when the caller gave up waiting */
    void *arg;
};

static void guard_destroy(struct guard *g)
{
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
    free(g);
}

static void *guard_main(void *p)
{
    struct guard *g = p;
    g->work(g->arg);
    pthread_mutex_lock(&g->mu);
    g->done = 1;
    int abandoned = g->abandoned;
    pthread_cond_signal(&g->cv);
    pthread_mutex_unlock(&g->mu);
    if (abandoned) {
        if (g->undo)
            g->undo(g->arg);
        guard_destroy(g);
    }
    return NULL;
}

/* Runs work(arg) on a helper thread, waiting at most timeout_s. Returns 1 when it
   completed; 0 on timeout, after which the helper owns arg and hands it to undo()
   if work ever returns. */
static int run_bounded(void (*work)(void *), void (*undo)(void *), void *arg, double timeout_s)
{
    struct guard *g = calloc(1, sizeof *g);
    pthread_condattr_t ca;
    if (!g || pthread_condattr_init(&ca) != 0) {
        free(g);
        work(arg);
        return 1;
    }
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, &ca);
    pthread_condattr_destroy(&ca);
    g->work = work;
    g->undo = undo;
    g->arg = arg;
    pthread_t th;
    if (pthread_create(&th, NULL, guard_main, g) != 0) {
        guard_destroy(g);
        work(arg);
        return 1;
    }
    pthread_detach(th);
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    double whole = floor(timeout_s);
    dl.tv_sec += (time_t)whole;
    dl.tv_nsec += (long)((timeout_s - whole) * 1e9);
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&g->mu);
    while (!g->done)
        if (pthread_cond_timedwait(&g->cv, &g->mu, &dl) == ETIMEDOUT && !g->done) {
            g->abandoned = 1;
            pthread_mutex_unlock(&g->mu);
            return 0;
        }
    pthread_mutex_unlock(&g->mu);
    guard_destroy(g);
    return 1;
}

/* ---- device listing ------------------------------------------------------------ */

struct list_job {
    voz_capture_device *devs;
    int n;
    voz_status st;
    char err[512];
};

static void fill_device(voz_capture_device *d, int i, const PaDeviceInfo *info, int def)
{
    const PaHostApiInfo *api = Pa_GetHostApiInfo(info->hostApi);
    d->index = i;
    snprintf(d->name, sizeof d->name, "%s", info->name ? info->name : "?");
    snprintf(d->host_api, sizeof d->host_api, "%s", api && api->name ? api->name : "?");
    d->max_input_channels = info->maxInputChannels;
    d->default_rate = info->defaultSampleRate;
    d->is_default = i == def;
}

static void list_work(void *arg)
{
    struct list_job *j = arg;
    PaError e = Pa_Initialize();
    if (e != paNoError) {
        j->st = VOZ_ERR_DEVICE;
        snprintf(j->err, sizeof j->err, "PortAudio cannot start: %s", Pa_GetErrorText(e));
        return;
    }
    int count = Pa_GetDeviceCount(), def = Pa_GetDefaultInputDevice();
    if (count > 0)
        j->devs = calloc((size_t)count, sizeof *j->devs);
    for (int i = 0; j->devs && i < count; i++) {
        const PaDeviceInfo *info = Pa_GetDeviceInfo(i);
        if (info && info->maxInputChannels > 0)
            fill_device(&j->devs[j->n++], i, info, def);
    }
    if (count > 0 && !j->devs) {
        j->st = VOZ_ERR_NOMEM;
        snprintf(j->err, sizeof j->err, "capture: out of memory listing %d devices", count);
    }
    Pa_Terminate();
}

static void list_undo(void *arg)
{
    struct list_job *j = arg;
    free(j->devs);
    free(j);
}

voz_status voz_capture_list(int quiet, double timeout_s, voz_capture_device **devs, int *n)
{
    *devs = NULL;
    *n = 0;
    struct list_job *j = calloc(1, sizeof *j);
    if (!j)
        return voz_fail(VOZ_ERR_NOMEM, "capture: out of memory");
    if (!(timeout_s > 0))
        timeout_s = DEFAULT_TIMEOUT_S;
    prepare_portaudio(quiet);
    int saved = quiet ? stderr_mute() : -1;
    int finished = run_bounded(list_work, list_undo, j, timeout_s);
    stderr_restore(saved);
    if (!finished)
        return voz_fail(VOZ_ERR_DEVICE, "audio devices: PortAudio did not answer within %g s", timeout_s);
    voz_status st = j->st;
    if (st != VOZ_OK) {
        voz_fail(st, "%s", j->err);
        free(j->devs);
    } else {
        *devs = j->devs;
        *n = j->n;
    }
    free(j);
    return st;
}

/* ---- the PortAudio callback: convert, downmix, copy ------------------------------- */

static void note_clock(struct voz_capture *c, double seconds_ago)
{
    long long expected = 0;
    long long ns = (long long)((voz_now() - seconds_ago) * 1e9);
    if (ns == 0)
        ns = 1;
    atomic_compare_exchange_strong(&c->clock_ns, &expected, ns);
}

static int on_audio(const void *input, void *output, unsigned long frames,
                    const PaStreamCallbackTimeInfo *time_info, PaStreamCallbackFlags flags, void *user)
{
    (void)output;
    (void)time_info;
    struct voz_capture *c = user;
    if (flags & paInputOverflow)
        atomic_fetch_add_explicit(&c->dev_overflows, 1, memory_order_relaxed);
    if (!input)
        return paContinue;
    if (atomic_load_explicit(&c->clock_ns, memory_order_relaxed) == 0)
        note_clock(c, (double)frames / c->src_rate);
    const int ch = c->channels;
    float tmp[CB_CHUNK];
    for (unsigned long at = 0; at < frames;) {
        size_t k = frames - at < CB_CHUNK ? (size_t)(frames - at) : CB_CHUNK;
        if (c->int16) {
            const int16_t *s = (const int16_t *)input + at * (unsigned long)ch;
            const float scale = 1.0f / (32768.0f * (float)ch);
            for (size_t i = 0; i < k; i++) {
                int sum = 0;
                for (int q = 0; q < ch; q++)
                    sum += s[i * (size_t)ch + (size_t)q];
                tmp[i] = (float)sum * scale;
            }
        } else {
            const float *s = (const float *)input + at * (unsigned long)ch;
            const float scale = 1.0f / (float)ch;
            for (size_t i = 0; i < k; i++) {
                float sum = 0;
                for (int q = 0; q < ch; q++)
                    sum += s[i * (size_t)ch + (size_t)q];
                tmp[i] = sum * scale;
            }
        }
        voz_ringbuf_write(&c->ring, tmp, k);
        at += k;
    }
    return atomic_load_explicit(&c->stop, memory_order_relaxed) ? paComplete : paContinue;
}

static void on_finished(void *user)
{
    struct voz_capture *c = user;
    atomic_store(&c->ended, 1);
}

/* ---- opening a device ------------------------------------------------------------ */

static void capture_destroy(struct voz_capture *c)
{
    if (!c)
        return;
    voz_ringbuf_release(&c->ring);
    voz_resampler_free(c->rs);
    if (c->audio)
        voz_audio_close(c->audio);
    free(c->scratch);
    free(c);
}

struct open_job {
    struct voz_capture *c;
    char *device;        /* copy of the spec, NULL: default */
    int rate, force_rate;
    double buffer_s;
    voz_status st;
    char err[1024];
};

static int all_digits(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s))
            return 0;
    return 1;
}

static int job_fail(struct open_job *j, const char *fmt, ...) VOZ_PRINTF(2, 3);
static int job_fail(struct open_job *j, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(j->err, sizeof j->err, fmt, ap);
    va_end(ap);
    j->st = VOZ_ERR_DEVICE;
    return -1;
}

static const char *pa_text(PaError e)
{
    if (e == paUnanticipatedHostError) {
        const PaHostErrorInfo *h = Pa_GetLastHostErrorInfo();
        if (h && h->errorText && *h->errorText)
            return h->errorText;
    }
    return Pa_GetErrorText(e);
}

/* The device the spec names, or -1 with j->err set. */
static int pick_device(struct open_job *j)
{
    int count = Pa_GetDeviceCount();
    if (count < 0)
        return job_fail(j, "PortAudio cannot list devices: %s", Pa_GetErrorText(count));
    if (!j->device) {
        int d = Pa_GetDefaultInputDevice();
        if (d == paNoDevice || d < 0 || d >= count)
            return job_fail(j, "no input device found (PortAudio sees %d devices, none is a default input)",
                            count);
        return d;
    }
    if (all_digits(j->device)) {
        long idx = strlen(j->device) > 9 ? -1 : strtol(j->device, NULL, 10);
        if (idx < 0 || idx >= count)
            return job_fail(j, "device index %s is out of range: %s", j->device,
                            count ? "see the list below" : "PortAudio sees no devices");
        const PaDeviceInfo *info = Pa_GetDeviceInfo((int)idx);
        if (!info || info->maxInputChannels < 1)
            return job_fail(j, "device %ld '%s' has no input channels", idx, info ? info->name : "?");
        return (int)idx;
    }
    /* Exact name, then substring, then substring ignoring case. */
    for (int pass = 0; pass < 3; pass++)
        for (int i = 0; i < count; i++) {
            const PaDeviceInfo *info = Pa_GetDeviceInfo(i);
            if (!info || !info->name || info->maxInputChannels < 1)
                continue;
            if ((pass == 0 && !strcmp(info->name, j->device)) ||
                (pass == 1 && strstr(info->name, j->device)) ||
                (pass == 2 && strcasestr(info->name, j->device)))
                return i;
        }
    return job_fail(j, "no input device matches '%s'", j->device);
}

static void open_work(void *arg)
{
    struct open_job *j = arg;
    struct voz_capture *c = j->c;
    PaError e = Pa_Initialize();
    if (e != paNoError) {
        job_fail(j, "PortAudio cannot start: %s", Pa_GetErrorText(e));
        return;
    }
    c->pa_init = 1;
    int dev = pick_device(j);
    if (dev < 0)
        return;
    const PaDeviceInfo *info = Pa_GetDeviceInfo(dev);
    snprintf(c->name, sizeof c->name, "%s", info->name);

    /* The reader's rate first (no resampling), then the device's own; mono before
       stereo; int16 before float32, since 16-bit is what capture hardware delivers
       natively and asking for it keeps ALSA from inserting a conversion plugin. */
    double rates[2] = { (double)(j->force_rate ? j->force_rate : j->rate), info->defaultSampleRate };
    const PaSampleFormat formats[2] = { paInt16, paFloat32 };
    double latency = info->defaultLowInputLatency > 0.02 ? info->defaultLowInputLatency : 0.02;
    PaStreamParameters ip = { 0 };
    int found = 0;
    for (int r = 0; r < 2 && !found; r++) {
        if (r == 1 && (rates[1] == rates[0] || !(rates[1] > 0) || j->force_rate))
            break;
        for (int ch = 1; ch <= 2 && ch <= info->maxInputChannels && !found; ch++)
            for (int f = 0; f < 2 && !found; f++) {
                ip = (PaStreamParameters){ .device = dev, .channelCount = ch, .sampleFormat = formats[f],
                                           .suggestedLatency = latency, .hostApiSpecificStreamInfo = NULL };
                if (Pa_IsFormatSupported(&ip, NULL, rates[r]) == paFormatIsSupported) {
                    found = 1;
                    c->src_rate = rates[r];
                }
            }
    }
    if (!found && j->force_rate) {
        job_fail(j, "device '%s' cannot capture at %d Hz (mono or stereo, int16 or float32)", info->name,
                 j->force_rate);
        return;
    }
    if (!found) {
        job_fail(j, "device '%s' cannot capture at %d Hz nor at its default %.0f Hz "
                    "(tried mono and stereo, int16 and float32)", info->name, j->rate, info->defaultSampleRate);
        return;
    }
    c->channels = ip.channelCount;
    c->int16 = ip.sampleFormat == paInt16;

    size_t cap = (size_t)(j->buffer_s * c->src_rate);
    if (voz_ringbuf_init(&c->ring, cap) != VOZ_OK) {
        job_fail(j, "capture: out of memory for a %g s ring buffer", j->buffer_s);
        return;
    }
    e = Pa_OpenStream(&c->pa, &ip, NULL, c->src_rate, paFramesPerBufferUnspecified, paClipOff, on_audio, c);
    if (e != paNoError) {
        c->pa = NULL;
        if (e == paDeviceUnavailable)
            job_fail(j, "device '%s' is busy or unavailable", info->name);
        else
            job_fail(j, "cannot open device '%s': %s", info->name, pa_text(e));
        return;
    }
    Pa_SetStreamFinishedCallback(c->pa, on_finished);
    e = Pa_StartStream(c->pa);
    if (e != paNoError)
        job_fail(j, "cannot start capturing from '%s': %s", info->name,
                 e == paDeviceUnavailable ? "the device is busy" : pa_text(e));
}

static void close_work(void *arg)
{
    struct voz_capture *c = arg;
    if (c->pa) {
        Pa_AbortStream(c->pa);
        Pa_CloseStream(c->pa);
        c->pa = NULL;
    }
    if (c->pa_init) {
        Pa_Terminate();
        c->pa_init = 0;
    }
}

static void close_undo(void *arg) { capture_destroy(arg); }

static void open_undo(void *arg)
{
    struct open_job *j = arg;
    close_work(j->c);
    capture_destroy(j->c);
    free(j->device);
    free(j);
}

static voz_status finish_setup(struct voz_capture *c)
{
    c->scratch = malloc(SCRATCH * sizeof *c->scratch);
    if (!c->scratch)
        return voz_fail(VOZ_ERR_NOMEM, "capture: out of memory");
    if (fabs(c->src_rate - c->rate) > 1e-6)
        return voz_resampler_create(c->src_rate, c->rate, &c->rs);
    return VOZ_OK;
}

voz_status voz_capture_open_device(const voz_capture_params *p, struct voz_capture **out)
{
    *out = NULL;
    if (!(p->rate >= 1000 && p->rate <= 384000))
        return voz_fail(VOZ_ERR_INVALID, "capture: rate must be 1000..384000 Hz, found %d", p->rate);
    if (p->device_rate && !(p->device_rate >= 1000 && p->device_rate <= 384000))
        return voz_fail(VOZ_ERR_INVALID, "capture: device rate must be 1000..384000 Hz, found %d",
                        p->device_rate);
    struct voz_capture *c = calloc(1, sizeof *c);
    struct open_job *j = calloc(1, sizeof *j);
    if (!c || !j || (p->device && !(j->device = strdup(p->device)))) {
        free(c);
        if (j)
            free(j->device);
        free(j);
        return voz_fail(VOZ_ERR_NOMEM, "capture: out of memory");
    }
    c->kind = SRC_DEVICE;
    c->quiet = p->quiet;
    c->rate = p->rate;
    c->timeout_s = p->timeout_s > 0 ? p->timeout_s : DEFAULT_TIMEOUT_S;
    j->c = c;
    j->rate = p->rate;
    j->force_rate = p->device_rate;
    j->buffer_s = p->buffer_s > 0 ? p->buffer_s : DEFAULT_BUFFER_S;
    prepare_portaudio(p->quiet);
    int saved = p->quiet ? stderr_mute() : -1;
    int finished = run_bounded(open_work, open_undo, j, c->timeout_s);
    stderr_restore(saved);
    if (!finished)
        return voz_fail(VOZ_ERR_DEVICE, "audio device %s%s%s: PortAudio did not answer within %g s",
                        p->device ? "'" : "", p->device ? p->device : "(default)", p->device ? "'" : "",
                        c->timeout_s);
    voz_status st = j->st;
    if (st == VOZ_OK)
        st = finish_setup(c);
    else
        voz_fail(st, "%s", j->err);
    free(j->device);
    free(j);
    if (st != VOZ_OK) {
        voz_capture_free(c);
        return st;
    }
    *out = c;
    return VOZ_OK;
}

/* ---- replaying a file -------------------------------------------------------------- */

static void sleep_until(double t)
{
    double d = t - voz_now();
    if (d <= 0)
        return;
    struct timespec ts = { (time_t)d, (long)((d - floor(d)) * 1e9) };
    nanosleep(&ts, NULL);
}

static void nap(void)
{
    struct timespec ts = { 0, POLL_NS };
    nanosleep(&ts, NULL);
}

static void *file_main(void *arg)
{
    struct voz_capture *c = arg;
    size_t blk = (size_t)(FILE_BLOCK_S * c->rate);
    if (blk < 1)
        blk = 1;
    if (blk > SCRATCH)
        blk = SCRATCH;
    float *block = malloc(blk * sizeof *block);
    if (!block) {
        c->file_status = VOZ_ERR_NOMEM;
        snprintf(c->file_error, sizeof c->file_error, "%s: out of memory", c->name);
        atomic_store(&c->ended, 1);
        return NULL;
    }
    note_clock(c, 0);
    const double t0 = (double)atomic_load(&c->clock_ns) * 1e-9;
    uint64_t written = 0;
    while (!atomic_load(&c->stop)) {
        size_t got = 0;
        voz_status st = voz_audio_read(c->audio, block, blk, &got);
        if (st == VOZ_ERR_ABORTED)
            break; /* stopped or interrupted while waiting on a pipe: the end of the input */
        if (st != VOZ_OK) {
            c->file_status = st;
            snprintf(c->file_error, sizeof c->file_error, "%s", voz_last_error());
            break;
        }
        if (got == 0)
            break;
        /* Paced like a device: a block becomes available once its last sample is due. */
        if (c->realtime)
            sleep_until(t0 + (double)(written + got) / c->rate);
        for (size_t off = 0; off < got && !atomic_load(&c->stop);) {
            /* A file waits for the reader instead of dropping audio. */
            size_t space = voz_ringbuf_space(&c->ring), k = got - off < space ? got - off : space;
            off += voz_ringbuf_write(&c->ring, block + off, k);
            if (off < got)
                nap();
        }
        written += got;
    }
    free(block);
    atomic_store(&c->ended, 1);
    return NULL;
}

/* The reader's abort callback: voz_capture_stop() or the caller's own. */
static int file_abort(void *user)
{
    struct voz_capture *c = user;
    return atomic_load(&c->stop) || (c->user_abort && c->user_abort(c->user_abort_data));
}

voz_status voz_capture_open_file(const char *path, int rate, int realtime, double buffer_s,
                                 struct voz_capture **out)
{
    return voz_capture_open_file_opts(path, rate, realtime, buffer_s, NULL, NULL, out);
}

voz_status voz_capture_open_file_opts(const char *path, int rate, int realtime, double buffer_s,
                                      int (*abort_fn)(void *user), void *abort_user,
                                      struct voz_capture **out)
{
    *out = NULL;
    if (!(rate >= 1000 && rate <= 384000))
        return voz_fail(VOZ_ERR_INVALID, "capture: rate must be 1000..384000 Hz, found %d", rate);
    struct voz_capture *c = calloc(1, sizeof *c);
    if (!c)
        return voz_fail(VOZ_ERR_NOMEM, "capture: out of memory");
    c->kind = SRC_FILE;
    c->rate = rate;
    c->src_rate = rate;
    c->realtime = realtime;
    c->timeout_s = DEFAULT_TIMEOUT_S;
    snprintf(c->name, sizeof c->name, "%s", path);
    c->user_abort = abort_fn;
    c->user_abort_data = abort_user;
    voz_audio_options ao = { .incremental = 1, .abort = file_abort, .abort_user = c };
    voz_status st = voz_audio_open_opts(path, rate, &ao, &c->audio);
    if (st == VOZ_OK)
        st = voz_ringbuf_init(&c->ring, (size_t)((buffer_s > 0 ? buffer_s : DEFAULT_BUFFER_S) * rate));
    if (st == VOZ_OK)
        st = finish_setup(c);
    if (st == VOZ_OK && pthread_create(&c->thread, NULL, file_main, c) != 0)
        st = voz_fail(VOZ_ERR_IO, "%s: cannot start the reader thread", path);
    if (st != VOZ_OK) {
        capture_destroy(c);
        return st;
    }
    c->thread_started = 1;
    *out = c;
    return VOZ_OK;
}

/* ---- reading ------------------------------------------------------------------------ */

int voz_capture_rate(const struct voz_capture *c) { return c->rate; }
double voz_capture_device_rate(const struct voz_capture *c) { return c->src_rate; }
const char *voz_capture_name(const struct voz_capture *c) { return c->name; }

double voz_capture_clock(const struct voz_capture *c)
{
    return (double)atomic_load(&((struct voz_capture *)c)->clock_ns) * 1e-9;
}

uint64_t voz_capture_dropped(const struct voz_capture *c, uint64_t *device_events)
{
    if (device_events)
        *device_events = atomic_load(&((struct voz_capture *)c)->dev_overflows);
    return voz_ringbuf_dropped(&c->ring);
}

/* Ring samples readable now (no further than the stop position). */
static size_t readable(struct voz_capture *c)
{
    size_t avail = voz_ringbuf_available(&c->ring);
    if (atomic_load(&c->stop)) {
        size_t tail = atomic_load(&c->ring.tail);
        size_t left = c->stop_limit > tail ? c->stop_limit - tail : 0;
        if (avail > left)
            avail = left;
    }
    return avail;
}

static int source_over(struct voz_capture *c)
{
    return (atomic_load(&c->ended) || atomic_load(&c->stop)) && readable(c) == 0;
}

voz_status voz_capture_read(struct voz_capture *c, float *buf, size_t max, size_t *got,
                            int timeout_ms, int *eof)
{
    *got = 0;
    *eof = 0;
    double deadline = voz_now() + (timeout_ms > 0 ? timeout_ms : 0) * 1e-3;
    for (;;) {
        voz_status st;
        if (c->rs) {
            /* Output soxr still holds from the last input goes first. */
            if ((st = voz_resampler_process(c->rs, NULL, 0, buf, max, got, c->flushing)) != VOZ_OK)
                return st;
            if (*got)
                return VOZ_OK;
            if (c->flushing) {
                *eof = 1;
                break;
            }
            size_t k = readable(c);
            size_t want = (size_t)ceil((double)max * c->src_rate / c->rate);
            k = k < want ? k : want;
            k = k < SCRATCH ? k : SCRATCH;
            if (k) {
                k = voz_ringbuf_read(&c->ring, c->scratch, k);
                if ((st = voz_resampler_process(c->rs, c->scratch, k, buf, max, got, 0)) != VOZ_OK)
                    return st;
                if (*got)
                    return VOZ_OK;
                continue;
            }
            if (source_over(c)) {
                c->flushing = 1;
                continue;
            }
        } else {
            size_t k = readable(c);
            if (k) {
                *got = voz_ringbuf_read(&c->ring, buf, k < max ? k : max);
                return VOZ_OK;
            }
            if (source_over(c)) {
                *eof = 1;
                break;
            }
        }
        if (voz_now() >= deadline)
            return VOZ_OK;
        nap();
    }
    if (c->error_reported)
        return VOZ_OK;
    if (c->kind == SRC_FILE && c->file_status != VOZ_OK) {
        c->error_reported = 1;
        return voz_fail(c->file_status, "%s", c->file_error);
    }
    if (c->kind == SRC_DEVICE && !atomic_load(&c->stop)) {
        /* The stream ended without being asked to: the device went away. */
        c->error_reported = 1;
        return voz_fail(VOZ_ERR_DEVICE, "%s: the audio stream stopped (device disconnected or failed)",
                        c->name);
    }
    return VOZ_OK;
}

void voz_capture_stop(struct voz_capture *c)
{
    if (!c || atomic_load(&c->stop))
        return;
    c->stop_limit = atomic_load(&c->ring.head);
    atomic_store(&c->stop, 1);
}

void voz_capture_free(struct voz_capture *c)
{
    if (!c)
        return;
    voz_capture_stop(c);
    if (c->kind == SRC_DEVICE) {
        if (c->pa || c->pa_init) {
            int saved = c->quiet ? stderr_mute() : -1;
            int finished = run_bounded(close_work, close_undo, c, c->timeout_s);
            stderr_restore(saved);
            if (!finished)
                return; /* the helper frees c if the close ever returns */
        }
    } else if (c->thread_started) {
        /* The producer checks `stop` between blocks; a read blocked on a pipe is
           waited for only so long, then the thread and its capture are left be. */
        struct timespec dl;
        clock_gettime(CLOCK_REALTIME, &dl);
        dl.tv_sec += (time_t)c->timeout_s;
        if (pthread_timedjoin_np(c->thread, NULL, &dl) != 0) {
            pthread_detach(c->thread);
            return;
        }
    }
    capture_destroy(c);
}
