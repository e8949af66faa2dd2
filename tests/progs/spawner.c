/* SPDX-License-Identifier: MIT */
/*
 * spawner: posix_spawn with an empty environment (cleared on purpose), then
 * with a copy of its own without LD_PRELOAD and DISE_* (merely lost), then
 * vfork + exec.
 */
#define _GNU_SOURCE
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static int spawn_echo(char *const what, char *const env[])
{
	char *const args[] = { "echo", "spawned", what, NULL };
	pid_t pid;
	int st;

	fflush(stdout);
	if (posix_spawn(&pid, "/bin/echo", NULL, NULL, args, env) != 0)
		return -1;
	waitpid(pid, &st, 0);
	return WEXITSTATUS(st);
}

int main(void)
{
	char *const empty[] = { NULL };
	char **lost;
	size_t n = 0, i, k = 0;
	pid_t pid;
	int st;

	while (environ[n])
		n++;
	if (!(lost = calloc(n + 1, sizeof(*lost))))
		return 1;
	for (i = 0; i < n; i++)
		if (strncmp(environ[i], "LD_PRELOAD=", 11) && strncmp(environ[i], "DISE_", 5))
			lost[k++] = environ[i];
	printf("posix_spawn child exited %d\n", spawn_echo("cleared", empty));
	printf("posix_spawn child exited %d\n", spawn_echo("lost", lost));
	fflush(stdout);
	pid = vfork();
	if (pid == 0) {
		char *const t[] = { "sh", "-c", "exit 9", NULL };

		execv("/bin/sh", t);
		_exit(127);
	}
	waitpid(pid, &st, 0);
	printf("vfork child exited %d\n", WEXITSTATUS(st));
	pid = vfork();
	if (pid == 0)
		_exit(4); /* a vfork child that never execs */
	waitpid(pid, &st, 0);
	printf("vfork _exit child exited %d\n", WEXITSTATUS(st));
	return 0;
}
