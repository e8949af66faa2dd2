/* SPDX-License-Identifier: MIT */
/*
 * A stop's latency: SIGTERM to dise-collectord -> the process gone (its
 * parent's waitpid returns), in the two sleeps a collector spends its time
 * in, and `dise collector stop` (the command: SIGTERM, then it waits for the
 * collector's lock to be free):
 *   - gathering: asleep in a gather (the ring's wake word says
 *     DISE_WAKE_URGENT) with records read and not stored yet: a run's ok EXIT
 *     and its parent's failing REAP (urgent: it wakes the gather, which reads
 *     both and, the REAP coming right after its child's own EXIT, gathers on);
 *   - idle: asleep for any record (DISE_WAKE_ANY), nothing in hand;
 *   - command: `BUILD/bin/dise collector stop` from the idle state, timed
 *     from its start to its end.
 * Each round a fresh DISE_HOME, ring and collector of BUILD; the three
 * alternate. The stop must store what the gather held: counted, said when
 * it did not.
 *
 *   bench-stop [BUILD] [ROUNDS]
 */
#define _GNU_SOURCE
#include <signal.h>
#include <spawn.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench-util.h"
#include "dise/ring.h"

extern char **environ;

enum { GATHERING, IDLE, COMMAND, NSTATES };
static const char *const state_name[NSTATES] = { "asleep in a gather, 2 records in hand", "idle (asleep for any record)",
						 "`dise collector stop`, idle" };

/* Waits (10 s at most) until the ring's wake word is want; 0 when it did not come. */
static int word_is(const dise_ring *r, uint32_t want)
{
	uint64_t t0 = now_ns();

	while (atomic_load(&r->hdr->wake) != want)
		if (now_ns() - t0 > 10000000000ull || usleep(100) < 0)
			return 0;
	return 1;
}

static void put(dise_ring *r, uint16_t type, uint32_t pid, uint32_t child, int32_t status)
{
	union {
		struct dise_rec_exit e;
		struct dise_rec_reap w;
	} u;
	uint32_t len = type == DISE_REC_EXIT ? sizeof(u.e) : sizeof(u.w);

	memset(&u, 0, sizeof(u));
	u.e.h.size = len;
	u.e.h.type = type;
	u.e.h.hdr_size = sizeof(u.e.h);
	u.e.h.pid = u.e.h.tid = pid;
	u.e.h.run_start_ns = pid;
	u.e.h.mono_ns = now_ns();
	if (type == DISE_REC_EXIT)
		u.e.status = status;
	else
		u.w.child_pid = child, u.w.status = status;
	if (dise_ring_put(r, &u, len) < 0) {
		fprintf(stderr, "bench-stop: the ring is full\n");
		exit(1);
	}
	dise_ring_notify_record(r, dise_ring_urgent(type, status));
}

/* The collector's pid once it is ready (it writes it into its lock file then), 10 s at most. */
static int ready(const char *home, pid_t child)
{
	char lock[300], buf[32];
	uint64_t t0 = now_ns();

	snprintf(lock, sizeof(lock), "%s/collector.lock", home);
	while (now_ns() - t0 < 10000000000ull) {
		FILE *f = fopen(lock, "r");
		int pid = 0;

		if (f) {
			if (fgets(buf, sizeof(buf), f))
				pid = atoi(buf);
			fclose(f);
		}
		if (pid == child)
			return 1;
		usleep(1000);
	}
	return 0;
}

/* Rows of the runs table: the records the collector stored (each EXIT here ends a run of its own). */
static long stored_runs(const char *home)
{
	char db[300];
	sqlite3 *h = NULL;
	sqlite3_stmt *q = NULL;
	long n = -1;

	snprintf(db, sizeof(db), "%s/dise.db", home);
	if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(h, "SELECT count(*) FROM runs", -1, &q, NULL) == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW)
		n = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	sqlite3_close(h);
	return n;
}

/* One round in state s: the latency in ns, or 0 when the round could not be set up (said why). */
static uint64_t round_of(const char *build, const char *dir, int s, int i, long *lost)
{
	char home[256], ring[256], path[300], cmd[600];
	char *cargv[] = { path, "--foreground", NULL };
	uint64_t t0, t;
	dise_ring r;
	pid_t c;
	int st;

	snprintf(home, sizeof(home), "%s/home%d", dir, i);
	snprintf(ring, sizeof(ring), "%s/ring%d", dir, i);
	mkdir(home, 0700);
	setenv("DISE_RING", ring, 1);
	setenv("DISE_HOME", home, 1);
	if (dise_ring_map(ring, DISE_RING_WRITE | DISE_RING_CREATE, 0, 0, &r) < 0)
		return 0;
	snprintf(path, sizeof(path), "%s/bin/dise-collectord", build);
	if (posix_spawn(&c, path, NULL, NULL, cargv, environ) != 0)
		return 0;
	if (!ready(home, c) || !word_is(&r, DISE_WAKE_ANY)) {
		fprintf(stderr, "bench-stop: round %d: the collector did not fall asleep\n", i);
		kill(c, SIGKILL);
		waitpid(c, NULL, 0);
		return 0;
	}
	if (s == GATHERING) {
		put(&r, DISE_REC_EXIT, 4000001, 0, 0); /* wakes it: stored at once, then it gathers */
		if (!word_is(&r, DISE_WAKE_URGENT))
			fprintf(stderr, "bench-stop: round %d: no gather\n", i);
		put(&r, DISE_REC_EXIT, 4000002, 0, 0);
		put(&r, DISE_REC_REAP, 4000003, 4000002, 1 << 8); /* wakes it: both read, it gathers on */
		if (!word_is(&r, DISE_WAKE_URGENT))
			fprintf(stderr, "bench-stop: round %d: no gather after the REAP\n", i);
	}
	t0 = now_ns();
	if (s == COMMAND) {
		snprintf(cmd, sizeof(cmd), "'%s/bin/dise' collector stop >/dev/null", build);
		bench_sh("bench-stop", cmd);
	} else {
		kill(c, SIGTERM);
	}
	waitpid(c, &st, 0);
	t = now_ns() - t0;
	if (s == GATHERING && stored_runs(home) != 2)
		(*lost)++;
	dise_ring_unmap(&r);
	return t;
}

int main(int argc, char **argv)
{
	const char *build = argc > 1 ? argv[1] : "build";
	int rounds = argc > 2 ? atoi(argv[2]) : 20, i, s;
	uint64_t *lat[NSTATES];
	int n[NSTATES] = { 0 };
	long lost = 0;
	char dir[128], cmd[300];

	if (rounds < 1)
		rounds = 1;
	snprintf(dir, sizeof(dir), "/tmp/dise-bench-stop-%d", (int)getpid());
	mkdir(dir, 0700);
	for (s = 0; s < NSTATES; s++)
		lat[s] = calloc((size_t)rounds, sizeof(uint64_t));
	for (i = 0; i < rounds; i++)
		for (s = 0; s < NSTATES; s++) {
			uint64_t t = round_of(build, dir, s, i * NSTATES + s, &lost);

			if (t)
				lat[s][n[s]++] = t;
		}
	printf("bench-stop: %d rounds, SIGTERM -> dise-collectord gone (%s)\n", rounds, build);
	for (s = 0; s < NSTATES; s++) {
		if (!n[s])
			continue;
		qsort(lat[s], (size_t)n[s], sizeof(uint64_t), cmp_u64);
		printf("  %-40s p50 %7.2f ms   p99 %7.2f ms   max %7.2f ms\n", state_name[s], lat[s][n[s] / 2] / 1e6,
		       lat[s][(n[s] * 99) / 100] / 1e6, lat[s][n[s] - 1] / 1e6);
	}
	if (lost)
		printf("  the gather's records NOT stored by the stop in %ld of %d rounds\n", lost, n[GATHERING]);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : 1;
}
