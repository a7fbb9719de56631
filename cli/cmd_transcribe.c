/* cli/cmd_transcribe.c — `voz transcribe`: audio files to text, one line per file
   (plain or JSON). A file that fails is reported on stderr and the others are still
   transcribed; the exit status says whether any failed. */
#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *fp)
{
    fprintf(fp,
            "usage: voz transcribe [OPTIONS] FILE...\n"
            "\n"
            "Transcribes each audio FILE (any format libsndfile reads; '-' is standard input).\n"
            "One file: its transcript on one line. Several: 'FILE<TAB>transcript' per line.\n"
            "\n"
            "options:\n"
            "  -m, --model MODEL     model file (default: the model built into voz)\n"
            "  --format txt|json     output format (default: txt); json prints one object per\n"
            "                        file per line: file, duration, text, words with start/end\n"
            "  --decoder auto|greedy|beam\n"
            "                        CTC decoder (default: auto = beam when a word list is\n"
            "                        known, else greedy)\n"
            "  --beam N              prefix beam width, 1..4096 (default: 16)\n"
            "  --vtln LIST|none      VTLN warps whose posteriors are averaged, e.g.\n"
            "                        0.9,1.1 (default: the model's list, if it has one)\n"
            "  --members N           networks of an ensemble model to combine, 1..8\n"
            "                        (default: all of them)\n"
            "  --words FILE          word list, one word per line, constraining the beam search\n"
            "                        (default: the model's word list, if it has one)\n"
            "  --threads N           threads for the acoustic model, 1 or 2 (default: 2\n"
            "                        on a machine with two cores or more)\n"
            "  -h, --help            this text\n"
            "\n"
            "Exit status: 0 all files transcribed, 1 a file or the model failed, 2 usage error.\n");
}

static void print_json(const char *file, const voz_transcript *t)
{
    fputs("{\"file\":", stdout);
    cli_json_string(file);
    printf(",\"duration\":%.3f,\"text\":", t->duration);
    cli_json_string(t->text);
    cli_json_words(t);
    fputs("}\n", stdout);
}

/* "voz: FILE: reason" — the library's message usually names the file already. */
static void report_failure(const char *file, voz_status s)
{
    const char *why = voz_last_error();
    /* The library calls "-" "standard input" in its messages. */
    if (!strcmp(file, "-"))
        file = "standard input";
    /* The library's message has control characters replaced; compare like with like. */
    size_t fl = strlen(file);
    int named = !strncmp(why, file, fl) && why[fl] == ':';
    for (size_t i = 0; i < fl && !named; i++) {
        unsigned char a = (unsigned char)file[i], b = (unsigned char)why[i];
        if (b != (a < 0x20 || a == 0x7f ? '?' : a))
            break;
        named = i + 1 == fl && why[fl] == ':';
    }
    if (!why[0])
        cli_error("%s: %s", file, voz_status_str(s));
    else if (named)
        cli_error("%s", why);
    else
        cli_error("%s: %s", file, why);
}

int cmd_transcribe(int argc, char **argv)
{
    enum { OPT_FORMAT = 256, OPT_DECODER, OPT_BEAM, OPT_VTLN, OPT_MEMBERS, OPT_WORDS, OPT_THREADS };
    static const struct option opts[] = {
        { "model", required_argument, NULL, 'm' },
        { "format", required_argument, NULL, OPT_FORMAT },
        { "decoder", required_argument, NULL, OPT_DECODER },
        { "beam", required_argument, NULL, OPT_BEAM },
        { "vtln", required_argument, NULL, OPT_VTLN },
        { "members", required_argument, NULL, OPT_MEMBERS },
        { "words", required_argument, NULL, OPT_WORDS },
        { "threads", required_argument, NULL, OPT_THREADS },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *model_path = NULL, *words_path = NULL;
    int json = 0, c;
    voz_decode_params dp = voz_decode_default_params();
    dp.threads = cli_default_threads();
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":m:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model_path = optarg; break;
        case OPT_FORMAT:
            if (!strcmp(optarg, "txt"))
                json = 0;
            else if (!strcmp(optarg, "json"))
                json = 1;
            else
                cli_die(EXIT_USAGE, "--format must be txt or json, not '%s'", optarg);
            break;
        case OPT_DECODER: dp.decoder = cli_parse_decoder(optarg); break;
        case OPT_BEAM: dp.beam = cli_parse_int("--beam", optarg, 1, 4096); break;
        case OPT_VTLN: cli_parse_warps(optarg, &dp); break;
        case OPT_MEMBERS: dp.n_members = cli_parse_int("--members", optarg, 1, VOZ_MAX_MEMBERS); break;
        case OPT_WORDS: words_path = optarg; break;
        case OPT_THREADS: dp.threads = cli_parse_int("--threads", optarg, 1, 2); break;
        case 'h':
            usage(stdout);
            cli_check_stdout();
            return 0;
        default: cli_option_error("transcribe", c, opts, argc, argv);
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return EXIT_USAGE;
    }
    cli_setup_log(0);
    struct cli_words *words = words_path ? cli_words_read(words_path) : NULL;
    struct voz_model *m = cli_load_model(model_path);
    if (words) {
        cli_words_check(words, m);
        dp.words = (const char *const *)words->words;
        dp.n_words = words->n;
    }
    cli_check_decode(m, &dp);
    int n_files = argc - optind, failed = 0;
    for (int i = optind; i < argc; i++) {
        const char *file = argv[i];
        voz_transcript t;
        cli_check_stdin(file, "audio");
        voz_status s = voz_transcribe_file(m, file, &dp, &t);
        if (s) {
            report_failure(file, s);
            failed = 1;
            continue;
        }
        if (json)
            print_json(file, &t);
        else if (n_files > 1)
            printf("%s\t%s\n", file, t.text);
        else
            printf("%s\n", t.text);
        voz_transcript_release(&t);
    }
    voz_model_free(m);
    cli_words_free(words);
    cli_check_stdout();
    return failed;
}
