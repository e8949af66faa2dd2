/* SPDX-License-Identifier: MIT */
/*
 * Crashes (SIGSEGV) in a function inlined twice, for the source lines of
 * test-symbols: built -O2 -g, and copies of it with the debug information
 * in a separate file (.gnu_debuglink) or stripped of everything. The
 * markers name the lines the test expects.
 */
#include <stdio.h>

static volatile int *volatile target;

static inline __attribute__((always_inline)) void poke(volatile int *p)
{
	*p = 42; /* LINE_POKE */
}

static inline __attribute__((always_inline)) void middle(volatile int *p)
{
	poke(p); /* LINE_MIDDLE */
	p[1] = 1;
}

void crash_here(volatile int *p);

__attribute__((noinline)) void crash_here(volatile int *p)
{
	middle(p); /* LINE_CRASH_HERE */
	__asm__ volatile("" ::: "memory");
}

int main(int argc, char **argv)
{
	(void)argv;
	if (argc > 5)
		target = &argc;
	crash_here(target); /* LINE_MAIN */
	puts("not reached");
	return 0;
}
