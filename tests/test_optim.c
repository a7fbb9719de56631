/* tests/test_optim.c — Adam and SGD updates (hand-computed steps and PyTorch
   trajectories from tests/fixtures/train/optim.txt, written by tools/fixtures_train.py),
   clipping by global norm, and the warm-up / decay / plateau learning-rate schedule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acoustic/optim.h"
#include "common/util.h"

#define FIXTURE "tests/fixtures/train/optim.txt"

/* Compares a[n] with b[n]; on failure prints the worst element. */
static void assert_close(const char *what, const float *got, const float *want, size_t n, double tol)
{
    size_t worst = 0;
    double err = -1;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - want[i]) / (1.0 + fabs(want[i]));
        if (isnan(e))
            e = INFINITY;
        if (e > err) {
            err = e;
            worst = i;
        }
    }
    if (!(err <= tol)) {
        print_error("%s: worst element %zu: got %.9g, want %.9g (relative error %.3g > %.3g)\n", what, worst,
                    got[worst], want[worst], err, tol);
        fail();
    }
}

static void test_adam_first_steps_by_hand(void **state)
{
    (void)state;
    voz_optim_params op = voz_optim_default_params();
    struct voz_optim o;
    assert_int_equal(voz_optim_init(&o, &op, 3), VOZ_OK);
    float p[3] = { 1.0f, -2.0f, 0.5f };
    const float g[3] = { 0.5f, -4.0f, 0.0f };
    /* Step 1: m = 0.1 g, v = 0.001 g^2; bias-corrected mhat = g, vhat = g^2, so the
       update is lr * g / (|g| + eps) = lr * sign(g) (0 where g = 0). */
    voz_optim_step(&o, p, g, 0.1f);
    const float want1[3] = { 0.9f, -1.9f, 0.5f };
    assert_close("adam step 1", p, want1, 3, 1e-6);
    assert_float_equal(o.m[0], 0.05f, 1e-7);
    assert_float_equal(o.v[1], 0.016f, 2e-6); /* 1 - 0.999f is 0.00100005 in float */
    /* Step 2 with the same gradient: the corrected moments are again g and g^2. */
    voz_optim_step(&o, p, g, 0.1f);
    const float want2[3] = { 0.8f, -1.8f, 0.5f };
    assert_close("adam step 2", p, want2, 3, 1e-6);
    assert_int_equal((int)o.t, 2);
    voz_optim_release(&o);
}

static void test_sgd_momentum_by_hand(void **state)
{
    (void)state;
    voz_optim_params op = voz_optim_default_params();
    op.kind = VOZ_OPTIM_SGD;
    op.momentum = 0.5f;
    struct voz_optim o;
    assert_int_equal(voz_optim_init(&o, &op, 2), VOZ_OK);
    assert_null(o.v);
    float p[2] = { 1.0f, 2.0f };
    const float g[2] = { 1.0f, -2.0f };
    voz_optim_step(&o, p, g, 0.1f); /* velocity g: p -= 0.1 g */
    const float want1[2] = { 0.9f, 2.2f };
    assert_close("sgd step 1", p, want1, 2, 1e-7);
    voz_optim_step(&o, p, g, 0.1f); /* velocity 0.5 g + g = 1.5 g */
    const float want2[2] = { 0.75f, 2.5f };
    assert_close("sgd step 2", p, want2, 2, 1e-7);
    voz_optim_release(&o);
}

/* ---- PyTorch trajectories ----------------------------------------------------------- */

struct fixture {
    char names[64][48];
    float vals[64][16];
    int n;
};

static const float *fx_get(const struct fixture *f, const char *name)
{
    for (int i = 0; i < f->n; i++)
        if (!strcmp(f->names[i], name))
            return f->vals[i];
    print_error("fixture record '%s' missing from %s\n", name, FIXTURE);
    fail();
    return NULL;
}

static void fx_load(struct fixture *f, int *N)
{
    FILE *fp = fopen(FIXTURE, "r");
    if (!fp) {
        print_error("cannot open %s (run from the repository root)\n", FIXTURE);
        fail();
    }
    char line[4096];
    f->n = 0;
    *N = 0;
    while (fgets(line, sizeof line, fp) && f->n < 64) {
        if (line[0] == '#')
            continue;
        int count, used;
        if (sscanf(line, "%47s %d%n", f->names[f->n], &count, &used) != 2 || count > 16) {
            fclose(fp);
            fail_msg("bad fixture line: %s", line);
        }
        char *p = line + used;
        for (int k = 0; k < count; k++)
            f->vals[f->n][k] = strtof(p, &p);
        *N = count;
        f->n++;
    }
    fclose(fp);
}

static void run_trajectory(voz_optim_kind kind, double clip)
{
    static struct fixture f;
    int N;
    fx_load(&f, &N);
    voz_optim_params op = voz_optim_default_params();
    op.kind = kind;
    op.momentum = 0.9f;
    struct voz_optim o;
    assert_int_equal(voz_optim_init(&o, &op, (size_t)N), VOZ_OK);
    float p[16], g[16];
    memcpy(p, fx_get(&f, "p0"), sizeof p);
    for (int s = 0; s < 6; s++) {
        char name[48];
        snprintf(name, sizeof name, "grad%d", s);
        memcpy(g, fx_get(&f, name), sizeof g);
        voz_optim_clip(g, (size_t)N, clip);
        voz_optim_step(&o, p, g, kind == VOZ_OPTIM_ADAM ? 0.01f : 0.05f);
        snprintf(name, sizeof name, "%s_clip%g_step%d", kind == VOZ_OPTIM_ADAM ? "adam" : "sgd", clip, s);
        assert_close(name, p, fx_get(&f, name), (size_t)N, 2e-6);
    }
    voz_optim_release(&o);
}

static void test_adam_matches_pytorch(void **state) { (void)state; run_trajectory(VOZ_OPTIM_ADAM, 0); }
static void test_adam_clipped_matches_pytorch(void **state) { (void)state; run_trajectory(VOZ_OPTIM_ADAM, 1); }
static void test_sgd_matches_pytorch(void **state) { (void)state; run_trajectory(VOZ_OPTIM_SGD, 0); }
static void test_sgd_clipped_matches_pytorch(void **state) { (void)state; run_trajectory(VOZ_OPTIM_SGD, 1); }

static void test_clip_global_norm(void **state)
{
    (void)state;
    float g[4] = { 3.0f, 0.0f, 4.0f, 0.0f };
    assert_float_equal(voz_optim_clip(g, 4, 10.0), 5.0, 1e-12); /* below the limit: untouched */
    assert_float_equal(g[0], 3.0f, 0);
    assert_float_equal(voz_optim_clip(g, 4, 1.0), 5.0, 1e-12);
    const float want[4] = { 0.6f, 0.0f, 0.8f, 0.0f };
    assert_close("clipped", g, want, 4, 1e-7);
    assert_float_equal(voz_optim_grad_norm(g, 4), 1.0, 1e-6);
    float h[2] = { 3.0f, 4.0f };
    assert_float_equal(voz_optim_clip(h, 2, 0.0), 5.0, 1e-12); /* 0 disables */
    assert_float_equal(h[1], 4.0f, 0);
    float bad[3] = { 1.0f, NAN, 2.0f };
    assert_true(isnan(voz_optim_clip(bad, 3, 1.0)));
    assert_float_equal(bad[0], 1.0f, 0); /* non-finite: left alone for the caller to skip */
    float inf[2] = { INFINITY, 0 };
    assert_false(isfinite(voz_optim_grad_norm(inf, 2)));
    assert_false(voz_optim_all_finite(bad, 3));
    assert_true(voz_optim_all_finite(want, 4));
}

static void test_schedule_warmup_and_decay(void **state)
{
    (void)state;
    voz_lr_params lp = voz_lr_default_params();
    lp.base_lr = 0.1f;
    lp.warmup = 4;
    lp.decay = 0.5f;
    struct voz_lr_schedule s;
    voz_lr_init(&s, &lp);
    /* Linear warm-up: (step + 1) / warmup of the base over the first 4 updates. */
    assert_float_equal(voz_lr_at(&s, 0), 0.025f, 1e-8);
    assert_float_equal(voz_lr_at(&s, 1), 0.05f, 1e-8);
    assert_float_equal(voz_lr_at(&s, 3), 0.1f, 1e-8);
    assert_float_equal(voz_lr_at(&s, 100), 0.1f, 1e-8);
    voz_lr_epoch_end(&s, NAN);
    assert_float_equal(voz_lr_at(&s, 100), 0.05f, 1e-8);
    voz_lr_epoch_end(&s, NAN);
    assert_float_equal(voz_lr_at(&s, 100), 0.025f, 1e-8);
    assert_float_equal(voz_lr_at(&s, 1), 0.0125f, 1e-8); /* warm-up and decay multiply */
    /* The floor: many epochs of decay stop at min_lr. */
    for (int e = 0; e < 100; e++)
        voz_lr_epoch_end(&s, NAN);
    assert_float_equal(voz_lr_at(&s, 100), lp.min_lr, 1e-12);
}

static void test_schedule_plateau(void **state)
{
    (void)state;
    voz_lr_params lp = voz_lr_default_params();
    lp.base_lr = 1.0f;
    lp.plateau = 1;
    lp.decay = 0.1f; /* ignored with plateau */
    struct voz_lr_schedule s;
    voz_lr_init(&s, &lp);
    voz_lr_epoch_end(&s, 0.5); /* first: best */
    assert_float_equal(voz_lr_at(&s, 9), 1.0f, 0);
    voz_lr_epoch_end(&s, 0.4); /* improves */
    assert_float_equal(voz_lr_at(&s, 9), 1.0f, 0);
    voz_lr_epoch_end(&s, 0.4); /* equal is not better: patience 1 runs out */
    assert_float_equal(voz_lr_at(&s, 9), 0.5f, 0);
    voz_lr_epoch_end(&s, 0.45);
    assert_float_equal(voz_lr_at(&s, 9), 0.25f, 0);
    voz_lr_epoch_end(&s, 0.3);
    assert_float_equal(voz_lr_at(&s, 9), 0.25f, 0);
    voz_lr_epoch_end(&s, NAN); /* no dev metric: no change */
    assert_float_equal(voz_lr_at(&s, 9), 0.25f, 0);
}

static void test_parse_names(void **state)
{
    (void)state;
    voz_optim_kind k;
    assert_int_equal(voz_optim_parse("sgd", &k), 0);
    assert_int_equal(k, VOZ_OPTIM_SGD);
    assert_int_equal(voz_optim_parse("adam", &k), 0);
    assert_int_equal(k, VOZ_OPTIM_ADAM);
    assert_int_not_equal(voz_optim_parse("adagrad", &k), 0);
    assert_string_equal(voz_optim_name(VOZ_OPTIM_SGD), "sgd");
    voz_optim_params bad = voz_optim_default_params();
    bad.beta2 = 1.0f;
    struct voz_optim o;
    assert_int_equal(voz_optim_init(&o, &bad, 4), VOZ_ERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_adam_first_steps_by_hand),
        cmocka_unit_test(test_sgd_momentum_by_hand),
        cmocka_unit_test(test_adam_matches_pytorch),
        cmocka_unit_test(test_adam_clipped_matches_pytorch),
        cmocka_unit_test(test_sgd_matches_pytorch),
        cmocka_unit_test(test_sgd_clipped_matches_pytorch),
        cmocka_unit_test(test_clip_global_norm),
        cmocka_unit_test(test_schedule_warmup_and_decay),
        cmocka_unit_test(test_schedule_plateau),
        cmocka_unit_test(test_parse_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
