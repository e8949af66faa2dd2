/* SPDX-License-Identifier: MIT */
/*
 * Canary rollouts (issue 15), two figures:
 *
 *  1. The shim's start cost for a tool with a weighted route, against the
 *     same tool with no route table at all (the ring says none), in the
 *     same run, interleaved in blocks: the canary arm (the lookup and the
 *     arm's choice, then the file runs) and the stable arm (the same, then
 *     the exec of the stable copy). The arm is pinned through the ring's
 *     arm table, as a parent leaves it for what it spawns (ring.h), so each
 *     block measures one arm only.
 *  2. The time from the reaping of the canary's first crash (a signature
 *     the stable never had) to weight 0 in effect in the route table the
 *     shim reads, with a running dise-collectord (p50/p99, like bench-heal).
 *
 *   bench-canary [BUILD] [RUNS] [ROUNDS]    (defaults: build 2000 20)
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench-util.h"
#include "dise/ring.h"

extern char **environ;

static void sh(const char *cmd)
{
	bench_sh("bench-canary", cmd);
}

/* argv[0] with env, its output to /dev/null; its wait status */
static int run(char *const argv[], char **env)
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int st, r;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	r = posix_spawn(&pid, argv[0], &fa, NULL, argv, env);
	posix_spawn_file_actions_destroy(&fa);
	if (r != 0)
		return -1;
	waitpid(pid, &st, 0);
	return st;
}

static void file_id(const char *path, struct dise_file_id *id, int64_t *ctime_ns)
{
	struct stat st;

	if (stat(path, &st) < 0) {
		perror(path);
		exit(1);
	}
	id->dev = st.st_dev, id->ino = st.st_ino, id->size = (uint64_t)st.st_size;
	id->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	if (ctime_ns)
		*ctime_ns = (int64_t)st.st_ctim.tv_sec * 1000000000 + st.st_ctim.tv_nsec;
}

/* the median of n */
static double median_us(uint64_t *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_u64);
	return v[n / 2] / 1e3;
}

/* Figure 1: the start cost, three conditions interleaved in blocks of 50 runs. */
static void start_cost(const char *build, const char *dir, char **env, int runs)
{
	char tool[300], stable[300], ring[300], routes[320], cmd[4096], pcanary[1024], pstable[1024];
	struct dise_route_in e = { 0 };
	uint64_t *t[3];
	char *envs[3][6];
	int i, c, n = 0;
	dise_ring r;

	snprintf(tool, sizeof(tool), "%s/cost-tool", dir);
	snprintf(stable, sizeof(stable), "%s/.dise-cost-stable", dir);
	bench_prog("bench-canary", build, "canaryprog-canary", pcanary, sizeof(pcanary));
	bench_prog("bench-canary", build, "canaryprog-stable", pstable, sizeof(pstable));
	snprintf(cmd, sizeof(cmd), "cp %s %s && cp %s %s && chmod 0555 %s", pcanary, tool, pstable, stable, stable);
	sh(cmd);
	snprintf(ring, sizeof(ring), "%s/cost-ring", dir);
	dise_routes_path(ring, routes, sizeof(routes));
	file_id(tool, &e.from, NULL);
	file_id(stable, &e.to, &e.to_ctime_ns);
	e.target = stable;
	e.canary_pct = 5;
	if (dise_routes_write(routes, &e, 1) < 0 || dise_ring_map(ring, DISE_RING_WRITE | DISE_RING_CREATE, 0, 0, &r) < 0) {
		fprintf(stderr, "bench-canary: cannot make the route table or the ring\n");
		exit(1);
	}
	for (c = 0; c < 3; c++) {
		char rv[320];

		snprintf(rv, sizeof(rv), "DISE_RING=%s", ring);
		envs[c][0] = env[0], envs[c][1] = strdup(rv), envs[c][2] = env[2];
		envs[c][3] = NULL;
		t[c] = calloc((size_t)runs, sizeof(uint64_t));
	}
	{
		char *a[] = { tool, NULL };

		run(a, envs[0]); /* warm: the page cache, the ring */
		for (n = 0; n < runs; n += 50) {
			for (c = 0; c < 3; c++) {
				/* no route table: the ring's hint says none, as with no route published */
				atomic_store(&r.hdr->nroutes, c == 0 ? 0u : 1u);
				/* the arm, left for our children as a parent of the rollout leaves it */
				if (c == 0)
					dise_arm_clear(&r, (uint32_t)getpid());
				else
					dise_arm_put(&r, (uint32_t)getpid(), dise_route_key(&e.from), c == 1);
				for (i = n; i < n + 50 && i < runs; i++) {
					uint64_t t0 = now_ns();

					run(a, envs[c]);
					t[c][i] = now_ns() - t0;
				}
			}
		}
	}
	{
		double base = median_us(t[0], runs), can = median_us(t[1], runs), sta = median_us(t[2], runs);

		printf("bench-canary: start cost, %d runs per condition, interleaved (spawn to reaped, median)\n", runs);
		printf("  no route table             %8.1f us\n", base);
		printf("  weighted route, canary arm %8.1f us   ratio %.3f\n", can, can / base);
		printf("  weighted route, stable arm %8.1f us   ratio %.3f (one exec more: the stable copy)\n", sta,
		       sta / base);
		fflush(stdout);
	}
	for (c = 0; c < 3; c++) {
		free(envs[c][1]);
		free(t[c]);
	}
	dise_ring_unmap(&r);
}

/* Whether the program at path became a version with a stored copy, waiting up to 10 s. */
static int wait_sql(const char *home, const char *sql, const char *arg)
{
	char db[512];
	uint64_t t0 = now_ns();

	snprintf(db, sizeof(db), "%s/dise.db", home);
	while (now_ns() - t0 < 10000000000ull) {
		sqlite3 *h = NULL;
		sqlite3_stmt *q = NULL;
		int found = 0;

		if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
		    sqlite3_prepare_v2(h, sql, -1, &q, NULL) == SQLITE_OK) {
			sqlite3_bind_text(q, 1, arg, -1, SQLITE_STATIC);
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

/* The route of id: its canary percent, or -1 when none. */
static int route_pct(const char *routes, const struct dise_file_id *id)
{
	struct dise_file_id to;
	char out[4096];
	uint32_t pct = 0;

	return dise_routes_lookup(routes, (uint32_t)geteuid(), id, out, sizeof(out), &to, NULL, NULL, &pct) == 1 ?
		       (int)pct :
		       -1;
}

/* Figure 2: the canary's first unknown crash -> weight 0 in effect. */
static int abort_latency(const char *build, const char *dir, char **env, int rounds)
{
	char ring[300], home[300], routes[320], cmd[4096], conf[400], tool[300], pstable[1024], pcrashy[1024];
	uint64_t *lat = calloc((size_t)rounds, sizeof(uint64_t));
	pid_t collector;
	FILE *fp;
	dise_ring pinned = { 0 };
	int i, ok = 0;

	bench_prog("bench-canary", build, "canaryprog-stable", pstable, sizeof(pstable));
	bench_prog("bench-canary", build, "canaryprog-crashy", pcrashy, sizeof(pcrashy));
	snprintf(ring, sizeof(ring), "%s/ring", dir);
	snprintf(home, sizeof(home), "%s/home", dir);
	dise_routes_path(ring, routes, sizeof(routes));
	mkdir(home, 0700);
	snprintf(conf, sizeof(conf), "%s/dise.json", home);
	fp = fopen(conf, "w");
	if (!fp)
		return 1;
	fprintf(fp, "{\"tools\": {");
	for (i = 0; i < rounds; i++)
		fprintf(fp, "%s\"%s/tool%d\": {\"canary\": {\"on_deploy\": true, \"min_runs\": 100000000}}", i ? ", " : "",
			dir, i);
	fprintf(fp, "}}\n");
	fclose(fp);
	setenv("DISE_RING", ring, 1);
	setenv("DISE_HOME", home, 1);
	{
		char *cargv[] = { NULL, "--foreground", NULL };
		char path[512];

		snprintf(path, sizeof(path), "%s/bin/dise-collectord", build);
		cargv[0] = path;
		if (posix_spawn(&collector, path, NULL, NULL, cargv, environ) != 0)
			return 1;
	}
	for (i = 0; i < rounds; i++) {
		struct dise_file_id id;
		char *a[] = { tool, NULL, NULL };
		uint64_t t0;
		int st;

		snprintf(tool, sizeof(tool), "%s/tool%d", dir, i);
		snprintf(cmd, sizeof(cmd), "cp %s %s", pstable, tool);
		sh(cmd);
		run(a, env);
		if (!wait_sql(home, "SELECT 1 FROM versions WHERE path = ?1 AND cas_path IS NOT NULL", tool))
			break;
		snprintf(cmd, sizeof(cmd), "cp %s %s.new && mv %s.new %s", pcrashy, tool, tool, tool);
		sh(cmd);
		file_id(tool, &id, NULL);
		run(a, env); /* reveals the deploy: the rollout starts at 5% */
		t0 = now_ns();
		while (route_pct(routes, &id) != 5 && now_ns() - t0 < 10000000000ull)
			usleep(1000);
		if (route_pct(routes, &id) != 5)
			break;
		/* the canary arm, pinned (left for our child in the ring's arm table), crashes */
		if (!pinned.hdr && dise_ring_map(ring, DISE_RING_WRITE, 0, 0, &pinned) < 0)
			break;
		dise_arm_put(&pinned, (uint32_t)getpid(), dise_route_key(&id), 1);
		a[1] = "boom";
		st = run(a, env);
		dise_arm_clear(&pinned, (uint32_t)getpid());
		if (!WIFSIGNALED(st))
			break;
		t0 = now_ns();
		while (route_pct(routes, &id) != 0 && now_ns() - t0 < 10000000000ull)
			usleep(50);
		if (route_pct(routes, &id) != 0)
			break;
		lat[ok++] = now_ns() - t0;
	}
	if (pinned.hdr)
		dise_ring_unmap(&pinned);
	kill(collector, SIGTERM);
	waitpid(collector, NULL, 0);
	if (ok < rounds) {
		fprintf(stderr, "bench-canary: round %d did not go as planned (no version, no rollout or no abort)\n", ok);
		return 1;
	}
	qsort(lat, (size_t)ok, sizeof(uint64_t), cmp_u64);
	printf("bench-canary: %d rounds, the canary's first unknown crash reaped -> weight 0 in effect\n", ok);
	printf("  p50 %.2f ms   p99 %.2f ms   max %.2f ms\n", lat[ok / 2] / 1e6, lat[(ok * 99) / 100] / 1e6,
	       lat[ok - 1] / 1e6);
	fflush(stdout);
	free(lat);
	return 0;
}

int main(int argc, char **argv)
{
	const char *build = argc > 1 ? argv[1] : "build";
	int runs = argc > 2 ? atoi(argv[2]) : 2000, rounds = argc > 3 ? atoi(argv[3]) : 20, r;
	char dir[128], pre[512], rv[300], hv[300], cmd[256], abs_build[300];
	char *env[4];

	if (runs < 50)
		runs = 50;
	if (rounds < 1)
		rounds = 1;
	if (build[0] != '/') {
		char cwd[256];

		snprintf(abs_build, sizeof(abs_build), "%s/%s", getcwd(cwd, sizeof(cwd)), build);
		build = abs_build;
	}
	snprintf(dir, sizeof(dir), "/tmp/dise-bench-canary-%d", (int)getpid());
	mkdir(dir, 0700);
	snprintf(pre, sizeof(pre), "LD_PRELOAD=%s/lib/libdise_shim.so", build);
	snprintf(rv, sizeof(rv), "DISE_RING=%s/ring", dir);
	snprintf(hv, sizeof(hv), "DISE_HOME=%s/home", dir);
	env[0] = pre, env[1] = rv, env[2] = hv, env[3] = NULL;
	start_cost(build, dir, env, runs);
	r = abort_latency(build, dir, env, rounds);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (!getenv("DISE_BENCH_KEEP") && system(cmd) != 0)
		return 1;
	return r;
}
