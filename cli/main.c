/* SPDX-License-Identifier: MIT */
/*
 * `dise`: the command line. Text for people, --json for machines. main()
 * finds the command in the table below and hands it its arguments, argv[0]
 * being its name; how commands parse them is in options.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "dise/ring.h"
#include "home.h"
#include "status.h"
#include "store.h"

int dise_cli_error(int err, const char *fmt, ...)
{
	va_list ap;

	fputs("dise: ", stderr);
	va_start(ap, fmt);
	dise_cli_vprint(stderr, fmt, ap);
	va_end(ap);
	if (err == -EUCLEAN)
		fputs(": the database is damaged or not a database (move it aside; the collector makes a new one)", stderr);
	else if (err)
		dise_cli_print(stderr, ": %s", strerror(err < 0 ? -err : err));
	fputc('\n', stderr);
	return 1;
}

/* The state directory of the store a reading command opened (or tried to): its collector's error is told after. */
static char read_home[4096];

int dise_cli_collector_error(const char *home, FILE *to)
{
	static int told = -1;
	char msg[1100], when[64];
	int64_t wall_ns;
	time_t t;
	struct tm tm;

	if (told >= 0)
		return told;
	if ((told = dise_status_get(home, msg, sizeof(msg), &wall_ns) > 0) == 0)
		return 0;
	t = (time_t)(wall_ns / 1000000000);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", localtime_r(&t, &tm));
	dise_cli_print(to, "dise: the collector's last error (%s): %s\n", when, msg);
	return 1;
}

int dise_cli_open_store(int readonly, struct dise_store **st, char *home, size_t hsize)
{
	char db[4200];
	const char *why;
	int r = dise_home(home, hsize);

	if (r < 0 || dise_path_join(db, sizeof(db), home, "dise.db") < 0)
		return dise_cli_error(r < 0 ? r : -ENAMETOOLONG, "state directory");
	if (readonly)
		snprintf(read_home, sizeof(read_home), "%s", home);
	if (readonly && access(db, F_OK) != 0) {
		dise_cli_print(stderr, "dise: nothing recorded yet in '%s' (is dise-collectord running?)\n", home);
		return 1;
	}
	if (access(db, readonly ? R_OK : R_OK | W_OK) != 0 && errno != ENOENT) /* SQLite would say "unable to open" */
		return dise_cli_error(-errno, "cannot %s '%s'", readonly ? "read" : "write", db);
	/*
	 * A writer waits (up to 30 s) for a collector that holds the write lock
	 * while it stores a burst of runs: each open waits SQLite's busy timeout
	 * (2 s) already, a sanitized collector under a burst held it longer, and
	 * 10 s were not enough for one starved by two busy loops beside four
	 * tests on two cores (test-canary's promote during 50 parallel runs).
	 */
	{
		struct timespec t0, t, pause = { 0, 100000000 };

		clock_gettime(CLOCK_MONOTONIC, &t0);
		while ((r = dise_store_open(db, readonly, st)) == -EBUSY && !readonly) {
			clock_gettime(CLOCK_MONOTONIC, &t);
			if (t.tv_sec - t0.tv_sec >= 30)
				break;
			nanosleep(&pause, NULL);
		}
	}
	if (r == -ENODATA) {
		dise_cli_print(stderr, "dise: nothing recorded yet in '%s' (is dise-collectord running?)\n", home);
		return 1;
	}
	if (r == -ESTALE) {
		dise_cli_print(stderr, "dise: '%s' was made by an older dise; start dise-collectord once to upgrade it\n", db);
		return 1;
	}
	why = dise_store_open_errmsg();
	if (r < 0 && why[0] && r != -EUCLEAN)
		return dise_cli_error(0, "cannot open '%s': %s", db, why);
	/* -EUCLEAN: dise_cli_error() says what it means; SQLite's own words would say it twice */
	return r < 0 ? dise_cli_error(r, "cannot open '%s'", db) : 0;
}

int dise_cli_ring_path(char *buf, size_t size, int say)
{
	char def[DISE_PATH_MAX];
	int r = dise_ring_choose(buf, size);

	if (r == 1 && say && dise_ring_path(def, sizeof(def)) == 0)
		dise_cli_print(stderr, "dise: '%s' is someone else's or not a ring file: recording uses '%s'\n", def, buf);
	return r < 0 ? r : 0;
}

static int cmd_version(int argc, char **argv, const struct dise_cli_cmd *cmd);
static int cmd_help(int argc, char **argv, const struct dise_cli_cmd *cmd);

/*
 * Every command: its name, the function that runs it, a line for `dise
 * --help`, and its usage for `dise NAME --help` and after a usage error.
 * Options are long only; what follows TOOL in `dise run` is TOOL's.
 */
static const struct dise_cli_cmd commands[] = {
	{ "run", dise_cli_run, "run TOOL watched (starts the collector if none runs)",
	  "usage: dise run TOOL [ARGS...]\n"
	  "       dise-run TOOL [ARGS...]\n"
	  "  run TOOL (a path, or a name looked up in PATH) with the shim preloaded, wait for\n"
	  "  it and exit as it did; starts the collector of this DISE_HOME unless one runs.\n"
	  "  Everything after TOOL is TOOL's, its options included.\n" },
	{ "attach", dise_cli_attach, "watch a running process started without the shim",
	  "usage: dise attach PID [--stack] [--detach-after SECONDS] [--quiet]\n"
	  "  follow a running process (and the threads and children it makes) until it ends,\n"
	  "  recording its end, and a crash with its stack, into the ring as the shim would\n"
	  "  --stack                  print every thread's stack once, then detach\n"
	  "  --detach-after SECONDS   detach after that long (Ctrl-C and SIGTERM detach too)\n"
	  "  --quiet                  print nothing but errors\n" },
	{ "core", dise_cli_core, "record every program's crashes through the kernel's core_pattern",
	  "usage: dise core install [--handler PATH] | uninstall | status [--json]\n"
	  "  install     (root) make dise-coredump the kernel's core_pattern handler; it records\n"
	  "              each crash into the crashing user's ring and passes the core on to the\n"
	  "              handler it replaces (a pipe, or the file pattern), byte for byte\n"
	  "  uninstall   (root) put back the pattern and core_pipe_limit install replaced\n"
	  "  status      what kernel.core_pattern is now, and what dise replaced\n"
	  "  --handler PATH   the dise-coredump to install (default: the one beside dise)\n"
	  "  --json           status as a JSON object\n" },
	{ "runs", dise_cli_runs, "runs stored by dise-collectord, newest first",
	  "usage: dise runs [--tool T] [--limit N] [--json]\n"
	  "  the runs dise-collectord stored, newest first\n"
	  "  --tool T    only the runs of T: its path, its group's name, or a file name only it has\n"
	  "  --limit N   at most N runs (default 100)\n"
	  "  --json      a JSON array instead of text\n" },
	{ "crashes", dise_cli_crashes, "crashes grouped by signature, with their top frames",
	  "usage: dise crashes [--json]\n"
	  "  crashes grouped by signature (their top frames as module + offset), with counts,\n"
	  "  first and last seen, the tools they hit, the strikes they made and the top frames\n"
	  "  of the latest one\n"
	  "  --json   a JSON array instead of text\n" },
	{ "metrics", dise_cli_metrics, "Prometheus metrics: runs, failures, crashes, heals, the ring",
	  "usage: dise metrics\n"
	  "  the metrics dise-collectord writes for node-exporter's textfile collector\n"
	  "  (--metrics-file), computed now, in the Prometheus text exposition format\n" },
	{ "health", dise_cli_health, "versions by health, recent failures, what runs instead",
	  "usage: dise health [--json]\n"
	  "  versions by health, runs, queued heal requests, how healing went (routed to a\n"
	  "  healthy ancestor or not, detection to route), the ten latest failures\n"
	  "  --json   a JSON object instead of text\n" },
	{ "lineage", dise_cli_lineage, "versions of a tool, their parents, runs and failures",
	  "usage: dise lineage TOOL [--json | --dot]\n"
	  "  the versions of TOOL with their parents, health, runs, failures and crashes, their\n"
	  "  heal requests and the route\n"
	  "  --json   a JSON array instead of text\n"
	  "  --dot    a Graphviz digraph of the same: dise lineage TOOL --dot | dot -Tsvg\n" },
	{ "pruned", dise_cli_pruned, "what was pruned and why",
	  "usage: dise pruned [--json]\n"
	  "  the pruned versions: why (the detection), the versions they tainted, and the\n"
	  "  version their tool is routed to\n"
	  "  --json   a JSON array instead of text\n" },
	{ "rules", dise_cli_rules, "what healing learned",
	  "usage: dise rules [--json]\n"
	  "  the rules healing learned, the versions they cover and how their replays went\n"
	  "  --json   a JSON array instead of text\n" },
	{ "journal", dise_cli_journal, "every step healing took, and why",
	  "usage: dise journal [--tool T] [--limit N] [--json]\n"
	  "  the steps healing took (start, prune, taint, rule, validation, route, restore,\n"
	  "  reset), each with its result and detail, the newest N shown oldest first\n"
	  "  --tool T    only the steps of T\n"
	  "  --limit N   at most N steps (default 100)\n"
	  "  --json      a JSON array instead of text\n" },
	{ "report", dise_cli_report, "one self-contained HTML page: health, lineage drawn, crashes, journal",
	  "usage: dise report --html FILE\n"
	  "  writes FILE (atomically): health at a glance and the routes in effect, each\n"
	  "  tool's lineage drawn (Graphviz dot to SVG when installed, else as text),\n"
	  "  crashes with their top frames, rules, the journal as a timeline, regeneration\n"
	  "  proposals and canary rollouts; inline CSS, no script, nothing fetched\n"
	  "  --html FILE   the page to write (required: HTML is the only format)\n" },
	{ "heal", dise_cli_heal, "prune a version now, taint, learn a rule, route to an ancestor",
	  "usage: dise heal TOOL [--version V]\n"
	  "  heal a version of TOOL now, by the policy in $DISE_HOME/dise.json: prune it, taint\n"
	  "  what descends from it, learn a rule, route TOOL to a healthy ancestor\n"
	  "  --version V   its label, or its id (v12 or 12); default: the newest not pruned\n" },
	{ "regenerate", dise_cli_regenerate, "heal forward: a fixed version from the healthy ancestor",
	  "usage: dise regenerate TOOL [--from V]\n"
	  "  from the pruned version V (default: the newest pruned) and TOOL's healthy ancestor,\n"
	  "  a version that keeps what V added but the smallest set of its changes (hunks) whose\n"
	  "  revert passes, in a bubblewrap sandbox, the test_command and the replay of every\n"
	  "  rule, and the ratchet; routed to (mode auto) or proposed (mode suggest).\n"
	  "  A #! script is its own source; a compiled tool needs dise.json \"source\" (a git\n"
	  "  tree, its build, its artifact) and each version's revision (dise tool add --rev,\n"
	  "  or source.rev_command), else it is rollback only. Exit 1 when nothing was made.\n" },
	{ "proposals", dise_cli_proposals, "regenerated candidates waiting for approval",
	  "usage: dise proposals [TOOL] [--all] [--json]\n"
	  "  the regenerated candidates waiting for 'dise approve' (with --all: every\n"
	  "  regeneration attempt, accepted or not), with their diff, validation and fitness\n" },
	{ "approve", dise_cli_approve, "route to a proposed regenerated version",
	  "usage: dise approve ID\n"
	  "  proposal ID (dise proposals) becomes a regenerated version, and its tool is routed to it\n" },
	{ "reject", dise_cli_reject, "refuse a proposed regenerated version",
	  "usage: dise reject ID [--why TEXT]\n"
	  "  proposal ID is refused (journaled, with who and why); its diff is never proposed again\n" },
	{ "reset", dise_cli_reset, "un-prune a version, clear its strikes, drop the route",
	  "usage: dise reset TOOL [--version V] [--why TEXT]\n"
	  "  a version of TOOL healthy again: un-pruned, its strikes cleared, the route dropped\n"
	  "  (for watched runs once the collector publishes the routes: start it if it is not running)\n"
	  "  --version V   its label, or its id (v12 or 12); default: the newest pruned or failed\n"
	  "  --why TEXT    the reason, journaled with who gave it\n" },
	{ "canary", dise_cli_canary, "canary rollouts: each new version's share of runs, step by step",
	  "usage: dise canary [--all] [--json]\n"
	  "       dise canary promote|abort TOOL\n"
	  "  the running canary rollouts (dise.json \"tools\": {T: {\"canary\": {\"on_deploy\": true}}}):\n"
	  "  tool, stable and canary versions, step and weight, runs and failures of each arm\n"
	  "  at this step, time at the step, and the verdict so far\n"
	  "  --all     the ended rollouts too (promoted, aborted, superseded)\n"
	  "  --json    a JSON array instead of text\n"
	  "  promote   the next step now (the last: the canary is the plain version)\n"
	  "  abort     weight 0 now: every run runs the stable version (nothing is pruned)\n" },
	{ "tools", dise_cli_tools, "the tools: their paths, versions, health and route",
	  "usage: dise tools [--json]\n"
	  "  every tool (a lineage of versions): named by the path it is invoked at, or by its\n"
	  "  group's name (dise.json \"tools\": {\"app\": {\"paths\": [globs]}}, or dise tool add),\n"
	  "  with its paths, versions by health, and the version its runs are routed to\n"
	  "  --json   a JSON array\n" },
	{ "tool", dise_cli_tool, "register a version of a tool by hand",
	  "usage: dise tool add NAME --version V PATH [--parent V0 ...] [--rev REV]\n"
	  "  register the program at PATH as version V of tool NAME, and its runs as NAME's\n"
	  "  --version V    its label (required)\n"
	  "  --parent V0    a parent, by label; several: a merge\n"
	  "  --rev REV      the git revision of the tool's source it was built from (dise.json\n"
	  "                 \"source\": regeneration builds candidates from the diff between revisions)\n" },
	{ "collector", dise_cli_collector, "the collector daemon of this DISE_HOME",
	  "usage: dise collector start|stop|status\n"
	  "  the collector daemon (dise-collectord) of this DISE_HOME\n"
	  "  start    start it unless it runs\n"
	  "  stop     stop it and wait for it (at most 5 s)\n"
	  "  status   whether it runs: exit status 0 if it does, 3 if not\n" },
	{ "ring", dise_cli_ring, "the ring's counters and records, or remove it",
	  "usage: dise ring stat [--json]\n"
	  "       dise ring dump [--json] [--consume]\n"
	  "       dise ring reset\n"
	  "  the ring the shim writes to ($DISE_RING, default /dev/shm/dise-<uid>)\n"
	  "  stat        its header and counters\n"
	  "  dump        every record in it, one per line; it only peeks unless --consume\n"
	  "  reset       remove the ring file (a new one is made on next use)\n"
	  "  --json      JSON instead of text\n"
	  "  --consume   dump: take the records, as the collector does\n" },
	{ "preload", dise_cli_preload, "watch every program of the host: the shim in /etc/ld.so.preload",
	  "usage: dise preload enable|disable|status [--root DIR] [--shim PATH]\n"
	  "  the shim in /etc/ld.so.preload: every dynamically linked program started after is\n"
	  "  watched, each user's records going to that user's ring (dise-collectord@UID.service)\n"
	  "  enable        add the shim after its self-test, keeping every other entry (atomic)\n"
	  "  disable       remove exactly what enable added\n"
	  "  status        whether it is enabled: exit status 0 if it is, 3 if not\n"
	  "  --root DIR    edit DIR/etc/ld.so.preload (a chroot, an image); default $DISE_SYSROOT or /\n"
	  "  --shim PATH   the shim to name (default: this dise's own)\n" },
	{ "service", dise_cli_service, "watch one systemd service: a drop-in that preloads the shim",
	  "usage: dise service watch|unwatch|status UNIT [--user | --root DIR] [--shim PATH]\n"
	  "  the drop-in /etc/systemd/system/UNIT.d/dise-watch.conf (Environment=LD_PRELOAD=the shim)\n"
	  "  watch         add it after the shim's self-test, then systemctl daemon-reload\n"
	  "  unwatch       remove exactly it (and UNIT.d when dise made it), then daemon-reload\n"
	  "  status        whether UNIT is watched: exit status 0 if it is, 3 if not\n"
	  "  --user        a unit of your own service manager (~/.config/systemd/user)\n"
	  "  --root DIR    edit DIR/etc/systemd/system; default $DISE_SYSROOT or /\n"
	  "  --shim PATH   the shim to name (default: this dise's own)\n"
	  "  The unit is not restarted: its runs are watched from its next start.\n" },
	{ "version", cmd_version, "the version of dise",
	  "usage: dise version\n"
	  "       dise --version\n"
	  "  print the version of dise\n" },
	{ "help", cmd_help, "the commands, or how to use one",
	  "usage: dise help [COMMAND]\n"
	  "  the commands of dise, or the usage of one: the same as dise COMMAND --help\n" },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static const struct dise_cli_cmd *find_command(const char *name)
{
	size_t i;

	for (i = 0; i < NCOMMANDS; i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

static void usage(FILE *f)
{
	size_t i;

	fputs("usage: dise COMMAND [ARGS]\n"
	      "       dise COMMAND --help\n"
	      "       dise --version\n"
	      "\n",
	      f);
	for (i = 0; i < NCOMMANDS; i++)
		dise_cli_print(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fputs("\n"
	      "Environment: DISE_RING (ring file, default /dev/shm/dise-<uid>), DISE_HOME (state,\n"
	      "default $XDG_STATE_HOME/dise or ~/.local/state/dise), DISE_SYSROOT (the root preload\n"
	      "and service edit, default /). dise-run is dise run.\n",
	      f);
}

static int cmd_version(int argc, char **argv, const struct dise_cli_cmd *cmd)
{
	while (dise_cli_getopt(argc, argv, NULL, DISE_CLI_PERMUTE, cmd) != -1)
		;
	dise_cli_operands(argc, argv, 0, 0, cmd);
	dise_cli_print(stdout, "dise %s\n", DISE_VERSION);
	return 0;
}

static int cmd_help(int argc, char **argv, const struct dise_cli_cmd *cmd)
{
	const struct dise_cli_cmd *c;
	char **name;

	while (dise_cli_getopt(argc, argv, NULL, DISE_CLI_PERMUTE, cmd) != -1)
		;
	name = dise_cli_operands(argc, argv, 0, 1, cmd);
	if (!name[0]) {
		usage(stdout);
		return 0;
	}
	c = find_command(name[0]);
	if (!c)
		dise_cli_usage_error(cmd, "unknown command '%s'", name[0]);
	fputs(c->usage, stdout);
	return 0;
}

int main(int argc, char **argv)
{
	const struct dise_cli_cmd *cmd;
	const char *base = strrchr(argv[0], '/');

	/* dise-run (a link to dise) is exactly `dise run` */
	if (!strcmp(base ? base + 1 : argv[0], "dise-run"))
		return dise_cli_run(argc, argv, find_command("run"));
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	/* --help and --version are the commands help and version: `dise --help runs` is `dise help runs` */
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))
		argv[1] = (char *)"help";
	else if (!strcmp(argv[1], "--version"))
		argv[1] = (char *)"version";
	if (argv[1][0] == '-') {
		dise_cli_print(stderr, "dise: unknown option '%s'\n", argv[1]);
		usage(stderr);
		return 2;
	}
	cmd = find_command(argv[1]);
	if (!cmd) {
		dise_cli_print(stderr, "dise: unknown command '%s' (try 'dise --help')\n", argv[1]);
		return 2;
	}
	{
		int rc = cmd->fn(argc - 1, argv + 1, cmd);

		/* a command that read the store fails when what it read may be stale or partial */
		if (read_home[0] && dise_cli_collector_error(read_home, stderr) && rc == 0)
			rc = 1;
		return rc;
	}
}
