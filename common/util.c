/* common/util.c — error text, logging, size arithmetic, CRC-32 and atomic writes. */
#include "common/util.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static _Thread_local char err_buf[1024];
static voz_log_fn log_fn;
static void *log_user;

const char *voz_version(void) { return VOZ_VERSION; }

const char *voz_status_str(voz_status s)
{
    switch (s) {
    case VOZ_OK: return "ok";
    case VOZ_ERR_IO: return "input/output error";
    case VOZ_ERR_FORMAT: return "bad file format";
    case VOZ_ERR_NOMEM: return "out of memory";
    case VOZ_ERR_INVALID: return "invalid argument";
    case VOZ_ERR_UNSUPPORTED: return "unsupported";
    case VOZ_ERR_NONFINITE: return "non-finite value";
    case VOZ_ERR_DEVICE: return "audio device error";
    case VOZ_ERR_ABORTED: return "aborted";
    }
    return "unknown status";
}

const char *voz_last_error(void) { return err_buf; }
void voz_clear_error(void) { err_buf[0] = 0; }

voz_status voz_fail(voz_status s, const char *fmt, ...)
{
    /* Formatted aside first: callers wrap the previous reason by passing
       voz_last_error() itself as an argument, which must not alias the output. */
    char tmp[sizeof err_buf];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    /* Messages quote names from untrusted files (tensor names, words, paths): control
       characters become '?' so that a reason is always exactly one line. */
    for (char *p = tmp; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    memcpy(err_buf, tmp, sizeof tmp);
    return s;
}

void voz_set_log(voz_log_fn fn, void *user_data)
{
    log_fn = fn;
    log_user = user_data;
}

static _Thread_local int log_muted;

void voz_log_mute(int on) { log_muted += on ? 1 : -1; }

void voz_log(voz_log_level level, const char *fmt, ...)
{
    if (!log_fn || log_muted > 0)
        return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    log_fn(level, buf, log_user);
}

int voz_mul_size(size_t a, size_t b, size_t *out)
{
    if (a && b > SIZE_MAX / a)
        return -1;
    *out = a * b;
    return 0;
}

int voz_mul3_size(size_t a, size_t b, size_t c, size_t *out)
{
    size_t ab;
    if (voz_mul_size(a, b, &ab))
        return -1;
    return voz_mul_size(ab, c, out);
}

void *voz_alloc_aligned(size_t bytes)
{
    void *p = NULL;
    size_t n = (bytes + 63) & ~(size_t)63;
    if (n < bytes || posix_memalign(&p, 64, n ? n : 64))
        return NULL;
    memset(p, 0, n ? n : 64);
    return p;
}

void voz_free_aligned(void *p) { free(p); }

static uint32_t crc_table[256];
static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

uint32_t voz_crc32(uint32_t crc, const void *buf, size_t n)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, crc_init);
    const unsigned char *p = buf;
    crc = ~crc;
    while (n--)
        crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

/* The temporaries being written right now, so that a signal that ends the process can
   remove them (voz_atomic_cleanup_on_signals): a killed `voz ensemble -o` would otherwise
   leave hundreds of MB behind. Slots hold pointers owned by the open files; the handler
   only reads them and calls unlink(), which is async-signal-safe. */
#define ATOMIC_SLOTS 16
static char *volatile atomic_live[ATOMIC_SLOTS];
static pthread_mutex_t atomic_mu = PTHREAD_MUTEX_INITIALIZER;

static void atomic_register(char *tmp, int on)
{
    pthread_mutex_lock(&atomic_mu);
    for (int i = 0; i < ATOMIC_SLOTS; i++)
        if (on ? atomic_live[i] == NULL : atomic_live[i] == tmp) {
            atomic_live[i] = on ? tmp : NULL;
            break;
        }
    pthread_mutex_unlock(&atomic_mu);
}

static void atomic_on_signal(int sig)
{
    for (int i = 0; i < ATOMIC_SLOTS; i++) {
        char *t = atomic_live[i];
        if (t)
            unlink(t);
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

void voz_atomic_cleanup_on_signals(void)
{
    const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = atomic_on_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(sigs[i], &sa, NULL);
    }
}

/* af->path = the file a write to `path` replaces: a symlink's target (a dangling link's
   target too, so `model.voz -> /data/m.voz` creates /data/m.voz instead of replacing the
   link), else `path` itself. */
static int atomic_target(struct voz_atomic_file *af, const char *path)
{
    struct stat st;
    char *target = NULL;
    if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode)) {
        target = realpath(path, NULL);
        if (!target && errno == ENOENT) {
            char link[4096];
            ssize_t k = readlink(path, link, sizeof link - 1);
            if (k > 0) {
                link[k] = 0;
                const char *slash = strrchr(path, '/');
                size_t dl = link[0] != '/' && slash ? (size_t)(slash - path) + 1 : 0;
                if ((target = malloc(dl + (size_t)k + 1))) {
                    memcpy(target, path, dl);
                    memcpy(target + dl, link, (size_t)k + 1);
                }
            }
        }
    }
    af->path = target ? target : strdup(path);
    af->tmp_path = af->path ? malloc(strlen(af->path) + 32) : NULL;
    if (af->tmp_path)
        af->tmp_path[0] = 0;
    return af->path && af->tmp_path;
}

voz_status voz_atomic_open(struct voz_atomic_file *af, const char *path)
{
    memset(af, 0, sizeof *af);
    if (!atomic_target(af, path)) {
        voz_atomic_abort(af);
        return voz_fail(VOZ_ERR_NOMEM, "%s: out of memory", path);
    }
    /* Replacing a device, a FIFO or a directory by a regular file is never what the user
       meant (as root, `-o /dev/null` would destroy the device node). */
    struct stat st;
    int exists = stat(af->path, &st) == 0;
    if (exists && !S_ISREG(st.st_mode)) {
        voz_atomic_abort(af);
        return voz_fail(VOZ_ERR_IO, "%s: exists and is not a regular file; refusing to replace it", path);
    }
    snprintf(af->tmp_path, strlen(af->path) + 32, "%s.tmp.%ld", af->path, (long)getpid());
    /* O_EXCL | O_NOFOLLOW: a file or symlink planted at the predictable temporary name is
       never written through; a stale one from an earlier crash of this same pid is removed. */
    struct stat tst;
    int fd = open(af->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0 && errno == EEXIST && lstat(af->tmp_path, &tst) == 0 && S_ISREG(tst.st_mode) &&
        unlink(af->tmp_path) == 0)
        fd = open(af->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    /* The replacement keeps the old file's permissions: a private (0600) model stays private. */
    if (fd >= 0 && exists && fchmod(fd, st.st_mode & 07777) != 0) {
        int e = errno;
        close(fd);
        unlink(af->tmp_path);
        voz_status s = voz_fail(VOZ_ERR_IO, "%s: cannot keep its permissions: %s", path, strerror(e));
        af->tmp_path[0] = 0;
        voz_atomic_abort(af);
        return s;
    }
    af->fp = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (fd >= 0 && !af->fp) {
        close(fd);
        unlink(af->tmp_path);
    }
    if (!af->fp) {
        voz_status s = voz_fail(VOZ_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
        af->tmp_path[0] = 0;
        voz_atomic_abort(af);
        return s;
    }
    atomic_register(af->tmp_path, 1);
    return VOZ_OK;
}

/* Fault injection for the durability tests: VOZ_FAULT_KILL_IN_WRITE="SUFFIX:N" kills the
   process with SIGKILL during the N-th commit of a file whose name ends in SUFFIX, after
   cutting its temporary file to half — a deterministic "power cut in the middle of a write". */
static void fault_kill_in_write(struct voz_atomic_file *af)
{
    static int seen;
    const char *spec = getenv("VOZ_FAULT_KILL_IN_WRITE");
    if (!spec || !*spec)
        return;
    const char *colon = strrchr(spec, ':');
    size_t suffix_len = colon ? (size_t)(colon - spec) : strlen(spec);
    int nth = colon ? atoi(colon + 1) : 1;
    size_t plen = strlen(af->path);
    if (suffix_len > plen || memcmp(af->path + plen - suffix_len, spec, suffix_len) != 0)
        return;
    if (++seen < nth)
        return;
    fflush(af->fp);
    off_t size = ftello(af->fp);
    if (size > 0 && ftruncate(fileno(af->fp), size / 2) != 0)
        return;
    raise(SIGKILL);
}

voz_status voz_atomic_commit(struct voz_atomic_file *af)
{
    voz_status s = VOZ_OK;
    if (!af->fp)
        return voz_fail(VOZ_ERR_IO, "%s: not open", af->path ? af->path : "?");
    fault_kill_in_write(af);
    if (fflush(af->fp) != 0 || ferror(af->fp))
        s = voz_fail(VOZ_ERR_IO, "%s: write failed: %s", af->path, strerror(errno));
    else if (fsync(fileno(af->fp)) != 0)
        s = voz_fail(VOZ_ERR_IO, "%s: fsync failed: %s", af->path, strerror(errno));
    if (fclose(af->fp) != 0 && s == VOZ_OK)
        s = voz_fail(VOZ_ERR_IO, "%s: write failed: %s", af->path, strerror(errno));
    af->fp = NULL;
    if (s == VOZ_OK && rename(af->tmp_path, af->path) != 0)
        s = voz_fail(VOZ_ERR_IO, "%s: cannot rename into place: %s", af->path, strerror(errno));
    if (s != VOZ_OK) {
        voz_atomic_abort(af);
        return s;
    }
    atomic_register(af->tmp_path, 0);
    free(af->path);
    free(af->tmp_path);
    af->path = af->tmp_path = NULL;
    return VOZ_OK;
}

void voz_atomic_abort(struct voz_atomic_file *af)
{
    if (af->fp) {
        fclose(af->fp);
        af->fp = NULL;
    }
    if (af->tmp_path && af->tmp_path[0]) {
        unlink(af->tmp_path);
        atomic_register(af->tmp_path, 0);
    }
    free(af->path);
    free(af->tmp_path);
    af->path = af->tmp_path = NULL;
}

double voz_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int voz_atomic_sweep(const char *path)
{
    if (!path || !*path)
        return 0;
    const char *slash = strrchr(path, '/');
    size_t dl = slash ? (size_t)(slash - path) : 0;
    const char *base = slash ? slash + 1 : path;
    char *dir = malloc(dl + 2);
    if (!dir)
        return 0;
    if (slash && dl == 0)
        memcpy(dir, "/", 2);
    else if (slash) {
        memcpy(dir, path, dl);
        dir[dl] = 0;
    } else
        memcpy(dir, ".", 2);
    DIR *d = opendir(dir);
    int removed = 0;
    size_t bl = strlen(base);
    for (struct dirent *e; d && (e = readdir(d));) {
        const char *n = e->d_name;
        if (strncmp(n, base, bl) || strncmp(n + bl, ".tmp.", 5))
            continue;
        const char *q = n + bl + 5;
        char *end;
        errno = 0;
        long pid = strtol(q, &end, 10);
        if (q[0] < '1' || q[0] > '9' || *end || errno || pid <= 0 || pid == (long)getpid())
            continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) /* alive, or not ours to judge */
            continue;
        size_t need = strlen(dir) + 1 + strlen(n) + 1;
        char *full = malloc(need);
        if (!full)
            break;
        snprintf(full, need, "%s/%s", dir, n);
        struct stat st;
        if (lstat(full, &st) == 0 && S_ISREG(st.st_mode) && unlink(full) == 0)
            removed++;
        free(full);
    }
    if (d)
        closedir(d);
    free(dir);
    return removed;
}

const char *voz_not_regular_file(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0 || S_ISREG(st.st_mode))
        return NULL;
    return S_ISDIR(st.st_mode) ? "is a directory" : S_ISFIFO(st.st_mode) ? "is a FIFO (named pipe), not a regular file"
                                                                         : "is not a regular file";
}

int voz_same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    if (!a || !b || stat(a, &sa) != 0 || stat(b, &sb) != 0)
        return 0;
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}
