/* SPDX-License-Identifier: MIT */
/*
 * What a crash on many threads at once costs with the shim: N threads of
 * tests/progs/masscrash fault together (SIGSEGV), and the time is taken from
 * the moment the benchmark lets them go (one byte on the program's stdin;
 * the threads fault within microseconds of it) to the moment its waitpid()
 * returns with the process dead of SIGSEGV. Plain and shim runs alternate,
 * core dumps off for both. With the shim, exactly one CRASH record must be
 * in the ring per run (the first crash's); the benchmark counts them.
 *
 *   bench-masscrash [BUILD [THREADS [ROUNDS]]]     (build 1000 5)
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench-util.h"
#include "dise/event.h"
#include "dise/ring.h"

/* One run: returns the time from the go byte to waitpid's return, in ns; *ret_sig the fatal signal (0: none). */
static uint64_t run_once(const char *prog, const char *threads, const char *preload, const char *ring, int *ret_sig)
{
	int in[2], out[2], st;
	char buf[16];
	uint64_t t0;
	pid_t pid;

	if (pipe(in) || pipe(out)) {
		perror("pipe");
		exit(1);
	}
	pid = fork();
	if (pid < 0) {
		perror("fork");
		exit(1);
	}
	if (pid == 0) {
		struct rlimit no_core = { 0, 0 };
		char *argv[] = { (char *)prog, (char *)threads, "go", NULL };

		setrlimit(RLIMIT_CORE, &no_core);
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[1]);
		close(out[0]);
		unsetenv("LD_PRELOAD");
		unsetenv("DISE_RING");
		if (preload) {
			setenv("LD_PRELOAD", preload, 1);
			setenv("DISE_RING", ring, 1);
		}
		execv(prog, argv);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	if (read(out[0], buf, sizeof(buf)) <= 0) {
		fprintf(stderr, "bench-masscrash: %s did not get ready\n", prog);
		exit(1);
	}
	t0 = now_ns();
	if (write(in[1], "g", 1) != 1) {
		perror("write");
		exit(1);
	}
	waitpid(pid, &st, 0);
	t0 = now_ns() - t0;
	close(in[1]);
	close(out[0]);
	*ret_sig = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
	return t0;
}

/* Consumes the ring; returns how many CRASH records it held. */
static unsigned crashes(const char *ring_path)
{
	static uint8_t buf[DISE_RECORD_MAX];
	dise_ring_reader *rd;
	uint64_t id;
	size_t len;
	unsigned n = 0;

	if (dise_ring_reader_new(ring_path, 0, 1000, &rd) < 0)
		return 0;
	while (dise_ring_read(rd, buf, sizeof(buf), &len, &id) == 1)
		if (len >= sizeof(struct dise_rec_hdr) && ((const struct dise_rec_hdr *)buf)->type == DISE_REC_CRASH)
			n++;
	dise_ring_release(rd);
	dise_ring_reader_free(rd);
	return n;
}

static void report(const char *name, uint64_t *t, int n)
{
	qsort(t, (size_t)n, sizeof(*t), cmp_u64);
	printf("  %-6s median %8.1f ms   min %8.1f ms   max %8.1f ms\n", name, t[n / 2] / 1e6, t[0] / 1e6,
	       t[n - 1] / 1e6);
}

int main(int argc, char **argv)
{
	const char *build = argc > 1 ? argv[1] : "build", *threads = argc > 2 ? argv[2] : "1000";
	int rounds = argc > 3 ? atoi(argv[3]) : 5, i, sig, bad = 0;
	char prog[4096], shim[4096], ring[128];
	uint64_t *plain, *with;
	unsigned recs, wrong = 0;

	bench_prog("bench-masscrash", build, "masscrash", prog, sizeof(prog));
	snprintf(shim, sizeof(shim), "%s/lib/libdise_shim.so", build);
	if (rounds < 1 || access(prog, X_OK) || access(shim, R_OK)) {
		fprintf(stderr, "bench-masscrash: build first (%s, %s); usage: bench-masscrash [BUILD [THREADS [ROUNDS]]]\n",
			prog, shim);
		return 1;
	}
	if (shim[0] != '/') {
		char *abs = realpath(shim, NULL);

		snprintf(shim, sizeof(shim), "%s", abs ? abs : "");
		free(abs);
	}
	snprintf(ring, sizeof(ring), "/dev/shm/dise-bench-masscrash-%d", (int)getpid());
	plain = calloc((size_t)rounds, sizeof(*plain));
	with = calloc((size_t)rounds, sizeof(*with));
	for (i = 0; i < rounds; i++) {
		plain[i] = run_once(prog, threads, NULL, NULL, &sig);
		bad += sig != SIGSEGV;
		with[i] = run_once(prog, threads, shim, ring, &sig);
		bad += sig != SIGSEGV;
		recs = crashes(ring);
		wrong += recs != 1;
	}
	unlink(ring);
	printf("bench-masscrash: %s threads fault at once, %d runs each, first fault to waitpid's return\n", threads,
	       rounds);
	report("plain", plain, rounds);
	report("shim", with, rounds);
	printf("  ratio of medians %.2f; %d runs not killed by SIGSEGV; %u shim runs without exactly one CRASH record\n",
	       (double)with[rounds / 2] / (double)plain[rounds / 2], bad, wrong);
	return bad || wrong ? 1 : 0;
}
