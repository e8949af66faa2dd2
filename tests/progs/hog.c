/* SPDX-License-Identifier: MIT */
/*
 * The sandbox's memory limit, tested safely (test-regen-source): `hog mem
 * MIB` maps MIB MiB of address space without touching it (exit 0 when the
 * map succeeded, 3 when the limit refused it): without the limit it costs
 * the machine nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

int main(int argc, char **argv)
{
	size_t mib;
	void *p;

	if (argc != 3 || strcmp(argv[1], "mem"))
		return 2;
	mib = strtoull(argv[2], NULL, 10);
	p = mmap(NULL, mib << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return 3;
	puts("mapped");
	return 0;
}
