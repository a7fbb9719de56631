/* tests/test_hostile.c — the inputs the fuzzers found, replayed under `make test`:
   every file in fuzz/regressions/TARGET/ goes through the same target function (and so
   the same invariants) as in fuzz/fuzz_TARGET.c, compiled in here; plus direct checks
   of each bug those inputs exposed, so a regression fails with a message instead of
   an abort. Runs from the top of the tree (as tests/run-tests.sh does). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define VOZ_FUZZ_NO_ENTRY
#include "fuzz/fuzz_audio.c"
#include "fuzz/fuzz_manifest.c"
#include "fuzz/fuzz_model.c"

#include "recognizer/internal.h"

#define REGRESSIONS "fuzz/regressions"

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    unsigned char *b = NULL;
    size_t cap = 0, len = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? 2 * cap : 4096;
            unsigned char *nb = realloc(b, cap);
            assert_non_null(nb);
            b = nb;
        }
        size_t got = fread(b + len, 1, cap - len, fp);
        len += got;
        if (!got)
            break;
    }
    fclose(fp);
    *n = len;
    return b;
}

/* Runs `one` on every regular file of fuzz/regressions/<target>; returns the count. */
static int replay(const char *target, int (*one)(const uint8_t *, size_t))
{
    char dir[256];
    snprintf(dir, sizeof dir, "%s/%s", REGRESSIONS, target);
    DIR *d = opendir(dir);
    if (!d)
        return 0; /* no input kept for this target (yet) */
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        char path[600];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (e->d_name[0] == '.' || stat(path, &st) || !S_ISREG(st.st_mode))
            continue;
        size_t size;
        unsigned char *data = slurp(path, &size);
        assert_non_null(data);
        /* An invariant broken inside aborts the run; this line says which input. */
        print_message("replay %s (%zu bytes)\n", path, size);
        one(data, size);
        free(data);
        n++;
    }
    closedir(d);
    return n;
}

static void test_replay_regressions(void **state)
{
    (void)state;
    struct stat st;
    if (stat(REGRESSIONS, &st) || !S_ISDIR(st.st_mode))
        fail_msg("%s not found: run from the top of the tree", REGRESSIONS);
    int na = replay("audio", fuzz_audio_one);
    int nm = replay("model", fuzz_model_one);
    int nn = replay("manifest", fuzz_manifest_one);
    print_message("replayed %d audio, %d model, %d manifest inputs\n", na, nm, nn);
    assert_true(na + nm + nn > 0);
}

/* ---- the bugs, one by one ------------------------------------------------------------ */

/* voz_fail() wrapping voz_last_error() used to read its own output buffer. */
static void test_fail_wraps_last_error(void **state)
{
    (void)state;
    voz_fail(VOZ_ERR_INVALID, "net config: hidden %d, expected 1..%d", 2147483647, 4096);
    voz_status s = voz_fail(VOZ_ERR_FORMAT, "%s: bad network configuration: %s", "m.voz", voz_last_error());
    assert_int_equal(s, VOZ_ERR_FORMAT);
    assert_string_equal(voz_last_error(), "m.voz: bad network configuration: net config: hidden 2147483647, "
                                          "expected 1..4096");
}

/* A tensor name holding a newline (found by fuzz_model in CI) made a two-line error:
   every reason is one line, whatever the file put in the names it quotes. */
static void test_fail_is_one_line(void **state)
{
    (void)state;
    voz_fail(VOZ_ERR_FORMAT, "%s: unexpected tensor '%s'", "fuzz.voz", "rnn.weight_hh_l\n\r_reverse\t");
    assert_null(strchr(voz_last_error(), '\n'));
    assert_null(strchr(voz_last_error(), '\r'));
    assert_string_equal(voz_last_error(), "fuzz.voz: unexpected tensor 'rnn.weight_hh_l??_reverse?'");
}

/* Atomic writes (found by a breaking session): `-o /dev/null` as root replaced the device
   node with a regular file, and a symlink planted at the predictable temporary name was
   written through. Now a non-regular target is refused and the temporary is O_EXCL. */
static void test_atomic_write_refuses_devices_and_planted_links(void **state)
{
    (void)state;
    char dir[] = "/tmp/voz_atomic_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char fifo[256], out[256], victim[256], planted[256];
    snprintf(fifo, sizeof fifo, "%s/fifo", dir);
    snprintf(out, sizeof out, "%s/out.txt", dir);
    snprintf(victim, sizeof victim, "%s/victim.txt", dir);
    snprintf(planted, sizeof planted, "%s/out.txt.tmp.%ld", dir, (long)getpid());
    assert_int_equal(mkfifo(fifo, 0600), 0);
    struct voz_atomic_file af;
    assert_int_equal(voz_atomic_open(&af, fifo), VOZ_ERR_IO);
    assert_non_null(strstr(voz_last_error(), "not a regular file"));
    assert_int_equal(voz_atomic_open(&af, "/dev/null"), VOZ_ERR_IO);
    FILE *fp = fopen(victim, "w");
    assert_non_null(fp);
    fputs("precious\n", fp);
    fclose(fp);
    assert_int_equal(symlink(victim, planted), 0);
    if (voz_atomic_open(&af, out) == VOZ_OK) {
        fputs("new\n", af.fp);
        assert_int_equal(voz_atomic_commit(&af), VOZ_OK);
    }
    char buf[32] = { 0 };
    fp = fopen(victim, "r");
    assert_non_null(fp);
    assert_non_null(fgets(buf, sizeof buf, fp));
    fclose(fp);
    assert_string_equal(buf, "precious\n");
    unlink(planted);
    unlink(out);
    unlink(victim);
    unlink(fifo);
    rmdir(dir);
}

/* A TERM (or Ctrl-C) in the middle of `voz ensemble -o` left its temporary behind, a
   file as large as the model. With voz_atomic_cleanup_on_signals the handler removes it
   and the process still ends by the signal. */
static void test_atomic_temporary_removed_on_signal(void **state)
{
    (void)state;
    char dir[] = "/tmp/voz_atomic_sig_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char out[256];
    snprintf(out, sizeof out, "%s/out.voz", dir);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        voz_atomic_cleanup_on_signals();
        struct voz_atomic_file af;
        if (voz_atomic_open(&af, out) != VOZ_OK)
            _exit(3);
        fputs("half a model\n", af.fp);
        fflush(af.fp);
        raise(SIGTERM);
        _exit(4); /* not reached */
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGTERM);
    DIR *d = opendir(dir);
    assert_non_null(d);
    int left = 0;
    for (struct dirent *e; (e = readdir(d));)
        left += e->d_name[0] != '.';
    closedir(d);
    assert_int_equal(left, 0);
    rmdir(dir);
}

static void write_float_wav(const char *path, int rate, const float *x, size_t n)
{
    unsigned char h[44];
    uint32_t data = (uint32_t)(4 * n);
    memcpy(h, "RIFF", 4);
    memcpy(h + 8, "WAVEfmt ", 8);
    memcpy(h + 36, "data", 4);
    const uint32_t v32[][2] = { { 4, 36 + data }, { 16, 16 }, { 24, (uint32_t)rate }, { 28, 4u * rate }, { 40, data } };
    for (size_t k = 0; k < sizeof v32 / sizeof v32[0]; k++)
        for (int i = 0; i < 4; i++)
            h[v32[k][0] + i] = (unsigned char)(v32[k][1] >> (8 * i));
    const uint16_t v16[][2] = { { 20, 3 }, { 22, 1 }, { 32, 4 }, { 34, 32 } };
    for (size_t k = 0; k < sizeof v16 / sizeof v16[0]; k++) {
        h[v16[k][0]] = (unsigned char)v16[k][1];
        h[v16[k][0] + 1] = (unsigned char)(v16[k][1] >> 8);
    }
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(h, 1, 44, fp), 44);
    assert_int_equal(fwrite(x, 4, n, fp), n); /* little-endian host, as the build assumes */
    fclose(fp);
}

/* Finite samples near FLT_MAX overflowed the resampler into NaN that voz_audio_read handed
   out; at the file's own rate they overflowed the features into NaN. */
static void test_huge_samples(void **state)
{
    (void)state;
    char path[] = "/tmp/voz_test_hostile_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    enum { N = 8000 };
    static float x[N];
    for (int i = 0; i < N; i++)
        x[i] = 0.1f * sinf(0.05f * (float)i);
    for (int i = 3000; i < 3050; i++) /* a burst at FLT_MAX: the filter's overshoot overflows */
        x[i] = 3.4e38f;
    write_float_wav(path, 8000, x, N);

    float *pcm = NULL;
    size_t n = 0;
    voz_status s = voz_audio_load(path, 16000, &pcm, &n);
    if (s == VOZ_OK) {
        size_t bad = 0;
        while (bad < n && isfinite(pcm[bad]))
            bad++;
        free(pcm);
        fail_msg("resampled to 16 kHz: status OK, first non-finite sample at %zu of %zu", bad, n);
    }
    assert_int_equal(s, VOZ_ERR_NONFINITE);
    assert_non_null(strstr(voz_last_error(), path));
    /* The reader refuses samples far beyond full scale; before it did, the resampler's
       overflow check caught them. Either names the file and says why. */
    if (!strstr(voz_last_error(), "resampling overflowed") &&
        !strstr(voz_last_error(), "at frame 3000 (0.375 s), channel 1, expected audio within"))
        fail_msg("unexpected message: %s", voz_last_error());

    /* At its own rate a file with one sample of 1e30 reads (it is finite) but its
       features overflow: they are refused, not handed out as NaN. */
    for (int i = 3000; i < 3050; i++)
        x[i] = 0;
    x[3000] = 1e30f;
    write_float_wav(path, 8000, x, N);
    s = voz_audio_load(path, 0, &pcm, &n);
    if (s != VOZ_OK) {
        /* Refused at reading (beyond the reader's sample limit): nothing can overflow. */
        assert_int_equal(s, VOZ_ERR_NONFINITE);
        assert_non_null(strstr(voz_last_error(), "sample 1e+30 at frame 3000"));
        unlink(path);
        return;
    }
    assert_int_equal(n, N);
    voz_feature_params fp = voz_feature_default_params();
    fp.sample_rate = 8000;
    float *feats = NULL;
    size_t T = 0;
    s = voz_features_compute(&fp, pcm, n, &feats, &T);
    if (s == VOZ_OK) {
        size_t bad = 0, total = T * (size_t)voz_feature_dim(&fp);
        while (bad < total && isfinite(feats[bad]))
            bad++;
        free(feats);
        free(pcm);
        fail_msg("features of a 1e30 sample: status OK, first non-finite value at %zu of %zu", bad, total);
    }
    assert_int_equal(s, VOZ_ERR_NONFINITE);
    assert_null(feats);
    assert_non_null(strstr(voz_last_error(), "overflow the analysis"));
    free(pcm);
    unlink(path);
}

/* A model whose word list the alphabet cannot spell loaded, then failed every beam
   decode; loading must refuse it. The kept input is repaired as fuzz_model does. */
static void test_unspellable_word_list(void **state)
{
    (void)state;
    size_t size;
    unsigned char *b = slurp(REGRESSIONS "/model/word-list-not-spelled-by-alphabet.voz", &size);
    assert_non_null(b);
    assert_true(size > 28);
    for (int i = 0; i < 8; i++)
        b[16 + i] = (unsigned char)((uint64_t)size >> (8 * i));
    uint32_t crc = voz_crc32(0, b, size - 4);
    for (int i = 0; i < 4; i++)
        b[size - 4 + i] = (unsigned char)(crc >> (8 * i));
    struct voz_model_data d;
    assert_int_equal(voz_model_data_parse(b, size, "w.voz", &d), VOZ_OK); /* each section is fine */
    assert_true(d.n_words > 0);
    voz_model_data_release(&d);
    struct voz_model *m = NULL;
    voz_status s = voz_model_load_memory(b, size, "w.voz", &m);
    free(b);
    if (s == VOZ_OK) {
        voz_model_free(m);
        fail_msg("a model with an unspellable word list loaded");
    }
    assert_int_equal(s, VOZ_ERR_FORMAT);
    assert_null(m);
    const char *e = voz_last_error();
    const char *want = "w.voz: the word list does not fit the alphabet: ";
    if (strncmp(e, want, strlen(want)))
        fail_msg("message: %s", e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replay_regressions),
        cmocka_unit_test(test_fail_wraps_last_error),
        cmocka_unit_test(test_fail_is_one_line),
        cmocka_unit_test(test_atomic_write_refuses_devices_and_planted_links),
        cmocka_unit_test(test_atomic_temporary_removed_on_signal),
        cmocka_unit_test(test_huge_samples),
        cmocka_unit_test(test_unspellable_word_list),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
