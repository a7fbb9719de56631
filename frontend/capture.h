/* frontend/capture.h — live audio in: an input device through PortAudio, or a file
   replayed by a producer thread (optionally paced at real time), both feeding the
   same lock-free ring buffer that a recognizer thread drains with
   voz_capture_read(), resampled to the rate it asked for.
   The PortAudio callback only converts, downmixes and copies into the ring: it
   never allocates, locks, logs or does I/O; a full ring drops samples and counts
   them (voz_capture_dropped). PortAudio calls that can block (initialisation,
   probing, opening, closing) run on a helper thread with a bounded wait. */
#ifndef VOZ_FRONTEND_CAPTURE_H
#define VOZ_FRONTEND_CAPTURE_H

#include "voz.h"
#include <stddef.h>
#include <stdint.h>

typedef struct {
    int index;              /* PortAudio device index */
    char name[256];
    char host_api[64];      /* "ALSA", "JACK Audio Connection Kit", ... */
    int max_input_channels;
    double default_rate;    /* Hz */
    int is_default;         /* 1: PortAudio's default input device */
} voz_capture_device;

typedef struct {
    const char *device;     /* NULL: the default input device; all digits: a PortAudio
                               index; otherwise a substring of the device name */
    int rate;               /* Hz wanted by the reader; the device is opened at this rate
                               when it supports it, else at its default rate + resampling */
    int device_rate;        /* 0: negotiate as above; else open the device at exactly this
                               rate (tests of the resampling path) */
    int quiet;              /* 1: keep ALSA/JACK diagnostics off stderr while probing */
    double buffer_s;        /* ring capacity in seconds of device audio (0: 30) */
    double timeout_s;       /* bound on each blocking PortAudio step (0: 3) */
} voz_capture_params;

/* The input devices (max_input_channels > 0), malloc'ed; free with free(). */
voz_status voz_capture_list(int quiet, double timeout_s, voz_capture_device **devs, int *n);

struct voz_capture;

/* Opens and starts capturing. Failures (no input device, index out of range, no
   device matching the name, busy device, unsupported rate, timeout) are
   VOZ_ERR_DEVICE with one line saying which. */
voz_status voz_capture_open_device(const voz_capture_params *p, struct voz_capture **out);
/* Replays an audio file (anything voz_audio_open reads) at `rate` Hz; with
   realtime = 1 the producer thread paces itself at one second per second. */
voz_status voz_capture_open_file(const char *path, int rate, int realtime, double buffer_s,
                                 struct voz_capture **out);

/* The same with an abort callback (see voz_audio_abort_fn in frontend/audio.h), asked
   while opening and while waiting on a pipe: nonzero ends the replay like the end of
   the input (an open it interrupts fails with VOZ_ERR_ABORTED). A pipe or FIFO holding
   WAV is read as it arrives, so its utterances come out while it is still being written. */
voz_status voz_capture_open_file_opts(const char *path, int rate, int realtime, double buffer_s,
                                      int (*abort_fn)(void *user), void *abort_user,
                                      struct voz_capture **out);

int voz_capture_rate(const struct voz_capture *c);            /* rate of the samples read */
double voz_capture_device_rate(const struct voz_capture *c);  /* rate the source runs at */
const char *voz_capture_name(const struct voz_capture *c);    /* device name or file path */
/* voz_now() at which the source's first sample was due (set once it is known;
   0 before). For a paced file this maps sample positions to wall-clock time. */
double voz_capture_clock(const struct voz_capture *c);

/* Waits up to timeout_ms for samples (mono, [-1, 1], voz_capture_rate()) and copies
   up to max of them; *got = 0 after a timeout. *eof = 1 once the source ended and
   everything was read. A file read error, or a device stream that ended without
   voz_capture_stop(), is returned once, together with *eof = 1. */
voz_status voz_capture_read(struct voz_capture *c, float *buf, size_t max, size_t *got,
                            int timeout_ms, int *eof);
/* Samples lost because the reader fell behind (the ring was full), plus input
   overflows the device itself reported (counted as events in *device_events). */
uint64_t voz_capture_dropped(const struct voz_capture *c, uint64_t *device_events);

/* Stops the source (call it from the reading thread): reading then returns what
   was captured up to this moment and reports eof. */
void voz_capture_stop(struct voz_capture *c);
/* Stops and releases everything (a device close that hangs is abandoned after the
   timeout, its resources freed by the helper thread if it ever returns). */
void voz_capture_free(struct voz_capture *c);

#endif
