/* SPDX-License-Identifier: MIT */
/*
 * Who wakes a gathering collector, end to end (ring.h, DISE_WAKE_*), and how
 * a stop ends its gather:
 *   - `dise run` wakes it only for an end that may be a strike, as the shim
 *     does (an ok run's records wait for the gather's end), and a quiet
 *     collector (waiting for any record) for any end;
 *   - a watched parent's REAP of a child whose own failing EXIT the
 *     collector already read wakes nothing; the REAP of a child that wrote
 *     no end (SIGKILL) still does;
 *   - a stop ends the gather's sleep at once, even one handled right
 *     before the sleep, and the records gathered are stored.
 * The test plays the sleeping consumer where it can: it holds the ring's
 * consumer lock (no collector consumes it) and sets the wake word as a
 * consumer would; whether a producer woke is whether it took the word back
 * to 0. Nothing here waits for a time: a sleep nobody ends fails by
 * wait_for's deadline.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "dise/ring.h"
#include "harness.h"

/* The fixture's ring, mapped, with its consumer lock held here. */
struct held {
	dise_ring r;
	dise_ring_reader *rd;
};

static void hold(struct fixture *f, struct held *h)
{
	assert_int_equal(dise_ring_map(f->ring, DISE_RING_WRITE | DISE_RING_CREATE, 0, 0, &h->r), 0);
	assert_int_equal(dise_ring_reader_new(f->ring, 0, 0, &h->rd), 0);
}

static void unhold(struct held *h)
{
	dise_ring_reader_free(h->rd);
	dise_ring_unmap(&h->r);
}

static uint32_t word(const dise_ring *r)
{
	return atomic_load(&r->hdr->wake);
}

/* Reads (and releases) what the ring holds: how many records, and whether one was of type for pid (a REAP: of child pid). */
static int drain(struct held *h, unsigned type, uint32_t pid, int *found)
{
	static uint8_t buf[DISE_RECORD_MAX];
	size_t len;
	uint64_t id;
	int n = 0;

	while (dise_ring_read(h->rd, buf, sizeof(buf), &len, &id) == 1) {
		struct dise_rec_reap w;

		n++;
		memcpy(&w, buf, len < sizeof(w) ? len : sizeof(w));
		if (found && w.h.type == type && (type == DISE_REC_REAP ? w.child_pid : w.h.pid) == pid)
			*found = 1;
	}
	assert_int_equal(dise_ring_release(h->rd), 0);
	return n;
}

static int drained_has(struct held *h, unsigned type, uint32_t pid)
{
	int found = 0;

	drain(h, type, pid, &found);
	return found;
}

static void dise_run(struct fixture *f, const char *tool, const char *arg, int want_status)
{
	char *argv[] = { (char *)bin_path("dise"), "run", (char *)tool, (char *)arg, NULL };
	struct run_result r;

	dise_cmd(f, argv, &r);
	assert_true(WIFEXITED(r.status));
	assert_int_equal(WEXITSTATUS(r.status), want_status);
	run_result_free(&r);
}

/* `dise run`: an ok end leaves a gathering consumer asleep, a failing end wakes it, any end wakes a quiet one. */
static void test_run_wakes_for_ends(void **state)
{
	struct fixture *f = *state;
	struct held h;

	hold(f, &h);
	atomic_store(&h.r.hdr->wake, DISE_WAKE_URGENT);
	dise_run(f, "/bin/true", NULL, 0); /* dise run's START and EXIT, and the shim's in /bin/true */
	assert_int_equal(word(&h.r), DISE_WAKE_URGENT);
	assert_true(drain(&h, 0, 0, NULL) >= 2);

	dise_run(f, prog_path("static-exit"), "3", 3); /* no shim in a static program: dise run's records alone */
	assert_int_equal(word(&h.r), DISE_WAKE_NONE);
	assert_true(drain(&h, 0, 0, NULL) >= 2);

	atomic_store(&h.r.hdr->wake, DISE_WAKE_ANY);
	dise_run(f, prog_path("static-exit"), "0", 0);
	assert_int_equal(word(&h.r), DISE_WAKE_NONE);
	unhold(&h);
}

/* A watched waiter (the shim) told cmd: its pid, stdin to write and stdout to read. */
struct watched {
	pid_t pid;
	int in;
	FILE *out;
};

static void watched_start(struct fixture *f, struct watched *w, const char *cmd)
{
	int in[2], out[2];
	char line[256];

	assert_int_equal(pipe2(in, O_CLOEXEC), 0);
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	w->pid = fork();
	assert_true(w->pid >= 0);
	if (w->pid == 0) {
		char *argv[] = { (char *)prog_path("waiter"), NULL };

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(in[0], 0);
		dup2(out[1], 1);
		setenv("LD_PRELOAD", shim_path(), 1);
		setenv("DISE_RING", f->ring, 1);
		execv(argv[0], argv);
		_exit(127);
	}
	track_child(w->pid);
	close(in[0]);
	close(out[1]);
	w->in = in[1];
	w->out = fdopen(out[0], "r");
	assert_non_null(w->out);
	assert_non_null(fgets(line, sizeof(line), w->out));
	assert_int_equal(strncmp(line, "ready ", 6), 0);
	assert_int_equal(write(w->in, cmd, strlen(cmd)), (ssize_t)strlen(cmd));
}

/* The pid of the child the waiter forked ("child PID"). */
static uint32_t watched_child(struct watched *w)
{
	char line[256];
	int pid = 0;

	assert_non_null(fgets(line, sizeof(line), w->out));
	assert_int_equal(sscanf(line, "child %d", &pid), 1);
	return (uint32_t)pid;
}

/* Closes its stdin (it reaps its child then) and waits for it to end well. */
static void watched_finish(struct watched *w)
{
	int st;

	close(w->in);
	while (waitpid(w->pid, &st, 0) < 0)
		assert_int_equal(errno, EINTR);
	fclose(w->out);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

static int zombie(uint32_t pid)
{
	char path[64], *s;
	int z;

	snprintf(path, sizeof(path), "/proc/%u/stat", pid);
	s = slurp(path);
	z = s && strstr(s, ") Z ") != NULL;
	free(s);
	return z;
}

/*
 * The shim's REAP: after its child's own failing EXIT, read by the consumer
 * (which tells producers so as it sleeps), it leaves a gathering consumer
 * asleep; a child killed by SIGKILL wrote no end, and its REAP wakes it.
 */
static void test_reap_after_own_end(void **state)
{
	struct fixture *f = *state;
	struct watched w;
	struct held h;
	uint32_t child;

	hold(f, &h);
	watched_start(f, &w, "fork-hold 3\n");
	child = watched_child(&w);
	assert_true(wait_for(drained_has(&h, DISE_REC_EXIT, child), WAIT_MS));
	dise_ring_reader_wait_urgent(h.rd, 0, NULL); /* the consumer sleeps (no time): it tells the producers what it read */
	atomic_store(&h.r.hdr->wake, DISE_WAKE_URGENT);
	watched_finish(&w);
	assert_int_equal(word(&h.r), DISE_WAKE_URGENT);
	assert_true(drained_has(&h, DISE_REC_REAP, child)); /* stored all the same, with the gather */

	watched_start(f, &w, "fork-hold -9\n");
	child = watched_child(&w);
	assert_true(wait_for(zombie(child), WAIT_MS));
	drain(&h, 0, 0, NULL);
	dise_ring_reader_wait_urgent(h.rd, 0, NULL);
	atomic_store(&h.r.hdr->wake, DISE_WAKE_URGENT);
	watched_finish(&w);
	assert_int_equal(word(&h.r), DISE_WAKE_NONE);
	assert_true(drained_has(&h, DISE_REC_REAP, child));
	unhold(&h);
}

static void put(dise_ring *r, const void *rec, size_t len)
{
	assert_int_equal(dise_ring_put(r, rec, (uint32_t)len), 0);
}

/*
 * A collector that gathers (a gather of 60 s here: only what should end it
 * does) with two records in hand: an ok EXIT and its parent's failing REAP
 * (which wakes it; right after the child's own EXIT it ends nothing).
 * Returns the collector's pid; r is the ring, mapped.
 */
static pid_t gathering(struct fixture *f, const char *const env[], const char *errlog, dise_ring *r, int wait_sleep)
{
	uint8_t b[512];
	struct dise_rec_reap w;
	pid_t pid = collector_start(f, "--foreground", env, errlog);

	assert_int_equal(dise_ring_map(f->ring, DISE_RING_WRITE, 0, 0, r), 0);
	put(r, b, make_exit(b, 4100001, 1000, 0));
	dise_ring_notify_record(r, 0); /* a quiet collector: stored at once, then it gathers what comes next */
	assert_true(wait_for(word(r) == DISE_WAKE_URGENT, WAIT_MS));
	assert_int_equal(db_try_count(f, "SELECT count(*) FROM runs WHERE pid = 4100001"), 1);
	put(r, b, make_exit(b, 4100002, 2000, 0));
	memset(&w, 0, sizeof(w));
	w.h.size = sizeof(w);
	w.h.type = DISE_REC_REAP;
	w.h.hdr_size = sizeof(w.h);
	w.h.pid = w.h.tid = 4100003;
	w.h.run_start_ns = 3000;
	w.h.mono_ns = 4000;
	w.child_pid = 4100002;
	w.status = 1 << 8;
	put(r, &w, sizeof(w));
	dise_ring_notify(r); /* takes the word back to 0: URGENT again is the gather's next sleep */
	if (wait_sleep)
		assert_true(wait_for(word(r) == DISE_WAKE_URGENT, WAIT_MS));
	return pid;
}

/* The collector gone, with status 0, having stored the gather's two records (and the first one). */
static void stopped_with_gather_stored(struct fixture *f, pid_t pid, const char *errlog)
{
	int st = 0;

	assert_true(wait_for(waitpid(pid, &st, WNOHANG) == pid, WAIT_MS));
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_int_equal(db_count(f, "SELECT count(*) FROM runs WHERE pid = 4100002"), 1);
	assert_true(file_has(errlog, "stored 3 records"));
}

/* SIGTERM while the collector sleeps in a gather: the sleep ends, the gather is stored. */
static void test_stop_while_gathering(void **state)
{
	struct fixture *f = *state;
	static const char *const env[] = { "DISE_TEST_GATHER_MS=60000", NULL };
	char errlog[4200];
	dise_ring r;
	pid_t pid;

	snprintf(errlog, sizeof(errlog), "%s/collector.err", f->dir);
	pid = gathering(f, env, errlog, &r, 1);
	assert_int_equal(kill(pid, SIGTERM), 0);
	stopped_with_gather_stored(f, pid, errlog);
	dise_ring_unmap(&r);
}

/*
 * The stop handled at the worst moment: after the gather looked at the
 * flag, before it sleeps (DISE_TEST_STOP_IN_GATHER raises it there). The
 * sleep must not begin: a gather of 60 s slept through fails wait_for.
 */
static void test_stop_just_before_gather_sleep(void **state)
{
	struct fixture *f = *state;
	static const char *const env[] = { "DISE_TEST_GATHER_MS=60000", "DISE_TEST_STOP_IN_GATHER=1", NULL };
	char errlog[4200];
	dise_ring r;
	pid_t pid;

	snprintf(errlog, sizeof(errlog), "%s/collector.err", f->dir);
	pid = gathering(f, env, errlog, &r, 0);
	stopped_with_gather_stored(f, pid, errlog);
	dise_ring_unmap(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_run_wakes_for_ends, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_reap_after_own_end, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_stop_while_gathering, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_stop_just_before_gather_sleep, fixture_setup, fixture_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
