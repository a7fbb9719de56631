/* recognizer/internal.h — the loaded model handle and the one function every
   front end (transcribe, live, eval) uses to turn an utterance into words. */
#ifndef VOZ_RECOGNIZER_INTERNAL_H
#define VOZ_RECOGNIZER_INTERNAL_H

#include "voz.h"
#include "acoustic/model_file.h"
#include "acoustic/net.h"

struct voz_model {
    struct voz_model_data data; /* owned */
    struct voz_net nets[VOZ_MODEL_MAX_MEMBERS]; /* data.members, bound to data.params */
    char name[256];             /* path or "default", for messages */
    int n_warps;                /* its VTLN ensemble (metadata "vtln_ensemble"), 0: none */
    float warps[VOZ_MAX_WARPS];
};

/* Decodes one utterance of samples at the model's rate: features (the model's
   options, per-utterance CMVN) -> network -> CTC decoder per `p`. Word times are
   offset by t0 seconds. `logprobs_out`, if non-NULL, receives the malloc'ed
   [T][C] log-posteriors and *T_out their frame count (tests and `voz features`). */
voz_status voz_decode_utterance(const struct voz_model *m, const float *pcm, size_t n,
                                const voz_decode_params *p, double t0, voz_transcript *out,
                                float **logprobs_out, size_t *T_out);

/* Same from features already computed ([T][input_dim]); used by eval and training. */
voz_status voz_decode_features(const struct voz_model *m, const float *feats, size_t T,
                               const voz_decode_params *p, double t0, voz_transcript *out,
                               float **logprobs_out);

/* voz_transcribe_pcm / voz_transcribe_file with the maximum segment length given
   (those use 30 s): segments longer than this are cut at the quietest 10 ms frame
   of their last min(10 s, max/3). Tests use short maxima to exercise the cutting. */
voz_status voz_transcribe_pcm_segmented(const struct voz_model *m, const float *pcm, size_t n,
                                        const voz_decode_params *p, double max_segment_s,
                                        voz_transcript *out);
voz_status voz_transcribe_file_segmented(const struct voz_model *m, const char *path,
                                         const voz_decode_params *p, double max_segment_s,
                                         voz_transcript *out);

/* Batch transcription of samples at the model's rate pulled from `read` (it fills up
   to max samples into buf and sets *got, 0 at the end; an error status stops): the
   samples collect in segments of at most max_segment_s (cut at the quietest 10 ms of
   their last min(10 s, max/3)); within each segment the speech regions are found
   offline (voz_endpoint_regions over the segment's frame energies: noise floor = its
   10th percentile, speech 9 dB above that and above -82 dBFS, bursts of 80 ms with
   frames 3 dB up extending them, merged across pauses under 1.5 s, padded by 200 ms)
   and each region is decoded on ctx (made for m) as one utterance. Words carry absolute times; a segment without a region
   gives none. *decode_s, if non-NULL, receives the seconds spent finding regions and
   decoding (not reading). voz_transcribe_file/pcm and `voz eval` all go through this,
   so they agree and need the memory of one segment whatever the input length. */
struct voz_decode_ctx;
typedef voz_status (*voz_samples_read_fn)(void *user, float *buf, size_t max, size_t *got);
voz_status voz_transcribe_samples(const struct voz_model *m, struct voz_decode_ctx *ctx,
                                  voz_samples_read_fn read, void *user, double max_segment_s,
                                  voz_transcript *out, double *decode_s);
#define VOZ_TRANSCRIBE_MAX_SEGMENT_S 30.0

/* The batch speech gate: 1 when pcm[0, n) (absolute start position pcm_start, at
   `rate`) holds a 10 ms frame the endpointer would call speech over the quietest
   background it knows (digital silence, VOZ_ENDPOINT_FLOOR_DB) with twice its
   default 9 dB threshold, i.e. louder than -82 dBFS; 0 for digital silence and
   16-bit dither (about -96 dBFS), whose per-utterance CMVN would otherwise scale
   the noise up into words. Kept for callers that want a quick yes/no;
   the region finder uses the same level as its absolute minimum (min_db). */
int voz_transcribe_has_speech(const float *pcm, size_t n, int rate, uint64_t pcm_start);

/* Seconds per feature frame of the model. */
double voz_model_frame_seconds(const struct voz_model *m);

#endif
