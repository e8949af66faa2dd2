/* SPDX-License-Identifier: MIT */
/*
 * core-big MIB: maps MIB MiB of anonymous memory, touches one byte in every
 * 64 MiB of it (the rest costs no memory: the kernel dumps it as zeros),
 * then crashes: a core of about MIB MiB from a process that used little.
 */
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

volatile int zero;

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 2048, i;
	char *p = mmap(NULL, mib << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED)
		return 1;
	for (i = 0; i < (mib << 20); i += 64u << 20)
		p[i] = 1;
	*(volatile int *)(uintptr_t)zero = 1;
	return 0;
}
