/* SPDX-License-Identifier: MIT */
/*
 * masscrash N [go]: N threads crash at once (SIGSEGV, a null store).
 *
 * The threads and the main thread meet at a barrier; once it opens, every
 * thread faults. With "go", the main thread first writes "ready\n" to
 * stdout and waits for one byte on stdin, so that a benchmark can time from
 * the moment it lets the threads go to the moment its wait returns
 * (bench/bench-masscrash.c). The main thread itself does not crash: it
 * waits in pthread_join, which never returns.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pthread_barrier_t barrier;
static int *volatile nowhere;

static void *crash(void *arg)
{
	(void)arg;
	pthread_barrier_wait(&barrier);
	*nowhere = 1;
	return NULL;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 0, go = argc > 2 && !strcmp(argv[2], "go"), i;
	pthread_attr_t attr;
	pthread_t *t;
	char c;

	if (n < 1 || n > 100000 || !(t = calloc((size_t)n, sizeof(*t)))) {
		fprintf(stderr, "usage: masscrash N [go]\n");
		return 2;
	}
	/* small stacks: a thousand threads with the default 8 MiB would be 8 GiB of address space */
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	pthread_barrier_init(&barrier, NULL, (unsigned)n + 1);
	for (i = 0; i < n; i++)
		if (pthread_create(&t[i], &attr, crash, NULL) != 0) {
			perror("masscrash: pthread_create");
			return 2;
		}
	if (go) {
		if (write(1, "ready\n", 6) != 6 || read(0, &c, 1) != 1)
			return 2;
	}
	pthread_barrier_wait(&barrier);
	pthread_join(t[0], NULL);
	return 3; /* not reached: the process dies of SIGSEGV */
}
