/* cli/cmd_features.c — placeholder until the subcommand lands. */
#include "cli/cli.h"

int cmd_features(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    cli_die(1, "'features' is not built yet");
}
