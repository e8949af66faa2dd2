/* SPDX-License-Identifier: MIT */
/* `dise`: the command line. Text for people, --json for machines. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <unistd.h>

#include "cli.h"
#include "home.h"
#include "store.h"

int dise_cli_error(int err, const char *fmt, ...)
{
	va_list ap;

	fputs("dise: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (err)
		fprintf(stderr, ": %s", strerror(err < 0 ? -err : err));
	fputc('\n', stderr);
	return 1;
}

int dise_cli_open_store(int readonly, struct dise_store **st, char *home, size_t hsize)
{
	char db[4200];
	int r = dise_home(home, hsize);

	if (r < 0 || dise_path_join(db, sizeof(db), home, "dise.db") < 0)
		return dise_cli_error(r < 0 ? r : -ENAMETOOLONG, "state directory");
	if (readonly && access(db, F_OK) != 0) {
		fprintf(stderr, "dise: nothing recorded yet in '%s' (is dise-collectord running?)\n", home);
		return 1;
	}
	r = dise_store_open(db, readonly, st);
	if (r == -ENODATA) {
		fprintf(stderr, "dise: nothing recorded yet in '%s' (is dise-collectord running?)\n", home);
		return 1;
	}
	if (r == -ESTALE) {
		fprintf(stderr, "dise: '%s' was made by an older dise; start dise-collectord once to upgrade it\n", db);
		return 1;
	}
	return r < 0 ? dise_cli_error(r, "cannot open '%s'", db) : 0;
}

static void usage(FILE *f)
{
	fputs("usage: dise COMMAND [ARGS]\n"
	      "\n"
	      "  run TOOL [ARGS...]                 run TOOL watched (starts the collector if none runs)\n"
	      "  ring stat [--json]                 the ring's header and counters\n"
	      "  ring dump [--json] [--consume]     every record in the ring, one per line\n"
	      "  ring reset                         remove the ring file (a new one is made on next use)\n"
	      "  runs [--tool T] [--limit N] [--json]  runs stored by dise-collectord, newest first\n"
	      "  crashes [--json]                   crashes grouped by signature, with their top frames\n"
	      "  collector start|stop|status        the collector daemon of this DISE_HOME\n"
	      "  lineage TOOL [--json | --dot]      versions of a tool, their parents, runs and failures\n"
	      "  tool add NAME --version V PATH [--parent V0 ...]   register a version by hand\n"
	      "  heal TOOL [--version V]            prune a version now, taint, learn a rule, route to an ancestor\n"
	      "  pruned [--json] | rules [--json]   what was pruned and why, what was learned\n"
	      "  reset TOOL [--version V] [--why T] un-prune a version, clear its strikes, drop the route\n"
	      "  health [--json]                    versions by health, recent failures, what runs instead\n"
	      "  attach PID [--stack] [--detach-after S]  watch a running process started without the shim\n"
	      "\n"
	      "Environment: DISE_RING (ring file, default /dev/shm/dise-<uid>), DISE_HOME (state,\n"
	      "default $XDG_STATE_HOME/dise or ~/.local/state/dise).\n",
	      f);
}

int main(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (argc > 2 && (!strcmp(argv[2], "-h") || !strcmp(argv[2], "--help"))) {
		usage(stdout); /* `dise health --help`: not a tool named --help */
		return 0;
	}
	if (!strcmp(argv[1], "ring"))
		return dise_cli_ring(argc - 1, argv + 1);
	if (!strcmp(argv[1], "runs"))
		return dise_cli_runs(argc, argv);
	if (!strcmp(argv[1], "crashes"))
		return dise_cli_crashes(argc, argv);
	if (!strcmp(argv[1], "collector"))
		return dise_cli_collector(argc, argv);
	if (!strcmp(argv[1], "lineage"))
		return dise_cli_lineage(argc, argv);
	if (!strcmp(argv[1], "tool"))
		return dise_cli_tool(argc, argv);
	if (!strcmp(argv[1], "run"))
		return dise_cli_run(argc, argv);
	if (!strcmp(argv[1], "heal"))
		return dise_cli_heal(argc, argv);
	if (!strcmp(argv[1], "pruned"))
		return dise_cli_pruned(argc, argv);
	if (!strcmp(argv[1], "rules"))
		return dise_cli_rules(argc, argv);
	if (!strcmp(argv[1], "reset"))
		return dise_cli_reset(argc, argv);
	if (!strcmp(argv[1], "health"))
		return dise_cli_health(argc, argv);
	if (!strcmp(argv[1], "attach"))
		return dise_cli_attach(argc, argv);
	fprintf(stderr, "dise: unknown command '%s' (try 'dise --help')\n", argv[1]);
	return 2;
}
