/* fuzz/fuzz_audio.c — libFuzzer target for the audio reader (frontend/audio.c): the
   input is an audio file image, read through voz_audio_open/read as the file's own
   rate and resampled to 16 kHz, and through voz_audio_load. Invariants: a refusal
   names the file; info is sane; every sample handed out is finite; an error is sticky;
   output is bounded by what the file can hold (never by a size the header claims);
   features of what was read are finite or refused as non-finite. */
#include "fuzz/fuzz.h"
#include "frontend/audio.h"
#include "common/util.h"
#include "frontend/mfcc.h"

#include <math.h>
#include <pthread.h>
#include <signal.h>

/* Samples read per pass at most: a 1 Hz file resampled to 16 kHz multiplies its
   length by 16000, and the fuzzer must not spend its time there. */
#define FUZZ_AUDIO_MAX_OUT ((size_t)1 << 20)

static void audio_refusal(const char *path, voz_status s)
{
    const char *e = voz_last_error();
    FUZZ_CHECK(s != VOZ_OK, "status %d", (int)s);
    FUZZ_CHECK(!strncmp(e, path, strlen(path)) && e[strlen(path)] == ':', "message '%s' does not name %s", e,
               path);
    FUZZ_CHECK(!strchr(e, '\n'), "message '%s' is not one line", e);
}

/* Returns the samples read (FUZZ_AUDIO_MAX_OUT when it stopped there). */
static size_t read_pass(const char *path, size_t size, int target_rate, float *buf, size_t cap)
{
    struct voz_audio *a = NULL;
    voz_status s = voz_audio_open(path, target_rate, &a);
    if (s != VOZ_OK) {
        FUZZ_CHECK(a == NULL, "handle returned with an error");
        audio_refusal(path, s);
        return 0;
    }
    const voz_audio_info *info = voz_audio_get_info(a);
    FUZZ_CHECK(info->channels >= 1 && info->channels <= 1024, "%d channels", info->channels);
    FUZZ_CHECK(info->file_rate >= 1, "rate %d", info->file_rate);
    FUZZ_CHECK(memchr(info->format, 0, sizeof info->format) != NULL, "format string not terminated");
    /* Read sizes vary so block boundaries land everywhere. */
    static const size_t sizes[] = { 1, 4096, 7, 333, 1024, 2 };
    size_t total = 0;
    for (int k = 0; total < FUZZ_AUDIO_MAX_OUT; k++) {
        size_t want = sizes[k % 6] < cap ? sizes[k % 6] : cap, got = 12345;
        s = voz_audio_read(a, buf, want, &got);
        if (s != VOZ_OK) {
            audio_refusal(path, s);
            FUZZ_CHECK(got == 0, "error with %zu samples", got);
            size_t again = 1;
            FUZZ_CHECK(voz_audio_read(a, buf, want, &again) == s && again == 0, "error is not sticky");
            break;
        }
        FUZZ_CHECK(got <= want, "%zu samples for a buffer of %zu", got, want);
        for (size_t i = 0; i < got; i++)
            FUZZ_CHECK(isfinite(buf[i]), "sample %zu is %g", total + i, buf[i]);
        if (!got)
            break;
        total += got;
    }
    /* Our own WAV reader (lying sizes) holds uncompressed frames of at least one byte
       each: what it hands out at the file's rate is bounded by the bytes present. */
    if (!target_rate && strstr(info->format, "(data size"))
        FUZZ_CHECK(total <= size, "%zu samples from a file of %zu bytes", total, size);
    voz_audio_close(a);
    return total;
}

/* The same bytes through a pipe, as `cat x.wav | voz live --input -` gives them: the
   incremental WAV reader (no seeking; sizes 0/0xFFFFFFFF mean "to the end") or, for
   anything else, the spool. A thread writes while the reader reads; closing the read
   end first ends a writer blocked on a reader that stopped early (EPIPE, SIGPIPE
   ignored). What a pipe yields must be finite, bounded, and refused with the name. */
struct pipe_writer { int fd; const uint8_t *data; size_t size; };

static void *pipe_write_main(void *arg)
{
    struct pipe_writer *w = arg;
    size_t done = 0;
    while (done < w->size) {
        ssize_t r = write(w->fd, w->data + done, w->size - done);
        if (r <= 0)
            break;
        done += (size_t)r;
    }
    close(w->fd);
    return NULL;
}

static void pipe_pass(const uint8_t *data, size_t size, float *buf, size_t cap)
{
    static int once;
    if (!once) {
        signal(SIGPIPE, SIG_IGN);
        once = 1;
    }
    int p[2];
    if (pipe(p) != 0)
        return;
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", p[0]);
    struct pipe_writer w = { p[1], data, size };
    pthread_t th;
    if (pthread_create(&th, NULL, pipe_write_main, &w) != 0) {
        close(p[0]);
        close(p[1]);
        return;
    }
    voz_audio_options o = { 0 };
    o.incremental = 1;
    struct voz_audio *a = NULL;
    voz_status s = voz_audio_open_opts(path, 0, &o, &a);
    if (s != VOZ_OK) {
        FUZZ_CHECK(a == NULL, "pipe: handle returned with an error");
        audio_refusal(path, s);
    } else {
        size_t total = 0, got = 0;
        while (total < FUZZ_AUDIO_MAX_OUT && (s = voz_audio_read(a, buf, cap, &got)) == VOZ_OK && got) {
            for (size_t i = 0; i < got; i++)
                FUZZ_CHECK(isfinite(buf[i]), "pipe: sample %zu is %g", total + i, buf[i]);
            total += got;
        }
        if (s != VOZ_OK)
            audio_refusal(path, s);
        voz_audio_close(a);
    }
    close(p[0]);
    pthread_join(th, NULL);
}

static int fuzz_audio_one(const uint8_t *data, size_t size)
{
    char path[64];
    int fd = fuzz_memfile(data, size, path, sizeof path);
    if (fd < 0)
        return 0;
    static float buf[4096];
    size_t native = read_pass(path, size, 0, buf, 4096);
    read_pass(path, size, 16000, buf, 4096);
    pipe_pass(data, size, buf, 4096);
    /* The whole file only when it is known to be short (a small FLAC may hold hours). */
    if (native >= FUZZ_AUDIO_MAX_OUT) {
        close(fd);
        return 0;
    }
    float *pcm = NULL;
    size_t n = 0;
    voz_status s = voz_audio_load(path, 0, &pcm, &n);
    if (s == VOZ_OK) {
        FUZZ_CHECK(n == native, "load gave %zu samples, reading gave %zu", n, native);
        for (size_t i = 0; i < n; i++)
            FUZZ_CHECK(isfinite(pcm[i]), "loaded sample %zu is %g", i, pcm[i]);
        /* Finite samples may still be absurd (1e30): features are finite or refused. */
        voz_feature_params fp = voz_feature_default_params();
        float *feats = NULL;
        size_t T = 0;
        s = voz_features_compute(&fp, pcm, n, &feats, &T);
        FUZZ_CHECK(s == VOZ_OK || s == VOZ_ERR_NONFINITE, "features: status %d: %s", (int)s, voz_last_error());
        for (size_t i = 0; s == VOZ_OK && i < T * (size_t)voz_feature_dim(&fp); i++)
            FUZZ_CHECK(isfinite(feats[i]), "feature %zu is %g", i, feats[i]);
        free(feats);
        free(pcm);
    } else {
        FUZZ_CHECK(pcm == NULL && n == 0, "buffer returned with an error");
        audio_refusal(path, s);
    }
    close(fd);
    return 0;
}

#ifndef VOZ_FUZZ_NO_ENTRY
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fuzz_audio_one(data, size); }
#endif
