/* SPDX-License-Identifier: MIT */
/*
 * What `dise attach` costs a busy target: the CPU time (user + system, from
 * wait4) of tests/progs/waiter doing a fixed piece of work, alone and with
 * `dise attach` following it, alternated, median of the rounds.
 *   spin: arithmetic, no system call (the target's threads are traced, but
 *         nothing stops them: ptrace without syscall tracing costs nothing
 *         until a signal or an event);
 *   sys:  getppid() in a loop, many system calls;
 *   signals: raise(SIGUSR1) to a handler in a loop: every signal is a
 *         signal-delivery-stop, a round trip through dise attach.
 * Usage: bench-attach BUILD_DIR [ROUNDS] [SPIN_N] [SYS_N] [SIGNALS_N]
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench-util.h"

static const char *build;

/* One run of `waiter` given cmd, attached or not; returns its CPU ns (and wall ns in *wall). */
static uint64_t one(const char *cmd, int attach, uint64_t *wall)
{
	char waiter[4096], dise[4096], line[256], spid[32];
	int in[2], out[2], err[2], st;
	pid_t t, a = -1;
	struct rusage ru;
	FILE *fo, *fe = NULL;
	uint64_t t0;

	bench_prog("bench-attach", build, "waiter", waiter, sizeof(waiter));
	snprintf(dise, sizeof(dise), "%s/bin/dise", build);
	if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC))
		exit(1);
	t = fork();
	if (t == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		execl(waiter, waiter, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	fo = fdopen(out[0], "r");
	if (!fgets(line, sizeof(line), fo)) {
		fprintf(stderr, "bench-attach: %s did not start\n", waiter);
		exit(1);
	}
	if (attach) {
		snprintf(spid, sizeof(spid), "%d", (int)t);
		a = fork();
		if (a == 0) {
			dup2(err[1], 2);
			execl(dise, dise, "attach", spid, (char *)NULL);
			_exit(127);
		}
		close(err[1]);
		fe = fdopen(err[0], "r");
		if (!fgets(line, sizeof(line), fe) || !strstr(line, "watching")) { /* attached */
			fprintf(stderr, "bench-attach: dise attach failed: %s", line);
			exit(1);
		}
	} else {
		close(err[0]);
		close(err[1]);
	}
	t0 = now_ns();
	if (write(in[1], cmd, strlen(cmd)) < 0 || write(in[1], "\n", 1) < 0)
		exit(1);
	close(in[1]);
	while (fgets(line, sizeof(line), fo))
		;
	wait4(t, &st, 0, &ru);
	*wall = now_ns() - t0;
	fclose(fo);
	if (a > 0) {
		while (fgets(line, sizeof(line), fe))
			;
		fclose(fe);
		waitpid(a, NULL, 0);
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "bench-attach: the target failed (%#x)\n", st);
		exit(1);
	}
	return (uint64_t)ru.ru_utime.tv_sec * 1000000000u + (uint64_t)ru.ru_utime.tv_usec * 1000u +
	       (uint64_t)ru.ru_stime.tv_sec * 1000000000u + (uint64_t)ru.ru_stime.tv_usec * 1000u;
}

static void measure(const char *what, const char *cmd, int rounds)
{
	uint64_t *cpu[2], *wall[2]; /* [0] alone, [1] attached */
	int i, k;

	for (k = 0; k < 2; k++) {
		cpu[k] = calloc((size_t)rounds, sizeof(uint64_t));
		wall[k] = calloc((size_t)rounds, sizeof(uint64_t));
	}
	for (i = 0; i < rounds; i++)
		for (k = 0; k < 2; k++) {
			int attached = (i + k) % 2; /* the order flips every round, so that drift hits both alike */

			cpu[attached][i] = one(cmd, attached, &wall[attached][i]);
		}
	for (k = 0; k < 2; k++) {
		qsort(cpu[k], (size_t)rounds, sizeof(uint64_t), cmp_u64);
		qsort(wall[k], (size_t)rounds, sizeof(uint64_t), cmp_u64);
	}
	printf("%-31s CPU median %8.1f ms alone, %8.1f ms attached: ratio %.3f (wall %.1f / %.1f ms)\n", what,
	       cpu[0][rounds / 2] / 1e6, cpu[1][rounds / 2] / 1e6, (double)cpu[1][rounds / 2] / (double)cpu[0][rounds / 2],
	       wall[0][rounds / 2] / 1e6, wall[1][rounds / 2] / 1e6);
	for (k = 0; k < 2; k++)
		free(cpu[k]), free(wall[k]);
}

int main(int argc, char **argv)
{
	int rounds = argc > 2 ? atoi(argv[2]) : 7;
	long spin = argc > 3 ? atol(argv[3]) : 300000000L, sys = argc > 4 ? atol(argv[4]) : 1000000L;
	long sigs = argc > 5 ? atol(argv[5]) : 20000L;
	char cmd[64];

	if (argc < 2 || rounds < 1) {
		fprintf(stderr, "usage: bench-attach BUILD_DIR [ROUNDS] [SPIN_N] [SYS_N] [SIGNALS_N]\n");
		return 2;
	}
	build = argv[1];
	signal(SIGPIPE, SIG_IGN);
	printf("bench-attach: %d rounds each, alternated; CPU = user + system of the target (wait4)\n", rounds);
	snprintf(cmd, sizeof(cmd), "spin %ld", spin);
	measure("spin (no system calls)", cmd, rounds);
	snprintf(cmd, sizeof(cmd), "sys %ld", sys);
	measure("sys (getppid in a loop)", cmd, rounds);
	snprintf(cmd, sizeof(cmd), "signals %ld", sigs);
	measure("signals (SIGUSR1 to a handler)", cmd, rounds);
	return 0;
}
