/* SPDX-License-Identifier: MIT */
/* Subcommands of `dise`, one file each. */
#ifndef DISE_CLI_H
#define DISE_CLI_H

int dise_cli_ring(int argc, char **argv);
int dise_cli_runs(int argc, char **argv);
int dise_cli_crashes(int argc, char **argv);
int dise_cli_collector(int argc, char **argv);
int dise_cli_lineage(int argc, char **argv);
int dise_cli_tool(int argc, char **argv);

/* Prints "dise: <msg>: <strerror(-err)>" once and returns the exit code 1. */
int dise_cli_error(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
