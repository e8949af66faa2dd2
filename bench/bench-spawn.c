/* SPDX-License-Identifier: MIT */
/*
 * What the shim costs a process: posix_spawn + wait of a short program
 * (default /bin/true), interleaved run by run in one process so that drift
 * hits all variants alike:
 *   plain          no preload
 *   empty preload  LD_PRELOAD of an empty library (the floor for any preload)
 *   dise shim      LD_PRELOAD=libdise_shim.so writing START and EXIT to a ring
 *   floor          LD_PRELOAD=libdise_bench_floor.so (bench/floor.c): only the
 *                  system calls and pages the shim's design cannot do without
 *                  (open, check and map the ring, stat the executable, the
 *                  crash handlers): the shim over it is the shim's own work
 *   base shim      the same from another build (BASE_BUILD_DIR, optional):
 *                  the code before a change, measured side by side
 * bench-spawn [BUILD_DIR] [RUNS] [PROGRAM] [BASE_BUILD_DIR]
 * Prints medians, ratios to plain, and the shim's cost per process. The ring
 * is drained between batches, never during a timed run: a consumer polling
 * beside the runs would take CPU from them on a two-core machine.
 */
#define _GNU_SOURCE
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench-util.h"
#include "dise/ring.h"


extern char **environ;

static char **make_env(const char *extra1, const char *extra2)
{
	size_t n = 0, i, k = 0;
	char **e;

	while (environ[n])
		n++;
	e = calloc(n + 3, sizeof(char *));
	for (i = 0; i < n; i++)
		if (strncmp(environ[i], "LD_PRELOAD=", 11) && strncmp(environ[i], "DISE_", 5))
			e[k++] = environ[i];
	if (extra1)
		e[k++] = (char *)extra1;
	if (extra2)
		e[k++] = (char *)extra2;
	return e;
}

/* Wall time of one spawn and wait; *cpu: the child's CPU time (user + system, from wait4), which waiting for a core on a loaded machine does not inflate. */
static uint64_t spawn_once(char *const argv[], char **env, uint64_t *cpu)
{
	uint64_t t0 = now_ns();
	struct rusage ru;
	pid_t pid;
	int st;

	if (posix_spawn(&pid, argv[0], NULL, NULL, argv, env) != 0) {
		perror("posix_spawn");
		exit(1);
	}
	if (wait4(pid, &st, 0, &ru) < 0)
		memset(&ru, 0, sizeof(ru));
	*cpu = ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000u +
	       ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000u;
	return now_ns() - t0;
}

/* Consumes everything in the ring; returns how many records. */
static uint64_t drain(const char *ring_path)
{
	static uint8_t buf[DISE_RECORD_MAX];
	dise_ring_reader *rd;
	uint64_t id, n = 0;
	size_t len;

	if (dise_ring_reader_new(ring_path, 0, 1000, &rd) < 0)
		return 0;
	while (dise_ring_read(rd, buf, sizeof(buf), &len, &id) == 1)
		n++;
	dise_ring_release(rd);
	dise_ring_reader_free(rd);
	return n;
}

int main(int argc, char **argv)
{
	const char *build = argc > 1 ? argv[1] : "build";
	int runs = argc > 2 ? atoi(argv[2]) : 2000;
	char *prog[] = { argc > 3 ? argv[3] : "/bin/true", NULL };
	const char *base = argc > 4 ? argv[4] : NULL;
	char shim[4096], empty[4096], floorlib[4096], baseshim[4096], ring[128], ringenv[160];
	enum { PLAIN, EMPTY, SHIM, FLOOR, BASE, NVARIANTS };
	char **env[NVARIANTS];
	uint64_t *t[NVARIANTS], *c[NVARIANTS], med[NVARIANTS], cmed[NVARIANTS], consumed = 0, scratch;
	static const char *names[] = { "plain", "empty preload", "dise shim", "floor", "base shim" };
	uint64_t dropped = 0;
	int i, v, nv = base ? NVARIANTS : BASE;

	snprintf(shim, sizeof(shim), "LD_PRELOAD=%s/lib/libdise_shim.so", build);
	snprintf(empty, sizeof(empty), "LD_PRELOAD=%s/lib/libdise_bench_empty.so", build);
	snprintf(floorlib, sizeof(floorlib), "LD_PRELOAD=%s/lib/libdise_bench_floor.so", build);
	snprintf(baseshim, sizeof(baseshim), "LD_PRELOAD=%s/lib/libdise_shim.so", base ? base : build);
	if (access(shim + 11, R_OK) || access(empty + 11, R_OK) || access(floorlib + 11, R_OK) ||
	    access(baseshim + 11, R_OK)) {
		fprintf(stderr, "bench-spawn: build first (%s, %s, %s, %s)\n", shim + 11, empty + 11, floorlib + 11,
			baseshim + 11);
		return 1;
	}
	snprintf(ring, sizeof(ring), "/dev/shm/dise-bench-spawn-%d", (int)getpid());
	snprintf(ringenv, sizeof(ringenv), "DISE_RING=%s", ring);
	env[PLAIN] = make_env(NULL, NULL);
	env[EMPTY] = make_env(empty, NULL);
	env[SHIM] = make_env(shim, ringenv);
	env[FLOOR] = make_env(floorlib, ringenv); /* maps the ring the shim made (the warm-up's first runs) */
	env[BASE] = make_env(baseshim, ringenv);
	for (v = 0; v < nv; v++) {
		t[v] = calloc((size_t)runs, sizeof(uint64_t));
		c[v] = calloc((size_t)runs, sizeof(uint64_t));
	}

	for (i = 0; i < 50; i++) /* warm the page cache and the ring */
		for (v = 0; v < nv; v++)
			spawn_once(prog, env[v], &scratch);
	for (i = 0; i < runs; i++) {
		int order = i % nv; /* rotate who goes first */

		for (v = 0; v < nv; v++) {
			int w = (v + order) % nv;

			t[w][i] = spawn_once(prog, env[w], &c[w][i]);
		}
		if (i % 500 == 499)
			consumed += drain(ring);
	}
	consumed += drain(ring);
	{
		dise_ring r;

		if (dise_ring_map(ring, 0, 0, 0, &r) == 0) {
			dropped = dise_ring_stats_of(&r).dropped;
			dise_ring_unmap(&r);
		}
	}
	unlink(ring);

	printf("bench-spawn: %s, %d interleaved runs per variant\n", prog[0], runs);
	for (v = 0; v < nv; v++) {
		qsort(t[v], (size_t)runs, sizeof(uint64_t), cmp_u64);
		qsort(c[v], (size_t)runs, sizeof(uint64_t), cmp_u64);
		med[v] = t[v][runs / 2];
		cmed[v] = c[v][runs / 2];
	}
	for (v = 0; v < nv; v++)
		printf("  %-14s median %7.1f us   p90 %7.1f us   ratio to plain %.3f\n", names[v], med[v] / 1e3,
		       t[v][runs * 9 / 10] / 1e3, (double)med[v] / (double)med[PLAIN]);
	printf("  shim cost per process: %.1f us over plain, %.1f us over an empty preload; %llu records consumed, "
	       "%llu dropped\n",
	       ((double)med[SHIM] - (double)med[PLAIN]) / 1e3, ((double)med[SHIM] - (double)med[EMPTY]) / 1e3,
	       (unsigned long long)consumed, (unsigned long long)dropped);
	/* CPU time (wait4): not inflated by waiting for a core; the kernel accounts it in ticks' proportions, so quote medians of many runs */
	printf("  child CPU (user+sys) median: plain %.1f us, empty preload %.1f us, shim %.1f us; shim/empty %.3f, "
	       "shim - empty %.1f us\n",
	       cmed[PLAIN] / 1e3, cmed[EMPTY] / 1e3, cmed[SHIM] / 1e3, cmed[EMPTY] ? (double)cmed[SHIM] / (double)cmed[EMPTY] : 0.0,
	       ((double)cmed[SHIM] - (double)cmed[EMPTY]) / 1e3);
	printf("  floor (bench/floor.c: open, fstat, two mmaps and close of the ring, stat of the executable, "
	       "sigaltstack, 7 sigaction): %.1f us over an empty preload (wall), child CPU %.1f us over it; "
	       "dise shim over the floor: wall %+.1f us, child CPU %+.1f us\n",
	       ((double)med[FLOOR] - (double)med[EMPTY]) / 1e3, ((double)cmed[FLOOR] - (double)cmed[EMPTY]) / 1e3,
	       ((double)med[SHIM] - (double)med[FLOOR]) / 1e3, ((double)cmed[SHIM] - (double)cmed[FLOOR]) / 1e3);
	if (base)
		printf("  base shim (%s): %.1f us over an empty preload (wall), child CPU %.1f us over it; "
		       "dise shim - base shim: wall %+.1f us, child CPU %+.1f us\n",
		       base, ((double)med[BASE] - (double)med[EMPTY]) / 1e3, ((double)cmed[BASE] - (double)cmed[EMPTY]) / 1e3,
		       ((double)med[SHIM] - (double)med[BASE]) / 1e3, ((double)cmed[SHIM] - (double)cmed[BASE]) / 1e3);
	return 0;
}
