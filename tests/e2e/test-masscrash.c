/* SPDX-License-Identifier: MIT */
/*
 * A crash on many threads at once (issue 10, observation 12): the process
 * dies of the signal it would have died of without dise, exactly one CRASH
 * record (the first crash's) is written for the run, and the threads that
 * crashed second wait for it without polling. How long it takes is
 * bench/bench-masscrash.c's to say, not a test's; what is checked here is
 * that the waiting threads sleep instead of waking up again and again: the
 * process's voluntary context switches (from wait4) stay a few per thread.
 * Polling every millisecond, as before, cost hundreds per thread, while the
 * first thread's capture was starved of CPU by them.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "harness.h"

#define THREADS 1000
/* Per thread: its start, the barrier, the handler's one sleep, plus lock contention on a busy machine. */
#define SWITCHES_PER_THREAD 20

static void run_masscrash(struct fixture *f, const char *threads, struct run_result *ret)
{
	char *argv[] = { (char *)prog_path("masscrash"), (char *)threads, NULL };
	char *pre;
	const char *env[3];

	assert_true(asprintf(&pre, "LD_PRELOAD=%s", shim_path()) > 0);
	env[0] = pre;
	env[1] = f->env_ring;
	env[2] = NULL;
	assert_int_equal(run_cmd(argv, env, NULL, ret), 0);
	free(pre);
}

static void test_masscrash(void **state)
{
	struct fixture *f = *state;
	struct run_result plain, r;
	struct rec_list l;
	const struct dise_record *c;
	char *argv[] = { (char *)prog_path("masscrash"), "4", NULL };
	char n[16];

	/* without the shim: the death to match */
	assert_int_equal(run_cmd(argv, NULL, NULL, &plain), 0);
	assert_true(WIFSIGNALED(plain.status));
	assert_int_equal(WTERMSIG(plain.status), SIGSEGV);

	snprintf(n, sizeof(n), "%d", THREADS);
	run_masscrash(f, n, &r);
	assert_true(WIFSIGNALED(r.status));
	assert_int_equal(WTERMSIG(r.status), SIGSEGV);
	assert_string_equal(r.out, plain.out);
	assert_string_equal(r.err, plain.err);

	read_ring(f->ring, &l);
	assert_int_equal(count_recs(&l, r.pid, DISE_REC_START), 1);
	assert_int_equal(count_recs(&l, r.pid, DISE_REC_CRASH), 1);
	assert_int_equal(count_recs(&l, r.pid, DISE_REC_EXIT), 0);
	c = find_rec(&l, r.pid, DISE_REC_CRASH);
	assert_int_equal(c->u.crash.signo, SIGSEGV);
	assert_int_not_equal(c->hdr.tid, c->hdr.pid); /* a thread's, not the main thread's */
	assert_true(c->u.crash.stack_len > 0);
	rec_list_free(&l);

	if (r.ru.ru_nvcsw > (long)THREADS * SWITCHES_PER_THREAD) {
		print_error("%ld voluntary context switches for %d crashing threads: the waiters poll\n", r.ru.ru_nvcsw,
			    THREADS);
		fail();
	}
	print_message("%d threads: %ld voluntary context switches\n", THREADS, r.ru.ru_nvcsw);
	run_result_free(&plain);
	run_result_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_masscrash, fixture_setup, fixture_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
