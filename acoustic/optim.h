/* acoustic/optim.h — optimisers over the flat parameter block of acoustic/net.h:
   Adam and SGD with momentum, gradient clipping by global norm, and the learning-
   rate schedule (linear warm-up, then exponential decay per epoch or reduce-on-
   plateau). Gradients and moments share the parameter layout, so every update is
   one flat loop over n floats (padding stays zero: its gradient is zero). */
#ifndef VOZ_ACOUSTIC_OPTIM_H
#define VOZ_ACOUSTIC_OPTIM_H

#include "voz.h"
#include <stddef.h>
#include <stdint.h>

typedef enum { VOZ_OPTIM_ADAM = 0, VOZ_OPTIM_SGD = 1 } voz_optim_kind;

typedef struct {
    voz_optim_kind kind; /* adam */
    float beta1;         /* 0.9   Adam first-moment decay */
    float beta2;         /* 0.999 Adam second-moment decay */
    float eps;           /* 1e-8  Adam denominator guard */
    float momentum;      /* 0.9   SGD: velocity = momentum * velocity + g */
} voz_optim_params;

voz_optim_params voz_optim_default_params(void);
const char *voz_optim_name(voz_optim_kind k);          /* "adam", "sgd" */
int voz_optim_parse(const char *name, voz_optim_kind *k); /* 0 ok */

/* Optimiser state, embedded in the trainer (init/release). PyTorch's update rules:
   Adam  m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
         p -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)
   SGD   m = mu m + g;  p -= lr * m  (m starts at 0, so the first step is lr * g) */
struct voz_optim {
    voz_optim_params p;
    size_t n;      /* floats in the block */
    float *m;      /* [n] Adam first moment / SGD velocity */
    float *v;      /* [n] Adam second moment (NULL for SGD) */
    uint64_t t;    /* updates applied so far (Adam bias correction) */
};

voz_status voz_optim_init(struct voz_optim *o, const voz_optim_params *p, size_t n);
void voz_optim_release(struct voz_optim *o);
/* One update of params[n] with grads[n] at learning rate lr. */
void voz_optim_step(struct voz_optim *o, float *params, const float *grads, float lr);

/* Global L2 norm of g[n], accumulated in double; NaN or +Inf when g is not finite. */
double voz_optim_grad_norm(const float *g, size_t n);
/* Scales g so its global norm is at most max_norm (<= 0: no clipping). Returns the
   norm before clipping (non-finite norms leave g untouched: the caller skips). */
double voz_optim_clip(float *g, size_t n, double max_norm);
/* 1 when every element of x[n] is finite. */
int voz_optim_all_finite(const float *x, size_t n);

/* Learning-rate schedule. lr(step) = base * scale * min(1, (step + 1) / warmup):
   linear warm-up over the first `warmup` updates, then `scale` changes only at
   epoch ends — multiplied by `decay` each epoch, or with `plateau` multiplied by
   plateau_factor when the dev metric has not improved for plateau_patience epochs. */
typedef struct {
    float base_lr;         /* 1e-3 */
    int warmup;            /* 0 updates */
    float decay;           /* 1.0 per-epoch multiplier (ignored with plateau) */
    int plateau;           /* 0 */
    float plateau_factor;  /* 0.5 */
    int plateau_patience;  /* 1 epoch without improvement */
    float min_lr;          /* 1e-6 floor for decay and plateau */
} voz_lr_params;

voz_lr_params voz_lr_default_params(void);

struct voz_lr_schedule {
    voz_lr_params p;
    double scale;    /* product of the epoch-end reductions so far */
    double best;     /* best dev metric seen (plateau), +Inf before the first */
    int bad_epochs;  /* epochs since `best` improved */
};

void voz_lr_init(struct voz_lr_schedule *s, const voz_lr_params *p);
float voz_lr_at(const struct voz_lr_schedule *s, uint64_t step);
/* Call once per finished epoch with its dev metric (NaN when there is no dev set:
   plateau then never reduces). */
void voz_lr_epoch_end(struct voz_lr_schedule *s, double dev_metric);

#endif
