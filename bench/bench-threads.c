/* SPDX-License-Identifier: MIT */
/*
 * What the shim costs a program that makes threads (issue 11: "100k
 * pthread_create+join 1.21x"): a worker process (this program, --worker)
 * creates and joins N threads one after another, each doing nothing, and
 * exits. The driver runs it interleaved, round by round, as
 *   plain          no preload
 *   empty preload  LD_PRELOAD of an empty library
 *   dise shim      LD_PRELOAD=BUILD/lib/libdise_shim.so (a private ring)
 *   base shim      LD_PRELOAD=BASE/lib/libdise_shim.so, when BASE is given:
 *                  another build of the shim (the code before a change)
 * and prints each variant's median wall and CPU time (wait4) and its ratio
 * to plain, and the shim's cost per thread over the empty preload.
 *
 * bench-threads [BUILD_DIR] [THREADS] [ROUNDS] [BASE_BUILD_DIR]
 *
 * Not sanitized (a sanitized worker cannot have the shim preloaded first).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench-util.h"

#define MAX_VARIANTS 4

extern char **environ;

static void *nothing(void *arg)
{
	return arg;
}

static int worker(long n)
{
	long i;

	for (i = 0; i < n; i++) {
		pthread_t t;

		if (pthread_create(&t, NULL, nothing, NULL) != 0 || pthread_join(t, NULL) != 0) {
			fprintf(stderr, "bench-threads: thread %ld failed\n", i);
			return 1;
		}
	}
	return 0;
}

/* environ without LD_PRELOAD and DISE_*, plus up to two entries (NULL: none). */
static char **make_env(const char *extra1, const char *extra2)
{
	size_t n = 0, i, k = 0;
	char **e;

	while (environ[n])
		n++;
	e = calloc(n + 3, sizeof(char *));
	if (!e)
		exit(1);
	for (i = 0; i < n; i++)
		if (strncmp(environ[i], "LD_PRELOAD=", 11) && strncmp(environ[i], "DISE_", 5))
			e[k++] = environ[i];
	if (extra1)
		e[k++] = (char *)extra1;
	if (extra2)
		e[k++] = (char *)extra2;
	return e;
}

/* "LD_PRELOAD=<dir>/lib/<lib>", checked readable; exits when not built. */
static char *preload(const char *dir, const char *lib)
{
	char *s;

	if (asprintf(&s, "LD_PRELOAD=%s/lib/%s", dir, lib) < 0)
		exit(1);
	if (access(s + 11, R_OK) != 0) {
		fprintf(stderr, "bench-threads: build first (%s missing)\n", s + 11);
		exit(1);
	}
	return s;
}

/* One worker run: wall time; *cpu its user + system time. */
static uint64_t run_once(char *const argv[], char **env, uint64_t *cpu)
{
	uint64_t t0 = now_ns();
	struct rusage ru;
	pid_t pid;
	int st;

	if (posix_spawn(&pid, argv[0], NULL, NULL, argv, env) != 0) {
		perror("bench-threads: posix_spawn");
		exit(1);
	}
	if (wait4(pid, &st, 0, &ru) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "bench-threads: the worker failed\n");
		exit(1);
	}
	*cpu = ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000u +
	       ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000u;
	return now_ns() - t0;
}

int main(int argc, char **argv)
{
	static const char *names[MAX_VARIANTS] = { "plain", "empty preload", "dise shim", "base shim" };
	char self[4096], count[32], ring[128], ringenv[160];
	const char *build, *base;
	char **env[MAX_VARIANTS];
	uint64_t *t[MAX_VARIANTS], *c[MAX_VARIANTS], med[MAX_VARIANTS], cmed[MAX_VARIANTS], scratch;
	long threads;
	int rounds, nv, i, v;
	ssize_t n;

	if (argc == 3 && strcmp(argv[1], "--worker") == 0)
		return worker(atol(argv[2]));
	build = argc > 1 ? argv[1] : "build";
	threads = argc > 2 ? atol(argv[2]) : 100000;
	rounds = argc > 3 ? atoi(argv[3]) : 5;
	base = argc > 4 ? argv[4] : NULL;
	if (threads <= 0 || rounds <= 0) {
		fprintf(stderr, "usage: bench-threads [BUILD_DIR] [THREADS] [ROUNDS] [BASE_BUILD_DIR]\n");
		return 2;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0) {
		perror("bench-threads: /proc/self/exe");
		return 1;
	}
	self[n] = '\0';
	snprintf(count, sizeof(count), "%ld", threads);
	snprintf(ring, sizeof(ring), "/dev/shm/dise-bench-threads-%d", (int)getpid());
	snprintf(ringenv, sizeof(ringenv), "DISE_RING=%s", ring);
	nv = base ? 4 : 3;
	env[0] = make_env(NULL, NULL);
	env[1] = make_env(preload(build, "libdise_bench_empty.so"), NULL);
	env[2] = make_env(preload(build, "libdise_shim.so"), ringenv);
	if (base)
		env[3] = make_env(preload(base, "libdise_shim.so"), ringenv);
	for (v = 0; v < nv; v++) {
		t[v] = calloc((size_t)rounds, sizeof(uint64_t));
		c[v] = calloc((size_t)rounds, sizeof(uint64_t));
		if (!t[v] || !c[v])
			return 1;
	}

	{
		char *warm[] = { self, "--worker", "100", NULL };

		for (v = 0; v < nv; v++) /* the page cache, and the ring created */
			run_once(warm, env[v], &scratch);
	}
	for (i = 0; i < rounds; i++) {
		char *wargv[] = { self, "--worker", count, NULL };

		for (v = 0; v < nv; v++) {
			int w = (v + i) % nv; /* rotate who goes first */

			t[w][i] = run_once(wargv, env[w], &c[w][i]);
		}
	}
	unlink(ring);

	printf("bench-threads: %ld pthread_create + join per run, %d interleaved runs per variant\n", threads, rounds);
	for (v = 0; v < nv; v++) {
		qsort(t[v], (size_t)rounds, sizeof(uint64_t), cmp_u64);
		qsort(c[v], (size_t)rounds, sizeof(uint64_t), cmp_u64);
		med[v] = t[v][rounds / 2];
		cmed[v] = c[v][rounds / 2];
	}
	for (v = 0; v < nv; v++)
		printf("  %-14s wall median %8.1f ms (%.3f to plain)   CPU median %8.1f ms (%.3f to plain)\n", names[v],
		       med[v] / 1e6, (double)med[v] / (double)med[0], cmed[v] / 1e6, (double)cmed[v] / (double)cmed[0]);
	for (v = 2; v < nv; v++)
		printf("  %s per thread over the empty preload: wall %.2f us, CPU %.2f us\n", names[v],
		       ((double)med[v] - (double)med[1]) / 1e3 / (double)threads,
		       ((double)cmed[v] - (double)cmed[1]) / 1e3 / (double)threads);
	return 0;
}
