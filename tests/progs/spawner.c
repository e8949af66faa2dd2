/* SPDX-License-Identifier: MIT */
/* spawner: posix_spawn with a scrubbed environment, then vfork + exec. */
#define _GNU_SOURCE
#include <spawn.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
	char *const args[] = { "echo", "spawned", NULL };
	char *const empty[] = { NULL };
	pid_t pid;
	int st;

	fflush(stdout);
	if (posix_spawn(&pid, "/bin/echo", NULL, NULL, args, empty) != 0)
		return 1;
	waitpid(pid, &st, 0);
	printf("posix_spawn child exited %d\n", WEXITSTATUS(st));
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
