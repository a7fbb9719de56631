/* cli/main.c — the voz command: a table of subcommands, global --help/--version. */
#include "cli/cli.h"
#include "common/util.h"
#include "frontend/mfcc.h"
#include "recognizer/decode.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *summary;
} commands[] = {
    { "transcribe", cmd_transcribe, "transcribe audio files to text" },
    { "live",       cmd_live,       "transcribe the microphone (or --input FILE) live" },
    { "train",      cmd_train,      "train a model from manifests" },
    { "eval",       cmd_eval,       "measure WER/CER of a model on a manifest" },
    { "features",   cmd_features,   "dump the features a model would see" },
    { "info",       cmd_info,       "describe a model file" },
    { "ensemble",   cmd_ensemble,   "join models trained apart into one ensemble model" },
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *fp)
{
    fprintf(fp, "usage: voz COMMAND [OPTIONS] [ARGS]\n\n"
                "Speech recognition: audio -> MFCC -> recurrent acoustic model -> CTC -> text.\n\n"
                "commands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(fp, "  %-11s %s\n", commands[i].name, commands[i].summary);
    fprintf(fp, "\n'voz COMMAND --help' lists the options of a command.\n"
                "  --help      this text\n  --version   print the version\n");
}

/* One message, one line: control characters (a newline in a file name, say) become
   '?', as the library's voz_fail does, so scripts can rely on one line per error. */
static void put_line(const char *prefix, const char *fmt, va_list ap)
{
    char buf[2048];
    vsnprintf(buf, sizeof buf, fmt, ap);
    for (char *p = buf; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    fprintf(stderr, "%s%s\n", prefix, buf);
}

_Noreturn void cli_die(int code, const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    va_start(ap, fmt);
    put_line("voz: ", fmt, ap);
    va_end(ap);
    exit(code);
}

void cli_error(const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    va_start(ap, fmt);
    put_line("voz: ", fmt, ap);
    va_end(ap);
}

void cli_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    put_line("voz: warning: ", fmt, ap);
    va_end(ap);
}

static void log_to_stderr(voz_log_level level, const char *msg, void *user)
{
    int verbose = *(int *)user;
    if (level == VOZ_LOG_ERROR)
        cli_error("%s", msg);
    else if (level == VOZ_LOG_WARN)
        cli_warn("%s", msg);
    else if (verbose && level == VOZ_LOG_INFO)
        cli_error("%s", msg);
    else if (verbose > 1)
        cli_error("debug: %s", msg);
}

void cli_setup_log(int verbose)
{
    static int v;
    v = verbose;
    voz_set_log(log_to_stderr, &v);
}

struct voz_model *cli_load_model(const char *path)
{
    struct voz_model *m = NULL;
    voz_status s = path ? voz_model_load(path, &m) : voz_model_load_default(&m);
    if (s == VOZ_ERR_UNSUPPORTED && !path)
        cli_die(1, "no default model is built into this voz; give one with -m MODEL");
    if (s != VOZ_OK)
        cli_die(1, "%s", voz_last_error()[0] ? voz_last_error() : voz_status_str(s));
    return m;
}

int cli_default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n >= 2 ? 2 : 1;
}

void cli_parse_warps(const char *s, voz_decode_params *p)
{
    if (voz_warps_parse(s, p->warps, &p->n_warps) != VOZ_OK)
        cli_die(EXIT_USAGE, "--vtln: %s", voz_last_error());
}

void cli_check_decode(const struct voz_model *m, const voz_decode_params *p)
{
    /* The decoding context applies the rules (ensembles need the beam, warps must fit
       the model's filterbank, no more members than the model has); creating one here
       turns a violation into a usage error before any file is read. Only --vtln and
       --members can break them: first without --members, to name the right one. */
    voz_decode_params q = *p;
    q.n_members = 0;
    struct voz_decode_ctx *c;
    if (voz_decode_ctx_create(m, &q, &c) != VOZ_OK)
        cli_die(EXIT_USAGE, "--vtln: %s", voz_last_error());
    voz_decode_ctx_free(c);
    if (voz_decode_ctx_create(m, p, &c) != VOZ_OK)
        cli_die(EXIT_USAGE, "--members: %s", voz_last_error());
    voz_decode_ctx_free(c);
}

void cli_check_warps_fit(const char *opt, const voz_feature_params *f, const float *warps, int n)
{
    for (int k = 0; k < n; k++) {
        voz_feature_params q = *f;
        q.vtln_warp = warps[k];
        if (voz_feature_params_check(&q) != VOZ_OK)
            cli_die(EXIT_USAGE, "%s: warp %g does not fit the model's %g Hz filterbank: %s", opt, warps[k],
                    f->sample_rate, voz_last_error());
    }
}

voz_decoder cli_parse_decoder(const char *s)
{
    if (!strcmp(s, "auto"))
        return VOZ_DECODER_AUTO;
    if (!strcmp(s, "greedy"))
        return VOZ_DECODER_GREEDY;
    if (!strcmp(s, "beam"))
        return VOZ_DECODER_BEAM;
    cli_die(EXIT_USAGE, "--decoder must be auto, greedy or beam, not '%s'", s);
}

const char **cli_model_classes(const struct voz_model *m)
{
    int C = voz_model_num_classes(m);
    const char **classes = malloc((size_t)C * sizeof *classes);
    if (!classes)
        cli_die(1, "out of memory");
    for (int k = 0; k < C; k++)
        classes[k] = voz_model_class(m, k);
    return classes;
}

/* Standard descriptors found closed at start-up (park_closed_std_fds). */
static int stdin_closed, stdout_closed;

void cli_check_stdout(void)
{
    if (fflush(stdout) != 0 || ferror(stdout))
        cli_die(1, "error writing to standard output: %s",
                stdout_closed ? "it is closed" : strerror(errno ? errno : EIO));
}

_Noreturn void cli_option_error(const char *cmd, int c, const void *longopts, int argc, char **argv)
{
    /* glibc moves optind past a long option (and its value) before reporting it, but
       stays on an element of combined short options ("-vx") until its last letter, so
       argv[optind - 1] may be an earlier, valid element. The failure is a long option's
       when that element is a long option and optopt is its value (or 0: unknown). */
    const char *arg = optind >= 1 && optind <= argc ? argv[optind - 1] : NULL;
    size_t n = arg ? strcspn(arg, "=") : 0;
    int is_long = arg && n > 2 && arg[0] == '-' && arg[1] == '-';
    const char *full = NULL; /* the option's whole name when an abbreviation was given */
    if (is_long && optopt) {
        for (const struct option *lo = longopts; lo && lo->name && !full; lo++)
            if (lo->val == optopt && !strncmp(lo->name, arg + 2, n - 2))
                full = lo->name;
        is_long = full != NULL;
    }
    if (is_long) {
        if (c == ':')
            cli_die(EXIT_USAGE, "option '--%s' needs a value (see voz %s --help)", full ? full : arg + 2, cmd);
        if (optopt && arg[n] == '=')
            cli_die(EXIT_USAGE, "option '--%s' takes no value, found '%s' (see voz %s --help)", full, arg + n + 1,
                    cmd);
        cli_die(EXIT_USAGE, "unknown option '%.*s' (see voz %s --help)", (int)n, arg, cmd);
    }
    if (optopt > ' ' && optopt < 127) {
        if (c == ':')
            cli_die(EXIT_USAGE, "option '-%c' needs a value (see voz %s --help)", optopt, cmd);
        cli_die(EXIT_USAGE, "unknown option '-%c' (see voz %s --help)", optopt, cmd);
    }
    cli_die(EXIT_USAGE, "unknown option (see voz %s --help)", cmd);
}

int cli_parse_int(const char *opt, const char *s, int lo, int hi)
{
    char *end;
    errno = 0;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || !*s || *end || errno || v < lo || v > hi)
        cli_die(EXIT_USAGE, "%s needs a whole number from %d to %d, not '%s'", opt, lo, hi, s ? s : "");
    return (int)v;
}

double cli_parse_double(const char *opt, const char *s, double lo, double hi)
{
    char *end;
    errno = 0;
    double v = s ? strtod(s, &end) : 0;
    if (!s || !*s || *end || errno || !(v >= lo && v <= hi))
        cli_die(EXIT_USAGE, "%s needs a number from %g to %g, not '%s'", opt, lo, hi, s ? s : "");
    return v;
}

void cli_check_stdin(const char *path, const char *what)
{
    if (stdin_closed && path && !strcmp(path, "-"))
        cli_die(1, "standard input: is closed, expected %s", what);
}

/* A standard descriptor closed by the caller (`voz ... <&-`) would be handed out by the
   next open(): the progress lines of `voz train >&-` would land in its checkpoint. So
   each closed one gets a placeholder, and a closed input or output is reported when
   used: reads of fd 0 see /dev/null, writes to fd 1 fail (/dev/full). */
static void park_closed_std_fds(void)
{
    static const char *const spare[3] = { "/dev/null", "/dev/full", "/dev/null" };
    for (int fd = 0; fd <= 2; fd++) {
        if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
            continue;
        int n = open(spare[fd], fd ? O_WRONLY : O_RDONLY);
        if (n >= 0 && n != fd) {
            dup2(n, fd);
            close(n);
        }
        stdin_closed |= fd == 0;
        stdout_closed |= fd == 1;
    }
}

int main(int argc, char **argv)
{
    park_closed_std_fds();
    /* A closed pipe is reported as a write error by cli_check_stdout, not a silent death. */
    signal(SIGPIPE, SIG_IGN);
    /* Ctrl-C or a TERM while a file is being written removes the half-written temporary
       (train and live install their own handlers: they stop cleanly instead). */
    voz_atomic_cleanup_on_signals();
    /* One line per error: a corrupt MP3 would otherwise add libmpg123's own lines. */
    voz_set_quiet_decoders(1);
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        cli_check_stdout();
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("voz %s\n", voz_version());
        cli_check_stdout();
        return 0;
    }
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "voz: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return EXIT_USAGE;
}
