/* cli/cmd_live.c — `voz live`: transcribe the microphone (or a file replayed through
   the same path) until Ctrl-C or the end of input. The capture thread fills a ring
   buffer; this thread drains it into an endpointed voz_stream and prints each
   finished utterance as one line (txt or JSON), flushed. On a terminal the partial
   hypothesis of the utterance in progress is redrawn in place. */
#include "cli/cli.h"
#include "common/util.h"
#include "frontend/capture.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define OPEN_TIMEOUT_S 3.0
#define READ_TIMEOUT_MS 50
#define REDRAW_S 0.25 /* a shown partial is redrawn at least this often */

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

/* Asked by the file reader while it waits on a pipe, so Ctrl-C is not stuck behind a read. */
static int stop_requested(void *user)
{
    (void)user;
    return interrupted;
}

static void usage(FILE *fp)
{
    fprintf(fp,
            "usage: voz live [OPTIONS]\n"
            "\n"
            "Transcribes the default input device (or --device, or --input FILE) until Ctrl-C\n"
            "or the end of input. Each utterance is printed as one line when it ends; on a\n"
            "terminal the words heard so far are shown in place while one is going on.\n"
            "\n"
            "options:\n"
            "  -m, --model MODEL     model file (default: the model built into voz)\n"
            "  --device NAME|INDEX   input device: a PortAudio index, or a part of its name\n"
            "                        (default: the default input device)\n"
            "  --list-devices        list the input devices and exit\n"
            "  --input FILE          replay an audio file through the live path instead\n"
            "                        ('-' is standard input; WAV on a pipe or FIFO, as\n"
            "                        arecord writes it, is transcribed as it arrives)\n"
            "  --realtime            with --input: feed the file at real-time speed\n"
            "  --format txt|json     output format (default: txt); json prints one object per\n"
            "                        utterance: start, end, text, words with start/end\n"
            "  --vad-threshold DB    speech when a frame is this many dB above the noise\n"
            "                        floor, 0..100 (default: 9)\n"
            "  --hangover MS         silence that ends an utterance, 10..10000 ms\n"
            "                        (default: 200; longer keeps pauses inside one line,\n"
            "                        shorter prints sooner)\n"
            "  --max-utterance S     longer utterances are cut at the quietest point near\n"
            "                        this length, 1..3600 s (default: 20)\n"
            "  --decoder auto|greedy|beam\n"
            "                        CTC decoder (default: auto)\n"
            "  --beam N              prefix beam width, 1..4096 (default: 16)\n"
            "  --vtln LIST|none      VTLN warps whose posteriors are averaged, e.g.\n"
            "                        0.9,1.1 (default: the model's list, if it has one)\n"
            "  --members N           networks of an ensemble model to combine, 1..8\n"
            "                        (default: all of them)\n"
            "  --words FILE          word list, one word per line, constraining the beam search\n"
            "                        (default: the model's word list, if it has one)\n"
            "  --verbose             device details, and the sound system's own messages\n"
            "  -h, --help            this text\n"
            "\n"
            "Exit status: 0 stopped by Ctrl-C or end of input, 1 device, model or input\n"
            "error, 2 usage error.\n");
}

/* ---- output ---------------------------------------------------------------------- */

struct live {
    int json, tty, verbose;
    double clock0;         /* capture clock: wall time of sample 0 */
    int timing;            /* VOZ_LIVE_TIMESTAMPS: per-utterance latency line on stderr */
    double pad_s, close_s; /* endpoint padding and silence-to-close, for the timing line */
    int finishing;         /* utterances now come from voz_stream_finish */
    int n_utt;
    char *partial;         /* latest partial text (malloc'ed), NULL: none shown */
    int partial_dirty;
    double partial_drawn;  /* voz_now() of the last redraw */
    int partial_visible;   /* the terminal line holds a partial now */
};

static void clear_partial(struct live *lv)
{
    if (lv->partial_visible) {
        fputs("\r\033[K", stdout);
        lv->partial_visible = 0;
    }
}

static int terminal_columns(void)
{
    struct winsize ws;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1)
        return ws.ws_col;
    return 80;
}

/* Redraws the partial on the current line, keeping only its tail when it is wider
   than the terminal so the line never wraps (\r only returns within one line). */
static void draw_partial(struct live *lv)
{
    const char *s = lv->partial ? lv->partial : "";
    int room = terminal_columns() - 1, chars = 0;
    const char *start = s + strlen(s);
    while (start > s) {
        const char *q = start - 1;
        while (q > s && ((unsigned char)*q & 0xC0) == 0x80)
            q--;
        if (chars + 1 > room)
            break;
        chars++;
        start = q;
    }
    printf("\r\033[K%s", start);
    fflush(stdout);
    lv->partial_visible = 1;
    lv->partial_drawn = voz_now();
    lv->partial_dirty = 0;
}

static void on_partial(const char *text, double start, void *user)
{
    (void)start;
    struct live *lv = user;
    if (lv->partial && !strcmp(lv->partial, text))
        return;
    free(lv->partial);
    lv->partial = strdup(text);
    lv->partial_dirty = 1;
}

static void on_utterance(const voz_transcript *t, void *user)
{
    struct live *lv = user;
    free(lv->partial);
    lv->partial = NULL;
    lv->partial_dirty = 0;
    if (lv->tty)
        clear_partial(lv);
    if (!t->text[0]) {
        /* A noise burst the model heard nothing in: not worth a line. */
        if (lv->tty)
            fflush(stdout);
        return;
    }
    if (lv->json) {
        printf("{\"start\":%.3f,\"end\":%.3f,\"text\":", t->start, t->end);
        cli_json_string(t->text);
        cli_json_words(t);
        fputs("}\n", stdout);
    } else {
        printf("%s\n", t->text);
    }
    cli_check_stdout();
    lv->n_utt++;
    if (lv->timing && lv->clock0 > 0) {
        /* Times on the capture clock (seconds since its first sample was due). The
           speech ended `pad` before the utterance's end; the endpointer decided
           `close` after the speech ended (silence-ended utterances). */
        double printed = voz_now() - lv->clock0;
        double speech_end = t->end - lv->pad_s > t->start ? t->end - lv->pad_s : t->end;
        double decided = speech_end + lv->close_s;
        fprintf(stderr,
                "voz: timing: utterance %d start=%.3f end=%.3f speech_end=%.3f decided=%.3f "
                "printed=%.3f latency_ms=%.0f after_endpoint_ms=%.0f closed_by=%s\n",
                lv->n_utt, t->start, t->end, speech_end, decided, printed,
                (printed - speech_end) * 1e3, (printed - decided) * 1e3,
                lv->finishing ? "end_of_input" : "silence_or_limit");
    }
}

/* ---- devices ------------------------------------------------------------------- */

static void print_devices(FILE *fp, const voz_capture_device *d, int n)
{
    if (n == 0) {
        fputs("no input devices found\n", fp);
        return;
    }
    int w = 4;
    for (int i = 0; i < n; i++) {
        int l = (int)strlen(d[i].name);
        w = l > w ? l : w;
    }
    w = w > 48 ? 48 : w;
    fprintf(fp, "%5s  %-*s  %-12s %6s %8s\n", "index", w, "name", "host api", "inputs", "rate");
    for (int i = 0; i < n; i++)
        fprintf(fp, "%4d%c  %-*.*s  %-12.12s %6d %8.0f\n", d[i].index, d[i].is_default ? '*' : ' ', w, w,
                d[i].name, d[i].host_api, d[i].max_input_channels, d[i].default_rate);
    fputs("(* the default input device)\n", fp);
}

static int list_devices(int verbose)
{
    voz_capture_device *d;
    int n;
    voz_status s = voz_capture_list(!verbose, OPEN_TIMEOUT_S, &d, &n);
    if (s != VOZ_OK)
        cli_die(1, "%s", voz_last_error());
    print_devices(stdout, d, n);
    free(d);
    cli_check_stdout();
    return 0;
}

/* After a device failure: the reason, then what there is to choose from. */
_Noreturn static void device_failure(const char *why, int verbose, int portaudio_answers)
{
    fflush(stdout);
    fprintf(stderr, "voz: %s\n", why);
    if (!portaudio_answers)
        exit(1);
    voz_capture_device *d;
    int n;
    if (voz_capture_list(!verbose, OPEN_TIMEOUT_S, &d, &n) == VOZ_OK) {
        fputs("input devices:\n", stderr);
        print_devices(stderr, d, n);
        free(d);
    }
    exit(1);
}

/* ---- the loop -------------------------------------------------------------------- */

/* A decode failure, named after the input ("voz: talk.wav: ..."), unless the
   library's message already starts with that name. */
_Noreturn static void decode_failure(const char *input, voz_status s)
{
    const char *why = voz_last_error()[0] ? voz_last_error() : voz_status_str(s);
    size_t l = strlen(input);
    if (!strncmp(why, input, l) && why[l] == ':')
        cli_die(1, "%s", why);
    cli_die(1, "%s: %s", input, why);
}

static void feed_or_die(struct voz_stream *st, const float *x, size_t n, const char *input)
{
    voz_status s = voz_stream_feed(st, x, n);
    if (s != VOZ_OK)
        decode_failure(input, s);
}

static void warn_overflow(struct voz_capture *cap, int *warned)
{
    uint64_t dev_events = 0, lost = voz_capture_dropped(cap, &dev_events);
    if (*warned || (lost == 0 && dev_events == 0))
        return;
    *warned = 1;
    if (lost)
        cli_warn("input overflow: the recognizer fell behind and %.2f s of audio from '%s' were lost; "
                 "capture goes on",
                 (double)lost / voz_capture_device_rate(cap), voz_capture_name(cap));
    else
        cli_warn("input overflow reported by '%s': some audio was lost; capture goes on",
                 voz_capture_name(cap));
}

int cmd_live(int argc, char **argv)
{
    enum { OPT_DEVICE = 256, OPT_LIST, OPT_INPUT, OPT_REALTIME, OPT_FORMAT, OPT_VAD, OPT_MAXUTT, OPT_HANGOVER,
           OPT_DECODER, OPT_BEAM, OPT_VTLN, OPT_MEMBERS, OPT_WORDS, OPT_VERBOSE };
    static const struct option opts[] = {
        { "model", required_argument, NULL, 'm' },
        { "device", required_argument, NULL, OPT_DEVICE },
        { "list-devices", no_argument, NULL, OPT_LIST },
        { "input", required_argument, NULL, OPT_INPUT },
        { "realtime", no_argument, NULL, OPT_REALTIME },
        { "format", required_argument, NULL, OPT_FORMAT },
        { "vad-threshold", required_argument, NULL, OPT_VAD },
        { "max-utterance", required_argument, NULL, OPT_MAXUTT },
        { "hangover", required_argument, NULL, OPT_HANGOVER },
        { "decoder", required_argument, NULL, OPT_DECODER },
        { "beam", required_argument, NULL, OPT_BEAM },
        { "vtln", required_argument, NULL, OPT_VTLN },
        { "members", required_argument, NULL, OPT_MEMBERS },
        { "words", required_argument, NULL, OPT_WORDS },
        { "verbose", no_argument, NULL, OPT_VERBOSE },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *model_path = NULL, *device = NULL, *input = NULL, *words_path = NULL;
    int list = 0, realtime = 0, c;
    struct live lv = { 0 };
    voz_stream_params sp = voz_stream_default_params();
    sp.decode.threads = cli_default_threads();
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":m:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model_path = optarg; break;
        case OPT_DEVICE: device = optarg; break;
        case OPT_LIST: list = 1; break;
        case OPT_INPUT: input = optarg; break;
        case OPT_REALTIME: realtime = 1; break;
        case OPT_FORMAT:
            if (!strcmp(optarg, "txt"))
                lv.json = 0;
            else if (!strcmp(optarg, "json"))
                lv.json = 1;
            else
                cli_die(EXIT_USAGE, "--format must be txt or json, not '%s'", optarg);
            break;
        case OPT_VAD: sp.endpoint.threshold_db = (float)cli_parse_double("--vad-threshold", optarg, 0, 100); break;
        case OPT_HANGOVER:
            sp.endpoint.hangover_ms = (float)cli_parse_double("--hangover", optarg, 10, 10000);
            break;
        case OPT_MAXUTT:
            sp.endpoint.max_utterance_s = (float)cli_parse_double("--max-utterance", optarg, 1, 3600);
            break;
        case OPT_DECODER: sp.decode.decoder = cli_parse_decoder(optarg); break;
        case OPT_BEAM: sp.decode.beam = cli_parse_int("--beam", optarg, 1, 4096); break;
        case OPT_VTLN: cli_parse_warps(optarg, &sp.decode); break;
        case OPT_MEMBERS: sp.decode.n_members = cli_parse_int("--members", optarg, 1, VOZ_MAX_MEMBERS); break;
        case OPT_WORDS: words_path = optarg; break;
        case OPT_VERBOSE: lv.verbose = 1; voz_set_quiet_decoders(0); break;
        case 'h':
            usage(stdout);
            cli_check_stdout();
            return 0;
        default: cli_option_error("live", c, opts, argc, argv);
        }
    }
    if (optind < argc)
        cli_die(EXIT_USAGE, "unexpected argument '%s' (see voz live --help)", argv[optind]);
    if (input && device)
        cli_die(EXIT_USAGE, "--input and --device exclude each other");
    if (realtime && !input)
        cli_die(EXIT_USAGE, "--realtime only applies to --input FILE");
    cli_setup_log(lv.verbose);
    if (list)
        return list_devices(lv.verbose);

    /* From here on Ctrl-C (or SIGTERM) only raises a flag: nothing is cut short. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    /* The model first: the device is opened only once there is something to feed. */
    struct cli_words *words = words_path ? cli_words_read(words_path) : NULL;
    struct voz_model *m = cli_load_model(model_path);
    if (words) {
        cli_words_check(words, m);
        sp.decode.words = (const char *const *)words->words;
        sp.decode.n_words = words->n;
    }
    cli_check_decode(m, &sp.decode);
    const int rate = voz_model_sample_rate(m);
    lv.tty = isatty(STDOUT_FILENO);
    const char *ts = getenv("VOZ_LIVE_TIMESTAMPS");
    lv.timing = ts && *ts && strcmp(ts, "0") != 0;
    lv.pad_s = sp.endpoint.pad_ms * 1e-3;
    lv.close_s = (sp.endpoint.hangover_ms > sp.endpoint.pad_ms ? sp.endpoint.hangover_ms : sp.endpoint.pad_ms) * 1e-3;
    sp.segment = VOZ_SEGMENT_ENDPOINT;
    sp.on_utterance = on_utterance;
    sp.on_partial = lv.tty ? on_partial : NULL;
    if (!lv.tty)
        sp.partial_interval_s = 0;
    sp.user_data = &lv;
    struct voz_stream *st = NULL;
    if (voz_stream_create(m, &sp, &st) != VOZ_OK)
        cli_die(1, "%s", voz_last_error());

    struct voz_capture *cap = NULL;
    voz_status s;
    if (input) {
        cli_check_stdin(input, "audio");
        if ((s = voz_capture_open_file_opts(input, rate, realtime, 0, stop_requested, NULL, &cap)) != VOZ_OK) {
            if (s == VOZ_ERR_ABORTED && interrupted) {
                voz_stream_free(st); /* Ctrl-C before the input said anything: nothing to print */
                voz_model_free(m);
                cli_words_free(words);
                return 0;
            }
            cli_die(1, "%s", voz_last_error());
        }
        if (lv.verbose)
            fprintf(stderr, "voz: replaying '%s'%s, recognizing at %d Hz\n", input,
                    realtime ? " at real-time speed" : "", rate);
    } else {
        voz_capture_params cp = { .device = device, .rate = rate, .quiet = !lv.verbose, .buffer_s = 0,
                                  .timeout_s = OPEN_TIMEOUT_S };
        /* Undocumented knobs for tests: force the device rate (exercises resampling)
           and shrink the ring (exercises the overflow path). */
        const char *env = getenv("VOZ_LIVE_DEVICE_RATE");
        if (env && *env)
            cp.device_rate = cli_parse_int("VOZ_LIVE_DEVICE_RATE", env, 1000, 384000);
        env = getenv("VOZ_LIVE_BUFFER_S");
        if (env && *env)
            cp.buffer_s = cli_parse_double("VOZ_LIVE_BUFFER_S", env, 0.001, 600);
        if ((s = voz_capture_open_device(&cp, &cap)) != VOZ_OK)
            device_failure(voz_last_error(), lv.verbose, !strstr(voz_last_error(), "did not answer"));
        if (lv.verbose)
            fprintf(stderr, "voz: capturing from '%s' at %.0f Hz, recognizing at %d Hz\n",
                    voz_capture_name(cap), voz_capture_device_rate(cap), rate);
    }

    /* Messages name the input as the reader does: the file, "standard input", or the device. */
    const char *input_name = !input ? voz_capture_name(cap) : strcmp(input, "-") ? input : "standard input";
    size_t max = (size_t)rate / 10;
    float *buf = malloc(max * sizeof *buf);
    if (!buf)
        cli_die(1, "out of memory");
    int warned = 0, eof = 0, stopping = 0;
    char *input_error = NULL; /* reported after the utterance in progress is printed */
    while (!eof) {
        if (interrupted && !stopping) {
            /* Finish what was heard up to now, then stop. */
            voz_capture_stop(cap);
            stopping = 1;
        }
        size_t got = 0;
        if ((s = voz_capture_read(cap, buf, max, &got, READ_TIMEOUT_MS, &eof)) != VOZ_OK) {
            input_error = strdup(voz_last_error()[0] ? voz_last_error() : voz_status_str(s));
            break;
        }
        if (!lv.clock0)
            lv.clock0 = voz_capture_clock(cap);
        if (got)
            feed_or_die(st, buf, got, input_name);
        warn_overflow(cap, &warned);
        if (lv.tty && lv.partial &&
            (lv.partial_dirty || (lv.partial_visible && voz_now() - lv.partial_drawn >= REDRAW_S)))
            draw_partial(&lv);
    }
    lv.finishing = 1;
    if ((s = voz_stream_finish(st)) != VOZ_OK)
        decode_failure(input_name, s);
    if (lv.tty) {
        clear_partial(&lv);
        fflush(stdout);
    }
    voz_capture_free(cap);
    voz_stream_free(st);
    voz_model_free(m);
    cli_words_free(words);
    free(buf);
    free(lv.partial);
    cli_check_stdout();
    if (input_error)
        cli_die(1, "%s", input_error);
    return 0;
}
