/* SPDX-License-Identifier: MIT */
/*
 * The ring's wake-ups (ring.h, DISE_WAKE_*): what a producer's notify does
 * with each word the consumer may leave, and a consumer asleep in each mode
 * woken (or not) by a producer process, the way the collector sleeps:
 * idle for any record, gathering a stream for one that may be a strike.
 * Each sleeper is woken by what the test's producer does, never by a timer:
 * a sleep that is not woken ends by an alarm, and fails the test. The
 * lost-wakeup window of both waits (a record or the flag before the wait
 * said it sleeps) is test-ring's test_wait_unless.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "dise/ring.h"
#include "harness.h" /* wait_for() */
#include "ring-fixture.h"

#define ALARM_S 20 /* a sleeper nothing woke: ended by the alarm, a failure */

/* A record of the kind the shim writes: EXIT or REAP with a status, else a bare header (START, EXEC...). */
static int put_rec(dise_ring *r, uint16_t type, int32_t status)
{
	union {
		struct dise_rec_exit e;
		struct dise_rec_reap w;
		struct dise_rec_hdr h;
	} u;
	uint32_t len = type == DISE_REC_EXIT ? sizeof(u.e) : type == DISE_REC_REAP ? sizeof(u.w) : sizeof(u.h) + 16;

	memset(&u, 0, sizeof(u));
	u.h.size = len;
	u.h.type = type;
	u.h.hdr_size = sizeof(u.h);
	u.h.pid = u.h.tid = 4242;
	if (type == DISE_REC_EXIT)
		u.e.status = status;
	else if (type == DISE_REC_REAP)
		u.w.status = status;
	return dise_ring_put(r, &u, len);
}

/* put_rec, then the notify the shim makes for that record */
static void produce(dise_ring *r, uint16_t type, int32_t status)
{
	assert_int_equal(put_rec(r, type, status), 0);
	dise_ring_notify_record(r, dise_ring_urgent(type, status));
}

static uint32_t word(const dise_ring *r)
{
	return atomic_load(&r->hdr->wake);
}

/* The records waiting, read (and released); how many. */
static int drain(dise_ring_reader *rd)
{
	static uint8_t buf[DISE_RECORD_MAX];
	size_t len;
	uint64_t id;
	int n = 0;

	while (dise_ring_read(rd, buf, sizeof(buf), &len, &id) == 1)
		n++;
	assert_int_equal(dise_ring_release(rd), 0);
	return n;
}

/* Which records may be a strike: coarser than the collector, never finer (collector/outcome.c). */
static void test_urgent_records(void **state)
{
	(void)state;
	assert_true(dise_ring_urgent(DISE_REC_CRASH, 0));
	assert_true(dise_ring_urgent(DISE_REC_EXIT, 1));
	assert_true(dise_ring_urgent(DISE_REC_EXIT, 256)); /* the kernel keeps 0: a wake too many, allowed */
	assert_true(dise_ring_urgent(DISE_REC_REAP, 1 << 8)); /* exited 1 */
	assert_true(dise_ring_urgent(DISE_REC_REAP, SIGSEGV)); /* killed by a signal */
	assert_true(dise_ring_urgent(DISE_REC_REAP, SIGTERM));
	assert_false(dise_ring_urgent(DISE_REC_EXIT, 0));
	assert_false(dise_ring_urgent(DISE_REC_REAP, 0));
	assert_false(dise_ring_urgent(DISE_REC_START, 0));
	assert_false(dise_ring_urgent(DISE_REC_EXEC, 0));
}

/*
 * The producer's side, word by word (nobody sleeps: the word says whether
 * the producer woke, it takes it back to 0 when it does): idle (1) wakes
 * for any record, gathering (2) only for an urgent one or a shard filling,
 * awake (0) never, any other value (a hostile writer's) as 1.
 */
static void test_notify_words(void **state)
{
	dise_ring r;
	dise_ring_reader *rd;
	int i;

	(void)state;
	assert_int_equal(dise_ring_map(ring_path, DISE_RING_WRITE | DISE_RING_CREATE, 256, 1, &r), 0);
	assert_int_equal(dise_ring_reader_new(ring_path, 0, 0, &rd), 0);
	atomic_store(&r.hdr->wake, DISE_WAKE_NONE);
	produce(&r, DISE_REC_EXIT, 1);
	assert_int_equal(word(&r), DISE_WAKE_NONE);

	atomic_store(&r.hdr->wake, DISE_WAKE_ANY);
	produce(&r, DISE_REC_START, 0);
	assert_int_equal(word(&r), DISE_WAKE_NONE);

	atomic_store(&r.hdr->wake, DISE_WAKE_URGENT);
	produce(&r, DISE_REC_START, 0);
	produce(&r, DISE_REC_EXEC, 0);
	produce(&r, DISE_REC_EXIT, 0);
	produce(&r, DISE_REC_REAP, 0);
	assert_int_equal(word(&r), DISE_WAKE_URGENT); /* nothing that may be a strike: no wake */
	produce(&r, DISE_REC_REAP, SIGSEGV);
	assert_int_equal(word(&r), DISE_WAKE_NONE);
	atomic_store(&r.hdr->wake, DISE_WAKE_URGENT);
	produce(&r, DISE_REC_CRASH, 0);
	assert_int_equal(word(&r), DISE_WAKE_NONE);
	atomic_store(&r.hdr->wake, DISE_WAKE_URGENT);
	dise_ring_notify(&r); /* the collector's own threads: whatever it waits for */
	assert_int_equal(word(&r), DISE_WAKE_NONE);

	atomic_store(&r.hdr->wake, 7); /* nothing a consumer writes: read as any */
	produce(&r, DISE_REC_START, 0);
	assert_int_equal(word(&r), DISE_WAKE_NONE);

	/* a shard filling wakes a gathering consumer whatever the record: 1/DISE_WAKE_FILL of its 256 slots unreleased */
	assert_true(drain(rd) > 0);
	atomic_store(&r.hdr->wake, DISE_WAKE_URGENT);
	for (i = 0; i < 256 / (int)DISE_WAKE_FILL - 1; i++)
		produce(&r, DISE_REC_START, 0);
	assert_int_equal(word(&r), DISE_WAKE_URGENT);
	produce(&r, DISE_REC_START, 0);
	assert_int_equal(word(&r), DISE_WAKE_NONE);
	dise_ring_reader_free(rd);
	dise_ring_unmap(&r);
}

/* An EXIT of pid or a REAP of child pid, at ms (CLOCK_MONOTONIC), by dise_ring_put_record (its notify as the record asks). */
static void put_end(dise_ring *r, uint16_t type, uint32_t pid, int32_t status, uint64_t ms)
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
	u.e.h.mono_ns = ms * 1000000u + 999999u;
	u.e.h.pid = u.e.h.tid = type == DISE_REC_EXIT ? pid : 1;
	if (type == DISE_REC_EXIT)
		u.e.status = status;
	else
		u.w.child_pid = pid, u.w.status = status;
	assert_int_equal(dise_ring_put_record(r, &u, len), 0);
}

/* The consumer reads what waits, then says it gathers (its sleep, of no time, tells the producers what it read). */
static void read_then_gather(dise_ring *r, dise_ring_reader *rd)
{
	drain(rd);
	assert_int_equal(dise_ring_reader_wait_urgent(rd, 0, NULL), 0);
	atomic_store(&r->hdr->wake, DISE_WAKE_URGENT);
}

/*
 * A REAP after its child's own failing EXIT, read by the consumer, leaves a
 * gathering consumer asleep (the EXIT woke it; the run has its end): a
 * shell's failing child woke the gather twice. Any other failing REAP wakes
 * it: a child with no end read (SIGKILL, unwatched), a pid whose end is
 * older than DISE_ENDED_MS (the pid used again), an end read as ok; and an
 * idle consumer wakes for any record. put_record's urgency is the shim's
 * (dise_ring_urgent) for the other records.
 */
static void test_reap_after_end_read(void **state)
{
	const uint64_t t = 5000000; /* ms */
	dise_ring r;
	dise_ring_reader *rd;

	(void)state;
	assert_int_equal(dise_ring_map(ring_path, DISE_RING_WRITE | DISE_RING_CREATE, 256, 1, &r), 0);
	assert_int_equal(dise_ring_reader_new(ring_path, 0, 0, &rd), 0);
	atomic_store(&r.hdr->wake, DISE_WAKE_URGENT);
	put_end(&r, DISE_REC_EXIT, 4242, 3, t);
	assert_int_equal(word(&r), DISE_WAKE_NONE); /* the failing EXIT wakes it */
	read_then_gather(&r, rd);
	put_end(&r, DISE_REC_REAP, 4242, 3 << 8, t + 2);
	assert_int_equal(word(&r), DISE_WAKE_URGENT); /* its REAP: nothing new */
	put_end(&r, DISE_REC_REAP, 4242, SIGKILL, t + DISE_ENDED_MS - 1);
	assert_int_equal(word(&r), DISE_WAKE_URGENT);

	put_end(&r, DISE_REC_REAP, 4343, 3 << 8, t + 2); /* no end of 4343 read: unwatched, or killed */
	assert_int_equal(word(&r), DISE_WAKE_NONE);
	atomic_store(&r.hdr->wake, DISE_WAKE_URGENT);
	put_end(&r, DISE_REC_REAP, 4242, 3 << 8, t + DISE_ENDED_MS); /* too late: 4242 may be another process now */
	assert_int_equal(word(&r), DISE_WAKE_NONE);
	atomic_store(&r.hdr->wake, DISE_WAKE_ANY);
	put_end(&r, DISE_REC_REAP, 4242, 3 << 8, t + 2); /* idle: any record */
	assert_int_equal(word(&r), DISE_WAKE_NONE);

	put_end(&r, DISE_REC_EXIT, 4444, 0, t); /* an ok end, then a failing REAP (killed after its EXIT) */
	read_then_gather(&r, rd);
	put_end(&r, DISE_REC_EXIT, 4545, 0, t);
	assert_int_equal(word(&r), DISE_WAKE_URGENT);
	put_end(&r, DISE_REC_REAP, 4444, SIGKILL, t + 2);
	assert_int_equal(word(&r), DISE_WAKE_NONE);
	dise_ring_reader_free(rd);
	dise_ring_unmap(&r);
}

/* State of process pid (/proc/PID/stat), '?' when unknown. */
static char proc_state(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (!(f = fopen(path, "r")))
		return '?';
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : '?';
}

/* The consumer (our parent) says it waits for want and sleeps: past its look at the ring, in the futex. */
static int asleep(const dise_ring *r, pid_t consumer, uint32_t want)
{
	return word(r) == want && proc_state(consumer) == 'S';
}

/* What a producer process does once the consumer sleeps; its exit status is the child's verdict (0: fine). */
typedef int (*producer_fn)(dise_ring *r);

/*
 * Forks a producer that waits until this process sleeps on the ring for
 * want (DISE_WAKE_ANY: dise_ring_reader_wait_unless, DISE_WAKE_URGENT:
 * dise_ring_reader_wait_urgent), then runs fn, which must wake it (else the
 * alarm ends the sleep: the test fails). The records it wrote are read.
 */
static void sleep_until_woken(dise_ring *r, dise_ring_reader *rd, uint32_t want, producer_fn fn, int records,
			      const char *what)
{
	pid_t parent = getpid(), pid;
	int st, ret, woke_by_alarm;

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (!wait_for(asleep(r, parent, want), WAIT_MS))
			_exit(90); /* it never slept */
		_exit(fn(r));
	}
	alarm_on(ALARM_S);
	ret = want == DISE_WAKE_URGENT ? dise_ring_reader_wait_urgent(rd, 600000, NULL)
				       : dise_ring_reader_wait_unless(rd, 600000, NULL);
	if ((woke_by_alarm = alarm_off()))
		kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (woke_by_alarm)
		fail_msg("%s: the consumer slept on (ended by the alarm)", what);
	assert_int_equal(ret, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail_msg("%s: the producer says %d (90: the consumer never slept; 1: a record it must not wake for woke it)",
			 what, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	assert_int_equal(drain(rd), records);
}

/* An ok end, then a failing one: only the second may wake a gather (the first leaves the word as it was). */
static int ok_then_failing_exit(dise_ring *r)
{
	produce(r, DISE_REC_START, 0);
	produce(r, DISE_REC_EXIT, 0);
	produce(r, DISE_REC_REAP, 0);
	if (word(r) != DISE_WAKE_URGENT)
		return 1;
	produce(r, DISE_REC_EXIT, 3);
	return 0;
}

static int crash(dise_ring *r)
{
	produce(r, DISE_REC_CRASH, 0);
	return 0;
}

static int reap_of_killed_child(dise_ring *r)
{
	produce(r, DISE_REC_REAP, SIGABRT);
	return 0;
}

static int ok_exit(dise_ring *r)
{
	produce(r, DISE_REC_EXIT, 0);
	return 0;
}

/* A producer built before DISE_WAKE_URGENT: any nonzero word wakes (its dise_ring_notify, as it was). */
static int old_producer_ok_exit(dise_ring *r)
{
	_Atomic uint32_t *w = &r->hdr->wake;

	assert_int_equal(put_rec(r, DISE_REC_EXIT, 0), 0);
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(w, memory_order_relaxed) && atomic_exchange_explicit(w, 0, memory_order_seq_cst))
		syscall(SYS_futex, w, FUTEX_WAKE, 1, NULL, NULL, 0);
	return 0;
}

/*
 * A consumer gathering a stream (DISE_WAKE_URGENT) sleeps through ok ends,
 * and is woken at once by what may be a strike: a failing exit, a crash, a
 * reap of a child a signal killed; an idle one (DISE_WAKE_ANY) by any
 * record; a producer of before the urgent word by any record, whatever the
 * consumer waits for. Fails when a producer ignores an urgent record while
 * the consumer gathers (it would sleep until the alarm), and when it wakes
 * the gathering consumer for an ok end.
 */
static void test_sleeper_woken(void **state)
{
	dise_ring r;
	dise_ring_reader *rd;

	(void)state;
	assert_int_equal(dise_ring_map(ring_path, DISE_RING_WRITE | DISE_RING_CREATE, 256, 1, &r), 0);
	assert_int_equal(dise_ring_reader_new(ring_path, 0, 0, &rd), 0);
	sleep_until_woken(&r, rd, DISE_WAKE_URGENT, ok_then_failing_exit, 4, "a failing exit while gathering");
	sleep_until_woken(&r, rd, DISE_WAKE_URGENT, crash, 1, "a crash while gathering");
	sleep_until_woken(&r, rd, DISE_WAKE_URGENT, reap_of_killed_child, 1, "a reap of a killed child while gathering");
	sleep_until_woken(&r, rd, DISE_WAKE_ANY, ok_exit, 1, "an ok exit while idle");
	sleep_until_woken(&r, rd, DISE_WAKE_URGENT, old_producer_ok_exit, 1, "an old producer while gathering");
	dise_ring_reader_free(rd);
	dise_ring_unmap(&r);
}

/*
 * A hostile process of the user turns an idle consumer's word into
 * DISE_WAKE_URGENT: an ok record then does not wake it (as a hostile 0
 * never could be helped either), but the sleep ends by its timeout and the
 * record is read: late, never lost.
 */
static void test_hostile_word(void **state)
{
	dise_ring r;
	dise_ring_reader *rd;
	pid_t pid, parent = getpid();
	int st;

	(void)state;
	assert_int_equal(dise_ring_map(ring_path, DISE_RING_WRITE | DISE_RING_CREATE, 64, 1, &r), 0);
	assert_int_equal(dise_ring_reader_new(ring_path, 0, 50, &rd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (!wait_for(asleep(&r, parent, DISE_WAKE_ANY), WAIT_MS))
			_exit(90);
		atomic_store(&r.hdr->wake, DISE_WAKE_URGENT);
		produce(&r, DISE_REC_EXIT, 0);
		_exit(0);
	}
	/* sleeps of 200 ms until the record is read: the timeout ends the one the hostile word kept asleep */
	assert_true(wait_for((dise_ring_reader_wait(rd, 200), drain(rd) == 1), WAIT_MS));
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_int_equal(word(&r), DISE_WAKE_NONE);
	dise_ring_reader_free(rd);
	dise_ring_unmap(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_urgent_records),
		cmocka_unit_test_setup_teardown(test_notify_words, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sleeper_woken, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_word, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reap_after_end_read, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
