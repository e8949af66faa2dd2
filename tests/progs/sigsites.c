/* SPDX-License-Identifier: MIT */
/*
 * Crashes at one of two sites per kind (argv[1]: segv1, segv2, abort1,
 * abort2, ok), each in a function of its own that the tests look for in the
 * frames, so that signatures can be told apart by where the program
 * crashed. Built twice: with -DBUILD_SALT=1 and =2 (the same source, other
 * bytes and another build-id: a rebuild).
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef BUILD_SALT
#define BUILD_SALT 0
#endif
#define STR2(x) #x
#define STR(x) STR2(x)
#define NOINLINE __attribute__((noinline))

void sig_site_segv1(void);
void sig_site_segv2(void);
void sig_site_abort1(void);
void sig_site_abort2(void);

volatile uintptr_t zero = 0;
static const char salt[] = "build salt " STR(BUILD_SALT);

NOINLINE void sig_site_segv1(void)
{
	*(volatile int *)zero = 1;
}

NOINLINE void sig_site_segv2(void)
{
	*(volatile long *)(zero + 8) = 2;
}

NOINLINE void sig_site_abort1(void)
{
	abort();
}

NOINLINE void sig_site_abort2(void)
{
	abort();
}

int main(int argc, char **argv)
{
	const char *m = argc > 1 ? argv[1] : "ok";

	printf("%s: %s\n", salt, m);
	fflush(stdout);
	if (!strcmp(m, "segv1"))
		sig_site_segv1();
	else if (!strcmp(m, "segv2"))
		sig_site_segv2();
	else if (!strcmp(m, "abort1"))
		sig_site_abort1();
	else if (!strcmp(m, "abort2"))
		sig_site_abort2();
	return 0;
}
