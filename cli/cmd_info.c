/* cli/cmd_info.c — placeholder until the subcommand lands. */
#include "cli/cli.h"

int cmd_info(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    cli_die(1, "'info' is not built yet");
}
