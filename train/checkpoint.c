/* train/checkpoint.c — serialising the training state (layout in checkpoint.h). */
#include "train/checkpoint.h"
#include "acoustic/optim.h"
#include "common/util.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- writing into a growing buffer --------------------------------------------------- */

struct wbuf {
    unsigned char *b;
    size_t n, cap;
    int oom;
};

static void put(struct wbuf *w, const void *p, size_t n)
{
    if (w->oom)
        return;
    if (w->n + n > w->cap) {
        size_t nc = w->cap ? w->cap : 4096;
        while (nc < w->n + n)
            nc *= 2;
        unsigned char *nb = realloc(w->b, nc);
        if (!nb) {
            w->oom = 1;
            return;
        }
        w->b = nb;
        w->cap = nc;
    }
    memcpy(w->b + w->n, p, n);
    w->n += n;
}

static void put_u32(struct wbuf *w, uint32_t v)
{
    unsigned char b[4] = { (unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                           (unsigned char)(v >> 24) };
    put(w, b, 4);
}

static void put_u64(struct wbuf *w, uint64_t v)
{
    put_u32(w, (uint32_t)v);
    put_u32(w, (uint32_t)(v >> 32));
}

static void put_i32(struct wbuf *w, int v) { put_u32(w, (uint32_t)v); }

static void put_f64(struct wbuf *w, double d)
{
    uint64_t u;
    memcpy(&u, &d, 8);
    put_u64(w, u);
}

static void put_floats(struct wbuf *w, const float *x, size_t n)
{
    put_u64(w, n);
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &x[i], 4);
        put_u32(w, u);
    }
}

static void put_str(struct wbuf *w, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    put_u64(w, n);
    put(w, s, n);
}

voz_status voz_checkpoint_write(const struct voz_checkpoint *c, const char *path)
{
    int has_v = c->v != NULL;
    if (!voz_optim_all_finite(c->params, c->n_floats) || !voz_optim_all_finite(c->m, c->n_floats) ||
        (has_v && !voz_optim_all_finite(c->v, c->n_floats)))
        return voz_fail(VOZ_ERR_NONFINITE, "%s: weights or optimizer moments are not finite; checkpoint not written",
                        path);
    struct wbuf w = { 0 };
    char magic[8] = VOZ_CKPT_MAGIC;
    put(&w, magic, 8);
    put_u32(&w, VOZ_CKPT_VERSION);
    put_u32(&w, 0);
    put_str(&w, c->options);
    put_i32(&w, (int)c->net.cell);
    put_i32(&w, c->net.input_dim);
    put_i32(&w, c->net.hidden);
    put_i32(&w, c->net.layers);
    put_i32(&w, c->net.bidirectional);
    put_i32(&w, c->net.classes);
    put_floats(&w, c->params, c->n_floats);
    put_i32(&w, c->optim_kind);
    put_floats(&w, c->m, c->n_floats);
    put_floats(&w, c->v, has_v ? c->n_floats : 0);
    put_u64(&w, c->optim_t);
    put_i32(&w, c->epoch);
    put_i32(&w, c->batch);
    put_u64(&w, c->step);
    put_f64(&w, c->lr_scale);
    put_f64(&w, c->lr_best);
    put_i32(&w, c->lr_bad_epochs);
    put_f64(&w, c->best_wer);
    put_i32(&w, c->best_epoch);
    put_f64(&w, c->epoch_loss_sum);
    put_u64(&w, c->epoch_utts);
    put_u64(&w, c->epoch_skipped);
    put_u64(&w, c->total_skipped);
    put_f64(&w, c->seconds);
    put_u64(&w, (uint64_t)c->n_history);
    for (int i = 0; i < c->n_history; i++) {
        const struct voz_epoch_record *r = &c->history[i];
        put_i32(&w, r->epoch);
        put_u64(&w, r->step);
        put_f64(&w, r->train_loss);
        put_f64(&w, r->dev_loss);
        put_f64(&w, r->dev_cer);
        put_f64(&w, r->dev_wer);
        put_f64(&w, r->lr);
        put_u64(&w, r->skipped);
        put_f64(&w, r->seconds);
    }
    if (!w.oom)
        put_u32(&w, voz_crc32(0, w.b, w.n));
    if (w.oom) {
        free(w.b);
        return voz_fail(VOZ_ERR_NOMEM, "%s: out of memory serialising the checkpoint", path);
    }
    struct voz_atomic_file af;
    voz_status s = voz_atomic_open(&af, path);
    if (s == VOZ_OK) {
        if (fwrite(w.b, 1, w.n, af.fp) != w.n) {
            s = voz_fail(VOZ_ERR_IO, "%s: write failed: %s", path, strerror(errno));
            voz_atomic_abort(&af);
        } else {
            s = voz_atomic_commit(&af);
        }
    }
    free(w.b);
    return s;
}

/* ---- reading with bounds checks ---------------------------------------------------- */

struct rbuf {
    const unsigned char *b;
    size_t n, pos;
    int bad;           /* ran past the end */
};

static int take(struct rbuf *r, void *out, size_t n)
{
    if (r->bad || n > r->n - r->pos) {
        r->bad = 1;
        memset(out, 0, n);
        return -1;
    }
    memcpy(out, r->b + r->pos, n);
    r->pos += n;
    return 0;
}

static uint32_t get_u32(struct rbuf *r)
{
    unsigned char b[4];
    take(r, b, 4);
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static uint64_t get_u64(struct rbuf *r)
{
    uint64_t lo = get_u32(r);
    return lo | (uint64_t)get_u32(r) << 32;
}

static int get_i32(struct rbuf *r) { return (int)get_u32(r); }

static double get_f64(struct rbuf *r)
{
    uint64_t u = get_u64(r);
    double d;
    memcpy(&d, &u, 8);
    return d;
}

/* Reads a float array that must hold exactly `expect` values (0 allowed). */
static float *get_floats(struct rbuf *r, size_t expect, const char *name, const char *what, voz_status *s)
{
    uint64_t n = get_u64(r);
    if (r->bad || n != expect) {
        *s = voz_fail(VOZ_ERR_FORMAT, "%s: %s has %llu floats, expected %zu", name, what,
                      (unsigned long long)n, expect);
        return NULL;
    }
    if (expect == 0)
        return NULL;
    if (expect > (r->n - r->pos) / 4) {
        *s = voz_fail(VOZ_ERR_FORMAT, "%s: %s needs %zu bytes, only %zu left in the file", name, what,
                      expect * 4, r->n - r->pos);
        r->bad = 1;
        return NULL;
    }
    float *x = voz_alloc_aligned(expect * sizeof *x);
    if (!x) {
        *s = voz_fail(VOZ_ERR_NOMEM, "%s: out of memory for %s", name, what);
        return NULL;
    }
    for (size_t i = 0; i < expect; i++) {
        uint32_t u = get_u32(r);
        memcpy(&x[i], &u, 4);
    }
    if (!voz_optim_all_finite(x, expect)) {
        voz_free_aligned(x);
        *s = voz_fail(VOZ_ERR_NONFINITE, "%s: %s contains NaN or Inf", name, what);
        return NULL;
    }
    return x;
}

voz_status voz_checkpoint_parse(const void *data, size_t size, const char *name, struct voz_checkpoint *c)
{
    memset(c, 0, sizeof *c);
    const unsigned char *b = data;
    if (size < 20 || memcmp(b, VOZ_CKPT_MAGIC, 8))
        return voz_fail(VOZ_ERR_FORMAT, "%s: not a voz checkpoint, expected magic \"VOZCKPT\"", name);
    uint32_t stored = (uint32_t)b[size - 4] | (uint32_t)b[size - 3] << 8 | (uint32_t)b[size - 2] << 16 |
                      (uint32_t)b[size - 1] << 24;
    uint32_t crc = voz_crc32(0, b, size - 4);
    if (crc != stored)
        return voz_fail(VOZ_ERR_FORMAT, "%s: checksum mismatch, expected %08x, found %08x (file damaged)", name,
                        stored, crc);
    struct rbuf r = { .b = b, .n = size - 4, .pos = 8 };
    uint32_t version = get_u32(&r);
    (void)get_u32(&r);
    if (version != VOZ_CKPT_VERSION)
        return voz_fail(VOZ_ERR_UNSUPPORTED, "%s: checkpoint version %u, expected %d", name, version,
                        VOZ_CKPT_VERSION);
    voz_status s = VOZ_OK;
    uint64_t n = get_u64(&r);
    if (r.bad || n > r.n - r.pos || n > (1u << 20))
        return voz_fail(VOZ_ERR_FORMAT, "%s: options text of %llu bytes does not fit the file", name,
                        (unsigned long long)n);
    c->options = malloc((size_t)n + 1);
    if (!c->options)
        return voz_fail(VOZ_ERR_NOMEM, "%s: out of memory", name);
    take(&r, c->options, (size_t)n);
    c->options[n] = 0;
    c->net.cell = (voz_cell_type)get_i32(&r);
    c->net.input_dim = get_i32(&r);
    c->net.hidden = get_i32(&r);
    c->net.layers = get_i32(&r);
    c->net.bidirectional = get_i32(&r);
    c->net.classes = get_i32(&r);
    if (r.bad || voz_net_config_check(&c->net) != VOZ_OK) {
        s = voz_fail(VOZ_ERR_FORMAT, "%s: invalid network configuration (cell %d, input %d, hidden %d, layers %d, "
                     "classes %d)", name, (int)c->net.cell, c->net.input_dim, c->net.hidden, c->net.layers,
                     c->net.classes);
        goto fail;
    }
    c->n_floats = voz_net_num_floats(&c->net);
    if (!(c->params = get_floats(&r, c->n_floats, name, "weights", &s)))
        goto fail;
    c->optim_kind = get_i32(&r);
    if (c->optim_kind != VOZ_OPTIM_ADAM && c->optim_kind != VOZ_OPTIM_SGD) {
        s = voz_fail(VOZ_ERR_FORMAT, "%s: unknown optimizer %d", name, c->optim_kind);
        goto fail;
    }
    if (!(c->m = get_floats(&r, c->n_floats, name, "first moments", &s)))
        goto fail;
    c->v = get_floats(&r, c->optim_kind == VOZ_OPTIM_ADAM ? c->n_floats : 0, name, "second moments", &s);
    if (s != VOZ_OK)
        goto fail;
    c->optim_t = get_u64(&r);
    c->epoch = get_i32(&r);
    c->batch = get_i32(&r);
    c->step = get_u64(&r);
    c->lr_scale = get_f64(&r);
    c->lr_best = get_f64(&r);
    c->lr_bad_epochs = get_i32(&r);
    c->best_wer = get_f64(&r);
    c->best_epoch = get_i32(&r);
    c->epoch_loss_sum = get_f64(&r);
    c->epoch_utts = get_u64(&r);
    c->epoch_skipped = get_u64(&r);
    c->total_skipped = get_u64(&r);
    c->seconds = get_f64(&r);
    uint64_t nh = get_u64(&r);
    /* Each record is 68 bytes; bound the count by what is left before allocating. */
    if (r.bad || nh > (r.n - r.pos) / 68 || c->epoch < 0 || c->batch < 0 || c->best_epoch < 0 ||
        !isfinite(c->lr_scale) || !(c->lr_scale >= 0)) {
        s = voz_fail(VOZ_ERR_FORMAT, "%s: invalid training state (epoch %d, batch %d, %llu log rows)", name,
                     c->epoch, c->batch, (unsigned long long)nh);
        goto fail;
    }
    c->n_history = (int)nh;
    c->history = calloc(nh ? (size_t)nh : 1, sizeof *c->history);
    if (!c->history) {
        s = voz_fail(VOZ_ERR_NOMEM, "%s: out of memory", name);
        goto fail;
    }
    for (uint64_t i = 0; i < nh; i++) {
        struct voz_epoch_record *h = &c->history[i];
        h->epoch = get_i32(&r);
        h->step = get_u64(&r);
        h->train_loss = get_f64(&r);
        h->dev_loss = get_f64(&r);
        h->dev_cer = get_f64(&r);
        h->dev_wer = get_f64(&r);
        h->lr = get_f64(&r);
        h->skipped = get_u64(&r);
        h->seconds = get_f64(&r);
    }
    if (r.bad || r.pos != r.n) {
        s = voz_fail(VOZ_ERR_FORMAT, "%s: %zu bytes of %zu parsed, expected the whole file", name, r.pos, r.n);
        goto fail;
    }
    return VOZ_OK;
fail:
    voz_checkpoint_release(c);
    return s;
}

voz_status voz_checkpoint_read(const char *path, struct voz_checkpoint *out)
{
    memset(out, 0, sizeof *out);
    /* O_NONBLOCK: a FIFO in its place must not wait for a writer; only a regular file
       is a checkpoint (a directory would otherwise read as "short read"). */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return voz_fail(VOZ_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    memset(&st, 0, sizeof st);
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        int dir = S_ISDIR(st.st_mode);
        close(fd);
        return voz_fail(VOZ_ERR_IO, "%s: %s, not a checkpoint file", path,
                        dir ? "is a directory" : S_ISFIFO(st.st_mode) ? "is a FIFO (named pipe)" : "is not a regular file");
    }
    FILE *fp = fdopen(fd, "rb");
    if (!fp) {
        int e = errno;
        close(fd);
        return voz_fail(VOZ_ERR_IO, "%s: cannot open: %s", path, strerror(e));
    }
    if (st.st_size < 0 || (uint64_t)st.st_size > ((uint64_t)1 << 34)) {
        fclose(fp);
        return voz_fail(VOZ_ERR_FORMAT, "%s: cannot determine a plausible size", path);
    }
    size_t n = (size_t)st.st_size;
    unsigned char *buf = malloc(n ? n : 1);
    if (!buf) {
        fclose(fp);
        return voz_fail(VOZ_ERR_NOMEM, "%s: out of memory for %zu bytes", path, n);
    }
    size_t got = fread(buf, 1, n, fp);
    fclose(fp);
    voz_status s = got == n ? voz_checkpoint_parse(buf, n, path, out)
                            : voz_fail(VOZ_ERR_IO, "%s: short read (%zu of %zu bytes)", path, got, n);
    free(buf);
    return s;
}

void voz_checkpoint_release(struct voz_checkpoint *c)
{
    free(c->options);
    voz_free_aligned(c->params);
    voz_free_aligned(c->m);
    voz_free_aligned(c->v);
    free(c->history);
    memset(c, 0, sizeof *c);
}
