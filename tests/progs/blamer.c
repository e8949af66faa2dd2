/* SPDX-License-Identifier: MIT */
/*
 * blamer MODE [ARG]: a tool whose behaviour each test chooses, built twice
 * (BLAMER_VARIANT 1 and 2: blamer-v1, blamer-v2) so that a test deploys a
 * release and the next one at one path. Both variants:
 *   ok                 exit 0
 *   exit N             exit N (grep's "no match" is `exit 1`)
 *   open FILE          exit 1 when FILE cannot be opened (a missing input), else 0
 *   crash              SIGSEGV (in crash_here)
 *   abort              abort()
 *   wait               print "waiting", sleep until killed (a supervisor's SIGTERM, SIGINT, SIGKILL)
 *   yes                write lines until stdout breaks (SIGPIPE)
 *   slow MS            sleep MS ms, exit 0 (input growth: a test passes other MS)
 *   flaky              exit 1 when $BLAMER_FAIL is set, else 0
 *   forkcrash          fork a child (no exec) that crashes (SIGSEGV in crash_here); wait for it; exit 0
 * Variant 2 only (the regressions a release brings):
 *   newcrash           v1: exit 0; v2: SIGSEGV
 *   regress            v1: exit 0; v2: exit 3
 *   slower MS          v1: sleep MS ms; v2: sleep 2 * MS ms
 *   heavier N          v1: N million loop iterations of CPU work; v2: 4 * N million (four times: a
 *                      busy machine's CPU times vary by half, the detector's bar is 1.3 times)
 *   forkworker MS      fork a worker (no exec) that exits 0 at once (v1) or waits and is SIGTERMed by
 *                      the parent (v2, as a pool shuts down); reap it, sleep MS ms, exit 0
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef BLAMER_VARIANT
#define BLAMER_VARIANT 1
#endif

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0)
		;
}

__attribute__((noinline)) static void crash_here(void)
{
	*(volatile int *)(uintptr_t)8 = 1;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "ok";
	const char *arg = argc > 2 ? argv[2] : "0";

	if (!strcmp(mode, "exit"))
		return atoi(arg);
	if (!strcmp(mode, "open")) {
		FILE *f = fopen(arg, "r");

		if (!f) {
			fprintf(stderr, "blamer: %s: cannot open\n", arg);
			return 1;
		}
		fclose(f);
		return 0;
	}
	if (!strcmp(mode, "crash"))
		crash_here();
	if (!strcmp(mode, "abort"))
		abort();
	if (!strcmp(mode, "wait")) {
		puts("waiting"); /* the test kills it once it read this: it runs, watched */
		fflush(stdout);
		for (;;)
			pause();
	}
	if (!strcmp(mode, "yes"))
		for (;;)
			if (puts("y") < 0)
				return 2;
	if (!strcmp(mode, "slow")) {
		sleep_ms(atol(arg));
		return 0;
	}
	if (!strcmp(mode, "flaky"))
		return getenv("BLAMER_FAIL") ? 1 : 0;
	if (!strcmp(mode, "forkcrash")) {
		pid_t c = fork();
		int st;

		if (c == 0)
			crash_here();
		return c > 0 && waitpid(c, &st, 0) == c && WIFSIGNALED(st) ? 0 : 4;
	}
	if (!strcmp(mode, "forkworker")) {
		pid_t c = fork();
		int st;

		if (c == 0) {
			if (BLAMER_VARIANT == 2)
				for (;;)
					pause();
			_exit(0);
		}
		if (c < 0 || (BLAMER_VARIANT == 2 && kill(c, SIGTERM) != 0) || waitpid(c, &st, 0) != c)
			return 4;
		sleep_ms(atol(arg));
		return 0;
	}
	if (!strcmp(mode, "newcrash")) {
		if (BLAMER_VARIANT == 2)
			crash_here();
		return 0;
	}
	if (!strcmp(mode, "regress"))
		return BLAMER_VARIANT == 2 ? 3 : 0;
	if (!strcmp(mode, "slower")) {
		sleep_ms(atol(arg) * BLAMER_VARIANT);
		return 0;
	}
	if (!strcmp(mode, "heavier")) {
		volatile uint64_t x = 0;
		long i, n = atol(arg) * 1000000L * (BLAMER_VARIANT == 2 ? 4 : 1);

		for (i = 0; i < n; i++)
			x += (uint64_t)i ^ (x >> 3);
		return 0;
	}
	return 0;
}
