/* cli/cmd_live.c — placeholder until the subcommand lands. */
#include "cli/cli.h"

int cmd_live(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    cli_die(1, "'live' is not built yet");
}
