/* SPDX-License-Identifier: MIT */
/*
 * The fuzz drivers' random numbers: xorshift64, reproducible from the seed
 * a driver defines as FUZZ_SEED before including this (each its own, so
 * each keeps the sequence it always ran).
 */
#ifndef DISE_FUZZ_RNG_H
#define DISE_FUZZ_RNG_H

#include <stdint.h>

static uint64_t rng = FUZZ_SEED;

static uint32_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)rng;
}

#endif
