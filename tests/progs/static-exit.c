/* SPDX-License-Identifier: MIT */
/* static-exit N: a statically linked program (no shim can load): prints and exits with N. */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	printf("static %s\n", argc > 1 ? argv[1] : "0");
	return argc > 1 ? atoi(argv[1]) : 0;
}
