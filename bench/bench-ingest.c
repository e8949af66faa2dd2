/* SPDX-License-Identifier: MIT */
/*
 * Ingest throughput: fills a ring with START+EXIT pairs (not timed), then
 * drains it into a fresh SQLite database in $TMPDIR with the production
 * schema, indexes and batch size, and prints records per second.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench-util.h"
#include "dise/ring.h"
#include "ingest.h"
#include "store.h"

int main(int argc, char **argv)
{
	unsigned runs = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 0) : 300000;
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char ring[256], dir[512], db[600], cmd[700];
	struct dise_ingest_stats stats = { 0 };
	static const char fn[] = "/usr/bin/loadgen";
	dise_ring r;
	dise_store *st;
	dise_ingest *in;
	uint8_t b[512];
	uint64_t t0, t1, c0, c1;
	unsigned i;
	int n;

	snprintf(ring, sizeof(ring), "/dev/shm/dise-bench-ingest-%d", (int)getpid());
	snprintf(dir, sizeof(dir), "%s/dise-bench-ingest-%d", tmp, (int)getpid());
	snprintf(db, sizeof(db), "%s/dise.db", dir);
	if (mkdir(dir, 0700) < 0) {
		perror(dir);
		return 1;
	}
	unlink(ring);
	if (dise_ring_map(ring, DISE_RING_WRITE | DISE_RING_CREATE, 1u << 22, 1, &r) < 0) {
		fprintf(stderr, "bench-ingest: cannot make ring %s\n", ring);
		return 1;
	}
	for (i = 0; i < runs; i++) {
		struct dise_rec_start s;
		struct dise_rec_exit e;
		static char argvs[] = "loadgen\0--flag\0/some/path/of/a/file.txt";

		memset(&s, 0, sizeof(s));
		s.h.size = sizeof(s) + sizeof(fn) + sizeof("/tmp") + sizeof(argvs);
		s.h.type = DISE_REC_START;
		s.h.hdr_size = sizeof(s.h);
		s.h.mono_ns = s.h.run_start_ns = 1000000 + (uint64_t)i * 1000;
		s.h.pid = s.h.tid = 1000 + i;
		s.argc = 3;
		s.execfn_len = sizeof(fn);
		s.cwd_len = sizeof("/tmp");
		s.argv_len = sizeof(argvs);
		s.argv_count = 3;
		memcpy(b, &s, sizeof(s));
		memcpy(b + sizeof(s), fn, sizeof(fn));
		memcpy(b + sizeof(s) + sizeof(fn), "/tmp", sizeof("/tmp"));
		memcpy(b + sizeof(s) + sizeof(fn) + sizeof("/tmp"), argvs, sizeof(argvs));
		dise_ring_put(&r, b, s.h.size);
		memset(&e, 0, sizeof(e));
		e.h.size = sizeof(e);
		e.h.type = DISE_REC_EXIT;
		e.h.hdr_size = sizeof(e.h);
		e.h.mono_ns = s.h.mono_ns + 500;
		e.h.run_start_ns = s.h.run_start_ns;
		e.h.pid = e.h.tid = s.h.pid;
		e.status = (int)(i % 5 == 0);
		dise_ring_put(&r, &e, sizeof(e));
	}
	if (dise_ring_stats_of(&r).dropped) {
		fprintf(stderr, "bench-ingest: the ring dropped records; use fewer runs\n");
		return 1;
	}
	if (dise_store_open(db, 0, &st) < 0 || dise_ingest_new(ring, st, &in) < 0) {
		fprintf(stderr, "bench-ingest: cannot open store or ring\n");
		return 1;
	}
	t0 = now_ns();
	c0 = cpu_ns();
	while ((n = dise_ingest_batch(in, 4096, &stats)) > 0)
		;
	c1 = cpu_ns();
	t1 = now_ns();
	printf("bench-ingest: %llu records (%u runs: START+EXIT) into SQLite (WAL, synchronous=NORMAL) in %s\n",
	       (unsigned long long)stats.stored, runs, tmp);
	printf("  %.0f records/s sustained, %.2f s in all, batches of 4096 (%s)\n", stats.stored / ((t1 - t0) / 1e9),
	       (t1 - t0) / 1e9, n < 0 ? "ended with an error" : "ring drained");
	/* the CPU the drain took: less disturbed than the wall time by other loads on the machine */
	printf("  %.2f us CPU per record (%.2f s CPU)\n", (c1 - c0) / 1e3 / (double)(stats.stored ? stats.stored : 1),
	       (c1 - c0) / 1e9);
	dise_ingest_free(in);
	dise_store_free(st);
	dise_ring_unmap(&r);
	unlink(ring);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : 1;
}
