/* SPDX-License-Identifier: MIT */
/* exitcode N [main|exit|_exit]: ends with status N the way it is told. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int code = argc > 1 ? atoi(argv[1]) : 0;
	const char *how = argc > 2 ? argv[2] : "main";

	printf("exiting with %d via %s\n", code, how);
	if (!strcmp(how, "exit"))
		exit(code);
	if (!strcmp(how, "_exit")) {
		fflush(stdout);
		_exit(code);
	}
	return code;
}
