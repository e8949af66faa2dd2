/* SPDX-License-Identifier: MIT */
/*
 * Healing forward, the revert-hunks demo case (tests/e2e/test-regen.c's
 * script: v2 adds two features and a crash): the wall time from `dise heal`
 * of v2 (prune, route back to v1) to the regenerated v3 routed, with the
 * candidates ddmin tried and the fitness rounds; then the sandbox's own
 * cost per run (bwrap start to the exit of /bin/true) beside the same run
 * outside it.
 *
 *   bench-regen [BUILD] [ROUNDS]
 */
#define _GNU_SOURCE
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench-util.h"
#include "sandbox.h"
#include "validate.h"

static void sh(const char *cmd)
{
	bench_sh("bench-regen", cmd);
}

static void put(const char *path, const char *text)
{
	char tmp[600];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.new", path);
	f = fopen(tmp, "w");
	if (!f || fputs(text, f) < 0 || fclose(f) != 0 || chmod(tmp, 0755) < 0 || rename(tmp, path) < 0) {
		fprintf(stderr, "bench-regen: cannot write %s\n", path);
		exit(1);
	}
}

/* The first column of sql over home's database as text into buf. */
static void query(const char *home, const char *sql, char *buf, size_t size)
{
	char db[600];
	sqlite3 *h = NULL;
	sqlite3_stmt *q = NULL;

	buf[0] = '\0';
	snprintf(db, sizeof(db), "%s/dise.db", home);
	if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(h, sql, -1, &q, NULL) == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW && sqlite3_column_text(q, 0))
		snprintf(buf, size, "%s", (const char *)sqlite3_column_text(q, 0));
	sqlite3_finalize(q);
	sqlite3_close(h);
}

static const char v1[] = "#!/bin/sh\n# a tool\ncase \"$1\" in\ngreet)\n\techo \"hello $2\"\n\t;;\nversion)\n\techo 1\n\t;;\n"
			 "esac\nexit 0\n";
static const char v2[] = "#!/bin/sh\n# a tool\ncase \"$1\" in\nshout)\n\techo \"HELLO $2\"\n\t;;\ngreet)\n\techo \"hello $2\"\n"
			 "\tkill -SEGV $$\n\t;;\nversion)\n\techo 2\n\t;;\ncount)\n\tshift; echo \"$#\"\n\t;;\nesac\nexit 0\n";

/* One demo round in dir: the wall of `dise heal`, and what the mutation says. */
static uint64_t demo(const char *build, const char *dir, char *cands, char *mut_ms, char *verdict, size_t size)
{
	char home[300], tool[300], cmd[2400];
	uint64_t t0, t;

	snprintf(home, sizeof(home), "%s/home", dir);
	snprintf(tool, sizeof(tool), "%s/tool", dir);
	mkdir(dir, 0700);
	mkdir(home, 0700);
	snprintf(cmd, sizeof(cmd), "%s/dise.json", home);
	put(cmd, "{\"tools\": {\"tool\": {\"test_command\": \"$DISE_CANDIDATE version > /dev/null\", \"regenerate\": {}}}}\n");
	setenv("DISE_HOME", home, 1);
	put(tool, v1);
	snprintf(cmd, sizeof(cmd), "%s/bin/dise tool add tool --version v1 %s > /dev/null", build, tool);
	sh(cmd);
	put(tool, v2);
	snprintf(cmd, sizeof(cmd), "%s/bin/dise tool add tool --version v2 --parent v1 %s > /dev/null", build, tool);
	sh(cmd);
	snprintf(cmd, sizeof(cmd), "LD_PRELOAD=%s/lib/libdise_shim.so %s greet bob > /dev/null 2>&1; %s/bin/dise-collectord --once "
				   "2> /dev/null",
		 build, tool, build);
	if (system(cmd) < 0)
		exit(1);
	snprintf(cmd, sizeof(cmd), "%s/bin/dise heal tool > /dev/null", build);
	t0 = now_ns();
	sh(cmd);
	t = now_ns() - t0;
	query(home, "SELECT candidates FROM mutations ORDER BY id DESC LIMIT 1", cands, size);
	query(home, "SELECT printf('%.0f', duration_ns / 1e6) FROM mutations ORDER BY id DESC LIMIT 1", mut_ms, size);
	query(home, "SELECT verdict FROM mutations ORDER BY id DESC LIMIT 1", verdict, size);
	return t;
}

int main(int argc, char **argv)
{
	const char *build = argc > 1 ? argv[1] : "build";
	int rounds = argc > 2 ? atoi(argv[2]) : 5, i;
	char dir[128], scratch[160], why[256], cmd[300], abs_build[700];
	char *targv[] = { "true", NULL };
	uint64_t *in, *out, *heal;

	if (rounds < 1)
		rounds = 1;
	if (build[0] != '/' && getcwd(cmd, sizeof(cmd)))
		snprintf(abs_build, sizeof(abs_build), "%.300s/%.300s", cmd, build), build = abs_build;
	if (dise_sandbox_check(why, sizeof(why)) < 0) {
		fprintf(stderr, "bench-regen: %s\n", why);
		return 1;
	}
	in = calloc((size_t)rounds * 4, sizeof(*in));
	out = calloc((size_t)rounds * 4, sizeof(*out));
	heal = calloc((size_t)rounds, sizeof(*heal));
	snprintf(dir, sizeof(dir), "/tmp/dise-bench-regen-%d", (int)getpid());
	mkdir(dir, 0700);
	printf("bench-regen: the revert-hunks demo case (#! script, 3 hunks, 1 crash), %d rounds\n", rounds);
	for (i = 0; i < rounds; i++) {
		char d[200], cands[32], ms[32], verdict[32];

		snprintf(d, sizeof(d), "%s/r%d", dir, i);
		heal[i] = demo(build, d, cands, ms, verdict, sizeof(cands));
		printf("  round %d: dise heal (prune, route back, regenerate) %.0f ms: %s, %s candidates, attempt %s ms\n", i,
		       heal[i] / 1e6, verdict, cands, ms);
	}
	snprintf(scratch, sizeof(scratch), "%s/scratch", dir);
	mkdir(scratch, 0700);
	for (i = 0; i < rounds * 4; i++) {
		int st;
		uint64_t t0 = now_ns();
		int64_t wall;

		dise_validate_spawn("/bin/true", targv, NULL, NULL, 10000, &st);
		out[i] = now_ns() - t0;
		dise_sandbox_run(scratch, "/bin/true", targv, NULL, NULL, 10000, &st, &wall);
		in[i] = (uint64_t)wall;
	}
	qsort(heal, (size_t)rounds, sizeof(*heal), cmp_u64);
	qsort(in, (size_t)rounds * 4, sizeof(*in), cmp_u64);
	qsort(out, (size_t)rounds * 4, sizeof(*out), cmp_u64);
	printf("  prune -> routed regenerated version: p50 %.0f ms, max %.0f ms\n", heal[rounds / 2] / 1e6,
	       heal[rounds - 1] / 1e6);
	printf("  /bin/true, %d runs: in the sandbox p50 %.1f ms (min %.1f), outside p50 %.2f ms (min %.2f)\n", rounds * 4,
	       in[rounds * 2] / 1e6, in[0] / 1e6, out[rounds * 2] / 1e6, out[0] / 1e6);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	free(in);
	free(out);
	free(heal);
	return system(cmd) == 0 ? 0 : 1;
}
