/* SPDX-License-Identifier: MIT */
/* closefds [segv]: closes every fd but stdout/stderr at start, like daemons do. */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

volatile int zero;

int main(int argc, char **argv)
{
	int fd;

	for (fd = 0; fd < 1024; fd++)
		if (fd != 1 && fd != 2)
			close(fd);
	printf("closed all fds\n");
	fflush(stdout);
	if (argc > 1 && !strcmp(argv[1], "segv"))
		*(volatile int *)(uintptr_t)zero = 1;
	return 0;
}
