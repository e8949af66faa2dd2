/* SPDX-License-Identifier: MIT */
/*
 * execchain N [scrub|forget]: prints, then execs itself with N-1; at 0 it
 * execs echo through PATH. With "scrub" every exec gets an empty environment
 * (cleared on purpose: the shim must not follow); with "forget" a copy of its
 * own environment without LD_PRELOAD and DISE_RING (a program that merely
 * lost them: the shim must keep itself in it).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

/* environ without LD_PRELOAD and DISE_RING, in its order */
static char **forgetful_env(void)
{
	size_t n = 0, i, k = 0;
	char **e;

	while (environ[n])
		n++;
	if (!(e = calloc(n + 1, sizeof(*e))))
		exit(2);
	for (i = 0; i < n; i++)
		if (strncmp(environ[i], "LD_PRELOAD=", 11) && strncmp(environ[i], "DISE_RING=", 10))
			e[k++] = environ[i];
	return e;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 0;
	const char *mode = argc > 2 ? argv[2] : NULL;
	char *const empty[] = { NULL };
	char *const *env = environ;
	char next[16];

	if (mode && !strcmp(mode, "scrub"))
		env = empty;
	else if (mode && !strcmp(mode, "forget"))
		env = forgetful_env();
	printf("chain %d\n", n);
	fflush(stdout);
	if (n == 0) {
		char *const echo[] = { "echo", "end of chain", NULL };

		if (mode)
			execve("/bin/echo", echo, env);
		else
			execlp("echo", "echo", "end of chain", (char *)NULL);
		perror("exec echo");
		return 127;
	}
	snprintf(next, sizeof(next), "%d", n - 1);
	{
		char *const args[] = { argv[0], next, (char *)mode, NULL };

		if (mode)
			execve("/proc/self/exe", args, env);
		else
			execv("/proc/self/exe", args);
	}
	perror("exec self");
	return 127;
}
