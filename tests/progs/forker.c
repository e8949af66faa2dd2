/* SPDX-License-Identifier: MIT */
/* forker: three children in turn, each its own run with its own exit code. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
	int i;

	for (i = 0; i < 3; i++) {
		pid_t pid;
		int st;

		fflush(stdout);
		pid = fork();
		if (pid < 0)
			return 1;
		if (pid == 0) {
			printf("child %d\n", i);
			exit(10 + i);
		}
		waitpid(pid, &st, 0);
		printf("child %d exited %d\n", i, WEXITSTATUS(st));
	}
	return 0;
}
