/* tests/test_audio.c — audio input: every format libsndfile writes here (written by the
   test into a mkdtemp folder), rates, channel counts, odd WAV layouts and lying headers,
   standard input through a pipe, non-finite samples, every error case; and the libsoxr
   resampler (a 44.1 kHz stereo 24-bit copy of a 16 kHz signal reads back as the 16 kHz
   mono original within SNR 40 dB). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "frontend/audio.h"
#include "common/util.h"

static char dir[256];

/* The test signal as a function of time: a tone and a chirp, all below 3.5 kHz so an
   8 kHz copy holds it completely. */
static double signal_at(double t)
{
    return 0.3 * sin(2 * M_PI * 440 * t) + 0.25 * sin(2 * M_PI * (200 * t + 1400 * t * t));
}
/* A second signal the extra channels carry with opposite signs (cancels in the mean). */
static double other_at(double t) { return 0.2 * sin(2 * M_PI * 1234 * t + 1); }

static char *tpath(const char *name)
{
    static char buf[8][512];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, 512, "%s/%s", dir, name);
    return p;
}

/* n frames of `channels` channels at `rate` whose mean is signal_at(). */
static float *make_interleaved(int rate, int channels, size_t n, double dc)
{
    float *x = malloc(n * channels * sizeof *x);
    assert_non_null(x);
    for (size_t i = 0; i < n; i++) {
        double t = (double)i / rate, s = signal_at(t) + dc, o = other_at(t);
        for (int c = 0; c < channels; c++) {
            double d = channels == 1 ? 0 : (c % 2 ? -1 : 1) * o * (1 + c / 2);
            if (channels % 2 && c == channels - 1)
                d = 0;
            x[i * channels + c] = (float)(s + d);
        }
    }
    return x;
}

static void write_sf(const char *path, int format, int rate, int channels, const float *x, size_t n)
{
    SF_INFO si = { .samplerate = rate, .channels = channels, .format = format };
    SNDFILE *sf = sf_open(path, SFM_WRITE, &si);
    if (!sf) {
        print_error("cannot write %s: %s\n", path, sf_strerror(NULL));
        fail();
    }
    assert_int_equal(sf_writef_float(sf, x, (sf_count_t)n), (sf_count_t)n);
    sf_close(sf);
}

static void write_bytes(const char *path, const void *b, size_t n)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(b, 1, n, fp), n);
    fclose(fp);
}

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    long sz = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)sz + 1);
    assert_int_equal(fread(b, 1, (size_t)sz, fp), (size_t)sz);
    fclose(fp);
    *n = (size_t)sz;
    return b;
}

static void put32(unsigned char *p, uint32_t v) { p[0] = v; p[1] = v >> 8; p[2] = v >> 16; p[3] = v >> 24; }
static void put16(unsigned char *p, uint16_t v) { p[0] = v; p[1] = v >> 8; }

/* Offset of the data chunk's size field in a WAV image, by walking the chunks. */
static size_t data_size_offset(const unsigned char *b, size_t n)
{
    size_t pos = 12;
    while (pos + 8 <= n) {
        uint32_t len = b[pos + 4] | b[pos + 5] << 8 | b[pos + 6] << 16 | (uint32_t)b[pos + 7] << 24;
        if (!memcmp(b + pos, "data", 4))
            return pos + 4;
        pos += 8 + len + (len & 1);
    }
    fail_msg("no data chunk");
    return 0;
}

/* Copies WAV `src` to `dst` with the RIFF and data size fields replaced (riff/data <
   0: keep) and the file cut to `keep` bytes (0: whole). */
static void patch_wav(const char *src, const char *dst, int64_t riff, int64_t data, size_t keep)
{
    size_t n;
    unsigned char *b = slurp(src, &n);
    if (riff >= 0)
        put32(b + 4, (uint32_t)riff);
    if (data >= 0)
        put32(b + data_size_offset(b, n), (uint32_t)data);
    write_bytes(dst, b, keep ? keep : n);
    free(b);
}

static float *load_ok(const char *path, int rate, size_t *n)
{
    float *pcm;
    voz_status s = voz_audio_load(path, rate, &pcm, n);
    if (s != VOZ_OK) {
        print_error("%s: status %d: %s\n", path, s, voz_last_error());
        fail();
    }
    return pcm;
}

/* SNR in dB of got against signal_at() sampled at `rate`, over [skip, n - skip), at the
   best lag within +-max_lag (lossy codecs may shift the signal). */
static double snr_db(const float *got, size_t n, int rate, int max_lag, int *lag_out)
{
    size_t skip = (size_t)rate / 50 + (size_t)max_lag; /* 20 ms edges */
    double best = -1e9;
    int best_lag = 0;
    if (n <= 2 * skip)
        return best;
    for (int lag = -max_lag; lag <= max_lag; lag++) {
        double e = 0, p = 0;
        for (size_t i = skip; i < n - skip; i++) {
            double want = signal_at((double)((int64_t)i - lag) / rate);
            double d = got[i] - want;
            e += d * d;
            p += want * want;
        }
        double snr = 10 * log10(p / (e > 1e-30 ? e : 1e-30));
        if (snr > best) {
            best = snr;
            best_lag = lag;
        }
    }
    if (lag_out)
        *lag_out = best_lag;
    return best;
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/voz_test_audio_XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- formats ------------------------------------------------------------------------ */

struct fmt_case {
    const char *name;
    int format;
    double min_snr;   /* at the file's own rate */
    int max_lag;      /* encoder delay tolerated */
    const char *desc; /* expected in info.format */
};

static void test_formats(void **state)
{
    (void)state;
    static const struct fmt_case cases[] = {
        { "u8.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_U8, 35, 0, "WAV" },
        { "s16.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16, 80, 0, "16 bit" },
        { "s24.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_24, 120, 0, "24 bit" },
        { "s32.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_32, 120, 0, "32 bit" },
        { "f32.wav", SF_FORMAT_WAV | SF_FORMAT_FLOAT, 120, 0, "float" },
        { "f64.wav", SF_FORMAT_WAV | SF_FORMAT_DOUBLE, 120, 0, "64 bit float" },
        { "ext16.wav", SF_FORMAT_WAVEX | SF_FORMAT_PCM_16, 80, 0, "WAVEX" },
        { "ext24.wav", SF_FORMAT_WAVEX | SF_FORMAT_PCM_24, 120, 0, "WAVEX" },
        { "s16.flac", SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 80, 0, "FLAC" },
        { "s24.flac", SF_FORMAT_FLAC | SF_FORMAT_PCM_24, 120, 0, "FLAC" },
        { "vorbis.ogg", SF_FORMAT_OGG | SF_FORMAT_VORBIS, 15, 64, "OGG" },
        { "s16.aiff", SF_FORMAT_AIFF | SF_FORMAT_PCM_16, 80, 0, "AIFF" },
        { "f32.aiff", SF_FORMAT_AIFF | SF_FORMAT_FLOAT, 120, 0, "AIFF" },
        { "s16.au", SF_FORMAT_AU | SF_FORMAT_PCM_16, 80, 0, "AU" },
        { "s16.caf", SF_FORMAT_CAF | SF_FORMAT_PCM_16, 80, 0, "CAF" },
        { "s16.w64", SF_FORMAT_W64 | SF_FORMAT_PCM_16, 80, 0, "W64" },
        { "s16.rf64", SF_FORMAT_RF64 | SF_FORMAT_PCM_16, 80, 0, "RF64" },
    };
    const int rate = 16000;
    const size_t n = 16000;
    float *x = make_interleaved(rate, 1, n, 0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *p = tpath(cases[i].name);
        write_sf(p, cases[i].format, rate, 1, x, n);
        struct voz_audio *a;
        assert_int_equal(voz_audio_open(p, rate, &a), VOZ_OK);
        const voz_audio_info *info = voz_audio_get_info(a);
        assert_int_equal(info->file_rate, rate);
        assert_int_equal(info->channels, 1);
        if (!strstr(info->format, cases[i].desc)) {
            print_error("%s: format '%s' does not mention '%s'\n", cases[i].name, info->format, cases[i].desc);
            fail();
        }
        char desc[64];
        snprintf(desc, sizeof desc, "%s", info->format);
        voz_audio_close(a);
        size_t got;
        float *pcm = load_ok(p, rate, &got);
        int lag;
        double snr = snr_db(pcm, got, rate, cases[i].max_lag, &lag);
        printf("  %-12s %-44s n=%5zu SNR %6.1f dB (lag %d)\n", cases[i].name, desc,
               got, snr, lag);
        if (got + 2048 < n || got > n + 2048 || snr < cases[i].min_snr) {
            print_error("%s: %zu samples (wrote %zu), SNR %.1f dB, expected >= %.0f\n", cases[i].name, got, n,
                        snr, cases[i].min_snr);
            fail();
        }
        free(pcm);
    }
    free(x);
}

/* Lossy codecs libsndfile may or may not have: MP3 (mpg123/lame) and Opus. */
static void test_lossy_optional(void **state)
{
    (void)state;
    static const struct { const char *name; int format; int rate; } cases[] = {
        { "tone.mp3", SF_FORMAT_MPEG | SF_FORMAT_MPEG_LAYER_III, 16000 },
        { "tone.opus", SF_FORMAT_OGG | SF_FORMAT_OPUS, 16000 },
    };
    for (size_t i = 0; i < 2; i++) {
        SF_INFO si = { .samplerate = cases[i].rate, .channels = 1, .format = cases[i].format };
        const char *p = tpath(cases[i].name);
        if (!sf_format_check(&si)) {
            /* Without the codec the file is refused with libsndfile's reason. Write an
               MPEG frame header by hand so there is something to refuse. */
            unsigned char b[4096] = { 0xFF, 0xFB, 0x90, 0x64 };
            write_bytes(p, b, sizeof b);
            float *pcm;
            size_t n;
            voz_status s = voz_audio_load(p, 16000, &pcm, &n);
            assert_int_equal(s, VOZ_ERR_FORMAT);
            assert_non_null(strstr(voz_last_error(), p));
            assert_non_null(strstr(voz_last_error(), "libsndfile"));
            printf("  %s: not supported by this libsndfile: %s\n", cases[i].name, voz_last_error());
            continue;
        }
        size_t n = 16000;
        float *x = make_interleaved(cases[i].rate, 1, n, 0);
        write_sf(p, cases[i].format, cases[i].rate, 1, x, n);
        free(x);
        size_t got;
        float *pcm = load_ok(p, 16000, &got);
        int lag;
        double snr = snr_db(pcm, got, 16000, 1200, &lag);
        printf("  %-12s n=%zu SNR %.1f dB (lag %d)\n", cases[i].name, got, snr, lag);
        assert_true(got > n / 2);
        assert_true(snr > 10);
        free(pcm);
    }
}

/* The same signal at other rates and channel counts, read at 16 kHz. */
static void test_rates_channels(void **state)
{
    (void)state;
    static const struct { int rate, channels, format; double min_snr; } cases[] = {
        { 8000, 1, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 40 },
        { 22050, 1, SF_FORMAT_WAV | SF_FORMAT_FLOAT, 40 },
        { 44100, 2, SF_FORMAT_WAV | SF_FORMAT_PCM_24, 40 },
        { 48000, 4, SF_FORMAT_WAVEX | SF_FORMAT_FLOAT, 40 },
        { 48000, 2, SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 40 },
        { 16000, 2, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 60 },
        { 16000, 3, SF_FORMAT_WAV | SF_FORMAT_FLOAT, 100 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "r%d_c%d_%zu.wav", cases[i].rate, cases[i].channels, i);
        const char *p = tpath(name);
        size_t n = (size_t)cases[i].rate; /* 1 s */
        float *x = make_interleaved(cases[i].rate, cases[i].channels, n, 0);
        write_sf(p, cases[i].format, cases[i].rate, cases[i].channels, x, n);
        free(x);
        size_t got;
        float *pcm = load_ok(p, 16000, &got);
        int lag;
        double snr = snr_db(pcm, got, 16000, 4, &lag);
        printf("  %5d Hz x %d -> 16000 Hz mono: n=%zu SNR %.1f dB (lag %d)\n", cases[i].rate,
               cases[i].channels, got, snr, lag);
        if (labs((long)got - 16000) > 2 || snr < cases[i].min_snr || lag != 0) {
            print_error("%s: %zu samples, expected 16000; SNR %.1f dB, expected >= %.0f; lag %d\n", name, got, snr,
                        cases[i].min_snr, lag);
            fail();
        }
        free(pcm);
        /* the native rate is kept with target 0 */
        struct voz_audio *a;
        assert_int_equal(voz_audio_open(p, 0, &a), VOZ_OK);
        assert_int_equal(voz_audio_get_info(a)->file_rate, cases[i].rate);
        assert_int_equal(voz_audio_get_info(a)->channels, cases[i].channels);
        assert_int_equal(voz_audio_get_info(a)->frames, (int64_t)n);
        voz_audio_close(a);
        pcm = load_ok(p, 0, &got);
        assert_int_equal(got, n);
        free(pcm);
    }
}

/* Reading in small pieces gives what one load gives, with and without resampling. */
static void test_read_blocks(void **state)
{
    (void)state;
    const char *p = tpath("blocks.wav");
    size_t n = 44100;
    float *x = make_interleaved(44100, 2, n, 0);
    write_sf(p, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 44100, 2, x, n);
    free(x);
    static const int rates[] = { 0, 16000 };
    static const size_t sizes[] = { 1, 7, 160, 5000 };
    for (int r = 0; r < 2; r++) {
        size_t ref_n;
        float *ref = load_ok(p, rates[r], &ref_n);
        for (size_t k = 0; k < 4; k++) {
            struct voz_audio *a;
            assert_int_equal(voz_audio_open(p, rates[r], &a), VOZ_OK);
            float *buf = malloc((ref_n + 8192) * sizeof *buf);
            size_t len = 0, got;
            do {
                assert_int_equal(voz_audio_read(a, buf + len, sizes[k], &got), VOZ_OK);
                assert_true(got <= sizes[k]);
                len += got;
                assert_true(len <= ref_n + 4096);
            } while (got);
            /* end of input stays the end */
            assert_int_equal(voz_audio_read(a, buf + len, 10, &got), VOZ_OK);
            assert_int_equal(got, 0);
            voz_audio_close(a);
            assert_int_equal(len, ref_n);
            for (size_t i = 0; i < len; i++)
                if (fabsf(buf[i] - ref[i]) > 1e-6f) {
                    print_error("rate %d block %zu: sample %zu is %g, one load gives %g\n", rates[r], sizes[k], i,
                                buf[i], ref[i]);
                    fail();
                }
            free(buf);
        }
        free(ref);
    }
}

/* ---- hand-made WAV layouts ------------------------------------------------------------ */

/* A PCM16 mono WAV image with optional chunks before data: LIST (odd length, padded)
   and fact. */
static unsigned char *wav_image(const int16_t *s, size_t n, int rate, int extra, size_t *len)
{
    /* LIST/INFO with one ISFT string of 3 bytes: a 15-byte body, then a pad byte */
    static const char list[] = "LIST\x0f\0\0\0INFOISFT\x03\0\0\0voz\0";
    unsigned char *b = calloc(1, 128 + 2 * n);
    size_t pos = 12;
    memcpy(b, "RIFF", 4);
    memcpy(b + 8, "WAVE", 4);
    if (extra) {
        memcpy(b + pos, list, 24);
        pos += 24;
    }
    memcpy(b + pos, "fmt ", 4);
    put32(b + pos + 4, 16);
    put16(b + pos + 8, 1);
    put16(b + pos + 10, 1);
    put32(b + pos + 12, (uint32_t)rate);
    put32(b + pos + 16, (uint32_t)rate * 2);
    put16(b + pos + 20, 2);
    put16(b + pos + 22, 16);
    pos += 24;
    if (extra) {
        memcpy(b + pos, "fact", 4);
        put32(b + pos + 4, 4);
        put32(b + pos + 8, (uint32_t)n);
        pos += 12;
    }
    memcpy(b + pos, "data", 4);
    put32(b + pos + 4, (uint32_t)(2 * n));
    pos += 8;
    for (size_t i = 0; i < n; i++)
        put16(b + pos + 2 * i, (uint16_t)s[i]);
    pos += 2 * n;
    put32(b + 4, (uint32_t)(pos - 8));
    *len = pos;
    return b;
}

static void expect_exact(const char *p, const int16_t *s, size_t n)
{
    size_t got;
    float *pcm = load_ok(p, 0, &got);
    if (got != n) {
        print_error("%s: %zu samples, expected %zu\n", p, got, n);
        fail();
    }
    for (size_t i = 0; i < n; i++)
        if (pcm[i] != s[i] / 32768.0f) {
            print_error("%s: sample %zu is %g, expected %g\n", p, i, pcm[i], s[i] / 32768.0);
            fail();
        }
    free(pcm);
}

static void test_wav_layouts(void **state)
{
    (void)state;
    enum { N = 3000 };
    int16_t s[N];
    /* large DC offset with a small tone riding on it */
    for (int i = 0; i < N; i++)
        s[i] = (int16_t)(20000 + lrint(3000 * sin(i * 0.05)));
    size_t len;
    unsigned char *b = wav_image(s, N, 16000, 1, &len);
    write_bytes(tpath("chunks.wav"), b, len);
    expect_exact(tpath("chunks.wav"), s, N);
    free(b);
    /* very quiet: +-3 LSB */
    for (int i = 0; i < N; i++)
        s[i] = (int16_t)((i % 7) - 3);
    b = wav_image(s, N, 16000, 0, &len);
    write_bytes(tpath("quiet.wav"), b, len);
    expect_exact(tpath("quiet.wav"), s, N);
    /* a path with spaces and non-ASCII characters */
    char sub[512];
    snprintf(sub, sizeof sub, "%s/dir with spaces \xc3\xb1\xc3\xb8", dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    char p[600];
    snprintf(p, sizeof p, "%s/r\xc3\xa9sum\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac.wav", sub);
    write_bytes(p, b, len);
    expect_exact(p, s, N);
    free(b);
    /* the content decides, not the extension */
    float *x = make_interleaved(16000, 1, 8000, 0);
    write_sf(tpath("really_flac.wav"), SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 16000, 1, x, 8000);
    write_sf(tpath("really_wav.mp3"), SF_FORMAT_WAV | SF_FORMAT_PCM_16, 16000, 1, x, 8000);
    free(x);
    struct voz_audio *a;
    assert_int_equal(voz_audio_open(tpath("really_flac.wav"), 0, &a), VOZ_OK);
    assert_non_null(strstr(voz_audio_get_info(a)->format, "FLAC"));
    voz_audio_close(a);
    assert_int_equal(voz_audio_open(tpath("really_wav.mp3"), 0, &a), VOZ_OK);
    assert_non_null(strstr(voz_audio_get_info(a)->format, "WAV"));
    voz_audio_close(a);
    /* a header with no samples is an empty input, not an error */
    b = wav_image(s, 0, 16000, 1, &len);
    write_bytes(tpath("nosamples.wav"), b, len);
    free(b);
    float *pcm;
    size_t n;
    assert_int_equal(voz_audio_load(tpath("nosamples.wav"), 16000, &pcm, &n), VOZ_OK);
    assert_int_equal(n, 0);
    free(pcm);
}

/* Writes `bytes` into a pipe from a child process and reads it as "-". */
static voz_status load_stdin(const unsigned char *bytes, size_t len, int rate, float **pcm, size_t *n)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        size_t done = 0;
        while (done < len) {
            ssize_t w = write(fds[1], bytes + done, len - done);
            if (w <= 0)
                _exit(1);
            done += (size_t)w;
        }
        _exit(0);
    }
    close(fds[1]);
    int saved = dup(0);
    dup2(fds[0], 0);
    close(fds[0]);
    voz_status s = voz_audio_load("-", rate, pcm, n);
    dup2(saved, 0);
    close(saved);
    int status;
    waitpid(pid, &status, 0);
    return s;
}

/* Sizes that streaming writers leave behind: read whatever samples are there, from a
   regular file, through a pipe on stdin and through a redirected regular file. */
static void test_lying_headers(void **state)
{
    (void)state;
    enum { N = 4000 };
    int16_t s[N];
    for (int i = 0; i < N; i++)
        s[i] = (int16_t)lrint(12000 * sin(i * 0.031) + 500 * cos(i * 0.7));
    size_t len;
    unsigned char *b = wav_image(s, N, 16000, 1, &len);
    write_bytes(tpath("good.wav"), b, len);
    free(b);
    /* WAVE_FORMAT_EXTENSIBLE and float versions too, written by libsndfile */
    float *xf = malloc(N * sizeof *xf);
    for (int i = 0; i < N; i++)
        xf[i] = s[i] / 32768.0f;
    write_sf(tpath("good_ext.wav"), SF_FORMAT_WAVEX | SF_FORMAT_PCM_16, 16000, 1, xf, N);
    write_sf(tpath("good_f32.wav"), SF_FORMAT_WAV | SF_FORMAT_FLOAT, 16000, 1, xf, N);
    write_sf(tpath("good_u8.wav"), SF_FORMAT_WAV | SF_FORMAT_PCM_U8, 16000, 1, xf, N);
    write_sf(tpath("good_s24.wav"), SF_FORMAT_WAV | SF_FORMAT_PCM_24, 16000, 1, xf, N);
    write_sf(tpath("good_s32.wav"), SF_FORMAT_WAVEX | SF_FORMAT_PCM_32, 16000, 1, xf, N);
    write_sf(tpath("good_f64.wav"), SF_FORMAT_WAVEX | SF_FORMAT_DOUBLE, 16000, 1, xf, N);
    free(xf);
    /* our reader must convert exactly as libsndfile does, for every sample width */
    static const char *srcs[] = { "good.wav", "good_ext.wav", "good_f32.wav", "good_u8.wav",
                                  "good_s24.wav", "good_s32.wav", "good_f64.wav" };
    static const size_t widths[] = { 2, 2, 4, 1, 3, 4, 8 };
    static const struct { const char *name; int64_t riff, data; int cut; } lies[] = {
        { "ffff", 0xFFFFFFFF, 0xFFFFFFFF, 0 },
        { "zero", 0, 0, 0 },
        { "riff0", 0, -1, 0 },
        { "data0", -1, 0, 0 },
        { "past", 0x7FFFFFF0, 0x7FFFFF00, 0 },
        { "ffff_cut", 0xFFFFFFFF, 0xFFFFFFFF, 1 }, /* also ends mid-sample */
        { "zero_cut", 0, 0, 1 },
    };
    for (size_t k = 0; k < sizeof srcs / sizeof srcs[0]; k++) {
        size_t n0;
        float *want = load_ok(tpath(srcs[k]), 0, &n0);
        assert_int_equal(n0, N);
        size_t flen, bps = widths[k];
        unsigned char *img = slurp(tpath(srcs[k]), &flen);
        /* cut at the end of the samples: libsndfile may have added chunks after them */
        size_t data_end = data_size_offset(img, flen) + 4 + N * bps;
        free(img);
        for (size_t i = 0; i < sizeof lies / sizeof lies[0]; i++) {
            char name[64];
            snprintf(name, sizeof name, "%s_%s", lies[i].name, srcs[k]);
            /* cut: 1000 samples and one more byte short, so the last sample is partial */
            size_t keep = lies[i].cut ? data_end - 1000 * bps - 1 : data_end;
            size_t expect = lies[i].cut ? N - 1001 : N;
            patch_wav(tpath(srcs[k]), tpath(name), lies[i].riff, lies[i].data, keep);
            size_t img_len;
            unsigned char *bytes = slurp(tpath(name), &img_len);
            /* what libsndfile alone makes of it, and which reader voz picked */
            SF_INFO si = { 0 };
            SNDFILE *sf = sf_open(tpath(name), SFM_READ, &si);
            struct voz_audio *a;
            assert_int_equal(voz_audio_open(tpath(name), 0, &a), VOZ_OK);
            printf("  %-22s libsndfile alone: %5lld frames; voz: %5lld frames, %s\n", name,
                   sf ? (long long)si.frames : -1LL, (long long)voz_audio_get_info(a)->frames,
                   voz_audio_get_info(a)->format);
            voz_audio_close(a);
            if (sf)
                sf_close(sf);
            for (int via = 0; via < 3; via++) {
                float *pcm;
                size_t n;
                voz_status st;
                if (via == 0) {
                    st = voz_audio_load(tpath(name), 0, &pcm, &n);
                } else if (via == 1) {
                    st = load_stdin(bytes, img_len, 0, &pcm, &n);
                } else {
                    int saved = dup(0), fd = open(tpath(name), O_RDONLY);
                    dup2(fd, 0);
                    close(fd);
                    st = voz_audio_load("-", 0, &pcm, &n);
                    dup2(saved, 0);
                    close(saved);
                }
                if (st != VOZ_OK || n != expect || memcmp(pcm, want, n * sizeof *pcm)) {
                    print_error("%s via %s: status %d (%s), %zu samples, expected %zu identical to the "
                                "honest file\n", name, via == 0 ? "file" : via == 1 ? "pipe" : "redirect", st,
                                voz_last_error(), st == VOZ_OK ? n : 0, expect);
                    fail();
                }
                free(pcm);
            }
            free(bytes);
        }
        free(want);
    }
    /* data size 0 followed only by a metadata chunk: really no samples */
    unsigned char h[44 + 20];
    size_t hl;
    unsigned char *e = wav_image(s, 0, 16000, 0, &hl);
    memcpy(h, e, hl);
    free(e);
    memcpy(h + hl, "LIST\x0c\0\0\0INFOISFT\0\0\0\0", 20);
    put32(h + 4, 0);
    write_bytes(tpath("zero_then_list.wav"), h, hl + 20);
    float *pcm;
    size_t n;
    assert_int_equal(voz_audio_load(tpath("zero_then_list.wav"), 0, &pcm, &n), VOZ_OK);
    assert_int_equal(n, 0);
    free(pcm);
    /* resampled through the pipe as well */
    size_t glen;
    unsigned char *g = slurp(tpath("zero_good.wav"), &glen);
    assert_int_equal(load_stdin(g, glen, 8000, &pcm, &n), VOZ_OK);
    assert_true(labs((long)n - N / 2) <= 2);
    free(pcm);
    free(g);
}

static void test_nonfinite(void **state)
{
    (void)state;
    enum { N = 8000 };
    float *x = make_interleaved(16000, 2, N, 0);
    x[2 * 4321 + 1] = NAN; /* frame 4321, channel 2 */
    write_sf(tpath("nan.wav"), SF_FORMAT_WAV | SF_FORMAT_FLOAT, 16000, 2, x, N);
    x[2 * 4321 + 1] = 0;
    x[2 * 100] = INFINITY;
    write_sf(tpath("inf.wav"), SF_FORMAT_WAV | SF_FORMAT_DOUBLE, 16000, 2, x, N);
    free(x);
    patch_wav(tpath("nan.wav"), tpath("nan_data0.wav"), -1, 0, 0); /* our own reader */
    static const struct { const char *name, *pos; } cases[] = {
        { "nan.wav", "frame 4321 (0.270 s), channel 2" },
        { "nan_data0.wav", "frame 4321 (0.270 s), channel 2" },
        { "inf.wav", "frame 100 (0.006 s), channel 1" },
    };
    for (int i = 0; i < 3; i++)
        for (int rate = 0; rate <= 8000; rate += 8000) {
            float *pcm;
            size_t n;
            voz_status s = voz_audio_load(tpath(cases[i].name), rate, &pcm, &n);
            const char *msg = voz_last_error();
            if (s != VOZ_ERR_NONFINITE || !strstr(msg, tpath(cases[i].name)) || !strstr(msg, cases[i].pos)) {
                print_error("%s: status %d, message '%s', expected position '%s'\n", cases[i].name, s, msg,
                            cases[i].pos);
                fail();
            }
            assert_null(pcm);
        }
    /* streaming: the samples before the bad one come out, then the error, and it stays */
    struct voz_audio *a;
    assert_int_equal(voz_audio_open(tpath("nan.wav"), 0, &a), VOZ_OK);
    float buf[1000];
    size_t got, total = 0;
    voz_status s;
    while ((s = voz_audio_read(a, buf, 1000, &got)) == VOZ_OK && got)
        total += got;
    assert_int_equal(s, VOZ_ERR_NONFINITE);
    assert_true(total <= 4321);
    assert_int_equal(voz_audio_read(a, buf, 1000, &got), VOZ_ERR_NONFINITE);
    assert_int_equal(got, 0);
    voz_audio_close(a);

    /* Finite but huge samples (1e36 once gave an empty transcript): refused the same way,
       in float and double files, through libsndfile and through our reader. */
    static const double huge[] = { 2e4, -1e15, 1e36, 3e38 };
    for (int i = 0; i < 4; i++)
        for (int dbl = 0; dbl < 2; dbl++) {
            float *y = make_interleaved(8000, 1, N, 0);
            y[777] = (float)huge[i];
            const char *name = dbl ? "huge64.wav" : "huge32.wav";
            write_sf(tpath(name), SF_FORMAT_WAV | (dbl ? SF_FORMAT_DOUBLE : SF_FORMAT_FLOAT), 8000, 1, y, N);
            free(y);
            patch_wav(tpath(name), tpath("huge_data0.wav"), -1, 0, 0);
            const char *files[] = { tpath(name), tpath("huge_data0.wav") };
            for (int f = 0; f < 2; f++) {
                float *pcm;
                size_t n;
                voz_status st = voz_audio_load(files[f], 0, &pcm, &n);
                const char *msg = voz_last_error();
                if (st != VOZ_ERR_NONFINITE || !strstr(msg, files[f]) || !strstr(msg, "frame 777") ||
                    !strstr(msg, "expected audio within")) {
                    print_error("sample %g in %s: status %d, message '%s'\n", huge[i], files[f], st, msg);
                    fail();
                }
            }
        }
    /* the limit itself is audio */
    float *y = make_interleaved(8000, 1, N, 0);
    y[777] = VOZ_AUDIO_MAX_ABS;
    write_sf(tpath("edge.wav"), SF_FORMAT_WAV | SF_FORMAT_FLOAT, 8000, 1, y, N);
    free(y);
    float *pcm;
    size_t n;
    assert_int_equal(voz_audio_load(tpath("edge.wav"), 0, &pcm, &n), VOZ_OK);
    assert_int_equal(n, N);
    free(pcm);
}

/* ---- incremental reading of a pipe ------------------------------------------------------ */

static int abort_flag;
static int abort_when_set(void *user)
{
    (void)user;
    return abort_flag;
}

/* A WAV stream on a FIFO-like pipe (header sizes 0xFFFFFFFF, as arecord writes to a pipe):
   the samples written so far are read while the writer keeps the pipe open, an odd byte
   (half a sample) waits for its other half, and the abort callback ends a read that would
   wait for more. Without incremental reading the open itself would wait for the end. */
static void test_incremental_pipe(void **state)
{
    (void)state;
    enum { N = 1000 };
    int16_t s16[N];
    for (int i = 0; i < N; i++)
        s16[i] = (int16_t)lround(32767 * signal_at(i / 8000.0));
    size_t len;
    unsigned char *img = wav_image(s16, N, 8000, 1, &len);
    put32(img + 4, 0xFFFFFFFFu);
    put32(img + data_size_offset(img, len), 0xFFFFFFFFu);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    signal(SIGPIPE, SIG_IGN);
    /* everything but the last byte: the last sample is incomplete */
    assert_int_equal(write(fds[1], img, len - 1), (ssize_t)(len - 1));
    char path[64];
    snprintf(path, sizeof path, "/dev/fd/%d", fds[0]);
    voz_audio_options o = { .incremental = 1, .abort = abort_when_set };
    abort_flag = 0;
    struct voz_audio *a;
    assert_int_equal(voz_audio_open_opts(path, 0, &o, &a), VOZ_OK);
    assert_int_equal(voz_audio_get_info(a)->file_rate, 8000);
    assert_int_equal(voz_audio_get_info(a)->frames, -1);
    float buf[N];
    size_t got;
    assert_int_equal(voz_audio_read(a, buf, N - 1, &got), VOZ_OK);
    assert_int_equal(got, N - 1);
    for (int i = 0; i < N - 1; i++)
        assert_true(buf[i] == s16[i] / 32768.0f);
    /* the other half of the last sample, then a read of more than there is: it returns
       the sample after waiting for more, when the callback says stop */
    assert_int_equal(write(fds[1], img + len - 1, 1), 1);
    assert_int_equal(voz_audio_read(a, buf, 1, &got), VOZ_OK);
    assert_int_equal(got, 1);
    assert_true(buf[0] == s16[N - 1] / 32768.0f);
    abort_flag = 1;
    assert_int_equal(voz_audio_read(a, buf, 10, &got), VOZ_ERR_ABORTED);
    assert_non_null(strstr(voz_last_error(), "interrupted"));
    voz_audio_close(a);
    close(fds[0]);
    close(fds[1]);

    /* the writer closes: the end of the stream is the end of the audio */
    abort_flag = 0;
    assert_int_equal(pipe(fds), 0);
    assert_int_equal(write(fds[1], img, len), (ssize_t)len);
    close(fds[1]);
    snprintf(path, sizeof path, "/dev/fd/%d", fds[0]);
    assert_int_equal(voz_audio_open_opts(path, 0, &o, &a), VOZ_OK);
    size_t total = 0;
    while (voz_audio_read(a, buf, 300, &got) == VOZ_OK && got)
        total += got;
    assert_int_equal(total, N);
    voz_audio_close(a);
    close(fds[0]);

    /* not WAV on an incremental pipe: spooled with the bytes already read, as before */
    assert_int_equal(pipe(fds), 0);
    assert_int_equal(write(fds[1], "not audio at all", 16), 16);
    close(fds[1]);
    snprintf(path, sizeof path, "/dev/fd/%d", fds[0]);
    assert_int_equal(voz_audio_open_opts(path, 0, &o, &a), VOZ_ERR_FORMAT);
    assert_non_null(strstr(voz_last_error(), "not a supported audio file"));
    close(fds[0]);
    free(img);
}

/* ---- errors ----------------------------------------------------------------------------- */

static void expect_error(const char *path, voz_status want, const char *text)
{
    float *pcm = (float *)1;
    size_t n = 1;
    voz_clear_error();
    voz_status s = voz_audio_load(path, 16000, &pcm, &n);
    const char *msg = voz_last_error();
    const char *name = strcmp(path, "-") ? path : "standard input";
    if (s != want || strncmp(msg, name, strlen(name)) || !strstr(msg, text) || strchr(msg, '\n')) {
        print_error("%s: status %d, message '%s'; expected status %d and '%s: ...%s...'\n", path, s, msg, want,
                    name, text);
        fail();
    }
    assert_null(pcm);
    assert_int_equal(n, 0);
    printf("  %s\n", msg);
}

static void test_errors(void **state)
{
    (void)state;
    expect_error(tpath("missing.wav"), VOZ_ERR_IO, "No such file");
    expect_error(dir, VOZ_ERR_IO, "is a directory");
    write_bytes(tpath("empty.wav"), "", 0);
    expect_error(tpath("empty.wav"), VOZ_ERR_FORMAT, "is empty");
    const char text[] = "this is a text file, not audio\nsecond line\n";
    write_bytes(tpath("text.wav"), text, sizeof text - 1);
    expect_error(tpath("text.wav"), VOZ_ERR_FORMAT, "not a supported audio file (libsndfile: ");
    unsigned char rnd[8192];
    uint32_t r = 12345;
    for (size_t i = 0; i < sizeof rnd; i++) {
        r = r * 1664525u + 1013904223u;
        rnd[i] = (unsigned char)(r >> 24);
    }
    write_bytes(tpath("random.bin"), rnd, sizeof rnd);
    expect_error(tpath("random.bin"), VOZ_ERR_FORMAT, "not a supported audio file");
    /* a RIFF/WAVE whose chunk sizes cannot be right: both readers' reasons */
    unsigned char bad[64] = "RIFF\0\0\0\0WAVEfmt \xff\xff\0\0";
    write_bytes(tpath("badchunk.wav"), bad, sizeof bad);
    expect_error(tpath("badchunk.wav"), VOZ_ERR_FORMAT, "claims 65535 bytes");
    write_bytes(tpath("short.wav"), "RIFF\x24\0\0\0WAVE", 12);
    expect_error(tpath("short.wav"), VOZ_ERR_FORMAT, "not a supported audio file");
    /* A-law WAV is libsndfile's to read; an unknown encoding tag is refused */
    size_t len;
    int16_t s1[4] = { 1, 2, 3, 4 };
    unsigned char *img = wav_image(s1, 4, 8000, 0, &len);
    put16(img + 20, 0x1234);
    write_bytes(tpath("tag.wav"), img, len);
    free(img);
    expect_error(tpath("tag.wav"), VOZ_ERR_FORMAT, "not a supported audio file");
    /* standard input: empty, and text */
    int saved = dup(0), fd = open("/dev/null", O_RDONLY);
    dup2(fd, 0);
    close(fd);
    expect_error("-", VOZ_ERR_FORMAT, "is empty");
    fd = open(tpath("text.wav"), O_RDONLY);
    dup2(fd, 0);
    close(fd);
    expect_error("-", VOZ_ERR_FORMAT, "not a supported audio file");
    dup2(saved, 0);
    close(saved);
    /* unreadable (meaningless for root, who reads anything) */
    if (geteuid() != 0) {
        write_bytes(tpath("noperm.wav"), text, 4);
        chmod(tpath("noperm.wav"), 0);
        expect_error(tpath("noperm.wav"), VOZ_ERR_IO, "Permission denied");
    }
    /* bad arguments */
    struct voz_audio *a = (struct voz_audio *)1;
    assert_int_equal(voz_audio_open("", 16000, &a), VOZ_ERR_INVALID);
    assert_null(a);
    assert_int_equal(voz_audio_open(tpath("chunks.wav"), -5, &a), VOZ_ERR_INVALID);
}

/* Every truncation and a few hundred random byte changes of a small WAV (with extra
   chunks) and of the same with a data size of 0 (our reader): never a crash (run
   under SANITIZE=1), always either samples or one line naming the file. */
static void test_mutations(void **state)
{
    (void)state;
    enum { N = 200 };
    int16_t s[N];
    for (int i = 0; i < N; i++)
        s[i] = (int16_t)(i * 97);
    size_t len;
    unsigned char *img = wav_image(s, N, 16000, 1, &len), *m = malloc(len);
    const char *p = tpath("mutant.wav");
    uint32_t r = 99;
    int ok = 0, refused = 0;
    for (int variant = 0; variant < 2; variant++) {
        if (variant)
            put32(img + data_size_offset(img, len), 0);
        for (size_t cut = 0; cut <= len; cut += (cut < 120 ? 1 : 37)) {
            write_bytes(p, img, cut);
            float *pcm;
            size_t n;
            voz_status st = voz_audio_load(p, cut % 2 ? 8000 : 0, &pcm, &n);
            if (st == VOZ_OK) {
                ok++;
                free(pcm);
            } else {
                refused++;
                assert_non_null(strstr(voz_last_error(), p));
                assert_null(strchr(voz_last_error(), '\n'));
            }
        }
        for (int k = 0; k < 300; k++) {
            memcpy(m, img, len);
            for (int j = 0; j < 1 + k % 4; j++) {
                r = r * 1664525u + 1013904223u;
                size_t at = (r >> 8) % 80; /* the header region */
                r = r * 1664525u + 1013904223u;
                m[at] = (unsigned char)(r >> 24);
            }
            write_bytes(p, m, len);
            float *pcm;
            size_t n;
            voz_status st = voz_audio_load(p, k % 3 ? 16000 : 0, &pcm, &n);
            if (st == VOZ_OK) {
                ok++;
                free(pcm);
            } else {
                refused++;
                assert_non_null(strstr(voz_last_error(), p));
            }
        }
    }
    printf("  %d mutants read, %d refused\n", ok, refused);
    free(m);
    free(img);
}

/* ---- resampler -------------------------------------------------------------------------- */

static void test_resampler(void **state)
{
    (void)state;
    /* 48 kHz -> 16 kHz one-shot against the analytic 16 kHz signal */
    size_t n = 48000;
    float *x = make_interleaved(48000, 1, n, 0), *y;
    size_t ny;
    assert_int_equal(voz_resample_buffer(x, n, 48000, 16000, &y, &ny), VOZ_OK);
    assert_true(labs((long)ny - 16000) <= 1);
    int lag;
    double snr = snr_db(y, ny, 16000, 4, &lag);
    printf("  48000 -> 16000 one-shot: n=%zu SNR %.1f dB lag %d\n", ny, snr, lag);
    assert_true(snr > 60);
    assert_int_equal(lag, 0);
    /* block-wise with tiny output buffers gives the same samples */
    struct voz_resampler *r;
    assert_int_equal(voz_resampler_create(48000, 16000, &r), VOZ_OK);
    float *z = malloc((ny + 100) * sizeof *z);
    size_t nz = 0, got, pos = 0;
    while (pos < n) {
        size_t take = n - pos < 999 ? n - pos : 999;
        assert_int_equal(voz_resampler_process(r, x + pos, take, z + nz, 7, &got, 0), VOZ_OK);
        nz += got;
        pos += take;
        while (got == 7) {
            assert_int_equal(voz_resampler_process(r, NULL, 0, z + nz, 7, &got, 0), VOZ_OK);
            nz += got;
        }
        assert_true(nz <= ny);
    }
    do {
        assert_int_equal(voz_resampler_process(r, NULL, 0, z + nz, 5, &got, 1), VOZ_OK);
        nz += got;
        assert_true(nz <= ny + 100);
    } while (got == 5);
    voz_resampler_free(r);
    assert_int_equal(nz, ny);
    for (size_t i = 0; i < ny; i++)
        assert_float_equal(z[i], y[i], 1e-6);
    free(z);
    free(y);
    free(x);
    /* DC is kept */
    float dc[8000];
    for (int i = 0; i < 8000; i++)
        dc[i] = 0.5f;
    assert_int_equal(voz_resample_buffer(dc, 8000, 8000, 16000, &y, &ny), VOZ_OK);
    assert_true(labs((long)ny - 16000) <= 1);
    for (size_t i = 800; i < ny - 800; i++)
        assert_float_equal(y[i], 0.5, 1e-4);
    free(y);
    /* empty input, bad rates */
    assert_int_equal(voz_resample_buffer(dc, 0, 8000, 16000, &y, &ny), VOZ_OK);
    assert_int_equal(ny, 0);
    free(y);
    assert_int_equal(voz_resampler_create(0, 16000, &r), VOZ_ERR_INVALID);
    assert_null(r);
    assert_int_equal(voz_resampler_create(16000, NAN, &r), VOZ_ERR_INVALID);
}

/* The real corpus, when present: 8 kHz files read as such, and resampled to 16 kHz. */
static void test_fsdd(void **state)
{
    (void)state;
    const char *shared = getenv("VOZ_SHARED");
    char p[1024];
    snprintf(p, sizeof p, "%s/data/fsdd/3_george_5.wav", shared ? shared : "../shared");
    if (access(p, R_OK)) {
        printf("  skipped: %s not found\n", p);
        skip();
    }
    struct voz_audio *a;
    assert_int_equal(voz_audio_open(p, 16000, &a), VOZ_OK);
    const voz_audio_info *info = voz_audio_get_info(a);
    assert_int_equal(info->file_rate, 8000);
    assert_int_equal(info->channels, 1);
    int64_t frames = info->frames;
    assert_true(frames > 1000);
    voz_audio_close(a);
    size_t n8, n16;
    float *p8 = load_ok(p, 8000, &n8), *p16 = load_ok(p, 16000, &n16);
    assert_int_equal(n8, (size_t)frames);
    assert_true(labs((long)n16 - 2 * (long)n8) <= 2);
    free(p8);
    free(p16);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_formats),
        cmocka_unit_test(test_lossy_optional),
        cmocka_unit_test(test_rates_channels),
        cmocka_unit_test(test_read_blocks),
        cmocka_unit_test(test_wav_layouts),
        cmocka_unit_test(test_lying_headers),
        cmocka_unit_test(test_nonfinite),
        cmocka_unit_test(test_incremental_pipe),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_mutations),
        cmocka_unit_test(test_resampler),
        cmocka_unit_test(test_fsdd),
    };
    return cmocka_run_group_tests_name("audio", tests, setup, teardown);
}
