/* SPDX-License-Identifier: MIT */
/* What every benchmark needs. */
#ifndef DISE_BENCH_UTIL_H
#define DISE_BENCH_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

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

#endif
