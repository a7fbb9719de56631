/* train/trainer.h — the training loop behind `voz train`: manifests in, a model file
   out (the best by dev WER), with a checkpoint, a CSV log and an SVG curve next to it.
   The library never prints: progress arrives through a callback, and the caller may
   ask the loop to stop after the current batch (it then checkpoints and returns). */
#ifndef VOZ_TRAIN_TRAINER_H
#define VOZ_TRAIN_TRAINER_H

#include "voz.h"
#include "acoustic/net.h"
#include "acoustic/optim.h"
#include "train/augment.h"
#include <stdint.h>

typedef enum {
    VOZ_TRAIN_INFO = 0, /* a one-line message (data summary, checkpoint written ...) */
    VOZ_TRAIN_STEP,     /* after each batch */
    VOZ_TRAIN_EPOCH     /* after each epoch's dev evaluation */
} voz_train_event;

typedef struct {
    voz_train_event event;
    const char *message;     /* INFO: the text */
    int epoch, epochs;       /* 1-based epoch in progress / total */
    int batch, batches;      /* batches done in this epoch / in the epoch */
    double loss;             /* mean train loss per utterance so far in the epoch */
    double frames_per_s;     /* feature frames through forward+backward per second (epoch) */
    double eta_s;            /* estimated seconds to the end of the epoch */
    double lr;
    uint64_t skipped;        /* batches skipped in this epoch */
    /* EPOCH only; NaN without a dev set. cer/wer are of the default decoder (beam
       over the word list when there is one), greedy_* of greedy decoding. */
    double dev_loss, dev_cer, dev_wer, greedy_cer, greedy_wer;
    int is_best;             /* this epoch's model became --out */
    double seconds;          /* training wall time, all runs */
} voz_train_progress;

typedef struct {
    /* data */
    const char *const *train; int n_train;      /* manifests used row by row */
    const char *const *compose; int n_compose;  /* manifests of isolated-word clips */
    const char *dev;                            /* NULL: no dev set */
    const char *out;                            /* MODEL.voz; .ckpt/.log.csv/.curve.svg beside */
    /* model */
    voz_cell_type cell;      /* lstm */
    int layers, hidden;      /* 2, 128; always bidirectional */
    int sample_rate;         /* 16000 */
    const char *alphabet;    /* VOZ_DEFAULT_ALPHABET; blank is class 0 */
    const char *words;       /* word-list file or NULL */
    /* optimisation */
    int epochs, batch_size;  /* 20, 16 */
    voz_optim_params optim;
    voz_lr_params lr;
    float clip;              /* 5: global gradient norm; 0 disables */
    uint64_t seed;           /* 1 */
    int threads;             /* 2 */
    int resume;              /* continue from OUT.ckpt when it exists */
    double checkpoint_every; /* 300 s */
    double max_minutes;      /* 0: no limit */
    /* composition and augmentation */
    int compose_count;       /* 0: about one use of every clip per epoch */
    int compose_min, compose_max;  /* 1:4 words */
    float gap_min_ms, gap_max_ms;  /* 50:300 */
    int augment_variants;    /* 4 */
    voz_augment_params augment;
    voz_specaug_params specaug; /* all 0: off */
    int skip_bad;
    float dropout;           /* 0: probability of zeroing each layer output in training */
    /* metadata written into the model */
    const char *name;
    const char *const *meta; int n_meta; /* "KEY=VALUE" */
    /* callbacks */
    void (*on_progress)(const voz_train_progress *p, void *user_data);
    int (*should_stop)(void *user_data); /* nonzero: stop after the current batch */
    void *user_data;
} voz_train_params;

voz_train_params voz_train_default_params(void);

typedef struct {
    int epochs_done;         /* finished epochs (all runs) */
    int stopped;             /* 1: stopped early (max-minutes or should_stop) */
    int has_model;           /* --out holds a model (0: stopped before any epoch ended) */
    int options_changed;     /* --resume refused because an option differs */
    double best_wer;         /* NaN without dev */
    int best_epoch;
    uint64_t skipped;        /* batches skipped in all runs */
    uint32_t weights_crc;    /* CRC-32 of the weights in --out (comparable across runs) */
    double frames_per_s;     /* mean training throughput of this run */
} voz_train_result;

voz_status voz_train_run(const voz_train_params *p, voz_train_result *res);

/* CRC-32 of a parameter block's bytes (what `voz train` reports for --out). */
uint32_t voz_train_weights_crc(const float *params, size_t n);

#endif
