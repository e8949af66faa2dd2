/* SPDX-License-Identifier: MIT */
/*
 * From the exit of the third failing run to the route being in effect for
 * the next start (the route in the ring's table, where the shim looks), on
 * the rollback path with no test command. Each round deploys a fresh tool
 * (one good run of v1, then v2 that crashes three times) with a running
 * dise-collectord; the clock starts when the third crash is reaped.
 *
 *   bench-heal [BUILD] [ROUNDS] [--history N] [--storm]
 *
 * --history N: the database starts with N runs of 200 other tools x 5
 * versions, all in the detectors' window (what an hour of a busy host
 * leaves), so that the figure shows whether heal time depends on history.
 * --storm: a supervisor restarting the crashing tool at once, again and
 * again, until the route is in effect; the extra crashing runs are counted
 * (the runs that started before the route and crashed).
 */
#define _GNU_SOURCE
#include <signal.h>
#include <spawn.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench-history.h"
#include "bench-util.h"
#include "dise/ring.h"
#include "store.h"

extern char **environ;

static void sh(const char *cmd)
{
	bench_sh("bench-heal", cmd);
}

static int run(char *const argv[], char **env)
{
	pid_t pid;
	int st;

	if (posix_spawn(&pid, argv[0], NULL, NULL, argv, env) != 0)
		return -1;
	waitpid(pid, &st, 0);
	return st;
}

/* Whether the program at path became a version (the collector hashed it), waiting up to 10 s. */
static int wait_version(const char *home, const char *path)
{
	char db[300];
	uint64_t t0 = now_ns();

	snprintf(db, sizeof(db), "%s/dise.db", home);
	while (now_ns() - t0 < 10000000000ull) {
		sqlite3 *h = NULL;
		sqlite3_stmt *q = NULL;
		int found = 0;

		if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
		    sqlite3_prepare_v2(h, "SELECT 1 FROM versions WHERE path = ?1", -1, &q, NULL) == SQLITE_OK) {
			sqlite3_bind_text(q, 1, path, -1, SQLITE_STATIC);
			found = sqlite3_step(q) == SQLITE_ROW;
		}
		sqlite3_finalize(q);
		sqlite3_close(h);
		if (found)
			return 1;
		usleep(2000);
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *build = "build";
	int rounds = 30, i, k, storm = 0, pos = 0;
	long history = 0, extra_total = 0, extra_max = 0;
	char dir[128], cmd[3200], ring[256], home[256], pre[512], rv[300], hv[300], tool[256];
	char exitcode[1024], crasher[1024];
	char *env[8];
	uint64_t *lat;
	dise_ring r;
	pid_t collector;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--history") && i + 1 < argc)
			history = atol(argv[++i]);
		else if (!strcmp(argv[i], "--storm"))
			storm = 1;
		else if (pos++ == 0)
			build = argv[i];
		else
			rounds = atoi(argv[i]);
	}
	if (rounds < 1)
		rounds = 1;
	bench_prog("bench-heal", build, "exitcode", exitcode, sizeof(exitcode));
	bench_prog("bench-heal", build, "crasher", crasher, sizeof(crasher));
	lat = calloc((size_t)rounds, sizeof(uint64_t));
	snprintf(dir, sizeof(dir), "/tmp/dise-bench-heal-%d", (int)getpid());
	snprintf(ring, sizeof(ring), "%s/ring", dir);
	snprintf(home, sizeof(home), "%s/home", dir);
	mkdir(dir, 0700);
	snprintf(pre, sizeof(pre), "LD_PRELOAD=%s/lib/libdise_shim.so", build);
	if (pre[11] != '/') {
		char cwd[256];

		snprintf(pre, sizeof(pre), "LD_PRELOAD=%s/%s/lib/libdise_shim.so", getcwd(cwd, sizeof(cwd)), build);
	}
	snprintf(rv, sizeof(rv), "DISE_RING=%s", ring);
	snprintf(hv, sizeof(hv), "DISE_HOME=%s", home);
	env[0] = pre, env[1] = rv, env[2] = hv, env[3] = NULL;
	setenv("DISE_RING", ring, 1);
	setenv("DISE_HOME", home, 1);
	if (dise_ring_map(ring, DISE_RING_WRITE | DISE_RING_CREATE, 0, 0, &r) < 0)
		return 1;
	if (history > 0)
		make_history(home, history);
	{
		char *cargv[] = { NULL, "--foreground", NULL };
		char path[300];

		snprintf(path, sizeof(path), "%s/bin/dise-collectord", build);
		cargv[0] = path;
		if (posix_spawn(&collector, path, NULL, NULL, cargv, environ) != 0)
			return 1;
	}
	usleep(200000);
	for (i = 0; i < rounds; i++) {
		struct stat st;
		struct dise_file_id id;
		struct dise_file_id to;
		char out[4096], routes[4200];
		uint64_t t0;

		snprintf(tool, sizeof(tool), "%s/tool%d", dir, i);
		snprintf(cmd, sizeof(cmd), "cp %s %s", exitcode, tool);
		sh(cmd);
		{
			char *a[] = { tool, "0", NULL };

			run(a, env);
		}
		/* v1 hashed (a version) before the deploy replaces it */
		if (!wait_version(home, tool)) {
			fprintf(stderr, "bench-heal: round %d: v1 not hashed after 10 s\n", i);
			kill(collector, SIGTERM);
			waitpid(collector, NULL, 0);
			return 1;
		}
		snprintf(cmd, sizeof(cmd), "cp %s %s.new && mv %s.new %s", crasher, tool, tool, tool);
		sh(cmd);
		stat(tool, &st);
		id.dev = st.st_dev, id.ino = st.st_ino, id.size = (uint64_t)st.st_size;
		id.mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
		for (k = 0; k < 3; k++) {
			char *a[] = { tool, "segv", NULL };

			run(a, env);
		}
		t0 = now_ns();
		dise_routes_path(ring, routes, sizeof(routes));
		{
			long extra = 0;

			while (dise_routes_lookup(routes, (uint32_t)geteuid(), &id, out, sizeof(out), &to, NULL, NULL, NULL) != 1) {
				if (now_ns() - t0 > 5000000000ull) {
					fprintf(stderr, "bench-heal: round %d: no route after 5 s\n", i);
					break;
				}
				if (storm) { /* restarted at once: a crash that ran before the route is one more */
					char *a[] = { tool, "segv", NULL };
					int st2 = run(a, env);

					extra += WIFSIGNALED(st2);
				} else {
					usleep(50);
				}
			}
			lat[i] = now_ns() - t0;
			extra_total += extra;
			if (extra > extra_max)
				extra_max = extra;
		}
	}
	kill(collector, SIGTERM);
	waitpid(collector, NULL, 0);
	qsort(lat, (size_t)rounds, sizeof(uint64_t), cmp_u64);
	printf("bench-heal: %d rounds, exit of the third failing run -> route in effect (rollback, no test command), "
	       "history %ld runs%s\n",
	       rounds, history, storm ? ", restart storm" : "");
	if (storm)
		printf("  extra crashing runs before the route: %.1f on average, %ld at most\n",
		       (double)extra_total / rounds, extra_max);
	printf("  p50 %.2f ms   p99 %.2f ms   max %.2f ms\n", lat[rounds / 2] / 1e6, lat[(rounds * 99) / 100] / 1e6,
	       lat[rounds - 1] / 1e6);
	dise_ring_unmap(&r);
	if (getenv("DISE_BENCH_KEEP")) { /* to look at what the collector did */
		printf("  kept %s\n", dir);
		return 0;
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : 1;
}
