/* frontend/endpoint.h — the endpointer (voice activity detection) of live audio:
   10 ms frame energies compared with an auto-calibrating noise floor decide where
   utterances start and end, in absolute sample positions of the input. It only
   looks at energies and never holds audio, so the caller keeps the samples (from
   voz_endpoint_keep_from() on) and cuts the utterances out itself.

   Per frame f (F = round(rate / 100) samples, non-overlapping), e[f] is the dB of
   the frame's variance (DC removed), floored at VOZ_ENDPOINT_FLOOR_DB so digital
   silence is an ordinary, very quiet frame. A frame is speech when e[f] exceeds
   the noise floor by threshold_db. Parameters: voz_endpoint_params in voz.h. */
#ifndef VOZ_FRONTEND_ENDPOINT_H
#define VOZ_FRONTEND_ENDPOINT_H

#include "voz.h"
#include <stddef.h>
#include <stdint.h>

/* Energy floor: full scale is 0 dB, a steady 1-LSB int16 signal about -90 dB, sox's
   TPDF dither of 16-bit output about -96 dB. Below that, so -60 dBFS speech in digital
   silence or in dither still stands the threshold above the floor (-100 + 9 dB). */
#define VOZ_ENDPOINT_FLOOR_DB (-100.0f)

/* One utterance found in the input; positions in samples from the start of input. */
typedef struct {
    uint64_t start, end;               /* [start, end) to decode: speech plus padding */
    uint64_t speech_start, speech_end; /* first speech frame start, last speech frame end */
    int cut;                           /* 1: ended at the length limit, not by silence */
} voz_endpoint_segment;

/* Ranges: every field finite; threshold_db 0..100, hangover_ms 10..10000,
   min_speech_ms 0..10000, pad_ms 0..5000, max_utterance_s 0 (no limit) or 1..3600,
   calibrate_ms 0..10000. */
voz_status voz_endpoint_params_check(const voz_endpoint_params *p);

struct voz_endpoint;
voz_status voz_endpoint_create(const voz_endpoint_params *p, int sample_rate,
                               struct voz_endpoint **out);
void voz_endpoint_free(struct voz_endpoint *e);

/* Consumes samples until an utterance closes or the n samples run out and returns
   the count consumed; *done = 1 when *seg holds a finished utterance (call again
   with the rest). Segments come out in order and never overlap. */
size_t voz_endpoint_process(struct voz_endpoint *e, const float *x, size_t n,
                            voz_endpoint_segment *seg, int *done);
/* End of input: returns 1 with each utterance still pending (an open one is closed
   at the end of the input), then 0. Afterwards the endpointer is idle; the noise
   floor and the sample clock carry on if more input follows. */
int voz_endpoint_drain(struct voz_endpoint *e, voz_endpoint_segment *seg);

/* Samples before this position can never be part of a future utterance. */
uint64_t voz_endpoint_keep_from(const struct voz_endpoint *e);
/* 1 while a confirmed utterance is open, with *start its first sample (padding
   included); 0 otherwise. */
int voz_endpoint_active(const struct voz_endpoint *e, uint64_t *start);
/* Samples consumed so far. */
uint64_t voz_endpoint_position(const struct voz_endpoint *e);
/* Current noise floor in dB (the calibration result once calibrated). */
float voz_endpoint_noise_floor_db(const struct voz_endpoint *e);

/* The quietest place in pcm[lo, hi) (positions into pcm, which holds n samples at
   `rate` and starts at absolute input position pcm_start): the start of the 10 ms
   frame at the centre of the quietest 50 ms, latest on ties. Frames lie on the
   10 ms grid of absolute positions, so the answer does not depend on how the input
   was buffered. For cutting long input at pauses (VOZ_SEGMENT_LONG and anyone else
   who needs it). Returns lo when no whole grid frame fits in the range. */
/* The loudest whole 10 ms grid frame of pcm[0, n) (absolute start position pcm_start),
   in dB as the endpointer measures frames (variance, floored at VOZ_ENDPOINT_FLOOR_DB);
   a range shorter than a frame is measured as one frame. VOZ_ENDPOINT_FLOOR_DB for n = 0. */
float voz_endpoint_loudest_db(const float *pcm, size_t n, int rate, uint64_t pcm_start);

size_t voz_endpoint_quietest(const float *pcm, size_t n, int rate, uint64_t pcm_start, size_t lo,
                             size_t hi);

/* ---- offline speech regions (batch) ---------------------------------------------------
   Batch transcription knows the whole segment, so instead of the live endpointer's
   calibrated and tracked floor it takes the noise floor of a segment as a low
   percentile of all its frame energies: stationary noise, hum or dither never stands
   threshold_db above its own 10th percentile, and a tight clip with no leading
   silence still has its quiet frames to set the floor. Frames louder than both
   floor + extend_db and min_db are weak speech, those also above floor + threshold_db
   strong. Weak frames with gaps shorter than bridge_frames form a burst (the live
   hangover); a burst is kept when it holds a strong frame and at least min_frames
   weak ones, so a click is dropped while the soft onset and decay of a word count
   (FSDD's tight 160-300 ms clips have only 8-14 frames 9 dB up: the live 150 ms of
   strong frames would lose 170 of its 2,500 clips, 80 ms of weak ones loses none).
   Bursts closer than merge_frames are one region, so a digit string with pauses is
   decoded as one utterance; regions are padded by pad_frames each side, clipped to
   the frames, and merged when they meet. Steady sound is never speech, whatever its
   level: frames inside a 2 s stretch of audible frames whose energies stay within
   10 dB (hiss, hum, a tone) count as background, so digital silence elsewhere in a
   file cannot make the hiss after the speech into words. */
typedef struct {
    float threshold_db; /* 9: strong speech, as voz_endpoint_params */
    float extend_db;    /* 3: weak speech, extending a burst around its strong frames */
    float min_db;       /* -82: no quieter frame is speech, whatever the floor */
    float percentile;   /* 0.10: of the segment's frame energies, the noise floor */
    int bridge_frames;  /* 20 (200 ms hangover) */
    int min_frames;     /* 8 (80 ms): weak frames a burst needs; a 5 ms click has 1-2 */
    int merge_frames;   /* 150 (1.5 s): bursts closer than this are one region */
    int pad_frames;     /* 20 (200 ms) each side */
} voz_region_params;

voz_region_params voz_endpoint_region_default_params(void);

/* A region in frames [start, end) of the energy sequence. */
typedef struct { size_t start, end; } voz_region;

/* Frame energies of pcm[0, n) (absolute start position pcm_start, at `rate`) on the
   10 ms grid of absolute positions, as the endpointer measures them (dB of the DC-
   removed variance, floored at VOZ_ENDPOINT_FLOOR_DB): db[i] is the frame starting
   at pcm[*first + i * F], F = round(rate / 100). Returns the number of whole frames,
   at most n / F (db must hold that many). */
size_t voz_endpoint_frame_db(const float *pcm, size_t n, int rate, uint64_t pcm_start, float *db,
                             size_t *first);

/* The speech regions of db[0, nf) per p, in order, never overlapping, into
   out[] (room for nf / 2 + 1); `scratch` holds nf floats. Returns their count
   (0 for nf = 0). Deterministic: depends only on db and p. */
size_t voz_endpoint_regions(const float *db, size_t nf, const voz_region_params *p, float *scratch,
                            voz_region *out);

#endif
