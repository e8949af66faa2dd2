/* SPDX-License-Identifier: MIT */
/*
 * rawexit HOW N: ends with status N without the exit the shim sees, as the
 * Go runtime does:
 *   group   the raw exit_group system call
 *   quick   quick_exit(N) (at_quick_exit handlers, then _Exit inside glibc)
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int n = argc > 2 ? atoi(argv[2]) : 0;

	if (argc > 1 && !strcmp(argv[1], "quick"))
		quick_exit(n);
	syscall(SYS_exit_group, n);
	return 99; /* not reached */
}
