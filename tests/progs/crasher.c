/* SPDX-License-Identifier: MIT */
/*
 * Crashes in the way argv[1] names, from a function whose name the tests
 * look for in the unwound frames (dise_test_crash_*), a few calls deep.
 * Prints a line first so that output bytes can be compared.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))

/* Not static: the tests look for these names in the unwound frames. */
void dise_test_crash_segv(void);
void dise_test_crash_abort(void);
void dise_test_crash_fpe(void);
void dise_test_crash_ill(void);
void dise_test_crash_trap(void);
int dise_test_crash_recurse(int depth);
void dispatch(const char *mode);

volatile int zero = 0;
volatile int sink;

NOINLINE void dise_test_crash_segv(void)
{
	volatile int *p = (volatile int *)(uintptr_t)zero;

	*p = 42;
}

NOINLINE void dise_test_crash_abort(void)
{
	abort();
}

NOINLINE void dise_test_crash_fpe(void)
{
	sink = 1000 / zero;
}

NOINLINE void dise_test_crash_ill(void)
{
	__builtin_trap();
}

NOINLINE void dise_test_crash_trap(void)
{
	__asm__ volatile("int3");
}

#pragma GCC diagnostic ignored "-Winfinite-recursion"
NOINLINE int dise_test_crash_recurse(int n)
{
	volatile char pad[256];

	pad[0] = (char)n;
	return dise_test_crash_recurse(n + 1) + pad[0];
}

static void *thread_main(void *arg)
{
	(void)arg;
	dise_test_crash_segv();
	return NULL;
}

static pthread_t main_thread;

static void *thread_late(void *arg)
{
	pthread_join(main_thread, NULL); /* returns once the main thread has ended */
	dise_test_crash_segv();
	return arg;
}

static void *thread_noop(void *arg)
{
	return arg;
}

static void *thread_overflow(void *arg)
{
	(void)arg;
	sink = dise_test_crash_recurse(0);
	return NULL;
}

static pthread_barrier_t barrier;

static void *thread_race(void *arg)
{
	(void)arg;
	pthread_barrier_wait(&barrier);
	dise_test_crash_segv();
	return NULL;
}

static void on_segv(int sig)
{
	static const char msg[] = "own handler ran\n";

	(void)sig;
	(void)!write(1, msg, sizeof(msg) - 1);
	_exit(42);
}

static void on_segv_reraise(int sig)
{
	static const char msg[] = "own handler, re-raising\n";

	(void)!write(2, msg, sizeof(msg) - 1);
	signal(sig, SIG_DFL);
	raise(sig);
}

NOINLINE void dispatch(const char *mode)
{
	if (!strcmp(mode, "segv"))
		dise_test_crash_segv();
	else if (!strcmp(mode, "abort"))
		dise_test_crash_abort();
	else if (!strcmp(mode, "fpe"))
		dise_test_crash_fpe();
	else if (!strcmp(mode, "ill"))
		dise_test_crash_ill();
	else if (!strcmp(mode, "trap"))
		dise_test_crash_trap();
	else if (!strcmp(mode, "overflow"))
		sink = dise_test_crash_recurse(0);
	else if (!strcmp(mode, "thread")) {
		pthread_t t;

		pthread_create(&t, NULL, thread_main, NULL);
		pthread_join(t, NULL);
	} else if (!strcmp(mode, "thread-after-main")) {
		pthread_t t;

		main_thread = pthread_self();
		pthread_create(&t, NULL, thread_late, NULL);
		pthread_exit(NULL);
	} else if (!strcmp(mode, "thread-overflow")) {
		pthread_t t;

		pthread_create(&t, NULL, thread_overflow, NULL);
		pthread_join(t, NULL);
	} else if (!strcmp(mode, "thread-overflow-reused")) {
		/* threads come and go first: the overflowing one runs on an alternate stack one of them had */
		pthread_t t;
		int i;

		for (i = 0; i < 3; i++) {
			pthread_create(&t, NULL, thread_noop, NULL);
			pthread_join(t, NULL);
		}
		pthread_create(&t, NULL, thread_overflow, NULL);
		pthread_join(t, NULL);
	} else if (!strcmp(mode, "race")) {
		pthread_t t[4];
		int i;

		pthread_barrier_init(&barrier, NULL, 4);
		for (i = 0; i < 4; i++)
			pthread_create(&t[i], NULL, thread_race, NULL);
		for (i = 0; i < 4; i++)
			pthread_join(t[i], NULL);
	} else if (!strcmp(mode, "own-handler")) {
		signal(SIGSEGV, on_segv);
		dise_test_crash_segv();
	} else if (!strcmp(mode, "own-handler-reraise")) {
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_segv_reraise;
		sigaction(SIGSEGV, &sa, NULL);
		dise_test_crash_segv();
	} else if (!strcmp(mode, "kill")) {
		raise(SIGKILL);
	} else {
		fprintf(stderr, "crasher: unknown mode %s\n", mode);
		exit(2);
	}
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: crasher MODE\n");
		return 2;
	}
	printf("crasher %s\n", argv[1]);
	fflush(stdout);
	dispatch(argv[1]);
	return 0;
}
