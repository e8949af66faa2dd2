/* SPDX-License-Identifier: MIT */
/*
 * execchain N [scrub]: prints, then execs itself with N-1; at 0 it execs
 * echo through PATH. With "scrub" every exec gets an empty environment
 * (the shim must keep itself in it anyway).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 0;
	int scrub = argc > 2 && !strcmp(argv[2], "scrub");
	char next[16];
	char *const empty[] = { NULL };

	printf("chain %d\n", n);
	fflush(stdout);
	if (n == 0) {
		char *const echo[] = { "echo", "end of chain", NULL };

		if (scrub)
			execve("/bin/echo", echo, empty);
		else
			execlp("echo", "echo", "end of chain", (char *)NULL);
		perror("exec echo");
		return 127;
	}
	snprintf(next, sizeof(next), "%d", n - 1);
	{
		char *const args[] = { argv[0], next, scrub ? "scrub" : NULL, NULL };

		if (scrub)
			execve("/proc/self/exe", args, empty);
		else
			execv("/proc/self/exe", args);
	}
	perror("exec self");
	return 127;
}
