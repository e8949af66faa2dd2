/* SPDX-License-Identifier: MIT */
/*
 * The collector against a hostile writer of the ring (issue 10): any process
 * of the user can store anything anywhere in the ring file. Whatever it
 * does, the collector stays bounded (no endless loop, no spinning, stop
 * works), repairs the ring itself, and new runs are stored again. Also: a
 * ring replaced under a running collector, corrupt counters in `dise ring
 * stat`, and the exit summary of a collector whose batches were rolled back.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <setjmp.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "dise/ring.h"
#include "harness.h"

static uint64_t mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * A run of ours put through the ring by hand: START and EXIT of this test's
 * own pid (alive, so never marked vanished), at a start time of its own.
 */
struct hand_run {
	dise_ring *ring;
	uint64_t start;
	int put; /* records put so far */
};

static struct hand_run hand_run(dise_ring *ring)
{
	static uint64_t n;
	struct hand_run h = { ring, mono_now() + ++n, 0 };

	return h;
}

/* Puts what is left of the run; 1 once both records are in (a full or wedged ring drops them: 0). */
static int hand_put(struct hand_run *h)
{
	uint8_t b[512];
	size_t len;

	while (h->put < 2) {
		len = h->put == 0 ? make_start(b, (uint32_t)getpid(), h->start)
				  : make_exit(b, (uint32_t)getpid(), h->start, 0);
		if (dise_ring_put(h->ring, b, (uint32_t)len) != 0)
			return 0;
		h->put++;
	}
	dise_ring_notify(h->ring);
	return 1;
}

/* Put and stored: the ring works again, end to end. */
static int hand_stored(struct fixture *f, struct hand_run *h)
{
	char sql[160];

	if (!hand_put(h))
		return 0;
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM runs WHERE pid = %d AND start_ns = %llu AND outcome = 'ok'",
		 (int)getpid(), (unsigned long long)h->start);
	return db_try_count(f, sql) == 1;
}

static void assert_stored(struct fixture *f, dise_ring *ring, const char *what)
{
	struct hand_run h = hand_run(ring);

	uint32_t k;

	if (wait_for(hand_stored(f, &h), WAIT_MS))
		return;
	for (k = 0; k < ring->nshards; k++)
		print_error("shard %u: head %llu tail %llu dropped %llu\n", k,
			    (unsigned long long)atomic_load(&ring->hdr->shards[k].head),
			    (unsigned long long)atomic_load(&ring->hdr->shards[k].tail),
			    (unsigned long long)atomic_load(&ring->hdr->shards[k].dropped));
	fail_msg("%s: a new run was not stored (%d of its records went into the ring)", what, h.put);
}

/*
 * Is the collector idle: its main thread asleep ('S') for 25 looks in a row,
 * during which the process's CPU time (all threads, in clock ticks) grew by
 * 2 ticks at most? A spinning collector is never 'S' for long, and burns
 * ticks when it is; an idle one passes after some 25 pauses of wait_for.
 */
struct quiet {
	int streak;
	unsigned long long ticks0;
};

static int collector_quiet(pid_t pid, struct quiet *q)
{
	char path[64], buf[1024], *p, state;
	unsigned long long utime, stime;
	FILE *fp;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fp = fopen(path, "r");
	if (!fp)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	/* after "pid (comm)": state, then fields 4..13, then utime (14), stime (15) */
	if (!p || sscanf(p + 2, "%c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &state, &utime, &stime) != 3)
		return 0;
	if (state != 'S' || (q->streak && utime + stime > q->ticks0 + 2)) {
		q->streak = 0;
		return 0;
	}
	if (q->streak == 0)
		q->ticks0 = utime + stime;
	return ++q->streak >= 25;
}

/* After the attack: alive, idle, stops when asked (exit 0), its database intact. */
static void assert_collector_sound(struct fixture *f, pid_t pid)
{
	struct quiet q = { 0 };
	sqlite3 *db;
	sqlite3_stmt *st;
	char *path;
	int status;

	assert_int_equal(waitpid(pid, &status, WNOHANG), 0);
	if (!wait_for(collector_quiet(pid, &q), WAIT_MS))
		fail_msg("the collector does not go idle (it spins)");
	collector_stop(f);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_true(asprintf(&path, "%s/dise.db", f->home) > 0);
	db = db_open(path);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
	sqlite3_finalize(st);
	sqlite3_close(db);
	free(path);
}

/* A collector on f, with its stderr into <dir>/name; the ring mapped by us as a producer. */
static pid_t start_with_ring(struct fixture *f, const char *name, dise_ring *ring, char **log)
{
	pid_t pid;

	assert_true(asprintf(log, "%s/%s", f->dir, name) > 0);
	pid = collector_start(f, "--foreground", NULL, *log);
	assert_int_equal(dise_ring_map(f->ring, DISE_RING_WRITE, 0, 0, ring), 0);
	assert_stored(f, ring, "before anything");
	return pid;
}

/*
 * Observation 1: one 8-byte store (head = 2^62) trapped the collector in an
 * endless loop inside an open write transaction (SIGTERM ignored, a
 * restarted collector spinning again). Now: repaired, journaled, runs
 * stored, the collector idle and stoppable.
 */
static void test_wild_head(void **state)
{
	struct fixture *f = *state;
	dise_ring ring;
	char *log;
	uint32_t k;
	pid_t pid = start_with_ring(f, "wild-head.log", &ring, &log);

	for (k = 0; k < ring.nshards; k++)
		atomic_store(&ring.hdr->shards[k].head, UINT64_C(1) << 62);
	assert_stored(f, &ring, "after head = 2^62");
	assert_true(wait_for(file_has(log, "shard head"), WAIT_MS));
	assert_true(db_count(f, "SELECT count(*) FROM journal WHERE step = 'ring' AND result = 'repaired'") >= 1);
	assert_collector_sound(f, pid);
	dise_ring_unmap(&ring);
	free(log);
}

/*
 * Observation 2: a few stray seq stores ahead of head wedged the ring for
 * good (every producer "full", nothing pending, restarts no help). Now the
 * collector sees drops with nothing to read and frees them, and says so in
 * the journal.
 */
static void test_stray_seq(void **state)
{
	struct fixture *f = *state;
	dise_ring ring;
	char *log;
	uint32_t k;
	uint64_t i;
	pid_t pid = start_with_ring(f, "stray.log", &ring, &log);

	for (k = 0; k < ring.nshards; k++) {
		uint64_t head = atomic_load(&ring.hdr->shards[k].head);

		for (i = 0; i < 3; i++)
			atomic_store(&dise_ring_slot(&ring, k, head + i)->seq, head + 7 + i);
	}
	assert_stored(f, &ring, "after stray seq stores");
	assert_true(db_count(f, "SELECT count(*) FROM journal WHERE step = 'ring' AND result = 'repaired' "
				"AND detail LIKE '%stray slot%'") >= 1);
	assert_collector_sound(f, pid);
	dise_ring_unmap(&ring);
	free(log);
}

/* Every shard's head and tail set to pos, with no collector running (it was stopped: reaped here). */
static void move_cursors(struct fixture *f, pid_t pid, dise_ring *ring, uint64_t pos)
{
	int status;
	uint32_t k;

	collector_stop(f);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	for (k = 0; k < ring->nshards; k++) {
		atomic_store(&ring->hdr->shards[k].tail, pos);
		atomic_store(&ring->hdr->shards[k].head, pos);
	}
}

/*
 * The ring's tail moved back below the collector's stored cursor (here: far
 * ahead first, then back half-way, while no collector ran): records below
 * the old cursor were skipped as "already stored", in silence, until
 * positions caught up with it. A record more than a lap below the cursor is
 * new. (Moved back by less than a lap, new records look like records read
 * again after a restart and are skipped: a hostile writer can lose up to a
 * lap of records that way, as it can by overwriting them.)
 */
static void test_tail_moved_back(void **state)
{
	struct fixture *f = *state;
	dise_ring ring;
	char *log;
	pid_t pid = start_with_ring(f, "tail.log", &ring, &log);

	move_cursors(f, pid, &ring, 1000000);
	pid = collector_start(f, "--foreground", NULL, log);
	assert_stored(f, &ring, "with the cursors far ahead");
	/* back by more than a lap where the collector followed; ahead where it had stored nothing since */
	move_cursors(f, pid, &ring, 500000);
	pid = collector_start(f, "--foreground", NULL, log);
	assert_stored(f, &ring, "with the cursors moved back");
	assert_collector_sound(f, pid);
	dise_ring_unmap(&ring);
	free(log);
}

/* Observation 2, `dise ring stat`: a head moved back printed 18446744073709551613 slots pending. */
static void test_stat_corrupt_counters(void **state)
{
	struct fixture *f = *state;
	char *stat[] = { (char *)bin_path("dise"), "ring", "stat", NULL };
	char *stat_json[] = { (char *)bin_path("dise"), "ring", "stat", "--json", NULL };
	struct run_result r;
	dise_ring ring;
	json_t *j;

	assert_int_equal(dise_ring_map(f->ring, DISE_RING_WRITE | DISE_RING_CREATE, 0, 0, &ring), 0);
	atomic_store(&ring.hdr->shards[0].tail, 5);
	atomic_store(&ring.hdr->shards[0].head, 2);
	dise_cmd(f, stat, &r);
	assert_int_equal(r.status, 0);
	assert_null(strstr(r.out, "18446744073709551613"));
	assert_non_null(strstr(r.out, "(0 slots pending; 1 shard with a head outside its lap"));
	run_result_free(&r);
	j = dise_json(f, stat_json);
	assert_int_equal(json_integer_value(json_object_get(j, "pending_slots")), 0);
	assert_int_equal(json_integer_value(json_object_get(j, "corrupt_shards")), 1);
	json_decref(j);
	/* a head far ahead: no wrapped sums either */
	atomic_store(&ring.hdr->shards[0].head, UINT64_MAX);
	dise_cmd(f, stat, &r);
	assert_non_null(strstr(r.out, "(0 slots pending; 1 shard with a head outside its lap"));
	run_result_free(&r);
	dise_ring_unmap(&ring);
}

/*
 * Observation 9: `dise ring reset` under a running collector left it
 * reading the unlinked file; new runs waited unread until a manual restart.
 * Now it notices (an inode check each idle wakeup) and reads the new ring.
 */
static void test_ring_reset_under_collector(void **state)
{
	struct fixture *f = *state;
	char *reset[] = { (char *)bin_path("dise"), "ring", "reset", NULL };
	char *prog[] = { (char *)prog_path("exitcode"), "0", NULL };
	char sql[128];
	struct run_result r, run;
	dise_ring ring;
	char *log;
	pid_t pid = start_with_ring(f, "reset.log", &ring, &log);

	dise_ring_unmap(&ring);
	dise_cmd(f, reset, &r);
	assert_int_equal(r.status, 0);
	run_result_free(&r);
	/* a watched program after the reset: it makes (or finds) the new ring, and its run is stored */
	assert_transparent(prog, f->ring, NULL, &run);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM runs WHERE pid = %d", (int)run.pid);
	if (!wait_for(db_try_count(f, sql) == 1, WAIT_MS))
		fail_msg("the run after 'dise ring reset' was not stored");
	run_result_free(&run);
	assert_true(db_count(f, "SELECT count(*) FROM journal WHERE step = 'ring' AND result = 'reopened'") >= 1);
	assert_int_equal(dise_ring_map(f->ring, DISE_RING_WRITE, 0, 0, &ring), 0);
	assert_stored(f, &ring, "in the new ring");
	dise_ring_unmap(&ring);
	assert_collector_sound(f, pid);
	free(log);
}

/*
 * Observation 10: the exit summary counted the records of rolled-back
 * batches ("stored 437228 records" for 24,000 stored). A database that
 * cannot grow: every batch rolls back, and the summary says 0.
 */
static void test_summary_counts_commits(void **state)
{
	struct fixture *f = *state;
	char env_pages[64], *log, *out, *p;
	const char *env[] = { env_pages, NULL };
	int64_t stored;
	struct run_result r;
	dise_ring ring;
	uint8_t b[512];
	pid_t pid;
	int i, st;

	collect_once(f, &r); /* an empty database */
	run_result_free(&r);
	assert_int_equal(dise_ring_map(f->ring, DISE_RING_WRITE, 0, 0, &ring), 0);
	for (i = 0; i < 3000; i++) {
		assert_int_equal(dise_ring_put(&ring, b, (uint32_t)make_start(b, 300000 + (uint32_t)i, 5000 + (uint64_t)i)), 0);
		assert_int_equal(dise_ring_put(&ring, b, (uint32_t)make_exit(b, 300000 + (uint32_t)i, 5000 + (uint64_t)i, 0)), 0);
	}
	snprintf(env_pages, sizeof(env_pages), "DISE_TEST_DB_MAX_PAGES=%d", (int)db_count(f, "PRAGMA page_count") + 1);
	assert_true(asprintf(&log, "%s/full.log", f->dir) > 0);
	pid = collector_start(f, "--foreground", env, log);
	assert_true(wait_for(file_has(log, "storing failed (No space left on device), will retry"), WAIT_MS));
	kill(pid, SIGTERM);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	/*
	 * What the summary says was stored is what the database holds: a START
	 * gives a run its execfn, an EXIT its end. (Mostly nothing: a stop
	 * that ends a batch early may commit the few records read by then.)
	 */
	stored = db_count(f, "SELECT count(execfn) + count(end_ns) FROM runs WHERE pid >= 300000 AND pid < 303000");
	out = slurp(log);
	assert_non_null(out);
	p = strstr(out, "dise-collectord: stored ");
	if (!p || strtoll(p + strlen("dise-collectord: stored "), NULL, 10) != stored)
		fail_msg("the summary does not say the %lld records stored: %s", (long long)stored, out);
	free(out);
	free(log);
	dise_ring_unmap(&ring);
}

/* ---- the hostile writer ---- */

static uint64_t rand64(unsigned *seed)
{
	return ((uint64_t)rand_r(seed) << 42) ^ ((uint64_t)rand_r(seed) << 21) ^ (uint64_t)rand_r(seed);
}

/* A value a hostile writer might store near cur: cur itself give or take a little, the extremes, or noise. */
static uint64_t evil_value(unsigned *seed, uint64_t cur)
{
	switch (rand_r(seed) % 6) {
	case 0: return cur + (uint64_t)(rand_r(seed) % 9) - 4;
	case 1: return cur + 1 + (uint64_t)(rand_r(seed) % 4);
	case 2: return UINT64_C(1) << (rand_r(seed) % 64);
	case 3: return UINT64_MAX - (uint64_t)(rand_r(seed) % 3);
	case 4: return (cur + (uint64_t)(rand_r(seed) % 8)) | DISE_SEQ_TORN;
	default: return rand64(seed);
	}
}

/* One store into the header's mutable part (the consumer's line and the shards: not the geometry). */
static void evil_header(dise_ring *ring, unsigned *seed)
{
	size_t off = 64 + 8 * ((size_t)rand_r(seed) % ((sizeof(struct dise_ring_header) - 64) / 8));
	uint64_t *p = (uint64_t *)((char *)ring->hdr + off);

	__atomic_store_n(p, evil_value(seed, __atomic_load_n(p, __ATOMIC_RELAXED)), __ATOMIC_RELAXED);
}

/* One store into a slot near a shard's head (where the consumer and producers are), or anywhere. */
static void evil_slot(dise_ring *ring, unsigned *seed)
{
	uint32_t k = (uint32_t)rand_r(seed) % ring->nshards;
	uint64_t head = atomic_load(&ring->hdr->shards[k].head);
	uint64_t pos = rand_r(seed) % 4 ? head + (uint64_t)(rand_r(seed) % 16) - 8 : rand64(seed);
	struct dise_slot *s = dise_ring_slot(ring, k, pos);

	switch (rand_r(seed) % 3) {
	case 0: atomic_store(&s->seq, evil_value(seed, pos)); break;
	case 1: /* looks committed, with a fragment count of its own */
		s->frag = (uint16_t)(rand_r(seed) % 3);
		s->nfrag = (uint16_t)(rand_r(seed) % 40);
		atomic_store(&s->seq, pos + 1);
		break;
	default: {
		size_t off = (size_t)rand_r(seed) % DISE_SLOT_DATA;

		s->data[off] = (uint8_t)rand_r(seed);
		break;
	}
	}
}

/* A few bytes into the route table the collector publishes (when there is one), or cut it short. */
static void evil_routes(const char *routes, unsigned *seed)
{
	int fd = open(routes, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	uint64_t v = rand64(seed);

	if (fd < 0)
		return;
	if (rand_r(seed) % 8 == 0)
		(void)!ftruncate(fd, rand_r(seed) % 256);
	else
		(void)!pwrite(fd, &v, 1 + (size_t)rand_r(seed) % 8, rand_r(seed) % 512);
	close(fd);
}

/*
 * Random stores into the header, the slots and the route file while the
 * collector runs and honest records keep coming; bounded by iterations.
 * Then: alive, the ring working again (runs by hand and a real watched
 * program stored), idle, stops on request, database intact.
 */
static void test_hostile_writer(void **state)
{
	struct fixture *f = *state;
	const char *s = getenv("DISE_FUZZ_SEED");
	unsigned seed = s ? (unsigned)strtoul(s, NULL, 0) : 20261127u;
	char *prog[] = { (char *)prog_path("exitcode"), "3", NULL };
	char routes[DISE_PATH_MAX], sql[128];
	struct run_result run;
	dise_ring ring;
	char *log;
	int i;
	pid_t pid = start_with_ring(f, "hostile.log", &ring, &log);

	print_message("hostile writer: seed %u (DISE_FUZZ_SEED)\n", seed);
	assert_int_equal(dise_routes_path(f->ring, routes, sizeof(routes)), 0);
	for (i = 0; i < 30000; i++) {
		unsigned c = (unsigned)rand_r(&seed) % 16;

		if (c < 3) {
			evil_header(&ring, &seed);
		} else if (c < 9) {
			evil_slot(&ring, &seed);
		} else if (c < 10) {
			evil_routes(routes, &seed);
		} else {
			struct hand_run h = hand_run(&ring);

			hand_put(&h); /* honest traffic: stored or dropped, whatever the ring's state */
		}
	}
	assert_int_equal(waitpid(pid, &i, WNOHANG), 0);
	assert_stored(f, &ring, "after the hostile writer");
	assert_transparent(prog, f->ring, NULL, &run);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM runs WHERE pid = %d AND exit_status = 3", (int)run.pid);
	if (!wait_for(db_try_count(f, sql) == 1, WAIT_MS))
		fail_msg("a watched program's run was not stored after the hostile writer");
	run_result_free(&run);
	assert_collector_sound(f, pid);
	dise_ring_unmap(&ring);
	free(log);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_wild_head, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_stray_seq, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_tail_moved_back, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_stat_corrupt_counters, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_ring_reset_under_collector, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_summary_counts_commits, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_hostile_writer, fixture_setup, fixture_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
