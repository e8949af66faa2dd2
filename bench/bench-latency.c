/* SPDX-License-Identifier: MIT */
/*
 * Latency from a record's commit in the ring to its row's commit in SQLite,
 * with an idle collector (it sleeps on the ring's wake futex between
 * records): a producer writes an EXIT record every 2 ms and notifies; the
 * consumer thread runs the collector's ingest loop. Also the consumer's CPU
 * time over 2 idle seconds.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench-util.h"
#include "dise/ring.h"
#include "ingest.h"
#include "store.h"

static _Atomic uint64_t committed, committed_at;
static _Atomic int stop;
static const char *ring_path, *db_path;
static double idle_cpu_ms;

static double thread_cpu_ms(void)
{
	struct rusage ru;

	getrusage(RUSAGE_THREAD, &ru);
	return ru.ru_utime.tv_sec * 1e3 + ru.ru_utime.tv_usec / 1e3 + ru.ru_stime.tv_sec * 1e3 +
	       ru.ru_stime.tv_usec / 1e3;
}

static void *consumer(void *arg)
{
	struct dise_ingest_stats stats = { 0 };
	dise_store *st;
	dise_ingest *in;
	int n;

	(void)arg;
	if (dise_store_open(db_path, 0, &st) < 0 || dise_ingest_new(ring_path, st, &in) < 0) {
		fprintf(stderr, "bench-latency: cannot open store or ring\n");
		exit(1);
	}
	while (!atomic_load(&stop)) {
		n = dise_ingest_batch(in, 4096, &stats);
		if (n > 0) {
			atomic_store(&committed_at, now_ns());
			atomic_fetch_add(&committed, (uint64_t)n);
		} else if (n == 0) {
			dise_ingest_wait(in, 1000);
		}
	}
	/* idle: nothing comes; how much CPU does waiting cost? */
	{
		double c0 = thread_cpu_ms();
		uint64_t t0 = now_ns();

		while (now_ns() - t0 < 2000000000ull) {
			if (dise_ingest_batch(in, 4096, &stats) == 0)
				dise_ingest_wait(in, 1000);
		}
		idle_cpu_ms = thread_cpu_ms() - c0;
	}
	dise_ingest_free(in);
	dise_store_free(st);
	return NULL;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 2000, i;
	char ring[128], dir[256], db[300], cmd[400];
	uint64_t *lat = calloc((size_t)n, sizeof(uint64_t));
	pthread_t th;
	dise_ring r;

	snprintf(ring, sizeof(ring), "/dev/shm/dise-bench-latency-%d", (int)getpid());
	snprintf(dir, sizeof(dir), "/tmp/dise-bench-latency-%d", (int)getpid());
	snprintf(db, sizeof(db), "%s/dise.db", dir);
	mkdir(dir, 0700);
	unlink(ring);
	ring_path = ring;
	db_path = db;
	if (dise_ring_map(ring, DISE_RING_WRITE | DISE_RING_CREATE, 0, 0, &r) < 0)
		return 1;
	pthread_create(&th, NULL, consumer, NULL);
	usleep(100000);
	for (i = 0; i < n; i++) {
		struct dise_rec_exit e;
		uint64_t t0, want = atomic_load(&committed) + 1;
		struct timespec gap = { 0, 2000000 };

		nanosleep(&gap, NULL); /* let the collector fall asleep */
		memset(&e, 0, sizeof(e));
		e.h.size = sizeof(e);
		e.h.type = DISE_REC_EXIT;
		e.h.hdr_size = sizeof(e.h);
		e.h.pid = e.h.tid = 4000000 + (uint32_t)i;
		e.h.run_start_ns = (uint64_t)i + 1;
		t0 = now_ns();
		e.h.mono_ns = t0;
		dise_ring_put(&r, &e, sizeof(e));
		dise_ring_notify_record(&r, dise_ring_urgent(DISE_REC_EXIT, e.status)); /* an ok end, as the shim notifies it */
		while (atomic_load(&committed) < want)
			;
		lat[i] = atomic_load(&committed_at) - t0;
	}
	atomic_store(&stop, 1);
	pthread_join(th, NULL);
	qsort(lat, (size_t)n, sizeof(uint64_t), cmp_u64);
	printf("bench-latency: %d records, each written while the collector slept, to its SQLite commit\n", n);
	printf("  p50 %.1f us   p99 %.1f us   max %.1f us\n", lat[n / 2] / 1e3, lat[n * 99 / 100] / 1e3,
	       lat[n - 1] / 1e3);
	printf("  collector CPU over 2 s idle: %.2f ms\n", idle_cpu_ms);
	dise_ring_unmap(&r);
	unlink(ring);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : 1;
}
