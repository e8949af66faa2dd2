/* SPDX-License-Identifier: MIT */
/*
 * From the exit of the third failing run to the route being in effect for
 * the next start (the route in the ring's table, where the shim looks), on
 * the rollback path with no test command. Each round deploys a fresh tool
 * (one good run of v1, then v2 that crashes three times) with a running
 * dise-collectord; the clock starts when the third crash is reaped.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <spawn.h>
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
	if (system(cmd) != 0) {
		fprintf(stderr, "bench-heal: failed: %s\n", cmd);
		exit(1);
	}
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

int main(int argc, char **argv)
{
	const char *build = argc > 1 ? argv[1] : "build";
	int rounds = argc > 2 ? atoi(argv[2]) : 30, i, k;
	char dir[128], cmd[1024], ring[256], home[256], pre[512], rv[300], hv[300], tool[256];
	char *env[8];
	uint64_t *lat = calloc((size_t)rounds, sizeof(uint64_t));
	dise_ring r;
	pid_t collector;

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
		snprintf(cmd, sizeof(cmd), "cp %s/tests/progs/exitcode %s", build, tool);
		sh(cmd);
		{
			char *a[] = { tool, "0", NULL };

			run(a, env);
		}
		usleep(300000); /* v1 hashed before the deploy replaces it */
		snprintf(cmd, sizeof(cmd), "cp %s/tests/progs/crasher %s.new && mv %s.new %s", build, tool, tool, tool);
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
		while (dise_routes_lookup(routes, (uint32_t)geteuid(), &id, out, sizeof(out), &to, NULL) != 1) {
			if (now_ns() - t0 > 5000000000ull) {
				fprintf(stderr, "bench-heal: round %d: no route after 5 s\n", i);
				break;
			}
			usleep(50);
		}
		lat[i] = now_ns() - t0;
	}
	kill(collector, SIGTERM);
	waitpid(collector, NULL, 0);
	qsort(lat, (size_t)rounds, sizeof(uint64_t), cmp_u64);
	printf("bench-heal: %d rounds, exit of the third failing run -> route in effect (rollback, no test command)\n",
	       rounds);
	printf("  p50 %.2f ms   p99 %.2f ms   max %.2f ms\n", lat[rounds / 2] / 1e6, lat[(rounds * 99) / 100] / 1e6,
	       lat[rounds - 1] / 1e6);
	dise_ring_unmap(&r);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : 1;
}
