/* acoustic/model_file.c — reading, validating and writing voz model files
   (models/FORMAT.md). The parser works on a complete file image, checks every count,
   length and offset against the bounds of its section before use, and copies what it
   keeps, so the image may be freed afterwards. */
#include "acoustic/model_file.h"
#include "common/util.h"
#include "frontend/mfcc.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#define HEADER_V1 24u
#define FEAT_BYTES 92u
#define NET_BYTES 28u
#define MAX_FILE_BYTES ((uint64_t)256 << 20)
#define MAX_NAME 47u /* tensor names fit voz_tensor_info.name */

/* ---- little-endian primitives --------------------------------------------------- */

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get_u64(const unsigned char *p) { return get_u32(p) | (uint64_t)get_u32(p + 4) << 32; }
static float get_f32(const unsigned char *p)
{
    uint32_t u = get_u32(p);
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}
static void put_u64(unsigned char *p, uint64_t v)
{
    put_u32(p, (uint32_t)v);
    put_u32(p + 4, (uint32_t)(v >> 32));
}
static void put_f32(unsigned char *p, float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    put_u32(p, u);
}

/* ---- a bounded cursor over one section's payload --------------------------------- */

struct cur {
    const unsigned char *base; /* the file image */
    uint64_t pos, end;         /* absolute offsets, pos <= end */
    const char *name;          /* file name for messages */
    const char *what;          /* section tag for messages */
};

static voz_status need(struct cur *c, uint64_t n, const char *field)
{
    if (n > c->end - c->pos)
        return voz_fail(VOZ_ERR_FORMAT, "%s: section %s ends inside %s (needs %" PRIu64
                        " more bytes, has %" PRIu64 ")", c->name, c->what, field, n, c->end - c->pos);
    return VOZ_OK;
}

static voz_status rd_u32(struct cur *c, const char *field, uint32_t *v)
{
    voz_status s = need(c, 4, field);
    if (s)
        return s;
    *v = get_u32(c->base + c->pos);
    c->pos += 4;
    return VOZ_OK;
}

static voz_status rd_u64(struct cur *c, const char *field, uint64_t *v)
{
    voz_status s = need(c, 8, field);
    if (s)
        return s;
    *v = get_u64(c->base + c->pos);
    c->pos += 8;
    return VOZ_OK;
}

/* The length of the well-formed UTF-8 sequence at s[0..n) (no NUL, overlong form or
   surrogate), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char b = s[0];
    size_t len;
    uint32_t cp;
    if (b == 0)
        return 0;
    if (b < 0x80)
        return 1;
    if ((b & 0xE0) == 0xC0)
        len = 2, cp = b & 0x1F;
    else if ((b & 0xF0) == 0xE0)
        len = 3, cp = b & 0x0F;
    else if ((b & 0xF8) == 0xF0)
        len = 4, cp = b & 0x07;
    else
        return 0;
    if (n < len)
        return 0;
    for (size_t k = 1; k < len; k++) {
        if ((s[k] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (s[k] & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

static int utf8_valid(const unsigned char *s, size_t n)
{
    for (size_t i = 0, k; i < n; i += k)
        if (!(k = utf8_seq(s + i, n - i)))
            return 0;
    return 1;
}

/* A length-prefixed string, copied out NUL-terminated. `field` names it ("class 3"). */
static voz_status rd_str(struct cur *c, const char *field, char **out)
{
    uint32_t len;
    voz_status s = rd_u32(c, field, &len);
    if (s)
        return s;
    if ((s = need(c, len, field)))
        return s;
    const unsigned char *p = c->base + c->pos;
    if (!utf8_valid(p, len))
        return voz_fail(VOZ_ERR_FORMAT, "%s: %s %s is not valid UTF-8 text", c->name, c->what, field);
    char *str = malloc((size_t)len + 1);
    if (!str)
        return voz_fail(VOZ_ERR_NOMEM, "%s: out of memory reading %s", c->name, field);
    memcpy(str, p, len);
    str[len] = 0;
    c->pos += len;
    *out = str;
    return VOZ_OK;
}

/* A u32 count of entries that each take at least `min_bytes`: checked against what is
   left of the section before anything is allocated from it. */
static voz_status rd_count(struct cur *c, const char *field, uint32_t min_bytes, uint32_t *n)
{
    voz_status s = rd_u32(c, field, n);
    if (s)
        return s;
    if ((uint64_t)*n * min_bytes > c->end - c->pos)
        return voz_fail(VOZ_ERR_FORMAT, "%s: section %s says %" PRIu32 " %s, but only %" PRIu64
                        " bytes follow", c->name, c->what, *n, field, c->end - c->pos);
    return VOZ_OK;
}

static void free_strings(char **v, int n)
{
    if (!v)
        return;
    for (int i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* `n` strings into a calloc'ed array; on failure everything read so far is freed. */
static voz_status rd_strings(struct cur *c, const char *what, uint32_t n, char ***out)
{
    char **v = calloc(n ? n : 1, sizeof *v);
    if (!v)
        return voz_fail(VOZ_ERR_NOMEM, "%s: out of memory", c->name);
    for (uint32_t i = 0; i < n; i++) {
        char field[64];
        snprintf(field, sizeof field, "%s %" PRIu32, what, i);
        voz_status s = rd_str(c, field, &v[i]);
        if (s) {
            free_strings(v, (int)i);
            return s;
        }
    }
    *out = v;
    return VOZ_OK;
}

/* ---- sections -------------------------------------------------------------------- */

enum { S_FEAT, S_NET, S_ALPH, S_WORD, S_META, S_TENS, S_DATA, S_COUNT };
static const char *const tags[S_COUNT] = { "FEAT", "NET ", "ALPH", "WORD", "META", "TENS", "DATA" };
static const int required[S_COUNT] = { 1, 1, 1, 0, 0, 1, 1 };

struct section { int present; uint64_t start, size; };

static voz_status parse_feat(struct cur *c, struct voz_model_data *m)
{
    if (c->end - c->pos != FEAT_BYTES)
        return voz_fail(VOZ_ERR_FORMAT, "%s: section FEAT has %" PRIu64 " bytes, expected %u",
                        c->name, c->end - c->pos, FEAT_BYTES);
    const unsigned char *p = c->base + c->pos;
    voz_feature_params *f = &m->feat;
    /* The VTLN warp belongs to a speaker, not to the model: never stored. */
    f->vtln_warp = 1.0f;
    f->vtln_low = 100.0f;
    f->vtln_high = -500.0f;
    uint32_t rate = get_u32(p);
    /* i32 fields are read through int32_t so negative values stay negative. */
#define I32(off) ((int)(int32_t)get_u32(p + (off)))
    f->sample_rate = get_f32(p + 4);
    f->frame_length_ms = get_f32(p + 8);
    f->frame_shift_ms = get_f32(p + 12);
    f->preemph = get_f32(p + 16);
    f->remove_dc = I32(20);
    f->window = (voz_window)I32(24);
    f->round_pow2 = I32(28);
    f->snip_edges = I32(32);
    f->dither = get_f32(p + 36);
    f->num_mel_bins = I32(40);
    f->low_freq = get_f32(p + 44);
    f->high_freq = get_f32(p + 48);
    f->num_ceps = I32(52);
    f->cepstral_lifter = get_f32(p + 56);
    f->use_energy = I32(60);
    f->raw_energy = I32(64);
    f->energy_floor = get_f32(p + 68);
    f->htk_compat = I32(72);
    f->delta_order = I32(76);
    f->delta_window = I32(80);
    f->cmvn = (voz_cmvn)I32(84);
    f->cmvn_var = I32(88);
#undef I32
    if (rate < 1000 || rate > 384000) /* what the endpointer and the trainer accept */
        return voz_fail(VOZ_ERR_FORMAT, "%s: sample rate %" PRIu32 " Hz is out of range, expected 1000..384000",
                        c->name, rate);
    m->sample_rate = (int)rate;
    if (!(f->sample_rate == (float)rate))
        return voz_fail(VOZ_ERR_FORMAT, "%s: feature sample rate %g differs from the model's %" PRIu32 " Hz",
                        c->name, f->sample_rate, rate);
    const struct { const char *name; int v, lo, hi; } ints[] = {
        { "remove_dc", f->remove_dc, 0, 1 },      { "window", (int)f->window, 0, VOZ_WINDOW_BLACKMAN },
        { "round_pow2", f->round_pow2, 0, 1 },    { "snip_edges", f->snip_edges, 0, 1 },
        { "use_energy", f->use_energy, 0, 1 },    { "raw_energy", f->raw_energy, 0, 1 },
        { "htk_compat", f->htk_compat, 0, 1 },    { "delta_order", f->delta_order, 0, 2 },
        { "cmvn", (int)f->cmvn, 0, VOZ_CMVN_RUNNING }, { "cmvn_var", f->cmvn_var, 0, 1 },
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        if (ints[i].v < ints[i].lo || ints[i].v > ints[i].hi)
            return voz_fail(VOZ_ERR_FORMAT, "%s: feature option %s is %d, expected %d..%d",
                            c->name, ints[i].name, ints[i].v, ints[i].lo, ints[i].hi);
    const float floats[] = { f->frame_length_ms, f->frame_shift_ms, f->preemph, f->dither, f->low_freq,
                             f->high_freq, f->cepstral_lifter, f->energy_floor };
    for (size_t i = 0; i < sizeof floats / sizeof floats[0]; i++)
        if (!isfinite(floats[i]))
            return voz_fail(VOZ_ERR_FORMAT, "%s: a feature option is not a finite number", c->name);
    voz_status s = voz_feature_params_check(f);
    if (s)
        return voz_fail(s == VOZ_ERR_NOMEM ? s : VOZ_ERR_FORMAT, "%s: bad feature options: %s", c->name,
                        voz_last_error());
    return VOZ_OK;
}

static voz_status parse_net(struct cur *c, struct voz_model_data *m)
{
    if (c->end - c->pos != NET_BYTES)
        return voz_fail(VOZ_ERR_FORMAT, "%s: section NET has %" PRIu64 " bytes, expected %u",
                        c->name, c->end - c->pos, NET_BYTES);
    const unsigned char *p = c->base + c->pos;
    uint32_t cell = get_u32(p);
    if (cell > VOZ_CELL_RNN_RELU)
        return voz_fail(VOZ_ERR_FORMAT, "%s: cell type %" PRIu32 " is unknown, expected 0..3", c->name, cell);
    m->net.cell = (voz_cell_type)cell;
    m->net.input_dim = (int)(int32_t)get_u32(p + 4);
    m->net.hidden = (int)(int32_t)get_u32(p + 8);
    m->net.layers = (int)(int32_t)get_u32(p + 12);
    m->net.bidirectional = (int)(int32_t)get_u32(p + 16);
    m->net.classes = (int)(int32_t)get_u32(p + 20);
    m->blank = (int)(int32_t)get_u32(p + 24);
    voz_status s = voz_net_config_check(&m->net);
    if (s)
        return voz_fail(VOZ_ERR_FORMAT, "%s: bad network configuration: %s", c->name, voz_last_error());
    int dim = voz_feature_dim(&m->feat);
    if (m->net.input_dim != dim)
        return voz_fail(VOZ_ERR_FORMAT, "%s: network input dimension is %d, expected %d (the feature dimension)",
                        c->name, m->net.input_dim, dim);
    if (m->blank < 0 || m->blank >= m->net.classes)
        return voz_fail(VOZ_ERR_FORMAT, "%s: blank index %d is out of range, expected 0..%d", c->name, m->blank,
                        m->net.classes - 1);
    return VOZ_OK;
}

static voz_status parse_alph(struct cur *c, struct voz_model_data *m)
{
    uint32_t n;
    voz_status s = rd_count(c, "classes", 4, &n);
    if (s)
        return s;
    if (n != (uint32_t)m->net.classes)
        return voz_fail(VOZ_ERR_FORMAT, "%s: alphabet has %" PRIu32 " classes, expected %d (the network's)",
                        c->name, n, m->net.classes);
    if ((s = rd_strings(c, "class", n, &m->classes)))
        return s;
    if (m->classes[m->blank][0])
        return voz_fail(VOZ_ERR_FORMAT, "%s: the blank class %d is \"%s\", expected \"\"", c->name, m->blank,
                        m->classes[m->blank]);
    for (int k = 0; k < m->net.classes; k++)
        if (k != m->blank && !m->classes[k][0])
            return voz_fail(VOZ_ERR_FORMAT, "%s: class %d is empty, but only the blank (%d) may be", c->name, k,
                            m->blank);
    if (c->pos != c->end)
        return voz_fail(VOZ_ERR_FORMAT, "%s: section ALPH has %" PRIu64 " stray bytes after the classes",
                        c->name, c->end - c->pos);
    return VOZ_OK;
}

static voz_status parse_words(struct cur *c, struct voz_model_data *m)
{
    uint32_t n;
    voz_status s = rd_count(c, "words", 4, &n);
    if (s)
        return s;
    if (n > INT32_MAX)
        return voz_fail(VOZ_ERR_FORMAT, "%s: word list of %" PRIu32 " words is too long", c->name, n);
    if ((s = rd_strings(c, "word", n, &m->words)))
        return s;
    m->n_words = (int)n;
    for (int i = 0; i < m->n_words; i++) {
        const unsigned char *w = (const unsigned char *)m->words[i];
        if (!*w)
            return voz_fail(VOZ_ERR_FORMAT, "%s: word %d is empty", c->name, i);
        for (; *w; w++)
            if (*w <= ' ' || *w == 0x7f)
                return voz_fail(VOZ_ERR_FORMAT, "%s: word %d ('%s') contains a space or control character",
                                c->name, i, m->words[i]);
    }
    if (c->pos != c->end)
        return voz_fail(VOZ_ERR_FORMAT, "%s: section WORD has %" PRIu64 " stray bytes after the words",
                        c->name, c->end - c->pos);
    return VOZ_OK;
}

static voz_status parse_meta(struct cur *c, struct voz_model_data *m)
{
    uint32_t n;
    voz_status s = rd_count(c, "entries", 8, &n);
    if (s)
        return s;
    m->meta_keys = calloc(n ? n : 1, sizeof *m->meta_keys);
    m->meta_values = calloc(n ? n : 1, sizeof *m->meta_values);
    if (!m->meta_keys || !m->meta_values)
        return voz_fail(VOZ_ERR_NOMEM, "%s: out of memory", c->name);
    for (uint32_t i = 0; i < n; i++) {
        char field[64];
        snprintf(field, sizeof field, "key %" PRIu32, i);
        if ((s = rd_str(c, field, &m->meta_keys[i])))
            return s;
        m->n_meta = (int)i + 1; /* so release frees the key even if the value fails */
        snprintf(field, sizeof field, "value %" PRIu32, i);
        if ((s = rd_str(c, field, &m->meta_values[i])))
            return s;
        if (!m->meta_keys[i][0])
            return voz_fail(VOZ_ERR_FORMAT, "%s: metadata key %" PRIu32 " is empty", c->name, i);
        for (uint32_t j = 0; j < i; j++)
            if (!strcmp(m->meta_keys[i], m->meta_keys[j]))
                return voz_fail(VOZ_ERR_FORMAT, "%s: metadata key '%s' appears twice", c->name, m->meta_keys[i]);
    }
    if (c->pos != c->end)
        return voz_fail(VOZ_ERR_FORMAT, "%s: section META has %" PRIu64 " stray bytes after the entries",
                        c->name, c->end - c->pos);
    return VOZ_OK;
}

static void fmt_shape(char *buf, size_t cap, int ndim, const uint64_t *shape)
{
    size_t k = 0;
    k += (size_t)snprintf(buf + k, cap - k, "[");
    for (int d = 0; d < ndim && k < cap; d++)
        k += (size_t)snprintf(buf + k, cap - k, "%s%" PRIu64, d ? "," : "", shape[d]);
    if (k < cap)
        snprintf(buf + k, cap - k, "]");
}

/* Member j's tensor names: member 0 uses the plain names, member j >= 1 the same names
   behind "member<j>." (format version 2). */
_Static_assert(VOZ_MODEL_MAX_MEMBERS <= 9, "member names carry one digit");
static void member_tensor(const voz_net_config *cfg, int per, int idx, voz_tensor_info *info)
{
    voz_net_tensor(cfg, idx % per, info);
    int j = idx / per;
    if (j > 0) { /* j < VOZ_MODEL_MAX_MEMBERS <= 9: one digit; base names are short */
        char base[sizeof info->name];
        memcpy(base, info->name, sizeof base);
        size_t len = strnlen(base, sizeof info->name - 9);
        memcpy(info->name, "member0.", 8);
        info->name[6] = (char)('0' + j);
        memcpy(info->name + 8, base, len);
        info->name[8 + len] = 0;
        info->offset += (size_t)j * voz_net_num_floats(cfg);
    }
}

/* The tensor table, checked against the layout the configuration implies (once per
   member network), then the data copied into a fresh parameter block and checked for
   finiteness. */
static voz_status parse_tensors(struct cur *c, const struct section *data, uint32_t version,
                                struct voz_model_data *m)
{
    const voz_net_config *cfg = &m->net;
    const int per = voz_net_num_tensors(cfg);
    const uint32_t max_members = version >= 2 ? VOZ_MODEL_MAX_MEMBERS : 1;
    uint32_t n;
    voz_status s = rd_count(c, "tensors", 4 + 1 + 4 + 4 + 8 + 8 + 8, &n);
    if (s)
        return s;
    if (per <= 0 || n == 0 || n % (uint32_t)per || n / (uint32_t)per > max_members) {
        if (max_members == 1)
            return voz_fail(VOZ_ERR_FORMAT, "%s: tensor table has %" PRIu32 " tensors, expected %d for this network%s",
                            c->name, n, per, per > 0 && n % (uint32_t)per == 0 && n / (uint32_t)per <= VOZ_MODEL_MAX_MEMBERS
                            ? " (several networks need format version 2)" : "");
        return voz_fail(VOZ_ERR_FORMAT, "%s: tensor table has %" PRIu32 " tensors, expected %d per network for "
                        "1 to %u networks", c->name, n, per, VOZ_MODEL_MAX_MEMBERS);
    }
    const int members = (int)(n / (uint32_t)per), n_expected = (int)n;
    /* The parameter block is allocated from the configuration: only once the data
       section is known to hold that many bytes. */
    uint64_t nweights = (uint64_t)voz_net_num_weights(cfg) * (uint64_t)members;
    if (nweights > data->size / 4)
        return voz_fail(VOZ_ERR_FORMAT, "%s: truncated: the network%s need%s %" PRIu64
                        " bytes of tensors, the data section has %" PRIu64, c->name, members > 1 ? "s" : "",
                        members > 1 ? "" : "s", nweights * 4, data->size);
    /* ext[2i], ext[2i+1]: file extent of expected tensor i, 0 = not seen yet */
    uint64_t *ext = calloc((size_t)n_expected * 2, sizeof *ext);
    int *seen = calloc((size_t)n_expected, sizeof *seen);
    size_t nfloats = voz_net_num_floats(cfg) * (size_t)members;
    m->params = voz_alloc_aligned(nfloats * sizeof(float));
    if (!ext || !seen || !m->params) {
        free(ext);
        free(seen);
        return voz_fail(VOZ_ERR_NOMEM, "%s: out of memory for %zu parameters", c->name, nfloats);
    }
    m->members = members;
    const uint64_t data_lo = data->start, data_hi = data->start + data->size;
    for (uint32_t t = 0; t < n && s == VOZ_OK; t++) {
        char field[48], name[MAX_NAME + 1];
        uint32_t len, dtype, ndim;
        uint64_t shape[2] = { 0, 0 }, off, bytes;
        snprintf(field, sizeof field, "tensor entry %" PRIu32, t);
        if ((s = rd_u32(c, field, &len)))
            break;
        if (len < 1 || len > MAX_NAME) {
            s = voz_fail(VOZ_ERR_FORMAT, "%s: tensor entry %" PRIu32 " has a name of %" PRIu32
                         " bytes, expected 1..%u", c->name, t, len, MAX_NAME);
            break;
        }
        if ((s = need(c, len, field)))
            break;
        memcpy(name, c->base + c->pos, len);
        name[len] = 0;
        c->pos += len;
        if (strlen(name) != len || !utf8_valid((const unsigned char *)name, len)) {
            s = voz_fail(VOZ_ERR_FORMAT, "%s: tensor entry %" PRIu32 " has a malformed name", c->name, t);
            break;
        }
        int idx = -1;
        voz_tensor_info info;
        for (int i = 0; i < n_expected; i++) {
            member_tensor(cfg, per, i, &info);
            if (!strcmp(info.name, name)) {
                idx = i;
                break;
            }
        }
        if (idx < 0) {
            char held[48] = ""; /* "member5." in a file of two is the likely slip: say how many */
            if (members > 1)
                snprintf(held, sizeof held, " (the table holds %d)", members);
            s = voz_fail(VOZ_ERR_FORMAT, "%s: unexpected tensor '%s' for %s%d-layer %s%s network%s%s", c->name, name,
                         members > 1 ? "" : "a ", cfg->layers, cfg->bidirectional ? "bidirectional " : "",
                         voz_cell_name(cfg->cell), members > 1 ? "s" : "", held);
            break;
        }
        if (seen[idx]) {
            s = voz_fail(VOZ_ERR_FORMAT, "%s: tensor '%s' appears twice", c->name, name);
            break;
        }
        seen[idx] = 1;
        if ((s = rd_u32(c, field, &dtype)) || (s = rd_u32(c, field, &ndim)))
            break;
        if (dtype != 0) {
            s = voz_fail(VOZ_ERR_FORMAT, "%s: tensor '%s' has dtype %" PRIu32 ", expected 0 (f32)", c->name,
                         name, dtype);
            break;
        }
        if (ndim < 1 || ndim > 2) {
            s = voz_fail(VOZ_ERR_FORMAT, "%s: tensor '%s' has %" PRIu32 " dimensions, expected %d", c->name,
                         name, ndim, info.ndim);
            break;
        }
        for (uint32_t d = 0; d < ndim && s == VOZ_OK; d++)
            s = rd_u64(c, field, &shape[d]);
        if (s || (s = rd_u64(c, field, &off)) || (s = rd_u64(c, field, &bytes)))
            break;
        uint64_t want[2] = { info.shape[0], info.ndim > 1 ? info.shape[1] : 0 };
        if ((int)ndim != info.ndim || shape[0] != want[0] || (ndim > 1 && shape[1] != want[1])) {
            char got_s[64], want_s[64];
            fmt_shape(got_s, sizeof got_s, (int)ndim, shape);
            fmt_shape(want_s, sizeof want_s, info.ndim, want);
            s = voz_fail(VOZ_ERR_FORMAT, "%s: tensor '%s' has shape %s, expected %s", c->name, name, got_s,
                         want_s);
            break;
        }
        if (bytes != (uint64_t)info.numel * 4) {
            s = voz_fail(VOZ_ERR_FORMAT, "%s: tensor '%s' says %" PRIu64 " bytes, expected %" PRIu64
                         " (%zu floats)", c->name, name, bytes, (uint64_t)info.numel * 4, info.numel);
            break;
        }
        if (off % 64 || off < data_lo || off > data_hi || bytes > data_hi - off) {
            s = voz_fail(VOZ_ERR_FORMAT, "%s: tensor '%s' at offset %" PRIu64 " (+%" PRIu64 " bytes) is %s"
                         " (data section: %" PRIu64 "..%" PRIu64 ")", c->name, name, off, bytes,
                         off % 64 ? "not 64-byte aligned" : "outside the data section", data_lo, data_hi);
            break;
        }
        for (int i = 0; i < n_expected; i++)
            if (i != idx && ext[2 * i + 1] && off < ext[2 * i + 1] && ext[2 * i] < off + bytes) {
                voz_tensor_info other;
                member_tensor(cfg, per, i, &other);
                s = voz_fail(VOZ_ERR_FORMAT, "%s: tensors '%s' and '%s' overlap in the file", c->name, name,
                             other.name);
                break;
            }
        if (s)
            break;
        ext[2 * idx] = off;
        ext[2 * idx + 1] = off + bytes;
        float *dst = m->params + info.offset;
        const unsigned char *src = c->base + off;
        for (size_t k = 0; k < info.numel; k++) {
            dst[k] = get_f32(src + 4 * k);
            if (!isfinite(dst[k])) {
                s = voz_fail(VOZ_ERR_NONFINITE, "%s: tensor '%s' element %zu is %g, expected a finite number",
                             c->name, name, k, dst[k]);
                break;
            }
        }
    }
    if (s == VOZ_OK && c->pos != c->end)
        s = voz_fail(VOZ_ERR_FORMAT, "%s: section TENS has %" PRIu64 " stray bytes after the table", c->name,
                     c->end - c->pos);
    free(ext);
    free(seen);
    return s;
}

voz_status voz_model_data_parse(const void *data, size_t size, const char *name, struct voz_model_data *out)
{
    const unsigned char *p = data;
    memset(out, 0, sizeof *out);
    if (!name)
        name = "model";
    if (!p && size)
        return voz_fail(VOZ_ERR_INVALID, "%s: no data", name);
    if (size == 0)
        return voz_fail(VOZ_ERR_FORMAT, "%s: empty file, not a voz model", name);
    if (memcmp(p, VOZ_MODEL_MAGIC, size < 8 ? size : 8))
        return voz_fail(VOZ_ERR_FORMAT, "%s: not a voz model (bad magic)", name);
    if (size < HEADER_V1 + 4)
        return voz_fail(VOZ_ERR_FORMAT, "%s: truncated: %zu bytes, shorter than a voz model header", name, size);
    uint32_t version = get_u32(p + 8), hsize = get_u32(p + 12);
    uint64_t fsize = get_u64(p + 16);
    if (version > VOZ_MODEL_VERSION)
        return voz_fail(VOZ_ERR_UNSUPPORTED, "%s: format version %" PRIu32 " is newer than this voz supports (%d)",
                        name, version, VOZ_MODEL_VERSION);
    if (version < 1)
        return voz_fail(VOZ_ERR_FORMAT, "%s: format version %" PRIu32 " is invalid, expected 1..%d", name,
                        version, VOZ_MODEL_VERSION);
    if (fsize > size)
        return voz_fail(VOZ_ERR_FORMAT, "%s: truncated: header says %" PRIu64 " bytes, file has %zu", name, fsize,
                        size);
    if (fsize < size)
        return voz_fail(VOZ_ERR_FORMAT, "%s: %zu bytes, but the header says %" PRIu64
                        " (trailing data or a corrupt header)", name, size, fsize);
    if (hsize < HEADER_V1 || hsize % 8 || hsize > size - 4)
        return voz_fail(VOZ_ERR_FORMAT, "%s: header size %" PRIu32 " is invalid, expected %u", name, hsize,
                        HEADER_V1);
    uint32_t stored = get_u32(p + size - 4), computed = voz_crc32(0, p, size - 4);
    if (stored != computed)
        return voz_fail(VOZ_ERR_FORMAT, "%s: checksum mismatch (file says 0x%08" PRIx32 ", computed 0x%08" PRIx32
                        ")", name, stored, computed);

    /* Section directory: each header and payload must fit before the checksum. */
    struct section sec[S_COUNT];
    memset(sec, 0, sizeof sec);
    const uint64_t body_end = size - 4;
    uint64_t pos = hsize;
    while (pos < body_end) {
        if (body_end - pos < 16)
            return voz_fail(VOZ_ERR_FORMAT, "%s: section header at offset %" PRIu64 " is cut off", name, pos);
        const unsigned char *h = p + pos;
        uint32_t flags = get_u32(h + 4);
        uint64_t psize = get_u64(h + 8), start = pos + 16;
        char tag[5];
        memcpy(tag, h, 4);
        tag[4] = 0;
        for (int k = 0; k < 4; k++)
            if (h[k] < 0x20 || h[k] > 0x7e)
                return voz_fail(VOZ_ERR_FORMAT, "%s: section at offset %" PRIu64 " has a malformed tag", name, pos);
        if (flags != 0)
            return voz_fail(VOZ_ERR_FORMAT, "%s: section %s has flags 0x%" PRIx32 ", expected 0", name, tag, flags);
        if (psize > body_end - start)
            return voz_fail(VOZ_ERR_FORMAT, "%s: truncated: section %s says %" PRIu64 " bytes, %" PRIu64
                            " are left in the file", name, tag, psize, body_end - start);
        uint64_t next = start + ((psize + 7) & ~(uint64_t)7);
        if (next > body_end)
            return voz_fail(VOZ_ERR_FORMAT, "%s: section %s's padding runs past the checksum", name, tag);
        for (int k = 0; k < S_COUNT; k++)
            if (!memcmp(tag, tags[k], 4)) {
                if (sec[k].present)
                    return voz_fail(VOZ_ERR_FORMAT, "%s: section %s appears twice", name, tag);
                sec[k].present = 1;
                sec[k].start = start;
                sec[k].size = psize;
            }
        pos = next;
    }
    for (int k = 0; k < S_COUNT; k++)
        if (required[k] && !sec[k].present)
            return voz_fail(VOZ_ERR_FORMAT, "%s: section %s is missing", name, tags[k]);

    voz_status s = VOZ_OK;
    for (int k = 0; k < S_COUNT && s == VOZ_OK; k++) {
        if (!sec[k].present || k == S_DATA)
            continue;
        struct cur c = { p, sec[k].start, sec[k].start + sec[k].size, name, tags[k] };
        switch (k) {
        case S_FEAT: s = parse_feat(&c, out); break;
        case S_NET: s = parse_net(&c, out); break;
        case S_ALPH: s = parse_alph(&c, out); break;
        case S_WORD: s = parse_words(&c, out); break;
        case S_META: s = parse_meta(&c, out); break;
        case S_TENS: s = parse_tensors(&c, &sec[S_DATA], version, out); break;
        }
    }
    if (s) {
        voz_model_data_release(out);
        return s;
    }
    out->checksum = stored;
    out->file_size = size;
    return VOZ_OK;
}

voz_status voz_model_data_read(const char *path, struct voz_model_data *out)
{
    memset(out, 0, sizeof *out);
    /* O_NONBLOCK: opening a FIFO without a writer would wait for one forever. The type
       is checked on the open descriptor (no window between a stat and the open), then
       reads block as usual. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return voz_fail(VOZ_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return voz_fail(VOZ_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return voz_fail(VOZ_ERR_IO, "%s: is a directory, not a model file", path);
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return voz_fail(VOZ_ERR_IO, "%s: is a %s, not a regular file; a model must be a file (its size is checked "
                        "before reading)", path, S_ISFIFO(st.st_mode) ? "FIFO (named pipe)" :
                        S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "device" : S_ISSOCK(st.st_mode) ? "socket" :
                        "special file");
    }
    int fl = fcntl(fd, F_GETFL);
    FILE *fp = fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0 ? NULL : fdopen(fd, "rb");
    if (!fp) {
        int e = errno;
        close(fd);
        return voz_fail(VOZ_ERR_IO, "%s: cannot open: %s", path, strerror(e));
    }
    if ((uint64_t)st.st_size > MAX_FILE_BYTES) {
        fclose(fp);
        return voz_fail(VOZ_ERR_FORMAT, "%s: %lld bytes, larger than the %" PRIu64 " a voz model may have", path,
                        (long long)st.st_size, MAX_FILE_BYTES);
    }
    size_t size = (size_t)st.st_size;
    unsigned char *buf = malloc(size ? size : 1);
    if (!buf) {
        fclose(fp);
        return voz_fail(VOZ_ERR_NOMEM, "%s: out of memory for %zu bytes", path, size);
    }
    /* The magic first: a large file of another kind (a WAV given as -m) is refused
       without reading all of it. */
    size_t got = fread(buf, 1, size < 8 ? size : 8, fp);
    if (got == (size < 8 ? size : 8) && (got < 8 || memcmp(buf, VOZ_MODEL_MAGIC, 8) == 0))
        got += fread(buf + got, 1, size - got, fp);
    int err = ferror(fp) ? errno : 0;
    fclose(fp);
    if (err) {
        free(buf);
        return voz_fail(VOZ_ERR_IO, "%s: read failed: %s", path, strerror(err));
    }
    /* A file that shrank while being read is simply parsed at its new length. */
    voz_status s = voz_model_data_parse(buf, got, path, out);
    free(buf);
    return s;
}

/* ---- writing --------------------------------------------------------------------- */

struct wbuf { unsigned char *p; size_t n, cap; int oom; };

static unsigned char *wb_grow(struct wbuf *b, size_t n)
{
    if (b->oom)
        return NULL;
    if (n > SIZE_MAX - b->n) {
        b->oom = 1;
        return NULL;
    }
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n)
            cap = cap > SIZE_MAX / 2 ? b->n + n : cap * 2;
        unsigned char *q = realloc(b->p, cap);
        if (!q) {
            b->oom = 1;
            return NULL;
        }
        b->p = q;
        b->cap = cap;
    }
    unsigned char *at = b->p + b->n;
    memset(at, 0, n);
    b->n += n;
    return at;
}
static void wb_u32(struct wbuf *b, uint32_t v)
{
    unsigned char *q = wb_grow(b, 4);
    if (q)
        put_u32(q, v);
}
static void wb_u64(struct wbuf *b, uint64_t v)
{
    unsigned char *q = wb_grow(b, 8);
    if (q)
        put_u64(q, v);
}
static void wb_f32(struct wbuf *b, float v)
{
    unsigned char *q = wb_grow(b, 4);
    if (q)
        put_f32(q, v);
}
static void wb_str(struct wbuf *b, const char *s)
{
    size_t len = strlen(s);
    wb_u32(b, (uint32_t)len);
    unsigned char *q = wb_grow(b, len);
    if (q)
        memcpy(q, s, len);
}
static void wb_align(struct wbuf *b, size_t a)
{
    if (b->n % a)
        wb_grow(b, a - b->n % a);
}
/* Opens a section; returns the offset of its size field, patched by sec_end. */
static size_t sec_begin(struct wbuf *b, const char *tag)
{
    unsigned char *q = wb_grow(b, 16);
    if (q)
        memcpy(q, tag, 4);
    return b->n - 8;
}
static void sec_end(struct wbuf *b, size_t size_at)
{
    if (b->oom)
        return;
    put_u64(b->p + size_at, (uint64_t)(b->n - (size_at + 8)));
    wb_align(b, 8);
}

/* What the writer refuses to produce: anything the reader would reject. */
static voz_status check_for_write(const struct voz_model_data *m)
{
    if (voz_net_config_check(&m->net))
        return voz_fail(VOZ_ERR_INVALID, "model: bad network configuration: %s", voz_last_error());
    if (m->feat.sample_rate != (float)m->sample_rate || m->sample_rate < 1000 || m->sample_rate > 384000)
        return voz_fail(VOZ_ERR_INVALID, "model: sample rate %d and feature sample rate %g disagree",
                        m->sample_rate, m->feat.sample_rate);
    if (voz_feature_params_check(&m->feat))
        return voz_fail(VOZ_ERR_INVALID, "model: bad feature options: %s", voz_last_error());
    if (m->net.input_dim != voz_feature_dim(&m->feat))
        return voz_fail(VOZ_ERR_INVALID, "model: input dimension %d, expected %d", m->net.input_dim,
                        voz_feature_dim(&m->feat));
    if (m->blank < 0 || m->blank >= m->net.classes || !m->classes)
        return voz_fail(VOZ_ERR_INVALID, "model: blank %d out of range or no alphabet", m->blank);
    for (int k = 0; k < m->net.classes; k++)
        if (!m->classes[k] || (k == m->blank) != (m->classes[k][0] == 0) || strlen(m->classes[k]) > UINT32_MAX)
            return voz_fail(VOZ_ERR_INVALID, "model: class %d must be %s", k,
                            k == m->blank ? "empty (the blank)" : "a non-empty string");
    if (m->n_words < 0 || (m->n_words && !m->words) || m->n_meta < 0)
        return voz_fail(VOZ_ERR_INVALID, "model: bad word list or metadata count");
    /* Every string is UTF-8 text (FORMAT.md): the reader refuses the file otherwise. */
    for (int k = 0; k < m->net.classes; k++)
        if (!utf8_valid((const unsigned char *)m->classes[k], strlen(m->classes[k])))
            return voz_fail(VOZ_ERR_INVALID, "model: class %d is not valid UTF-8 text", k);
    for (int i = 0; i < m->n_words; i++)
        if (!m->words[i] || !utf8_valid((const unsigned char *)m->words[i], strlen(m->words[i])))
            return voz_fail(VOZ_ERR_INVALID, "model: word %d is not valid UTF-8 text", i + 1);
    for (int i = 0; i < m->n_meta; i++)
        if (!m->meta_keys[i] || !m->meta_values[i] ||
            !utf8_valid((const unsigned char *)m->meta_keys[i], strlen(m->meta_keys[i])) ||
            !utf8_valid((const unsigned char *)m->meta_values[i], strlen(m->meta_values[i])))
            return voz_fail(VOZ_ERR_INVALID, "model: metadata entry %d is not valid UTF-8 text", i + 1);
    if (!m->params)
        return voz_fail(VOZ_ERR_INVALID, "model: no parameters");
    if (m->members < 0 || m->members > VOZ_MODEL_MAX_MEMBERS)
        return voz_fail(VOZ_ERR_INVALID, "model: %d member networks, expected 1..%d", m->members,
                        VOZ_MODEL_MAX_MEMBERS);
    /* What no reader would load is not written (the rest of the file is small). */
    uint64_t bytes = (uint64_t)voz_net_num_weights(&m->net) * 4 * (uint64_t)(m->members > 1 ? m->members : 1);
    if (bytes > MAX_FILE_BYTES - ((uint64_t)1 << 20))
        return voz_fail(VOZ_ERR_INVALID, "model: %" PRIu64 " MiB of weights, more than a model file may hold "
                        "(%" PRIu64 " MiB)", bytes >> 20, MAX_FILE_BYTES >> 20);
    return VOZ_OK;
}

voz_status voz_model_data_serialize(const struct voz_model_data *m, void **out, size_t *out_size)
{
    *out = NULL;
    *out_size = 0;
    voz_status s = check_for_write(m);
    if (s)
        return s;
    /* One network is written as version 1, so such files stay readable by every voz. */
    const int members = m->members > 1 ? m->members : 1;
    struct wbuf b = { 0 };
    unsigned char *h = wb_grow(&b, HEADER_V1);
    if (h) {
        memcpy(h, VOZ_MODEL_MAGIC, 8);
        put_u32(h + 8, members > 1 ? 2u : 1u);
        put_u32(h + 12, HEADER_V1);
    }
    const voz_feature_params *f = &m->feat;
    size_t at = sec_begin(&b, "FEAT");
    wb_u32(&b, (uint32_t)m->sample_rate);
    wb_f32(&b, f->sample_rate);
    wb_f32(&b, f->frame_length_ms);
    wb_f32(&b, f->frame_shift_ms);
    wb_f32(&b, f->preemph);
    wb_u32(&b, (uint32_t)f->remove_dc);
    wb_u32(&b, (uint32_t)f->window);
    wb_u32(&b, (uint32_t)f->round_pow2);
    wb_u32(&b, (uint32_t)f->snip_edges);
    wb_f32(&b, f->dither);
    wb_u32(&b, (uint32_t)f->num_mel_bins);
    wb_f32(&b, f->low_freq);
    wb_f32(&b, f->high_freq);
    wb_u32(&b, (uint32_t)f->num_ceps);
    wb_f32(&b, f->cepstral_lifter);
    wb_u32(&b, (uint32_t)f->use_energy);
    wb_u32(&b, (uint32_t)f->raw_energy);
    wb_f32(&b, f->energy_floor);
    wb_u32(&b, (uint32_t)f->htk_compat);
    wb_u32(&b, (uint32_t)f->delta_order);
    wb_u32(&b, (uint32_t)f->delta_window);
    wb_u32(&b, (uint32_t)f->cmvn);
    wb_u32(&b, (uint32_t)f->cmvn_var);
    sec_end(&b, at);

    at = sec_begin(&b, "NET ");
    wb_u32(&b, (uint32_t)m->net.cell);
    wb_u32(&b, (uint32_t)m->net.input_dim);
    wb_u32(&b, (uint32_t)m->net.hidden);
    wb_u32(&b, (uint32_t)m->net.layers);
    wb_u32(&b, (uint32_t)m->net.bidirectional);
    wb_u32(&b, (uint32_t)m->net.classes);
    wb_u32(&b, (uint32_t)m->blank);
    sec_end(&b, at);

    at = sec_begin(&b, "ALPH");
    wb_u32(&b, (uint32_t)m->net.classes);
    for (int k = 0; k < m->net.classes; k++)
        wb_str(&b, m->classes[k]);
    sec_end(&b, at);

    if (m->n_words > 0) {
        at = sec_begin(&b, "WORD");
        wb_u32(&b, (uint32_t)m->n_words);
        for (int i = 0; i < m->n_words; i++)
            wb_str(&b, m->words[i]);
        sec_end(&b, at);
    }
    if (m->n_meta > 0) {
        at = sec_begin(&b, "META");
        wb_u32(&b, (uint32_t)m->n_meta);
        for (int i = 0; i < m->n_meta; i++) {
            wb_str(&b, m->meta_keys[i]);
            wb_str(&b, m->meta_values[i]);
        }
        sec_end(&b, at);
    }

    /* The table needs absolute offsets into DATA, whose start follows from the
       table's own size: names are the only variable part. */
    const int per = voz_net_num_tensors(&m->net), nt = per * members;
    uint64_t table = 4;
    for (int i = 0; i < nt; i++) {
        voz_tensor_info ti;
        member_tensor(&m->net, per, i, &ti);
        table += 4 + strlen(ti.name) + 8 + 8 * (uint64_t)ti.ndim + 16;
    }
    uint64_t data_start = b.n + 16 + ((table + 7) & ~(uint64_t)7) + 16;
    uint64_t off = (data_start + 63) & ~(uint64_t)63;
    at = sec_begin(&b, "TENS");
    wb_u32(&b, (uint32_t)nt);
    for (int i = 0; i < nt; i++) {
        voz_tensor_info ti;
        member_tensor(&m->net, per, i, &ti);
        wb_str(&b, ti.name);
        wb_u32(&b, 0);
        wb_u32(&b, (uint32_t)ti.ndim);
        for (int d = 0; d < ti.ndim; d++)
            wb_u64(&b, ti.shape[d]);
        wb_u64(&b, off);
        wb_u64(&b, (uint64_t)ti.numel * 4);
        off = (off + (uint64_t)ti.numel * 4 + 63) & ~(uint64_t)63;
    }
    sec_end(&b, at);

    at = sec_begin(&b, "DATA");
    for (int i = 0; i < nt && !b.oom; i++) {
        voz_tensor_info ti;
        member_tensor(&m->net, per, i, &ti);
        wb_align(&b, 64);
        unsigned char *q = wb_grow(&b, ti.numel * 4);
        if (!q)
            break;
        for (size_t k = 0; k < ti.numel; k++)
            put_f32(q + 4 * k, m->params[ti.offset + k]);
    }
    sec_end(&b, at);

    wb_grow(&b, 4);
    if (b.oom) {
        free(b.p);
        return voz_fail(VOZ_ERR_NOMEM, "model: out of memory serialising");
    }
    if (b.n > MAX_FILE_BYTES) { /* a word list or metadata of hundreds of MB */
        free(b.p);
        return voz_fail(VOZ_ERR_INVALID, "model: %zu bytes, more than a model file may have (%" PRIu64 ")", b.n,
                        MAX_FILE_BYTES);
    }
    put_u64(b.p + 16, (uint64_t)b.n);
    put_u32(b.p + b.n - 4, voz_crc32(0, b.p, b.n - 4));
    *out = b.p;
    *out_size = b.n;
    return VOZ_OK;
}

voz_status voz_model_data_write(const struct voz_model_data *m, const char *path)
{
    void *buf;
    size_t size;
    voz_status s = voz_model_data_serialize(m, &buf, &size);
    if (s)
        return s;
    struct voz_atomic_file af;
    if ((s = voz_atomic_open(&af, path))) {
        free(buf);
        return s;
    }
    if (fwrite(buf, 1, size, af.fp) != size) {
        int e = errno;
        voz_atomic_abort(&af);
        free(buf);
        return voz_fail(VOZ_ERR_IO, "%s: write failed: %s", path, strerror(e));
    }
    free(buf);
    return voz_atomic_commit(&af);
}

void voz_model_data_release(struct voz_model_data *m)
{
    if (!m)
        return;
    free_strings(m->classes, m->classes ? m->net.classes : 0);
    free_strings(m->words, m->n_words);
    free_strings(m->meta_keys, m->n_meta);
    free_strings(m->meta_values, m->n_meta);
    voz_free_aligned(m->params);
    memset(m, 0, sizeof *m);
}

/* A copy of s with each byte that is not part of valid UTF-8 written as \xNN. */
static char *utf8_escape(const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t n = strlen(s), bad = 0;
    for (size_t i = 0, k; i < n; i += k ? k : 1)
        bad += !(k = utf8_seq(u + i, n - i));
    char *v = malloc(n + 3 * bad + 1);
    if (!v)
        return NULL;
    size_t o = 0;
    for (size_t i = 0, k; i < n; i += k ? k : 1) {
        if ((k = utf8_seq(u + i, n - i))) {
            memcpy(v + o, u + i, k);
            o += k;
        } else {
            o += (size_t)snprintf(v + o, 5, "\\x%02x", u[i]);
        }
    }
    v[o] = 0;
    return v;
}

voz_status voz_model_data_set_meta(struct voz_model_data *m, const char *key, const char *value)
{
    if (!key || !*key || !value)
        return voz_fail(VOZ_ERR_INVALID, "model metadata: key must be non-empty and value non-NULL");
    /* Metadata is UTF-8 text, but values often carry file names, which need not be: a
       byte that is not part of valid UTF-8 is stored as the four characters \xNN (keys
       too), so a training clip named in Latin-1 does not make a model no reader loads. */
    char *v = utf8_escape(value), *k = utf8_escape(key);
    if (!v || !k) {
        free(v);
        free(k);
        return voz_fail(VOZ_ERR_NOMEM, "model metadata: out of memory");
    }
    for (int i = 0; i < m->n_meta; i++)
        if (!strcmp(m->meta_keys[i], k)) {
            free(m->meta_values[i]);
            m->meta_values[i] = v;
            free(k);
            return VOZ_OK;
        }
    char **nk = realloc(m->meta_keys, (size_t)(m->n_meta + 1) * sizeof *nk);
    if (nk)
        m->meta_keys = nk;
    char **nv = nk ? realloc(m->meta_values, (size_t)(m->n_meta + 1) * sizeof *nv) : NULL;
    if (nv)
        m->meta_values = nv;
    if (!nk || !nv) {
        free(k);
        free(v);
        return voz_fail(VOZ_ERR_NOMEM, "model metadata: out of memory");
    }
    m->meta_keys[m->n_meta] = k;
    m->meta_values[m->n_meta] = v;
    m->n_meta++;
    return VOZ_OK;
}

const char *voz_model_data_get_meta(const struct voz_model_data *m, const char *key)
{
    for (int i = 0; i < m->n_meta; i++)
        if (!strcmp(m->meta_keys[i], key))
            return m->meta_values[i];
    return NULL;
}
