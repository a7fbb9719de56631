/* frontend/audio.c — audio files in: libsndfile decides the format from the content;
   standard input (and pipes) are spooled to an unlinked temporary file first, since most
   formats need seeking, unless the caller asks for incremental reading and the stream is
   RIFF/WAVE: then the header is parsed as it arrives and samples are handed out as soon
   as they are there (`arecord | voz live --input -`). WAV files whose RIFF/data sizes lie (0, 0xFFFFFFFF, past the end,
   as streaming writers leave them) are read by a small RIFF reader of our own up to the
   data actually present. Samples leave as mono floats (mean of the channels) at the
   requested rate, read and resampled in blocks. */
#include "frontend/audio.h"
#include "common/util.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <poll.h>
#include <sndfile.h>
#include <stdio.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BLOCK_FRAMES 4096
#define MAX_CHANNELS 1024
#define MAX_RATE 10000000
/* Below 1 kHz there is no speech band left to analyse; a header claiming such a rate
   is damaged (and upsampling it would turn a few bytes into hours of audio). */
#define MIN_RATE 1000
#define POLL_MS 50         /* waiting on a pipe: the abort callback is asked this often */

/* ---- our own RIFF/WAVE reader ------------------------------------------------------ */

enum { WAV_PCM = 1, WAV_FLOAT = 3, WAV_EXTENSIBLE = 0xFFFE };

struct wav_hdr {
    int tag;              /* WAV_PCM or WAV_FLOAT (extensible resolved to its subformat) */
    int channels, rate;
    int bytes;            /* container bytes per sample: 1..4 (PCM), 4 or 8 (float) */
    int block_align;      /* bytes per frame = channels * bytes */
    int64_t data_off;     /* first byte of the samples */
    int64_t frames;       /* whole frames present (declared size, or what the file holds) */
    uint32_t declared;    /* the data chunk's size field */
    int extensible;       /* WAVE_FORMAT_EXTENSIBLE */
};

static uint32_t le32(const unsigned char *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }
static uint16_t le16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }

static int chunk_id_ok(const unsigned char *id)
{
    for (int i = 0; i < 4; i++)
        if (id[i] < 0x20 || id[i] > 0x7e)
            return 0;
    return 1;
}

static int read_at(int fd, void *buf, size_t n, int64_t off)
{
    size_t done = 0;
    while (done < n) {
        ssize_t r = pread(fd, (char *)buf + done, n - done, (off_t)(off + (int64_t)done));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        done += (size_t)r;
    }
    return 0;
}

/* Whether bytes [pos, size) are exactly a sequence of well-formed chunks (so a data
   size of 0 really means "no samples, metadata follows"). */
static int only_chunks_follow(int fd, int64_t pos, int64_t size)
{
    unsigned char h[8];
    if (pos >= size)
        return 1;
    while (pos + 8 <= size) {
        if (read_at(fd, h, 8, pos) || !chunk_id_ok(h))
            return 0;
        pos += 8 + (int64_t)le32(h + 4) + (le32(h + 4) & 1);
        if (pos == size || (pos == size + 1))
            return 1;
        if (pos > size)
            return 0;
    }
    return 0;
}

/* The fmt chunk's first min(len, 40) bytes into *h; -1 with the reason when it is a
   format we do not read. */
static int wav_parse_fmt(const unsigned char *b, uint32_t len, struct wav_hdr *h, char *why, size_t why_len)
{
    int tag = le16(b);
    h->channels = le16(b + 2);
    uint32_t rate = le32(b + 4);
    h->rate = rate > MAX_RATE ? MAX_RATE + 1 : (int)rate; /* never negative */
    h->block_align = le16(b + 12);
    int bits = le16(b + 14);
    if (tag == WAV_EXTENSIBLE) {
        if (len < 40) {
            snprintf(why, why_len, "WAVE_FORMAT_EXTENSIBLE fmt chunk of %u bytes, expected 40", len);
            return -1;
        }
        tag = le16(b + 24); /* first two bytes of the subformat GUID */
        h->extensible = 1;
    }
    if (tag != WAV_PCM && tag != WAV_FLOAT) {
        snprintf(why, why_len, "WAV encoding 0x%04x, expected PCM or IEEE float", tag);
        return -1;
    }
    if (h->rate < MIN_RATE || h->rate > MAX_RATE) {
        snprintf(why, why_len, "sample rate %" PRIu32 " Hz, expected %d to %d Hz", rate, MIN_RATE, MAX_RATE);
        return -1;
    }
    if (h->channels < 1 || h->channels > MAX_CHANNELS || h->block_align < 1 || h->block_align % h->channels) {
        snprintf(why, why_len, "fmt chunk: %d channels, %d Hz, block align %d, %d bits do not fit "
                 "together", h->channels, h->rate, h->block_align, bits);
        return -1;
    }
    h->tag = tag;
    h->bytes = h->block_align / h->channels;
    if ((tag == WAV_PCM && h->bytes > 4) || (tag == WAV_FLOAT && h->bytes != 4 && h->bytes != 8) ||
        bits > 8 * h->bytes || bits < 1) {
        snprintf(why, why_len, "%d-bit %s samples in %d-byte containers are not supported", bits,
                 tag == WAV_PCM ? "PCM" : "float", h->bytes);
        return -1;
    }
    return 0;
}

/* 1: RIFF/WAVE with a format we read, header in *h; 0: not RIFF/WAVE; -1: RIFF/WAVE
   but broken or a format we do not read, reason in why. */
static int wav_sniff(int fd, int64_t size, struct wav_hdr *h, char *why, size_t why_len)
{
    unsigned char b[40];
    memset(h, 0, sizeof *h);
    if (size < 12 || read_at(fd, b, 12, 0) || memcmp(b, "RIFF", 4) || memcmp(b + 8, "WAVE", 4))
        return 0;
    int have_fmt = 0;
    int64_t pos = 12;
    while (pos + 8 <= size) {
        if (read_at(fd, b, 8, pos))
            break;
        uint32_t len = le32(b + 4);
        if (!chunk_id_ok(b)) {
            snprintf(why, why_len, "unreadable chunk header at offset %lld", (long long)pos);
            return -1;
        }
        if (!memcmp(b, "data", 4)) {
            if (!have_fmt) {
                snprintf(why, why_len, "data chunk before any fmt chunk");
                return -1;
            }
            h->data_off = pos + 8;
            h->declared = len;
            int64_t avail = size - h->data_off, present = len;
            if (len == 0)
                present = only_chunks_follow(fd, h->data_off, size) ? 0 : avail;
            else if (len == 0xFFFFFFFFu || (int64_t)len > avail)
                present = avail;
            h->frames = present / h->block_align;
            return 1;
        }
        int64_t remain = size - pos - 8;
        if ((int64_t)len > remain) {
            snprintf(why, why_len, "chunk '%.4s' at offset %lld claims %u bytes, only %lld remain",
                     (const char *)b, (long long)pos, len, (long long)remain);
            return -1;
        }
        if (!memcmp(b, "fmt ", 4)) {
            if (len < 16 || read_at(fd, b, len < 40 ? len : 40, pos + 8)) {
                snprintf(why, why_len, "fmt chunk of %u bytes, expected at least 16", len);
                return -1;
            }
            if (wav_parse_fmt(b, len, h, why, why_len))
                return -1;
            have_fmt = 1;
        }
        pos += 8 + (int64_t)len + (len & 1);
    }
    snprintf(why, why_len, "no data chunk");
    return -1;
}

/* Converts n frames of raw little-endian samples to interleaved floats, with libsndfile's
   scaling (integers divided by 2^(8*bytes - 1); 8-bit data is unsigned). */
static void wav_convert(const struct wav_hdr *h, const unsigned char *raw, size_t n, float *out)
{
    size_t m = n * (size_t)h->channels;
    for (size_t i = 0; i < m; i++, raw += h->bytes) {
        if (h->tag == WAV_FLOAT) {
            if (h->bytes == 4) {
                uint32_t u = le32(raw);
                float f;
                memcpy(&f, &u, 4);
                out[i] = f;
            } else {
                uint64_t u = le32(raw) | (uint64_t)le32(raw + 4) << 32;
                double d;
                memcpy(&d, &u, 8);
                /* a finite double beyond float range stays finite (and is refused as huge) */
                out[i] = isfinite(d) && fabs(d) > FLT_MAX ? copysignf(FLT_MAX, (float)d) : (float)d;
            }
            continue;
        }
        switch (h->bytes) {
        case 1: out[i] = ((int)raw[0] - 128) * (1.0f / 128); break;
        case 2: out[i] = (int16_t)le16(raw) * (1.0f / 32768); break;
        case 3: out[i] = (float)((int32_t)((uint32_t)raw[0] << 8 | (uint32_t)raw[1] << 16 |
                                            (uint32_t)raw[2] << 24) >> 8) * (1.0f / 8388608); break;
        default: out[i] = (float)(int32_t)le32(raw) * (1.0f / 2147483648.0f); break;
        }
    }
}

/* ---- the reader ------------------------------------------------------------------- */

/* libmpg123 (libsndfile's MP3 decoder) complains about every corrupt frame on file
   descriptor 2 itself. With voz_set_quiet_decoders(1) — the voz command sets it — fd 2
   points to /dev/null while libsndfile opens or decodes MPEG audio. That is
   process-wide, which is why it is opt-in: a program whose other threads write to
   stderr meanwhile would lose those lines. */
static volatile int quiet_decoders;

void voz_set_quiet_decoders(int quiet) { quiet_decoders = quiet != 0; }

/* Reference-counted, because several threads may decode at once (the trainer loads its
   manifests on two): the first to enter points fd 2 to /dev/null, the last to leave
   puts the saved descriptor back. Returns whether this call took part (pass it on). */
static pthread_mutex_t mute_mu = PTHREAD_MUTEX_INITIALIZER;
static int mute_depth, mute_saved = -1;

static int stderr_mute(void)
{
    if (!quiet_decoders)
        return 0;
    pthread_mutex_lock(&mute_mu);
    if (mute_depth == 0) {
        fflush(stderr);
        int saved = dup(2), nul = open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (saved >= 0 && nul >= 0 && dup2(nul, 2) >= 0) {
            mute_saved = saved;
        } else if (saved >= 0) {
            close(saved);
        }
        if (nul >= 0)
            close(nul);
    }
    mute_depth++;
    pthread_mutex_unlock(&mute_mu);
    return 1;
}

static void stderr_unmute(int took_part)
{
    if (!took_part)
        return;
    pthread_mutex_lock(&mute_mu);
    if (--mute_depth == 0 && mute_saved >= 0) {
        dup2(mute_saved, 2);
        close(mute_saved);
        mute_saved = -1;
    }
    pthread_mutex_unlock(&mute_mu);
}

struct voz_audio {
    char *name;              /* the path, or "standard input", for messages */
    voz_audio_info info;
    int fd;                  /* the file, or the spooled copy of stdin */
    FILE *spool;             /* tmpfile() holding stdin (owns fd) */
    SNDFILE *sf;             /* libsndfile source; NULL when our WAV reader is used */
    struct wav_hdr wav;
    int64_t frames_read;     /* source frames consumed so far */
    size_t block;            /* frames per source read */
    float *inter;            /* [block * channels] */
    unsigned char *raw;      /* [block * block_align] (our WAV reader) */
    float *mono;             /* [block] downmixed samples not yet handed out */
    size_t mono_pos, mono_len;
    struct voz_resampler *rs;/* NULL when the file is at the target rate */
    int src_eof;
    voz_status err;          /* sticky: a failed read fails every later read */
    voz_audio_options opt;
    int streaming;           /* our WAV reader on a pipe: samples read() as they arrive */
    size_t raw_have;         /* streaming: bytes of an incomplete frame kept in raw[] */
    int mpeg;                /* libsndfile decodes MPEG audio (see stderr_mute) */
};

/* Reads from a pipe: up to n bytes, returning as soon as some arrived (all = 0) or once
   n arrived (all = 1). Waits in POLL_MS steps asking the abort callback in between.
   Returns the bytes read (short only at the end of the stream), -1 on a read error
   (errno set), -2 when aborted. */
static ssize_t pipe_read(struct voz_audio *a, int fd, void *buf, size_t n, int all)
{
    size_t done = 0;
    while (done < n) {
        if (a->opt.abort && a->opt.abort(a->opt.abort_user))
            return -2;
        struct pollfd pf = { .fd = fd, .events = POLLIN };
        int pr = poll(&pf, 1, POLL_MS);
        if (pr < 0 && errno != EINTR)
            return -1;
        if (pr <= 0)
            continue; /* a timeout or a signal: ask the abort callback again */
        ssize_t r = read(fd, (char *)buf + done, n - done);
        if (r < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        done += (size_t)r;
        if (!all)
            break;
    }
    return (ssize_t)done;
}

static voz_status pipe_failure(struct voz_audio *a, ssize_t r, const char *what)
{
    if (r == -2)
        return voz_fail(VOZ_ERR_ABORTED, "%s: interrupted", a->name);
    return voz_fail(VOZ_ERR_IO, "%s: %s failed: %s", a->name, what, strerror(errno));
}

/* A stream longer than this is refused rather than copied on: /dev/zero or an endless
   pipe would otherwise fill the disk. 2 GiB is 37 hours of 8 kHz 16-bit mono audio. */
#define SPOOL_MAX ((int64_t)2 << 30)

/* Copies the stream (after the `pre_n` bytes already taken from it, in `pre`) into an
   unlinked temporary file, then reads that in place of the stream. */
static voz_status spool_stdin(struct voz_audio *a, int in_fd, const void *pre, size_t pre_n)
{
    a->spool = tmpfile();
    if (!a->spool)
        return voz_fail(VOZ_ERR_IO, "%s: cannot create a temporary file to hold it: %s", a->name,
                        strerror(errno));
    if (pre_n && fwrite(pre, 1, pre_n, a->spool) != pre_n)
        return voz_fail(VOZ_ERR_IO, "%s: cannot write the temporary copy: %s", a->name, strerror(errno));
    char *buf = malloc(1 << 16);
    if (!buf)
        return voz_fail(VOZ_ERR_NOMEM, "%s: out of memory", a->name);
    int64_t total = (int64_t)pre_n;
    for (;;) {
        ssize_t r = pipe_read(a, in_fd, buf, 1 << 16, 0);
        if (r < 0) {
            free(buf);
            return pipe_failure(a, r, "read");
        }
        if (r == 0)
            break;
        if (fwrite(buf, 1, (size_t)r, a->spool) != (size_t)r) {
            int e = errno;
            free(buf);
            return voz_fail(VOZ_ERR_IO, "%s: cannot write the temporary copy: %s", a->name, strerror(e));
        }
        total += r;
        if (total > SPOOL_MAX) {
            free(buf);
            return voz_fail(VOZ_ERR_FORMAT, "%s: stream longer than %lld bytes, refusing to copy more "
                            "(give a regular file instead)", a->name, (long long)SPOOL_MAX);
        }
    }
    free(buf);
    if (fflush(a->spool) != 0)
        return voz_fail(VOZ_ERR_IO, "%s: cannot write the temporary copy: %s", a->name, strerror(errno));
    if (total == 0)
        return voz_fail(VOZ_ERR_FORMAT, "%s: is empty (0 bytes), expected audio", a->name);
    a->fd = fileno(a->spool);
    lseek(a->fd, 0, SEEK_SET);
    return VOZ_OK;
}

/* Incremental reading of a pipe: a RIFF/WAVE header is parsed chunk by chunk as it
   arrives (skipping chunks other than fmt by reading them), and a->fd is left at the
   first sample. Anything else, a WAV in an encoding our reader does not handle too,
   is spooled with the bytes already read. *done = 1 when
   the stream is ours to read incrementally. */
/* The header bytes stream_open has taken from the pipe, kept so that a WAV whose
   encoding our reader does not handle (A-law, ADPCM, GSM...) can still be spooled
   whole for libsndfile. Headers are a few hundred bytes; past HDR_KEEP_MAX (a huge
   chunk before fmt) nothing more is kept and such a file gets the plain error. */
#define HDR_KEEP_MAX (1 << 20)
struct hdr_keep { unsigned char *b; size_t n, cap; int lost; };

static void hdr_keep_add(struct hdr_keep *k, const void *p, size_t n)
{
    if (k->lost)
        return;
    if (k->n + n > k->cap) {
        size_t cap = k->cap ? k->cap : 256;
        while (cap < k->n + n)
            cap *= 2;
        unsigned char *b = cap <= HDR_KEEP_MAX ? realloc(k->b, cap) : NULL;
        if (!b) {
            k->lost = 1;
            return;
        }
        k->b = b;
        k->cap = cap;
    }
    memcpy(k->b + k->n, p, n);
    k->n += n;
}

static voz_status stream_wav_header(struct voz_audio *a, int fd, struct hdr_keep *kh, int *done);

static voz_status stream_open(struct voz_audio *a, int fd, int *done)
{
    *done = 0;
    struct hdr_keep keep_hdr = { 0 };
    voz_status st = stream_wav_header(a, fd, &keep_hdr, done);
    free(keep_hdr.b);
    return st;
}

static voz_status stream_wav_header(struct voz_audio *a, int fd, struct hdr_keep *kh, int *done)
{
    unsigned char b[64];
    ssize_t r = pipe_read(a, fd, b, 12, 1);
    if (r < 0)
        return pipe_failure(a, r, "read");
    if (r < 12 || memcmp(b, "RIFF", 4) || memcmp(b + 8, "WAVE", 4))
        return spool_stdin(a, fd, b, (size_t)r);
    hdr_keep_add(kh, b, 12);
    struct wav_hdr *h = &a->wav;
    char why[160];
    int have_fmt = 0;
    int64_t pos = 12;
    memset(h, 0, sizeof *h);
    for (;;) {
        r = pipe_read(a, fd, b, 8, 1);
        if (r > 0)
            hdr_keep_add(kh, b, (size_t)r);
        if (r != 8) {
            if (r < 0)
                return pipe_failure(a, r, "read");
            return voz_fail(VOZ_ERR_FORMAT, "%s: WAV stream ends at byte %lld, before its data chunk",
                            a->name, (long long)(pos + (r > 0 ? r : 0)));
        }
        uint32_t len = le32(b + 4);
        char id[5] = { 0 };
        memcpy(id, b, 4);
        if (!chunk_id_ok(b))
            return voz_fail(VOZ_ERR_FORMAT, "%s: not a supported audio file (WAV header: unreadable chunk "
                            "header at offset %lld)", a->name, (long long)pos);
        if (!memcmp(b, "data", 4)) {
            if (!have_fmt)
                return voz_fail(VOZ_ERR_FORMAT, "%s: not a supported audio file (WAV header: data chunk "
                                "before any fmt chunk)", a->name);
            h->declared = len;
            /* A streaming writer cannot know the size: 0 and 0xFFFFFFFF mean "to the end". */
            h->frames = len == 0 || len == 0xFFFFFFFFu ? INT64_MAX : (int64_t)len / h->block_align;
            h->data_off = pos + 8;
            a->streaming = 1;
            a->fd = fd;
            a->info.file_rate = h->rate;
            a->info.channels = h->channels;
            a->info.frames = h->frames == INT64_MAX ? -1 : h->frames;
            snprintf(a->info.format, sizeof a->info.format, "WAV%s stream, %d-bit %s", h->extensible ? "EX" : "",
                     8 * h->bytes, h->tag == WAV_FLOAT ? "float" : "PCM");
            *done = 1;
            return VOZ_OK;
        }
        /* Skip (or, for fmt, keep the first 40 bytes of) the chunk, pad byte included. */
        uint64_t left = (uint64_t)len + (len & 1), got = 0;
        unsigned char fmt[40];
        size_t keep = !memcmp(id, "fmt ", 4) ? (len < 40 ? len : 40) : 0;
        while (got < left) {
            size_t want = left - got < sizeof b ? (size_t)(left - got) : sizeof b;
            r = pipe_read(a, fd, b, want, 1);
            if (r > 0)
                hdr_keep_add(kh, b, (size_t)r);
            if (r != (ssize_t)want) {
                if (r < 0)
                    return pipe_failure(a, r, "read");
                return voz_fail(VOZ_ERR_FORMAT, "%s: WAV stream ends inside its '%s' chunk", a->name, id);
            }
            if (got < keep)
                memcpy(fmt + got, b, keep - got < want ? keep - got : want);
            got += want;
        }
        if (keep) {
            if (len < 16)
                return voz_fail(VOZ_ERR_FORMAT, "%s: not a supported audio file (WAV header: fmt chunk of "
                                "%u bytes, expected at least 16)", a->name, len);
            if (wav_parse_fmt(fmt, len, h, why, sizeof why)) {
                /* Not ours to read as it arrives: spooled with the header taken so far,
                   libsndfile reads it (or names what is wrong) as it does for a path. */
                if (!kh->lost)
                    return spool_stdin(a, fd, kh->b, kh->n);
                return voz_fail(VOZ_ERR_FORMAT, "%s: not a supported audio file (WAV header: %s)", a->name, why);
            }
            have_fmt = 1;
        }
        pos += 8 + (int64_t)left;
    }
}

static void describe_sndfile(struct voz_audio *a, int format)
{
    SF_FORMAT_INFO major = { .format = format & SF_FORMAT_TYPEMASK };
    SF_FORMAT_INFO sub = { .format = format & SF_FORMAT_SUBMASK };
    const char *mn = sf_command(NULL, SFC_GET_FORMAT_INFO, &major, sizeof major) == 0 ? major.name : "audio";
    const char *sn = sf_command(NULL, SFC_GET_FORMAT_INFO, &sub, sizeof sub) == 0 ? sub.name : "";
    snprintf(a->info.format, sizeof a->info.format, "%s%s%s", mn, *sn ? ", " : "", sn);
}

static void describe_wav(struct voz_audio *a)
{
    const struct wav_hdr *h = &a->wav;
    snprintf(a->info.format, sizeof a->info.format, "WAV%s (data size %s), %d-bit %s",
             h->extensible ? "EX" : "",
             h->declared == 0 ? "0" : h->declared == 0xFFFFFFFFu ? "unset" : "past the end", 8 * h->bytes,
             h->tag == WAV_FLOAT ? "float" : "PCM");
}

static voz_status open_source(struct voz_audio *a, const char *path)
{
    struct stat st;
    int is_stdin = !strcmp(path, "-");
    if (is_stdin) {
        if (fstat(0, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 && lseek(0, 0, SEEK_CUR) == 0) {
            a->fd = dup(0); /* a redirected regular file: read it in place */
            if (a->fd < 0)
                return voz_fail(VOZ_ERR_IO, "%s: %s", a->name, strerror(errno));
        } else if (a->opt.incremental) {
            int in = dup(0), done;
            if (in < 0)
                return voz_fail(VOZ_ERR_IO, "%s: %s", a->name, strerror(errno));
            voz_status s = stream_open(a, in, &done);
            if (!done)
                close(in);
            if (s != VOZ_OK || done)
                return s;
        } else {
            voz_status s = spool_stdin(a, 0, NULL, 0);
            if (s != VOZ_OK)
                return s;
        }
    } else {
        /* Opening a FIFO waits for its writer; a signal then interrupts the wait, and
           the caller's abort callback says whether that was a request to stop. */
        while ((a->fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 && errno == EINTR)
            if (a->opt.abort && a->opt.abort(a->opt.abort_user))
                return voz_fail(VOZ_ERR_ABORTED, "%s: interrupted", a->name);
        if (a->fd < 0)
            return voz_fail(VOZ_ERR_IO, "%s: cannot open: %s", a->name, strerror(errno));
        if (fstat(a->fd, &st) != 0)
            return voz_fail(VOZ_ERR_IO, "%s: cannot stat: %s", a->name, strerror(errno));
        if (S_ISDIR(st.st_mode))
            return voz_fail(VOZ_ERR_IO, "%s: is a directory, expected an audio file", a->name);
        if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
            /* /dev/zero, /dev/urandom, a disk: endless or not audio; a terminal too */
            if (!isatty(a->fd))
                return voz_fail(VOZ_ERR_FORMAT, "%s: is a device, expected an audio file or a pipe", a->name);
        }
        if (!S_ISREG(st.st_mode)) {
            /* a pipe (e.g. /dev/stdin, <(...)): spool it like stdin */
            int in = a->fd, done = 0;
            a->fd = -1;
            voz_status s = a->opt.incremental ? stream_open(a, in, &done) : spool_stdin(a, in, NULL, 0);
            if (!done)
                close(in);
            if (s != VOZ_OK || done)
                return s;
        } else if (st.st_size == 0) {
            return voz_fail(VOZ_ERR_FORMAT, "%s: is empty (0 bytes), expected audio", a->name);
        }
    }
    if (fstat(a->fd, &st) != 0)
        return voz_fail(VOZ_ERR_IO, "%s: cannot stat: %s", a->name, strerror(errno));
    int64_t size = st.st_size;

    char why[160] = "";
    int sniff = wav_sniff(a->fd, size, &a->wav, why, sizeof why);
    SF_INFO si;
    memset(&si, 0, sizeof si);
    /* libsndfile closes the descriptor it was given when it refuses the file, even
       when told not to; hand it a duplicate so ours survives for the WAV reader. */
    int sfd = dup(a->fd);
    if (sfd < 0)
        return voz_fail(VOZ_ERR_IO, "%s: %s", a->name, strerror(errno));
    lseek(sfd, 0, SEEK_SET);
    /* Muted only for what may be MPEG (an ID3 tag or a frame sync word), so warnings of
       other threads are never lost while ordinary files open. */
    unsigned char head[3] = { 0 };
    int mpeg_like = pread(a->fd, head, 3, 0) >= 2 &&
                    ((head[0] == 'I' && head[1] == 'D' && head[2] == '3') || (head[0] == 0xFF && (head[1] & 0xE0) == 0xE0));
    int muted = mpeg_like ? stderr_mute() : 0;
    a->sf = sf_open_fd(sfd, SFM_READ, &si, 1);
    stderr_unmute(muted);
    if (a->sf) {
        int major = si.format & SF_FORMAT_TYPEMASK;
        /* libsndfile believes a data size of 0 (and reads nothing); trust the bytes. */
        if (sniff == 1 && (major == SF_FORMAT_WAV || major == SF_FORMAT_WAVEX) && a->wav.frames > si.frames) {
            sf_close(a->sf);
            a->sf = NULL;
        } else {
            if (si.channels < 1 || si.channels > MAX_CHANNELS || si.samplerate < MIN_RATE || si.samplerate > MAX_RATE)
                return voz_fail(VOZ_ERR_FORMAT, "%s: %d channels at %d Hz, expected 1 to %d channels at %d to %d Hz",
                                a->name, si.channels, si.samplerate, MAX_CHANNELS, MIN_RATE, MAX_RATE);
            a->info.file_rate = si.samplerate;
            a->info.channels = si.channels;
            a->mpeg = major == SF_FORMAT_MPEG;
            a->info.frames = si.frames >= 0 && si.frames < SF_COUNT_MAX ? (int64_t)si.frames : -1;
            describe_sndfile(a, si.format);
            return VOZ_OK;
        }
    } else if (sniff != 1) {
        const char *e = sf_strerror(NULL);
        if (sniff < 0)
            return voz_fail(VOZ_ERR_FORMAT, "%s: not a supported audio file (libsndfile: %s; WAV header: %s)",
                            a->name, e, why);
        return voz_fail(VOZ_ERR_FORMAT, "%s: not a supported audio file (libsndfile: %s)", a->name, e);
    }
    a->info.file_rate = a->wav.rate;
    a->info.channels = a->wav.channels;
    a->info.frames = a->wav.frames;
    describe_wav(a);
    return VOZ_OK;
}

/* Huge but finite samples (a float file may hold 1e30) overflow the resampler's
   filter: its output is checked like the file's own samples. */
static voz_status check_resampled(struct voz_audio *a, const float *y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(y[i]))
            return voz_fail(VOZ_ERR_NONFINITE, "%s: resampling overflowed near frame %lld "
                            "(%.3f s): the file holds samples too large for audio, expected about -1..1",
                            a->name, (long long)a->frames_read, (double)a->frames_read / a->info.file_rate);
    return VOZ_OK;
}

/* Prefixes the last error (from the resampler) with the file name. */
static voz_status name_error(const char *name, voz_status s)
{
    char msg[768];
    snprintf(msg, sizeof msg, "%s", voz_last_error());
    return voz_fail(s, "%s: %s", name, msg);
}

voz_status voz_audio_open(const char *path, int target_rate, struct voz_audio **out)
{
    return voz_audio_open_opts(path, target_rate, NULL, out);
}

voz_status voz_audio_open_opts(const char *path, int target_rate, const voz_audio_options *o,
                               struct voz_audio **out)
{
    *out = NULL;
    if (!path || !*path)
        return voz_fail(VOZ_ERR_INVALID, "audio: no file name given");
    if (target_rate < 0 || target_rate > MAX_RATE)
        return voz_fail(VOZ_ERR_INVALID, "%s: target rate %d Hz, expected 0 (keep) or 1 to %d Hz", path,
                        target_rate, MAX_RATE);
    struct voz_audio *a = calloc(1, sizeof *a);
    if (!a)
        return voz_fail(VOZ_ERR_NOMEM, "%s: out of memory", path);
    a->fd = -1;
    if (o)
        a->opt = *o;
    a->name = strdup(strcmp(path, "-") ? path : "standard input");
    if (!a->name) {
        free(a);
        return voz_fail(VOZ_ERR_NOMEM, "%s: out of memory", path);
    }
    voz_status s = open_source(a, path);
    if (s == VOZ_OK) {
        int ch = a->info.channels;
        a->block = ch <= 16 ? BLOCK_FRAMES : (size_t)(65536 / ch);
        a->inter = malloc(a->block * (size_t)ch * sizeof *a->inter);
        a->mono = malloc(a->block * sizeof *a->mono);
        if (!a->sf)
            a->raw = malloc(a->block * (size_t)a->wav.block_align);
        if (!a->inter || !a->mono || (!a->sf && !a->raw))
            s = voz_fail(VOZ_ERR_NOMEM, "%s: out of memory", a->name);
    }
    if (s == VOZ_OK && target_rate && target_rate != a->info.file_rate) {
        s = voz_resampler_create(a->info.file_rate, target_rate, &a->rs);
        if (s != VOZ_OK)
            s = name_error(a->name, s);
    }
    if (s != VOZ_OK) {
        voz_audio_close(a);
        return s;
    }
    *out = a;
    return VOZ_OK;
}

const voz_audio_info *voz_audio_get_info(const struct voz_audio *a) { return &a->info; }

void voz_audio_close(struct voz_audio *a)
{
    if (!a)
        return;
    if (a->sf)
        sf_close(a->sf);
    if (a->spool)
        fclose(a->spool); /* closes fd too */
    else if (a->fd >= 0)
        close(a->fd);
    voz_resampler_free(a->rs);
    free(a->inter);
    free(a->raw);
    free(a->mono);
    free(a->name);
    free(a);
}

/* Reads the next block of source frames into a->mono (downmixed); 0 frames = end. */
static voz_status read_block(struct voz_audio *a)
{
    int ch = a->info.channels;
    size_t got;
    if (a->sf) {
        int muted = a->mpeg ? stderr_mute() : 0;
        sf_count_t r = sf_readf_float(a->sf, a->inter, (sf_count_t)a->block);
        stderr_unmute(muted);
        if (r < 0 || (r == 0 && sf_error(a->sf) != SF_ERR_NO_ERROR))
            return voz_fail(VOZ_ERR_FORMAT, "%s: decoding failed after frame %lld: %s", a->name,
                            (long long)a->frames_read, sf_strerror(a->sf));
        got = (size_t)r;
    } else if (a->streaming) {
        /* Whole frames as soon as any arrived; an incomplete one waits in raw[]. */
        size_t ba = (size_t)a->wav.block_align;
        int64_t left = a->wav.frames - a->frames_read;
        size_t want = (left < (int64_t)a->block ? (size_t)left : a->block) * ba;
        got = 0;
        while (want > 0 && got == 0) {
            ssize_t r = pipe_read(a, a->fd, a->raw + a->raw_have, want - a->raw_have, 0);
            if (r < 0)
                return pipe_failure(a, r, "read");
            if (r == 0)
                break; /* the end of the stream; a partial last frame is dropped */
            a->raw_have += (size_t)r;
            got = a->raw_have / ba;
        }
        wav_convert(&a->wav, a->raw, got, a->inter);
        size_t used = got * ba;
        memmove(a->raw, a->raw + used, a->raw_have - used);
        a->raw_have -= used;
    } else {
        int64_t left = a->wav.frames - a->frames_read;
        got = left < (int64_t)a->block ? (size_t)left : a->block;
        size_t bytes = got * (size_t)a->wav.block_align;
        int64_t off = a->wav.data_off + a->frames_read * a->wav.block_align;
        if (got && read_at(a->fd, a->raw, bytes, off))
            return voz_fail(VOZ_ERR_IO, "%s: read failed at byte %lld: %s", a->name, (long long)off,
                            errno ? strerror(errno) : "unexpected end of file");
        wav_convert(&a->wav, a->raw, got, a->inter);
    }
    size_t m = got * (size_t)ch, i = voz_audio_first_bad(a->inter, m);
    if (i < m) {
        float v = a->inter[i];
        int64_t frame = a->frames_read + (int64_t)(i / ch);
        if (isfinite(v))
            return voz_fail(VOZ_ERR_NONFINITE, "%s: sample %g at frame %lld (%.3f s), channel %d, "
                            "expected audio within -%g..%g (full scale is 1)", a->name, (double)v,
                            (long long)frame, (double)frame / a->info.file_rate, (int)(i % ch) + 1,
                            (double)VOZ_AUDIO_MAX_ABS, (double)VOZ_AUDIO_MAX_ABS);
        return voz_fail(VOZ_ERR_NONFINITE, "%s: sample %s at frame %lld (%.3f s), channel %d, expected "
                        "finite audio", a->name, isnan(v) ? "NaN" : "infinite",
                        (long long)frame, (double)frame / a->info.file_rate, (int)(i % ch) + 1);
    }
    if (ch == 1) {
        memcpy(a->mono, a->inter, got * sizeof *a->mono);
    } else {
        for (size_t f = 0; f < got; f++) {
            float sum = 0;
            for (int c = 0; c < ch; c++)
                sum += a->inter[f * ch + c];
            a->mono[f] = sum / ch;
        }
    }
    a->frames_read += (int64_t)got;
    a->mono_pos = 0;
    a->mono_len = got;
    if (!got)
        a->src_eof = 1;
    return VOZ_OK;
}

voz_status voz_audio_read(struct voz_audio *a, float *buf, size_t max, size_t *got)
{
    *got = 0;
    if (a->err != VOZ_OK)
        return a->err;
    if (!max) /* 0 samples read means the end: do not say it when it is not true */
        return voz_fail(VOZ_ERR_INVALID, "%s: read of 0 samples, expected a buffer of at least 1", a->name);
    size_t total = 0;
    voz_status s = VOZ_OK;
    while (total < max) {
        if (a->rs) {
            /* Drain what the resampler holds first; feed it a block when it runs dry. */
            size_t g;
            s = voz_resampler_process(a->rs, NULL, 0, buf + total, max - total, &g, a->src_eof);
            if (s != VOZ_OK) {
                s = name_error(a->name, s);
                break;
            }
            if ((s = check_resampled(a, buf + total, g)) != VOZ_OK)
                break;
            total += g;
            if (total == max || (a->src_eof && g == 0))
                break;
            if (g)
                continue;
            if ((s = read_block(a)) != VOZ_OK)
                break;
            if (a->mono_len) {
                s = voz_resampler_process(a->rs, a->mono, a->mono_len, buf + total, max - total, &g, 0);
                if (s != VOZ_OK) {
                    s = name_error(a->name, s);
                    break;
                }
                if ((s = check_resampled(a, buf + total, g)) != VOZ_OK)
                    break;
                total += g;
                a->mono_len = 0;
            }
        } else {
            if (a->mono_pos == a->mono_len) {
                if (a->src_eof)
                    break;
                if ((s = read_block(a)) != VOZ_OK)
                    break;
                continue;
            }
            size_t n = a->mono_len - a->mono_pos;
            if (n > max - total)
                n = max - total;
            memcpy(buf + total, a->mono + a->mono_pos, n * sizeof *buf);
            a->mono_pos += n;
            total += n;
        }
    }
    if (s != VOZ_OK) {
        a->err = s;
        return s;
    }
    *got = total;
    return VOZ_OK;
}

voz_status voz_audio_load(const char *path, int target_rate, float **pcm, size_t *n)
{
    *pcm = NULL;
    *n = 0;
    struct voz_audio *a;
    voz_status s = voz_audio_open(path, target_rate, &a);
    if (s != VOZ_OK)
        return s;
    /* The header's frame count is only a hint (it may lie): start there, capped, grow. */
    size_t cap = 1 << 16, len = 0;
    if (a->info.frames > 0) {
        double est = (double)a->info.frames * (target_rate ? (double)target_rate / a->info.file_rate : 1.0) + 4096;
        /* a compressed file may claim any length: trust it up to 4M samples */
        cap = est < (double)(1 << 22) ? (size_t)est : (size_t)1 << 22;
    }
    float *buf = malloc(cap * sizeof *buf);
    if (!buf) {
        voz_audio_close(a);
        return voz_fail(VOZ_ERR_NOMEM, "%s: out of memory", path);
    }
    for (;;) {
        if (cap - len < 4096) {
            float *nb = cap > SIZE_MAX / 2 / sizeof *nb ? NULL : realloc(buf, 2 * cap * sizeof *nb);
            if (!nb) {
                s = voz_fail(VOZ_ERR_NOMEM, "%s: out of memory for %zu samples", path, 2 * cap);
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got;
        if ((s = voz_audio_read(a, buf + len, cap - len, &got)) != VOZ_OK || got == 0)
            break;
        len += got;
    }
    voz_audio_close(a);
    if (s != VOZ_OK) {
        free(buf);
        return s;
    }
    *pcm = buf;
    *n = len;
    return VOZ_OK;
}

size_t voz_audio_first_bad(const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!(fabsf(x[i]) <= VOZ_AUDIO_MAX_ABS)) /* NaN fails the comparison too */
            return i;
    return n;
}
