/* SPDX-License-Identifier: MIT */
/* A clock read in nanoseconds, for the collector, the healer and the benchmarks (the shim has its own: shim/clock.c). */
#ifndef DISE_CLOCK_H
#define DISE_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t dise_clock_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#endif
