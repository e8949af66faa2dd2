/* SPDX-License-Identifier: MIT */
/*
 * A tool with versions for the canary tests, built once per ARM: prints
 * ARM. `chain`: then forks a child that executes argv[0] again (as a
 * wrapper runs the tool it wraps) and prints "<ARM> <child's output>".
 * `boom`: the crashing build (CRASH) crashes with SIGSEGV.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef ARM
#define ARM "stable"
#endif

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "chain")) {
		char *args[] = { argv[0], NULL };
		int fd[2], status;
		char out[64] = "";
		ssize_t n;
		pid_t pid;

		if (pipe(fd) < 0 || (pid = fork()) < 0)
			return 10;
		if (pid == 0) {
			dup2(fd[1], 1);
			execv(argv[0], args);
			_exit(11);
		}
		close(fd[1]);
		n = read(fd[0], out, sizeof(out) - 1);
		waitpid(pid, &status, 0);
		if (n > 0)
			out[n] = '\0';
		printf("%s %s", ARM, out);
		return 0;
	}
#ifdef CRASH
	if (argc > 1 && !strcmp(argv[1], "boom")) {
		fflush(stdout);
		raise(SIGSEGV);
	}
#endif
	printf("%s\n", ARM);
	return 0;
}
