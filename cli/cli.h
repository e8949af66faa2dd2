/* SPDX-License-Identifier: MIT */
/* Subcommands of `dise`, one file each. */
#ifndef DISE_CLI_H
#define DISE_CLI_H

#include <stddef.h>

int dise_cli_ring(int argc, char **argv);
int dise_cli_runs(int argc, char **argv);
int dise_cli_crashes(int argc, char **argv);
int dise_cli_collector(int argc, char **argv);
int dise_cli_lineage(int argc, char **argv);
int dise_cli_run(int argc, char **argv);
int dise_cli_heal(int argc, char **argv);
int dise_cli_reset(int argc, char **argv);
int dise_cli_health(int argc, char **argv);
int dise_cli_pruned(int argc, char **argv);
int dise_cli_rules(int argc, char **argv);
/* Starts the collector of this DISE_HOME unless one runs. Returns 0 or an exit code. */
int dise_cli_collector_ensure(void);
int dise_cli_tool(int argc, char **argv);
int dise_cli_attach(int argc, char **argv);

struct dise_store;
/*
 * Opens $DISE_HOME/dise.db for a command; readonly refuses a database that
 * does not exist yet with a one-line hint. Returns 0, or the exit code
 * after saying what went wrong. home receives the state directory.
 */
int dise_cli_open_store(int readonly, struct dise_store **st, char *home, size_t hsize);

/* Prints "dise: <msg>: <strerror(-err)>" once and returns the exit code 1. */
int dise_cli_error(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
