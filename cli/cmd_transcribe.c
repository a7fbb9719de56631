/* cli/cmd_transcribe.c — placeholder until the subcommand lands. */
#include "cli/cli.h"

int cmd_transcribe(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    cli_die(1, "'transcribe' is not built yet");
}
