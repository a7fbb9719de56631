/* voz.h — the public API of voz: audio -> MFCC -> recurrent acoustic model -> CTC -> text.
 *
 * Handles are opaque and come in create/free pairs. A loaded model is read-only and
 * may serve any number of streams on any threads; a stream belongs to one thread.
 * The library never prints and never exits: functions return a voz_status, the
 * precise reason of the last failure on this thread is in voz_last_error(), and
 * warnings go through the log callback set with voz_set_log(). */
#ifndef VOZ_H
#define VOZ_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    VOZ_OK = 0,
    VOZ_ERR_IO,          /* open/read/write failed */
    VOZ_ERR_FORMAT,      /* a file is not what it claims to be (bad audio, corrupt model) */
    VOZ_ERR_NOMEM,
    VOZ_ERR_INVALID,     /* an argument or option is out of range */
    VOZ_ERR_UNSUPPORTED, /* valid but not supported (e.g. a future model version) */
    VOZ_ERR_NONFINITE,   /* NaN/Inf in audio, features or parameters */
    VOZ_ERR_DEVICE,      /* audio device problem */
    VOZ_ERR_ABORTED      /* an abort callback asked to stop */
} voz_status;

const char *voz_status_str(voz_status s);
/* The one-line reason for the last failure on the calling thread ("" if none). */
const char *voz_last_error(void);
const char *voz_version(void);

typedef enum { VOZ_LOG_ERROR = 0, VOZ_LOG_WARN = 1, VOZ_LOG_INFO = 2, VOZ_LOG_DEBUG = 3 } voz_log_level;
typedef void (*voz_log_fn)(voz_log_level level, const char *msg, void *user_data);
/* Process-wide; NULL silences the library. Default: silent. */
void voz_set_log(voz_log_fn fn, void *user_data);
/* Decoders inside libsndfile (libmpg123 for MP3) print their own complaints about
   corrupt frames on stderr. With quiet = 1, file descriptor 2 points to /dev/null
   while libsndfile opens or decodes MPEG audio. Process-wide, hence off by default:
   a program whose other threads write to stderr meanwhile would lose those lines.
   The voz command turns it on. */
void voz_set_quiet_decoders(int quiet);

/* ---- feature options (Kaldi's compute-mfcc-feats option set) ---------------------- */

typedef enum { VOZ_WINDOW_POVEY = 0, VOZ_WINDOW_HAMMING, VOZ_WINDOW_HANNING, VOZ_WINDOW_RECTANGULAR,
               VOZ_WINDOW_BLACKMAN } voz_window;
typedef enum { VOZ_CMVN_NONE = 0, VOZ_CMVN_UTTERANCE, VOZ_CMVN_RUNNING } voz_cmvn;

typedef struct {
    float sample_rate;      /* Hz of the samples given to the MFCC computer */
    float frame_length_ms;  /* 25 */
    float frame_shift_ms;   /* 10 */
    float preemph;          /* 0.97 */
    int remove_dc;          /* 1: subtract each frame's mean before pre-emphasis */
    voz_window window;      /* povey */
    int round_pow2;         /* 1: FFT size is the next power of two of the frame */
    int snip_edges;         /* 1: only frames that fit entirely; 0: Kaldi's reflection */
    float dither;           /* 0 (reproducible); else Gaussian noise of this stddev */
    int num_mel_bins;       /* 23 */
    float low_freq;         /* 20 Hz */
    float high_freq;        /* 0: Nyquist; negative: Nyquist + high_freq */
    int num_ceps;           /* 13 */
    float cepstral_lifter;  /* 22; 0 disables */
    int use_energy;         /* 0: c0 is the zeroth cepstrum; 1: log energy replaces it */
    int raw_energy;         /* 1: energy before pre-emphasis and window */
    float energy_floor;     /* 0: log(energy) floored at FLT_EPSILON; >0 floor value */
    int htk_compat;         /* 0 */
    int delta_order;        /* 0, 1 (deltas), 2 (deltas + delta-deltas) */
    int delta_window;       /* 2 (Kaldi's compute-deltas) */
    voz_cmvn cmvn;          /* mean/variance normalisation of the final features */
    int cmvn_var;           /* 1: normalise variance too; 0: mean only */
    /* Vocal-tract length warp of the mel filterbank (Kaldi's piecewise-linear
       VtlnWarpFreq). A property of a speaker, not of a model: model files do not store
       it, and 0 reads as 1 (no warp) so zero-initialised structs stay valid. */
    float vtln_warp;        /* 1: none; Kaldi allows about 0.8 to 1.2 */
    float vtln_low;         /* 100 Hz: below, the warp bends back to low_freq */
    float vtln_high;        /* -500: above Nyquist - 500 Hz it bends back to high_freq */
} voz_feature_params;

/* Kaldi/torchaudio defaults with dither 0, 13 MFCC + deltas + delta-deltas,
   per-utterance mean and variance normalisation, 16 kHz. */
voz_feature_params voz_feature_default_params(void);
/* Output dimension: num_ceps * (1 + delta_order). */
int voz_feature_dim(const voz_feature_params *p);

/* ---- models ------------------------------------------------------------------------ */

struct voz_model;

voz_status voz_model_load(const char *path, struct voz_model **out);
/* `name` is used in messages only. The bytes are copied when needed. */
voz_status voz_model_load_memory(const void *data, size_t size, const char *name,
                                 struct voz_model **out);
/* The model embedded in the library (VOZ_ERR_UNSUPPORTED if none was built in). */
voz_status voz_model_load_default(struct voz_model **out);
void voz_model_free(struct voz_model *m);

int voz_model_sample_rate(const struct voz_model *m);
const voz_feature_params *voz_model_features(const struct voz_model *m);
/* Number of output classes and the UTF-8 string of class k (blank is ""). */
int voz_model_num_classes(const struct voz_model *m);
const char *voz_model_class(const struct voz_model *m, int k);
int voz_model_blank(const struct voz_model *m);
/* Word list carried by the model (NULL, 0 when none). */
const char *const *voz_model_words(const struct voz_model *m, int *n);

/* ---- decoding ---------------------------------------------------------------------- */

#define VOZ_MAX_WARPS 8
#define VOZ_MAX_MEMBERS 8 /* networks in one model file (an ensemble) */

typedef enum { VOZ_DECODER_AUTO = 0, /* beam when the model has a word list, else greedy */
               VOZ_DECODER_GREEDY, VOZ_DECODER_BEAM } voz_decoder;

typedef struct {
    voz_decoder decoder;      /* auto */
    int beam;                 /* 16: prefix beam width */
    const char *const *words; /* overrides the model's word list when non-NULL */
    int n_words;
    int threads;              /* 1: worker threads for the acoustic model (1 or 2) */
    /* Vocal-tract length ensemble: each utterance is analysed with every mel-bank warp
       listed (Kaldi's VTLN warp; 1 = unwarped) and the network's posteriors are
       averaged before decoding. A model trained on few speakers then depends less on
       a new speaker's vocal tract, at n_warps times the acoustic cost. -1: the model's
       own list (metadata "vtln_ensemble", none when absent); 0: none. Applies to
       decoding from audio (transcribe, live, eval), not from features, and to the beam
       decoder only: greedy decoding of averaged posteriors loses letters, so greedy
       reads the plain analysis (and an explicit list with greedy is refused). */
    int n_warps;              /* -1 */
    float warps[VOZ_MAX_WARPS];
    /* A model file may hold several networks trained apart (`voz ensemble`); the beam
       decoder then combines them at the sequence level: the best readings of each
       network and of their mean posterior (every member on every warp) are scored by
       the sum of the networks' CTC log-likelihoods, the highest wins. 0: all of them;
       N: the first N (fewer is faster). Greedy reads the first alone, and
       N > 1 with greedy is refused, as for warps. */
    int n_members;            /* 0 */
} voz_decode_params;

voz_decode_params voz_decode_default_params(void);
/* Parses a warp list "0.85,1,1.15" (1 to VOZ_MAX_WARPS factors in [0.5, 2], comma
   separated) or "none" (n = 0). VOZ_ERR_INVALID with a message naming the bad entry. */
voz_status voz_warps_parse(const char *s, float warps[VOZ_MAX_WARPS], int *n);
/* The model's own ensemble (metadata "vtln_ensemble"): count, warps copied to out. */
int voz_model_warps(const struct voz_model *m, float out[VOZ_MAX_WARPS]);

typedef struct {
    char *text;       /* UTF-8 */
    float start, end; /* seconds from the start of the input */
} voz_word;

typedef struct {
    char *text;        /* the whole transcript, words joined by single spaces */
    voz_word *words;
    int n_words;
    double duration;   /* seconds of audio consumed */
    double start, end; /* for an utterance of a stream: its span in the input, seconds */
} voz_transcript;

void voz_transcript_release(voz_transcript *t);

/* ---- streams: samples in, utterances out ------------------------------------------- */

typedef enum {
    VOZ_SEGMENT_LONG = 0,  /* batch: one utterance unless the input is long, then cut at pauses */
    VOZ_SEGMENT_ENDPOINT   /* live: voice activity detection decides utterances */
} voz_segment_mode;

typedef struct {
    float threshold_db;    /* 9: speech when frame energy exceeds the noise floor by this */
    float hangover_ms;     /* 200: silence that ends an utterance (sets the latency) */
    float min_speech_ms;   /* 150: shorter bursts are ignored */
    float pad_ms;          /* 200: audio kept before the onset and after the end */
    float max_utterance_s; /* 20: an utterance is cut at the quietest point near this */
    float calibrate_ms;    /* 500: initial noise-floor estimation time */
} voz_endpoint_params;

typedef void (*voz_utterance_fn)(const voz_transcript *utt, void *user_data);
typedef void (*voz_partial_fn)(const char *text, double start, void *user_data);

typedef struct {
    voz_decode_params decode;
    voz_segment_mode segment;
    voz_endpoint_params endpoint;
    float max_segment_s;          /* 30: VOZ_SEGMENT_LONG cuts inputs longer than this */
    float partial_interval_s;     /* 0.25: 0 disables partial results */
    voz_utterance_fn on_utterance;
    voz_partial_fn on_partial;
    void *user_data;
} voz_stream_params;

voz_stream_params voz_stream_default_params(void);

struct voz_stream;

voz_status voz_stream_create(const struct voz_model *m, const voz_stream_params *p,
                             struct voz_stream **out);
/* Mono float samples in [-1, 1] at voz_model_sample_rate(). Callbacks run inside. */
voz_status voz_stream_feed(struct voz_stream *s, const float *pcm, size_t n);
/* End of input: decodes what is pending. The stream may be fed again afterwards. */
voz_status voz_stream_finish(struct voz_stream *s);
void voz_stream_free(struct voz_stream *s);

/* ---- one-call transcription -------------------------------------------------------- */

/* Any audio file libsndfile reads ("-" is standard input), downmixed and resampled
   to the model's rate; long files are read in blocks and cut at pauses. */
voz_status voz_transcribe_file(const struct voz_model *m, const char *path,
                               const voz_decode_params *p, voz_transcript *out);
/* Samples already at the model's rate. */
voz_status voz_transcribe_pcm(const struct voz_model *m, const float *pcm, size_t n,
                              const voz_decode_params *p, voz_transcript *out);

#ifdef __cplusplus
}
#endif
#endif
