/* SPDX-License-Identifier: MIT */
/* What every benchmark needs. */
#ifndef DISE_BENCH_UTIL_H
#define DISE_BENCH_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dise/clock.h"

static inline uint64_t now_ns(void)
{
	return dise_clock_ns(CLOCK_MONOTONIC);
}

/* CPU time of the whole process (user and system) */
static inline uint64_t cpu_ns(void)
{
	return dise_clock_ns(CLOCK_PROCESS_CPUTIME_ID);
}

static inline int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Runs cmd with sh -c; a failure ends the benchmark (named who) with the command said. */
static inline void bench_sh(const char *who, const char *cmd)
{
	if (system(cmd) != 0) {
		fprintf(stderr, "%s: failed: %s\n", who, cmd);
		exit(1);
	}
}

/*
 * The test program NAME (tests/progs) into out: BUILD's, else the one of the
 * build this benchmark belongs to (a baseline build configured without
 * tests has none; the program is only the tool under test, not the code
 * measured). A missing program ends the benchmark with its path said,
 * before anything is started.
 */
static inline void bench_prog(const char *who, const char *build, const char *name, char *out, size_t size)
{
	char self[4096];
	ssize_t n;

	snprintf(out, size, "%s/tests/progs/%s", build, name);
	if (access(out, X_OK) == 0)
		return;
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = 0;
		for (int up = 0; up < 2; up++) { /* BUILD/bin/bench-x -> BUILD */
			char *slash = strrchr(self, '/');

			if (slash)
				*slash = 0;
		}
		if (snprintf(out, size, "%s/tests/progs/%s", self, name) < (int)size && access(out, X_OK) == 0)
			return;
	}
	fprintf(stderr, "%s: no test program %s in %s/tests/progs or beside this benchmark (configure with tests on)\n", who,
		name, build);
	exit(1);
}

#endif
