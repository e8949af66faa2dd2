/* SPDX-License-Identifier: MIT */
/*
 * Ring write cost, printed side by side with a bare Vyukov-style slot ring
 * (one fetch_add, one slot, a timestamp, a release store) as the floor.
 *
 *  1. one producer: per-write latency (CLOCK_MONOTONIC timestamp + reserve +
 *     write + commit of a 48-byte record), median / p99 / p99.9
 *  2. four producer threads (on this machine's cores): per-write latency
 *  3. two producers pinned to two cores: records/s together, with no
 *     consumer (a pre-faulted ring big enough to hold everything), and with a
 *     consumer draining a default-size ring (three threads on two cores)
 *
 * Latency is read with rdtsc around each write, calibrated against
 * CLOCK_MONOTONIC, minus the cost of an empty rdtsc pair.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

#include "bench-util.h"
#include "dise/ring.h"


static double ns_per_tick;

static void calibrate(void)
{
	uint64_t t0 = now_ns(), c0 = __rdtsc(), t1, c1;

	do
		t1 = now_ns();
	while (t1 - t0 < 200000000u);
	c1 = __rdtsc();
	ns_per_tick = (double)(t1 - t0) / (double)(c1 - c0);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

struct rec48 {
	struct dise_rec_hdr h;
	uint64_t a, b;
};

/* ---- the floor: a bare slot ring ---- */
struct bare_slot {
	_Atomic uint64_t seq;
	uint64_t ts;
	uint8_t data[48];
};
struct bare_ring {
	_Alignas(64) _Atomic uint64_t head;
	_Alignas(64) struct bare_slot *slots;
	uint64_t mask;
};

static inline void bare_put(struct bare_ring *r, const void *rec)
{
	uint64_t pos = atomic_fetch_add_explicit(&r->head, 1, memory_order_relaxed);
	struct bare_slot *s = &r->slots[pos & r->mask];

	s->ts = now_ns();
	memcpy(s->data, rec, sizeof(s->data));
	atomic_store_explicit(&s->seq, pos + 1, memory_order_release);
}

static inline void dise_write(dise_ring *r, struct rec48 *rec)
{
	rec->h.mono_ns = now_ns();
	dise_ring_put(r, rec, sizeof(*rec));
}

struct lat_arg {
	dise_ring *ring;
	struct bare_ring *bare;
	uint32_t *lat;
	size_t n;
	uint32_t overhead;
	int cpu;
};

static void pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static void *lat_thread(void *p)
{
	struct lat_arg *a = p;
	struct rec48 rec = { .h = { .size = sizeof(rec), .type = DISE_REC_TEST, .hdr_size = sizeof(rec.h) } };
	size_t i;

	pin(a->cpu);
	for (i = 0; i < a->n; i++) {
		uint64_t t0, t1;
		unsigned aux;

		t0 = __rdtscp(&aux);
		if (a->bare)
			bare_put(a->bare, &rec);
		else
			dise_write(a->ring, &rec);
		t1 = __rdtscp(&aux);
		a->lat[i] = (uint32_t)(t1 - t0);
	}
	return NULL;
}

static uint32_t rdtsc_overhead(void)
{
	uint32_t v[10001];
	size_t i;

	for (i = 0; i < 10001; i++) {
		unsigned aux;
		uint64_t t0 = __rdtscp(&aux), t1 = __rdtscp(&aux);

		v[i] = (uint32_t)(t1 - t0);
	}
	qsort(v, 10001, sizeof(v[0]), cmp_u32);
	return v[5000];
}

static void report(const char *what, uint32_t *lat, size_t n, uint32_t overhead)
{
	size_t i;

	qsort(lat, n, sizeof(lat[0]), cmp_u32);
	for (i = 0; i < n; i++)
		lat[i] = lat[i] > overhead ? lat[i] - overhead : 0;
	printf("  %-44s median %6.1f ns   p99 %6.1f ns   p99.9 %7.1f ns\n", what, lat[n / 2] * ns_per_tick,
	       lat[n * 99 / 100] * ns_per_tick, lat[n * 999 / 1000] * ns_per_tick);
}

static void prefault(void *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i += 4096)
		((volatile char *)p)[i] = ((volatile char *)p)[i];
}

static int map_ring(const char *path, uint32_t slots, dise_ring *r)
{
	int e;

	unlink(path);
	e = dise_ring_map(path, DISE_RING_WRITE | DISE_RING_CREATE, slots, 0, r);
	if (e < 0) {
		fprintf(stderr, "bench-ring: cannot create ring %s: %s\n", path, strerror(-e));
		exit(1);
	}
	prefault(r->hdr, r->map_len);
	return 0;
}

static void latency(const char *path, int threads, size_t per_thread)
{
	pthread_t t[8];
	struct lat_arg a[8];
	uint32_t *all = malloc(sizeof(uint32_t) * per_thread * (size_t)threads);
	uint32_t overhead = rdtsc_overhead();
	struct bare_ring bare = { 0 };
	dise_ring r;
	int i, pass;
	char what[80];

	bare.mask = (1u << 22) - 1;
	bare.slots = mmap(NULL, sizeof(struct bare_slot) << 22, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			  -1, 0);
	prefault(bare.slots, sizeof(struct bare_slot) << 22);
	for (pass = 0; pass < 2; pass++) {
		map_ring(path, 1u << 22, &r);
		for (i = 0; i < threads; i++) {
			a[i] = (struct lat_arg){ pass ? NULL : &r, pass ? &bare : NULL, all + (size_t)i * per_thread,
						 per_thread, overhead, threads == 1 ? 0 : -1 };
			pthread_create(&t[i], NULL, lat_thread, &a[i]);
		}
		for (i = 0; i < threads; i++)
			pthread_join(t[i], NULL);
		snprintf(what, sizeof(what), "%s, %d producer%s:", pass ? "bare slot ring" : "dise ring", threads,
			 threads > 1 ? "s" : "");
		report(what, all, per_thread * (size_t)threads, overhead);
		if (!pass && dise_ring_stats_of(&r).dropped)
			printf("  (dropped %llu)\n", (unsigned long long)dise_ring_stats_of(&r).dropped);
		dise_ring_unmap(&r);
	}
	munmap(bare.slots, sizeof(struct bare_slot) << 22);
	free(all);
}

struct tp_arg {
	dise_ring *r;
	size_t n;
	int cpu;
	_Atomic int *go;
	_Atomic int *stop;
};

static void *tp_thread(void *p)
{
	struct tp_arg *a = p;
	struct rec48 rec = { .h = { .size = sizeof(rec), .type = DISE_REC_TEST, .hdr_size = sizeof(rec.h) } };
	size_t i;

	pin(a->cpu);
	while (!atomic_load(a->go))
		;
	for (i = 0; i < a->n && !(a->stop && atomic_load(a->stop)); i++)
		dise_write(a->r, &rec);
	return NULL;
}

static void *drain_thread(void *p)
{
	struct tp_arg *a = p;
	dise_ring_reader *rd;
	static uint8_t buf[DISE_RECORD_MAX];
	size_t len, got = 0;
	uint64_t id;
	char path[DISE_PATH_MAX];

	dise_ring_path(path, sizeof(path));
	if (dise_ring_reader_new(path, 0, 1000, &rd) < 0)
		return NULL;
	while (!atomic_load(a->stop)) {
		int k = dise_ring_read(rd, buf, sizeof(buf), &len, &id);

		if (k == 1) {
			if (++got % 256 == 0)
				dise_ring_release(rd);
		} else {
			dise_ring_release(rd);
		}
	}
	a->n = got;
	dise_ring_reader_free(rd);
	return NULL;
}

static void throughput(const char *path, size_t per_producer, int with_consumer)
{
	pthread_t t[3];
	struct tp_arg a[3];
	_Atomic int go = 0, stop = 0;
	dise_ring r;
	uint64_t t0, t1, written, dropped;
	int i;

	map_ring(path, with_consumer ? 0 : 1u << 24, &r);
	setenv("DISE_RING", path, 1);
	if (with_consumer) {
		a[2] = (struct tp_arg){ &r, 0, -1, &go, &stop };
		pthread_create(&t[2], NULL, drain_thread, &a[2]);
		usleep(10000);
	}
	for (i = 0; i < 2; i++) {
		a[i] = (struct tp_arg){ &r, per_producer, i, &go, NULL };
		pthread_create(&t[i], NULL, tp_thread, &a[i]);
	}
	usleep(10000);
	t0 = now_ns();
	atomic_store(&go, 1);
	for (i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	t1 = now_ns();
	written = dise_ring_stats_of(&r).written;
	dropped = dise_ring_stats_of(&r).dropped;
	if (with_consumer) {
		usleep(200000);
		atomic_store(&stop, 1);
		pthread_join(t[2], NULL);
		printf("  2 producers + consumer on 2 cores, %u slots in %u shards: %6.2f M writes/s attempted, %6.2f M "
		       "records/s committed (%llu dropped, %zu consumed)\n",
		       (unsigned)(r.nslots * r.nshards), r.nshards, (written + dropped) / ((t1 - t0) / 1e3),
		       written / ((t1 - t0) / 1e3),
		       (unsigned long long)dropped, a[2].n);
	} else {
		printf("  2 producers on 2 cores, no consumer:           %6.2f M records/s together (%llu dropped)\n",
		       written / ((t1 - t0) / 1e3), (unsigned long long)dropped);
	}
	dise_ring_unmap(&r);
	unlink(path);
}

int main(int argc, char **argv)
{
	char path[128];
	size_t scale = argc > 1 ? strtoul(argv[1], NULL, 0) : 1;

	snprintf(path, sizeof(path), "/dev/shm/dise-bench-ring-%d", (int)getpid());
	calibrate();
	printf("bench-ring: %ld cores, TSC %.3f GHz\n", sysconf(_SC_NPROCESSORS_ONLN), 1.0 / ns_per_tick);
	latency(path, 1, 1000000 * scale);
	latency(path, 4, 500000 * scale);
	throughput(path, 5000000 * scale, 0);
	throughput(path, 5000000 * scale, 1);
	unlink(path);
	return 0;
}
