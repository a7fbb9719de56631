/* acoustic/optim.c — Adam, SGD with momentum, global-norm clipping and the
   learning-rate schedule, all flat loops over the parameter block layout. */
#include "acoustic/optim.h"
#include "common/util.h"

#include <math.h>
#include <string.h>

voz_optim_params voz_optim_default_params(void)
{
    return (voz_optim_params){
        .kind = VOZ_OPTIM_ADAM,
        .beta1 = 0.9f,
        .beta2 = 0.999f,
        .eps = 1e-8f,
        .momentum = 0.9f,
    };
}

const char *voz_optim_name(voz_optim_kind k)
{
    return k == VOZ_OPTIM_SGD ? "sgd" : "adam";
}

int voz_optim_parse(const char *name, voz_optim_kind *k)
{
    if (!strcmp(name, "adam"))
        *k = VOZ_OPTIM_ADAM;
    else if (!strcmp(name, "sgd"))
        *k = VOZ_OPTIM_SGD;
    else
        return -1;
    return 0;
}

voz_status voz_optim_init(struct voz_optim *o, const voz_optim_params *p, size_t n)
{
    memset(o, 0, sizeof *o);
    if (!(p->beta1 >= 0 && p->beta1 < 1) || !(p->beta2 >= 0 && p->beta2 < 1) || !(p->eps > 0) ||
        !(p->momentum >= 0 && p->momentum < 1))
        return voz_fail(VOZ_ERR_INVALID, "optimizer: betas and momentum must be in [0, 1) and eps > 0, "
                        "found beta1 %g beta2 %g eps %g momentum %g", p->beta1, p->beta2, p->eps, p->momentum);
    size_t bytes;
    if (voz_mul_size(n, sizeof(float), &bytes))
        return voz_fail(VOZ_ERR_NOMEM, "optimizer: %zu parameters overflow", n);
    o->p = *p;
    o->n = n;
    o->m = voz_alloc_aligned(bytes);
    if (p->kind == VOZ_OPTIM_ADAM)
        o->v = voz_alloc_aligned(bytes);
    if (!o->m || (p->kind == VOZ_OPTIM_ADAM && !o->v)) {
        voz_optim_release(o);
        return voz_fail(VOZ_ERR_NOMEM, "optimizer: out of memory for %zu moments", n);
    }
    return VOZ_OK;
}

void voz_optim_release(struct voz_optim *o)
{
    voz_free_aligned(o->m);
    voz_free_aligned(o->v);
    o->m = o->v = NULL;
    o->n = 0;
    o->t = 0;
}

void voz_optim_step(struct voz_optim *o, float *params, const float *grads, float lr)
{
    const size_t n = o->n;
    o->t++;
    if (o->p.kind == VOZ_OPTIM_SGD) {
        const float mu = o->p.momentum;
        for (size_t i = 0; i < n; i++) {
            o->m[i] = mu * o->m[i] + grads[i];
            params[i] -= lr * o->m[i];
        }
        return;
    }
    /* PyTorch's arrangement: step = lr / (1 - b1^t), denom = sqrt(v) / sqrt(1 - b2^t) + eps. */
    const float b1 = o->p.beta1, b2 = o->p.beta2, eps = o->p.eps;
    const double bc1 = 1.0 - pow(b1, (double)o->t);
    const double bc2 = 1.0 - pow(b2, (double)o->t);
    const float step = (float)(lr / bc1);
    const float inv_sqrt_bc2 = (float)(1.0 / sqrt(bc2));
    for (size_t i = 0; i < n; i++) {
        const float g = grads[i];
        o->m[i] = b1 * o->m[i] + (1.0f - b1) * g;
        o->v[i] = b2 * o->v[i] + (1.0f - b2) * g * g;
        params[i] -= step * o->m[i] / (sqrtf(o->v[i]) * inv_sqrt_bc2 + eps);
    }
}

double voz_optim_grad_norm(const float *g, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += (double)g[i] * g[i];
    return sqrt(s);
}

double voz_optim_clip(float *g, size_t n, double max_norm)
{
    double norm = voz_optim_grad_norm(g, n);
    if (!isfinite(norm) || max_norm <= 0 || norm <= max_norm)
        return norm;
    const float k = (float)(max_norm / norm);
    for (size_t i = 0; i < n; i++)
        g[i] *= k;
    return norm;
}

int voz_optim_all_finite(const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return 0;
    return 1;
}

voz_lr_params voz_lr_default_params(void)
{
    return (voz_lr_params){
        .base_lr = 1e-3f,
        .warmup = 0,
        .decay = 1.0f,
        .plateau = 0,
        .plateau_factor = 0.5f,
        .plateau_patience = 1,
        .min_lr = 1e-6f,
    };
}

void voz_lr_init(struct voz_lr_schedule *s, const voz_lr_params *p)
{
    s->p = *p;
    s->scale = 1.0;
    s->best = INFINITY;
    s->bad_epochs = 0;
}

float voz_lr_at(const struct voz_lr_schedule *s, uint64_t step)
{
    double lr = s->p.base_lr * s->scale;
    if (s->p.warmup > 0 && step < (uint64_t)s->p.warmup)
        lr *= (double)(step + 1) / s->p.warmup;
    return (float)lr;
}

void voz_lr_epoch_end(struct voz_lr_schedule *s, double dev_metric)
{
    /* The floor applies to the decayed rate only, never raising a small base rate. */
    double floor_scale = s->p.base_lr > 0 ? s->p.min_lr / s->p.base_lr : 0;
    if (floor_scale > 1)
        floor_scale = 1;
    if (!s->p.plateau) {
        s->scale *= s->p.decay;
    } else if (!isnan(dev_metric)) {
        if (dev_metric < s->best) {
            s->best = dev_metric;
            s->bad_epochs = 0;
        } else if (++s->bad_epochs >= s->p.plateau_patience) {
            s->scale *= s->p.plateau_factor;
            s->bad_epochs = 0;
        }
    }
    if (s->scale < floor_scale)
        s->scale = floor_scale;
}
