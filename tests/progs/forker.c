/* SPDX-License-Identifier: MIT */
/*
 * forker: three children in turn, each its own run with its own exit code.
 * forker daemon: a child that calls daemon() (a fork inside glibc, which
 * the shim's fork() does not see); returns once the grandchild exited.
 * forker daemon-first, forkpty-first: the same from a spawned child whose
 * first fork is daemon()'s, forkpty()'s.
 */
#define _DEFAULT_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pty.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* The grandchild of daemon() holds fds[1] until it exits: reading to EOF waits for it. */
static void wait_eof(int fd)
{
	char c;

	while (read(fd, &c, 1) > 0)
		;
}

/* forkpty (a fork inside glibc) as this process's first fork; the child exits at once */
static int forkpty_child(void)
{
	int master, st;
	pid_t pid = forkpty(&master, NULL, NULL, NULL);

	if (pid < 0)
		return 3;
	if (pid == 0)
		exit(0);
	waitpid(pid, &st, 0);
	close(master);
	return 0;
}

/* A child spawned (no fork of this process before) whose first fork is daemon()'s. */
static int first_fork(const char *self, const char *mode)
{
	char *args[] = { (char *)self, (char *)mode, NULL };
	posix_spawn_file_actions_t fa;
	int fds[2], st;
	pid_t pid;

	if (pipe(fds) != 0 || posix_spawn_file_actions_init(&fa) != 0 ||
	    posix_spawn_file_actions_addclose(&fa, fds[0]) != 0 || posix_spawn(&pid, self, &fa, NULL, args, environ) != 0)
		return 1;
	close(fds[1]);
	waitpid(pid, &st, 0);
	wait_eof(fds[0]);
	printf("daemon child exited %d\n", WEXITSTATUS(st));
	return 0;
}

static int daemon_case(void)
{
	int fds[2], st;
	pid_t pid;

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
	wait_eof(fds[0]);
	printf("daemon child exited %d\n", WEXITSTATUS(st));
	return 0;
}

int main(int argc, char **argv)
{
	int i;

	if (argc > 1 && strcmp(argv[1], "daemon") == 0)
		return daemon_case();
	if (argc > 1 && strcmp(argv[1], "daemon-first") == 0)
		return first_fork(argv[0], "daemon-child");
	if (argc > 1 && strcmp(argv[1], "daemon-child") == 0)
		return daemon(1, 1) != 0 ? 2 : 0;
	if (argc > 1 && strcmp(argv[1], "forkpty-first") == 0)
		return first_fork(argv[0], "forkpty-child");
	if (argc > 1 && strcmp(argv[1], "forkpty-child") == 0)
		return forkpty_child();

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
