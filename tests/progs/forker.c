/* SPDX-License-Identifier: MIT */
/*
 * forker: three children in turn, each its own run with its own exit code.
 * forker daemon: a child that calls daemon() (a fork inside glibc, which
 * the shim's fork() does not see); returns once the grandchild exited.
 */
#define _DEFAULT_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int daemon_case(void)
{
	int fds[2], st;
	pid_t pid;
	char c;

	if (pipe(fds) != 0)
		return 1;
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		close(fds[0]);
		if (daemon(1, 1) != 0) /* the child leaves at once; the grandchild holds fds[1] until it exits */
			_exit(2);
		exit(0);
	}
	close(fds[1]);
	waitpid(pid, &st, 0);
	while (read(fds[0], &c, 1) > 0) /* EOF: the grandchild exited */
		;
	printf("daemon child exited %d\n", WEXITSTATUS(st));
	return 0;
}

int main(int argc, char **argv)
{
	int i;

	if (argc > 1 && strcmp(argv[1], "daemon") == 0)
		return daemon_case();

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
