/* frontend/audio.h — audio files in: any format libsndfile reads (decided by content),
   "-" for standard input, downmixed to mono and resampled (libsoxr) in blocks. */
#ifndef VOZ_FRONTEND_AUDIO_H
#define VOZ_FRONTEND_AUDIO_H

#include "voz.h"
#include <stddef.h>
#include <stdint.h>

struct voz_audio;

typedef struct {
    int file_rate;        /* Hz stored in the file */
    int channels;
    int64_t frames;       /* frames in the file as libsndfile reports them; -1 unknown */
    char format[64];      /* e.g. "WAV PCM 16-bit", for messages and `voz info`-like output */
} voz_audio_info;

/* Opens `path` ("-" = stdin) for reading mono float samples at `target_rate` Hz
   (0 = keep the file's rate). Errors name the file and the reason (libsndfile's text). */
voz_status voz_audio_open(const char *path, int target_rate, struct voz_audio **out);
/* Polled while waiting on a pipe (at least every 50 ms, and after a signal): nonzero
   stops the open or read with VOZ_ERR_ABORTED ("FILE: interrupted"). */
typedef int (*voz_audio_abort_fn)(void *user);

typedef struct {
    int incremental;          /* 1: a pipe or FIFO holding RIFF/WAVE is read as it arrives,
                                 its header parsed without seeking (a data size of 0 or
                                 0xFFFFFFFF means: until the end of the stream); other
                                 formats on a pipe are still spooled first */
    voz_audio_abort_fn abort; /* NULL: never */
    void *abort_user;
} voz_audio_options;

/* voz_audio_open with options (NULL: the defaults, all zero). */
voz_status voz_audio_open_opts(const char *path, int target_rate, const voz_audio_options *o,
                               struct voz_audio **out);
const voz_audio_info *voz_audio_get_info(const struct voz_audio *a);
/* Largest sample magnitude accepted (full scale is 1): float files may clip a little
   above 1, but 80 dB over full scale is not audio, and from about 1e15 on the analysis
   overflows (a float power spectrum ends at 3.4e38). */
#define VOZ_AUDIO_MAX_ABS 1e4f
/* Index of the first sample of x[n] that is not finite or beyond +-VOZ_AUDIO_MAX_ABS,
   or n when all are audio: the one rule for the reader, voz_stream_feed and buffers
   given to voz_transcribe_pcm (each names the position in its own terms). */
size_t voz_audio_first_bad(const float *x, size_t n);

/* Reads up to `max` (>= 1) output samples into `buf`. Sets *got (0 = end of input).
   Non-finite samples, and samples beyond +-VOZ_AUDIO_MAX_ABS, are an error
   (VOZ_ERR_NONFINITE) naming the file and the sample position (frame, seconds,
   channel); an error stays: later reads return it again. */
voz_status voz_audio_read(struct voz_audio *a, float *buf, size_t max, size_t *got);
void voz_audio_close(struct voz_audio *a);

/* Convenience: the whole file into a malloc'ed buffer (training clips, tests). */
voz_status voz_audio_load(const char *path, int target_rate, float **pcm, size_t *n);

/* Block resampler (libsoxr, high quality), mono float. */
struct voz_resampler;
voz_status voz_resampler_create(double in_rate, double out_rate, struct voz_resampler **out);
/* Consumes n input samples (n = 0 with flush = 1 drains the tail); writes at most
   `max_out` samples, *got set. Call repeatedly while *got == max_out. */
voz_status voz_resampler_process(struct voz_resampler *r, const float *in, size_t n,
                                 float *out, size_t max_out, size_t *got, int flush);
void voz_resampler_free(struct voz_resampler *r);
/* One-shot convenience, malloc'ed result. */
voz_status voz_resample_buffer(const float *in, size_t n, double in_rate, double out_rate,
                               float **out, size_t *n_out);

#endif
