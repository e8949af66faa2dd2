/* SPDX-License-Identifier: MIT */
/*
 * The collector: real runs end to end into SQLite, records of one run in any
 * order, one collector per state directory, a clean stop on SIGTERM, and no
 * record lost or stored twice when the collector is SIGKILLed in the middle
 * of a 100 000-record load and started again.
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
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "dise/ring.h"
#include "harness.h"
#include "ingest.h"
#include "known.h"
#include "record.h"
#include "resolve.h"
#include "sha256.h"
#include "store.h"


static json_t *runs_json(struct fixture *f)
{
	char *argv[] = { (char *)bin_path("dise"), "runs", "--json", "--limit", "100000", NULL };

	return dise_json(f, argv);
}

static json_t *find_run(json_t *runs, pid_t pid, const char *outcome)
{
	size_t i;

	for (i = 0; i < json_array_size(runs); i++) {
		json_t *o = json_array_get(runs, i);

		if (json_integer_value(json_object_get(o, "pid")) == pid &&
		    (!outcome || !strcmp(json_string_value(json_object_get(o, "outcome")), outcome)))
			return o;
	}
	return NULL;
}

static void test_end_to_end(void **state)
{
	struct fixture *f = *state;
	char *ok[] = { "/bin/true", NULL };
	char *fail[] = { "/bin/sh", "-c", "exit 3", NULL };
	char *crash[] = { (char *)prog_path("crasher"), "segv", NULL };
	char *chain[] = { (char *)prog_path("execchain"), "1", NULL };
	char *fork[] = { (char *)prog_path("forker"), NULL };
	struct run_result a, b, c, d, e, col;
	json_t *runs, *o;

	assert_transparent(ok, f->ring, NULL, &a);
	assert_transparent(fail, f->ring, NULL, &b);
	assert_transparent(crash, f->ring, NULL, &c);
	assert_transparent(chain, f->ring, NULL, &d);
	assert_transparent(fork, f->ring, NULL, &e);
	collect_once(f, &col);
	run_result_free(&col);
	runs = runs_json(f);

	assert_non_null(find_run(runs, a.pid, "ok"));
	o = find_run(runs, b.pid, "fail");
	assert_non_null(o);
	assert_int_equal(json_integer_value(json_object_get(o, "exit_status")), 3);
	o = find_run(runs, c.pid, "crash");
	assert_non_null(o);
	assert_int_equal(json_integer_value(json_object_get(o, "signal")), SIGSEGV);
	assert_non_null(json_object_get(o, "crash_signature"));
	/* the exec chain: two images ended by exec, the last one (echo) ok and linked to them */
	assert_non_null(find_run(runs, d.pid, "exec"));
	o = find_run(runs, d.pid, "ok");
	assert_non_null(o);
	/* a tool is the path it was invoked at, absolute */
	assert_true(json_string_value(json_object_get(o, "tool"))[0] == '/');
	assert_non_null(strstr(json_string_value(json_object_get(o, "tool")), "/echo"));
	assert_non_null(json_object_get(o, "exec_parent"));
	/* three forked children, each a run of its own */
	{
		size_t i, kids = 0;

		for (i = 0; i < json_array_size(runs); i++) {
			json_t *k = json_array_get(runs, i);

			if (json_integer_value(json_object_get(k, "ppid")) == e.pid &&
			    json_is_true(json_object_get(k, "forked")))
				kids++;
		}
		assert_int_equal(kids, 3);
	}
	json_decref(runs);

	/* a second pass finds nothing new and stores nothing twice */
	collect_once(f, &col);
	assert_non_null(strstr(col.err, "stored 0 records"));
	run_result_free(&col);
	run_result_free(&a);
	run_result_free(&b);
	run_result_free(&c);
	run_result_free(&d);
	run_result_free(&e);
}

/* Three crashes at one place make one group; another place another; a SIGKILLed run vanished. */
static void test_crash_groups_and_vanished(void **state)
{
	struct fixture *f = *state;
	char *segv[] = { (char *)prog_path("crasher"), "segv", NULL };
	char *abrt[] = { (char *)prog_path("crasher"), "abort", NULL };
	char *killed[] = { (char *)prog_path("crasher"), "kill", NULL };
	char *crashes[] = { (char *)bin_path("dise"), "crashes", "--json", NULL };
	struct run_result r, k;
	json_error_t err;
	json_t *groups, *runs, *g;
	size_t i, j;
	int found_segv = 0, found_abort = 0;

	for (i = 0; i < 3; i++) {
		assert_transparent(segv, f->ring, NULL, &r);
		run_result_free(&r);
	}
	assert_transparent(abrt, f->ring, NULL, &r);
	run_result_free(&r);
	assert_transparent(killed, f->ring, NULL, &k);
	collect_once(f, &r);
	assert_non_null(strstr(r.err, "1 runs vanished"));
	run_result_free(&r);

	dise_cmd(f, crashes, &r);
	assert_int_equal(r.status, 0);
	groups = json_loads(r.out, 0, &err);
	assert_non_null(groups);
	assert_int_equal(json_array_size(groups), 2);
	for (i = 0; i < json_array_size(groups); i++) {
		const char *want;

		g = json_array_get(groups, i);
		if (json_integer_value(json_object_get(g, "signal")) == SIGSEGV) {
			assert_int_equal(json_integer_value(json_object_get(g, "count")), 3);
			want = "dise_test_crash_segv";
			found_segv = 1;
		} else {
			assert_int_equal(json_integer_value(json_object_get(g, "signal")), SIGABRT);
			assert_int_equal(json_integer_value(json_object_get(g, "count")), 1);
			want = "dise_test_crash_abort";
			found_abort = 1;
		}
		for (j = 0; want && j < json_array_size(json_object_get(g, "top_frames")); j++) {
			const char *fn = json_string_value(
				json_object_get(json_array_get(json_object_get(g, "top_frames"), j), "function"));

			if (fn && !strcmp(fn, want))
				want = NULL;
		}
		assert_null(want); /* the crashing function is among the symbolized top frames */
	}
	assert_true(found_segv && found_abort);
	json_decref(groups);
	run_result_free(&r);

	runs = runs_json(f);
	assert_non_null(find_run(runs, k.pid, "vanished"));
	json_decref(runs);
	run_result_free(&k);
}

/* EXIT before START (they can: other shards): one run with both halves. */
static void test_out_of_order(void **state)
{
	struct fixture *f = *state;
	uint8_t b1[512], b2[512];
	struct dise_record r1, r2;
	dise_store *st;
	char *db;
	sqlite3_stmt *q;

	assert_true(asprintf(&db, "%s/x.db", f->dir) > 0);
	assert_int_equal(dise_store_open(db, 0, &st), 0);
	assert_int_equal(dise_record_decode(b1, make_exit(b1, 7, 100, 2), &r1, NULL), 0);
	assert_int_equal(dise_record_decode(b2, make_start(b2, 7, 100), &r2, NULL), 0);
	assert_int_equal(dise_store_begin(st), 0);
	assert_int_equal(dise_store_add_record(st, 1, &r1), 0);
	assert_int_equal(dise_store_add_record(st, 1, &r2), 0);
	assert_int_equal(dise_store_commit(st), 0);
	assert_int_equal(sqlite3_prepare_v2(dise_store_db(st), "SELECT count(*), max(outcome), max(execfn) FROM runs", -1,
					    &q, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(q, 0), 1);
	assert_string_equal((const char *)sqlite3_column_text(q, 1), "fail");
	assert_string_equal((const char *)sqlite3_column_text(q, 2), "/usr/bin/loadgen");
	sqlite3_finalize(q);
	dise_store_free(st);
	free(db);
}

/* Every column of every run of st, as text (NULL and types told apart), in a string to compare. */
static char *runs_dump(dise_store *st)
{
	sqlite3_stmt *q;
	size_t len = 0;
	char *out = NULL;
	FILE *m = open_memstream(&out, &len);

	assert_non_null(m);
	assert_int_equal(sqlite3_prepare_v2(dise_store_db(st), "SELECT * FROM runs ORDER BY id", -1, &q, NULL), SQLITE_OK);
	while (sqlite3_step(q) == SQLITE_ROW) {
		for (int i = 0; i < sqlite3_column_count(q); i++)
			fprintf(m, "%s=%d:%s|", sqlite3_column_name(q, i), sqlite3_column_type(q, i),
				sqlite3_column_type(q, i) == SQLITE_NULL ? "" : (const char *)sqlite3_column_text(q, i));
		fputc('\n', m);
	}
	sqlite3_finalize(q);
	fclose(m);
	return out;
}

/* An EXEC of run (pid, start) to path, written as the shim writes it. */
static size_t make_exec(uint8_t *b, size_t size, uint32_t pid, uint64_t start, const char *path)
{
	char *argv[] = { (char *)path, NULL };
	struct dise_rec_who who = { start, pid, pid };
	struct dise_rec_argv a = { argv, NULL, 0 };
	struct dise_rec_buf rb;
	int n;

	dise_rec_buf_init(&rb, b, (uint32_t)size);
	n = dise_rec_exec_write(&who, DISE_EXEC_EXECVE, path, &a, &rb.sink);
	assert_true(n > 0);
	return (size_t)n;
}

/*
 * A START and its end written as one row (dise_store_add_run, issue 11):
 * the very row the two statements leave, every column, for an EXIT and an
 * EXEC; a row already there (a crash came first) keeps what it had, as
 * one by one.
 */
static void test_start_end_one_row(void **state)
{
	struct fixture *f = *state;
	uint8_t b[6][512];
	struct dise_record start, ex, start2, exec, start3, crash;
	dise_store *one, *merged;
	char *db1, *db2, *d1, *d2;

	assert_true(asprintf(&db1, "%s/one.db", f->dir) > 0);
	assert_true(asprintf(&db2, "%s/merged.db", f->dir) > 0);
	assert_int_equal(dise_store_open(db1, 0, &one), 0);
	assert_int_equal(dise_store_open(db2, 0, &merged), 0);
	assert_int_equal(dise_record_decode(b[0], make_start(b[0], 7, 100), &start, NULL), 0);
	assert_int_equal(dise_record_decode(b[1], make_exit(b[1], 7, 100, 3), &ex, NULL), 0);
	assert_int_equal(dise_record_decode(b[2], make_start(b[2], 8, 200), &start2, NULL), 0);
	assert_int_equal(dise_record_decode(b[3], make_exec(b[3], sizeof(b[3]), 8, 200, "/bin/true"), &exec, NULL), 0);
	assert_int_equal(dise_record_decode(b[4], make_start(b[4], 9, 300), &start3, NULL), 0);
	assert_int_equal(dise_record_decode(b[5], make_exit(b[5], 9, 300, 0), &crash, NULL), 0);
	crash.type = DISE_REC_CRASH; /* only its key and time are read: the run's crash, stored before its START */
	memset(&crash.u, 0, sizeof(crash.u));
	crash.u.crash.signo = SIGSEGV;
	assert_true(dise_store_run_mergeable(&start, &ex));
	assert_true(dise_store_run_mergeable(&start2, &exec));
	assert_false(dise_store_run_mergeable(&start, &exec)); /* another run's */
	assert_false(dise_store_run_mergeable(&ex, &start));
	for (int k = 0; k < 2; k++) {
		dise_store *st = k ? merged : one;

		assert_int_equal(dise_store_begin(st), 0);
		assert_int_equal(dise_store_add_record(st, 1, &crash), 0);
		if (k) {
			assert_int_equal(dise_store_add_run(st, 1, &start, &ex), 1);
			assert_int_equal(dise_store_add_run(st, 1, &start2, &exec), 1);
			assert_int_equal(dise_store_add_run(st, 1, &start3, &ex), -EINVAL);
			crash.type = DISE_REC_EXIT; /* now an exit of 0 after the crash: stored one by one, the crash stays */
			assert_int_equal(dise_store_add_run(st, 1, &start3, &crash), 0);
		} else {
			assert_int_equal(dise_store_add_record(st, 1, &start), 0);
			assert_int_equal(dise_store_add_record(st, 1, &ex), 0);
			assert_int_equal(dise_store_add_record(st, 1, &start2), 0);
			assert_int_equal(dise_store_add_record(st, 1, &exec), 0);
			crash.type = DISE_REC_EXIT;
			assert_int_equal(dise_store_add_record(st, 1, &start3), 0);
			assert_int_equal(dise_store_add_record(st, 1, &crash), 0);
		}
		crash.type = DISE_REC_CRASH;
		assert_int_equal(dise_store_commit(st), 0);
	}
	d1 = runs_dump(one);
	d2 = runs_dump(merged);
	assert_string_equal(d1, d2);
	assert_non_null(strstr(d1, "outcome=3:fail|exit_status=1:3|"));
	assert_non_null(strstr(d1, "outcome=3:exec|"));
	assert_non_null(strstr(d1, "outcome=3:crash|"));
	free(d1);
	free(d2);
	dise_store_free(one);
	dise_store_free(merged);
	free(db1);
	free(db2);
}

/*
 * Ingest writes a START with its end as one row only when no record
 * between them is about that process: a REAP of the child read between
 * its START and its EXIT ends the run first (reaped), then the EXIT, as
 * they came.
 */
static void test_ingest_pairs_runs(void **state)
{
	struct fixture *f = *state;
	struct dise_ingest_stats stats = { 0 };
	struct dise_rec_who parent = { 50, 4000, 4000 };
	struct dise_rec_reap w;
	struct dise_rec_start s;
	dise_ingest *in;
	dise_store *st;
	dise_ring ring;
	uint8_t b[512];
	char *db, *d;
	size_t n;

	assert_true(asprintf(&db, "%s/x.db", f->dir) > 0);
	assert_int_equal(dise_store_open(db, 0, &st), 0);
	assert_int_equal(dise_ingest_new(f->ring, st, &in), 0);
	assert_int_equal(dise_ring_map(f->ring, DISE_RING_WRITE, 0, 0, &ring), 0);
	/* the child 4001: START, the parent's REAP (exit 3), its own EXIT (0) */
	n = make_start(b, 4001, 100);
	memcpy(&s, b, sizeof(s));
	s.ppid = parent.pid;
	memcpy(b, &s, sizeof(s));
	assert_int_equal(dise_ring_put(&ring, b, (uint32_t)n), 0);
	dise_rec_reap_init(&w, &parent, 4001, 3 << 8);
	assert_int_equal(dise_ring_put(&ring, &w, sizeof(w)), 0);
	assert_int_equal(dise_ring_put(&ring, b, (uint32_t)make_exit(b, 4001, 100, 0)), 0);
	/* the child 4002: START and EXIT, nothing between: one row */
	assert_int_equal(dise_ring_put(&ring, b, (uint32_t)make_start(b, 4002, 200)), 0);
	assert_int_equal(dise_ring_put(&ring, b, (uint32_t)make_exit(b, 4002, 200, 0)), 0);
	/* the child 4003: START, its own EXIT (1), the parent's REAP (exit 3): the REAP changes nothing */
	n = make_start(b, 4003, 300);
	memcpy(&s, b, sizeof(s));
	s.ppid = parent.pid;
	memcpy(b, &s, sizeof(s));
	assert_int_equal(dise_ring_put(&ring, b, (uint32_t)n), 0);
	assert_int_equal(dise_ring_put(&ring, b, (uint32_t)make_exit(b, 4003, 300, 1)), 0);
	dise_rec_reap_init(&w, &parent, 4003, 3 << 8);
	assert_int_equal(dise_ring_put(&ring, &w, sizeof(w)), 0);
	assert_int_equal(dise_ingest_batch(in, 4096, &stats), 8);
	assert_int_equal(stats.stored, 8);
	assert_int_equal(stats.merged, 2);
	d = runs_dump(st);
	assert_non_null(strstr(d, "pid=1:4001|"));
	assert_non_null(strstr(d, "outcome=3:ok|exit_status=1:0|"));
	assert_non_null(strstr(d, "reaped=1:1|")); /* the REAP ended it first */
	assert_non_null(strstr(d, "outcome=3:fail|exit_status=1:1|")); /* 4003's own, not the REAP's 3 */
	assert_null(strstr(d, "exit_status=1:3|"));
	free(d);
	dise_ring_unmap(&ring);
	dise_ingest_free(in);
	dise_store_free(st);
	free(db);
}

/* A store at f->dir/name whose ingest knows k (new), with the rows of sql. */
static dise_store *known_store(struct fixture *f, const char *name, const char *sql, dise_known **k, char **db)
{
	dise_store *st;

	*k = dise_known_new();
	assert_non_null(*k);
	assert_true(asprintf(db, "%s/%s", f->dir, name) > 0);
	assert_int_equal(dise_store_open(*db, 0, &st), 0);
	dise_store_set_known(st, *k);
	assert_int_equal(sqlite3_exec(dise_store_db(st), sql, NULL, NULL, NULL), SQLITE_OK);
	return st;
}

/*
 * Which bad ends make ingest commit at once (issue 11): a failing exit of a
 * version known at ingest with no parent cannot be a strike (no baseline),
 * so it waits for the gather; a crash, a version with a parent, a version
 * not known, an end without its START: at once.
 */
static void test_end_may_strike(void **state)
{
	struct fixture *f = *state;
	struct dise_known_id id = { 0, 0, 0, 0 }; /* make_start's identity */
	struct dise_record start, fail, ok, crash;
	uint8_t b[4][512];
	dise_known *k;
	char *db;
	dise_store *st = known_store(f, "x.db",
				     "INSERT INTO versions(id, tool, sha256) VALUES (4, '/usr/bin/loadgen', 'a'), "
				     "(5, '/usr/bin/loadgen', 'b'); INSERT INTO path_heads(path, version_id) VALUES "
				     "('/usr/bin/loadgen', 5);",
				     &k, &db);

	assert_int_equal(dise_record_decode(b[0], make_start(b[0], 7, 100), &start, NULL), 0);
	assert_int_equal(dise_record_decode(b[1], make_exit(b[1], 7, 100, 1), &fail, NULL), 0);
	assert_int_equal(dise_record_decode(b[2], make_exit(b[2], 7, 100, 0), &ok, NULL), 0);
	assert_int_equal(dise_record_decode(b[3], make_exit(b[3], 7, 100, 0), &crash, NULL), 0);
	crash.type = DISE_REC_CRASH;
	assert_int_equal(dise_store_end_may_strike(st, &start, &fail), 1); /* the version is not known yet */
	dise_known_put(k, "/usr/bin/loadgen", &id, 5, "/usr/bin/loadgen");
	assert_int_equal(dise_store_end_may_strike(st, &start, &fail), 0); /* no parent: no baseline */
	assert_int_equal(dise_store_end_may_strike(st, NULL, &fail), 1);
	assert_int_equal(dise_store_end_may_strike(st, &start, &ok), 1);
	assert_int_equal(dise_store_end_may_strike(st, &start, &crash), 1); /* a crash may strike without one */
	assert_int_equal(sqlite3_exec(dise_store_db(st), "INSERT INTO version_parents(version_id, parent_id) VALUES (5, 4);",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	assert_int_equal(dise_store_end_may_strike(st, &start, &fail), 1); /* a baseline: may be a strike */
	assert_int_equal(sqlite3_exec(dise_store_db(st), "DELETE FROM version_parents; UPDATE path_heads SET version_id = 4;",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	assert_int_equal(dise_store_end_may_strike(st, &start, &fail), 1); /* another content at the path: the resolver's */
	dise_store_set_known(st, NULL);
	dise_store_free(st);
	dise_known_free(k);
	free(db);
}

/* How many versions an incremental pass after run id after_run would look at (*ret_upto: the touched it looked up to). */
static size_t versions_changed(dise_store *st, int64_t after_run, int64_t *ret_upto)
{
	struct dise_version_ref *v = NULL;
	size_t n = 0;

	assert_int_equal(dise_store_versions_to_check(st, 0, after_run, 0, &v, &n, ret_upto), 0);
	dise_version_refs_free(v, n);
	return n;
}

/* One record (START or EXIT of pid, start) stored in its own transaction. */
static void store_one(dise_store *st, int start, uint32_t pid)
{
	uint8_t b[512];
	struct dise_record r;

	assert_int_equal(dise_record_decode(b, start ? make_start(b, pid, 100) : make_exit(b, pid, 100, 0), &r, NULL), 0);
	assert_int_equal(dise_store_begin(st), 0);
	assert_int_equal(dise_store_add_record(st, 1, &r), 0);
	assert_int_equal(dise_store_commit(st), 0);
}

/* START and end of (pid, 100) written as one row (dise_store_add_run) in their own transaction. */
static void store_run(dise_store *st, uint32_t pid, int exec)
{
	uint8_t b[2][512];
	struct dise_record s, e;

	assert_int_equal(dise_record_decode(b[0], make_start(b[0], pid, 100), &s, NULL), 0);
	assert_int_equal(dise_record_decode(b[1], exec ? make_exec(b[1], sizeof(b[1]), pid, 100, "/bin/true")
						       : make_exit(b[1], pid, 100, 0),
					    &e, NULL),
			 0);
	assert_int_equal(dise_store_begin(st), 0);
	assert_int_equal(dise_store_add_run(st, 1, &s, &e), 1);
	assert_int_equal(dise_store_commit(st), 0);
}

/*
 * A run written as one row with its version known at ingest is touched
 * above what the detectors have looked at, as its end alone would be: a
 * fixed mark (the first merge of the ingest and resolver work wrote 1)
 * sits under the watermark, and the run, a strike perhaps, was never
 * looked at. An exec end touches nothing, as Q_EXEC.
 */
static void test_merged_run_touched(void **state)
{
	struct fixture *f = *state;
	struct dise_known_id id = { 0, 0, 0, 0 }; /* make_start's identity */
	int64_t run, upto = -1;
	dise_known *k;
	char *db;
	dise_store *st = known_store(f, "merged-touched.db",
				     "INSERT INTO versions(id, tool, sha256) VALUES (5, '/usr/bin/loadgen', 'b'); "
				     "INSERT INTO path_heads(path, version_id) VALUES ('/usr/bin/loadgen', 5);",
				     &k, &db);

	dise_known_put(k, "/usr/bin/loadgen", &id, 5, "/usr/bin/loadgen");
	store_run(st, 7, 0);
	store_run(st, 6, 0);
	assert_int_equal(dise_store_last_run_id(st, &run), 0);
	assert_int_equal(versions_changed(st, run, &upto), 1);
	assert_int_equal(dise_store_touched_seen_set(st, upto), 0); /* a pass looked at both */
	assert_int_equal(versions_changed(st, run, &upto), 0);
	store_run(st, 8, 1);
	assert_int_equal(dise_store_last_run_id(st, &run), 0);
	assert_int_equal(versions_changed(st, run, &upto), 0); /* an exec is no outcome to judge */
	store_run(st, 9, 0);
	assert_int_equal(dise_store_last_run_id(st, &run), 0);
	assert_int_equal(versions_changed(st, run, &upto), 1);
	dise_store_set_known(st, NULL);
	dise_store_free(st);
	dise_known_free(k);
	free(db);
}

/* A store at f->dir/name whose ingest knows /usr/bin/loadgen at make_start's identity as version 5, its head (6: another). */
static dise_store *loadgen_store(struct fixture *f, const char *name, dise_known **k, char **db)
{
	struct dise_known_id id = { 0, 0, 0, 0 }; /* make_start's identity */
	dise_store *st = known_store(f, name,
				     "INSERT INTO versions(id, tool, sha256) VALUES (5, '/usr/bin/loadgen', 'b'), "
				     "(6, '/usr/bin/loadgen', 'c'); "
				     "INSERT INTO path_heads(path, version_id) VALUES ('/usr/bin/loadgen', 5);",
				     k, db);

	dise_known_put(*k, "/usr/bin/loadgen", &id, 5, "/usr/bin/loadgen");
	return st;
}

static void loadgen_store_free(dise_store *st, dise_known *k, char *db)
{
	dise_store_set_known(st, NULL);
	dise_store_free(st);
	dise_known_free(k);
	free(db);
}

/*
 * A run of a known version written with its end has its invocation class,
 * unless it ended by exec (a shell's fork child): every reader of the class
 * looks at runs that ended ok or failed, so an exec's is one index entry
 * (runs_version_class) and one dise_class() for nothing.
 */
static void test_exec_end_no_class(void **state)
{
	static const char has_class[] = "SELECT class IS NOT NULL FROM runs WHERE pid = ?1";
	dise_known *k;
	char *db;
	dise_store *st = loadgen_store(*state, "exec-class.db", &k, &db);

	store_run(st, 7, 0);
	store_run(st, 8, 1);
	assert_int_equal(db_int(dise_store_db(st), has_class, 7), 1); /* ended ok: compared by class */
	assert_int_equal(db_int(dise_store_db(st), has_class, 8), 0); /* ended by exec: never */
	loadgen_store_free(st, k, db);
}

/*
 * Ingest reads a path's head once per write transaction (store-runs.c):
 * never in the next one, where another connection (the resolver, `dise
 * tool add`) may have made the head another version: that START is the
 * resolver's again.
 */
static void test_head_read_per_transaction(void **state)
{
	static const char version[] = "SELECT version_id FROM runs WHERE pid = ?1";
	dise_known *k;
	char *db;
	dise_store *other, *st = loadgen_store(*state, "heads.db", &k, &db);

	store_run(st, 7, 0);
	store_run(st, 8, 0);
	assert_int_equal(db_int(dise_store_db(st), version, 7), 5);
	assert_int_equal(db_int(dise_store_db(st), version, 8), 5);
	assert_int_equal(dise_store_open(db, 0, &other), 0);
	assert_int_equal(sqlite3_exec(dise_store_db(other), "UPDATE path_heads SET version_id = 6", NULL, NULL, NULL),
			 SQLITE_OK);
	dise_store_free(other);
	store_run(st, 9, 0);
	assert_int_equal(db_int(dise_store_db(st), version, 9), 0); /* the head is another version now: the resolver's to do */
	loadgen_store_free(st, k, db);
}

/*
 * The heads ingest read stay current across its transactions while no
 * other connection commits (PRAGMA data_version): the path's head is not
 * read again for the next gather; a commit by another connection (the
 * resolver's, here an unrelated one) makes ingest read it again.
 */
static void test_head_kept_while_no_commit(void **state)
{
	static const char version[] = "SELECT version_id FROM runs WHERE pid = ?1";
	dise_known *k;
	char *db;
	dise_store *other, *st = loadgen_store(*state, "heads-kept.db", &k, &db);

	store_run(st, 7, 0);
	assert_int_equal(dise_store_head_reads(st), 1);
	store_run(st, 8, 0);
	assert_int_equal(dise_store_head_reads(st), 1); /* nobody else committed: not read again */
	assert_int_equal(db_int(dise_store_db(st), version, 8), 5);
	assert_int_equal(dise_store_open(db, 0, &other), 0);
	assert_int_equal(sqlite3_exec(dise_store_db(other), "INSERT INTO versions(id, tool, sha256) VALUES (9, '/x', 'd')",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	dise_store_free(other);
	store_run(st, 9, 0);
	assert_int_equal(dise_store_head_reads(st), 2); /* another connection committed: read again */
	assert_int_equal(db_int(dise_store_db(st), version, 9), 5);
	loadgen_store_free(st, k, db);
}

/*
 * The strike hint of a failing exit during a gather (outside any
 * transaction) takes the head and whether its version has a parent as the
 * last transaction found them, read once; the next transaction after
 * another connection's commit reads them again.
 */
static void test_strike_hint_kept(void **state)
{
	struct dise_record start, fail;
	uint8_t b[2][512];
	dise_known *k;
	char *db;
	dise_store *other, *st = loadgen_store(*state, "hint.db", &k, &db);

	assert_int_equal(dise_record_decode(b[0], make_start(b[0], 7, 100), &start, NULL), 0);
	assert_int_equal(dise_record_decode(b[1], make_exit(b[1], 7, 100, 1), &fail, NULL), 0);
	store_run(st, 6, 0); /* a transaction that read the head */
	assert_int_equal(dise_store_end_may_strike(st, &start, &fail), 0); /* no parent: no baseline */
	assert_int_equal(dise_store_open(db, 0, &other), 0);
	assert_int_equal(sqlite3_exec(dise_store_db(other), "INSERT INTO version_parents(version_id, parent_id) VALUES (5, 6)",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	dise_store_free(other);
	assert_int_equal(dise_store_end_may_strike(st, &start, &fail), 0); /* as last found: not read again */
	assert_int_equal(dise_store_head_reads(st), 1);
	store_run(st, 8, 0); /* another connection committed: read again */
	assert_int_equal(dise_store_head_reads(st), 2);
	assert_int_equal(dise_store_end_may_strike(st, &start, &fail), 1); /* a baseline now: may be a strike */
	loadgen_store_free(st, k, db);
}

/* test_runs_metric_as_group_by: each row given, "tool|outcome|n\n", appended to a buffer */
static int metric_row(void *arg, const char *const *labels, int nlabels, int64_t value)
{
	char *buf = arg;
	size_t len = strlen(buf);

	assert_int_equal(nlabels, 2);
	snprintf(buf + len, 65536 - len, "%s|%s|%lld\n", labels[0], labels[1], (long long)value);
	return 0;
}

/*
 * The runs metric, counted by the store in a hash table (no GROUP BY of
 * every run: store-metrics.c), gives the rows and the order SQLite's
 * "GROUP BY 1, 2 ORDER BY 1, 2" gives: many groups (the table grows),
 * tools that are prefixes of others, upper case before lower, non-ASCII,
 * no tool (''), runs not ended (not counted).
 */
static void test_runs_metric_as_group_by(void **state)
{
	static const char sql[] = "SELECT COALESCE(tool, ''), outcome, count(*) FROM runs WHERE outcome IS NOT NULL "
				  "GROUP BY 1, 2 ORDER BY 1, 2";
	struct fixture *f = *state;
	static char got[65536], want[65536];
	sqlite3_stmt *q;
	dise_store *st;
	char *db;

	assert_true(asprintf(&db, "%s/metric.db", f->dir) > 0);
	assert_int_equal(dise_store_open(db, 0, &st), 0);
	assert_int_equal(sqlite3_exec(dise_store_db(st),
				      "WITH RECURSIVE t(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM t WHERE i < 1999) "
				      "INSERT INTO runs(epoch, pid, start_ns, tool, outcome) SELECT 1, i, i, "
				      "CASE i % 7 WHEN 0 THEN NULL WHEN 1 THEN '/usr/bin/t' || (i % 150) WHEN 2 THEN '/usr/bin/T' "
				      "WHEN 3 THEN '/opt/é' || (i % 3) WHEN 4 THEN '/usr/bin/t' ELSE '/usr/bin/t1' || (i % 90) END, "
				      "CASE i % 5 WHEN 0 THEN 'ok' WHEN 1 THEN 'fail' WHEN 2 THEN 'crash' WHEN 3 THEN 'exec' "
				      "ELSE NULL END FROM t",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	got[0] = want[0] = '\0';
	assert_int_equal(dise_store_metric(st, DISE_METRIC_RUNS, metric_row, got), 0);
	assert_int_equal(sqlite3_prepare_v2(dise_store_db(st), sql, -1, &q, NULL), SQLITE_OK);
	while (sqlite3_step(q) == SQLITE_ROW) {
		const char *labels[2] = { (const char *)sqlite3_column_text(q, 0), (const char *)sqlite3_column_text(q, 1) };

		metric_row(want, labels, 2, sqlite3_column_int64(q, 2));
	}
	sqlite3_finalize(q);
	assert_true(strlen(want) > 2000); /* hundreds of groups */
	assert_string_equal(got, want);
	dise_store_free(st);
	free(db);
}

/*
 * A long run's end (a row older than the detectors' last look) is found by
 * the next incremental pass through its touched sequence number, also after
 * a restart when no pass recorded it as looked at (schema v21: nothing kept
 * in memory alone), and no longer once one did.
 */
static void test_touched_until_looked_at(void **state)
{
	static const char sha[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	struct fixture *f = *state;
	int64_t ver, run, upto = -1, upto2 = -1;
	dise_store *st;
	char *db;

	assert_true(asprintf(&db, "%s/touched.db", f->dir) > 0);
	assert_int_equal(dise_store_open(db, 0, &st), 0);
	assert_int_equal(dise_store_content_add(st, 1, 2, 3, 4, sha), 0);
	assert_int_equal(dise_store_version_add(st, "loadgen", sha, NULL, "/usr/bin/loadgen", 3, 1, NULL, &ver), 0);
	store_one(st, 1, 7);
	assert_int_equal(dise_store_last_run_id(st, &run), 0);
	assert_int_equal(dise_store_run_set_version(st, run, ver), 0);
	assert_int_equal(versions_changed(st, run, &upto), 0); /* not ended: nothing to look at */
	store_one(st, 0, 7);                                    /* its end: an old row, touched */
	assert_int_equal(versions_changed(st, run, &upto), 1);
	assert_true(upto > 0);
	/* a pass that did not commit (killed, busy): the next collector looks at it again */
	dise_store_free(st);
	assert_int_equal(dise_store_open(db, 0, &st), 0);
	assert_int_equal(versions_changed(st, run, &upto2), 1);
	assert_int_equal(upto2, upto);
	assert_int_equal(dise_store_touched_seen_set(st, upto), 0);
	dise_store_free(st);
	assert_int_equal(dise_store_open(db, 0, &st), 0);
	assert_int_equal(versions_changed(st, run, &upto2), 0);
	/* given its version after its end (the resolver, after a restart): touched again, above */
	store_one(st, 0, 8);
	store_one(st, 1, 8);
	assert_int_equal(dise_store_last_run_id(st, &run), 0);
	assert_int_equal(versions_changed(st, run, &upto2), 0);
	assert_int_equal(dise_store_run_set_version(st, run, ver), 0);
	assert_int_equal(versions_changed(st, run, &upto2), 1);
	assert_true(upto2 > upto);
	dise_store_free(st);
	free(db);
}

/* A collector without waiting for it to be ready: one that kills itself may die before we could see it. */
static pid_t spawn_collector_env(struct fixture *f, const char *arg, const char *fault)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		char *argv[] = { (char *)bin_path("dise-collectord"), (char *)arg, NULL };

		if (fault)
			setenv(fault, "1", 1);
		setenv("DISE_RING", f->ring, 1);
		setenv("DISE_HOME", f->home, 1);
		unsetenv("LD_PRELOAD");
		execv(argv[0], argv);
		_exit(127);
	}
	track_child(pid);
	return pid;
}

/* The pid in f's collector.lock, 0 if none. */
static int lock_pid(struct fixture *f)
{
	char *lock, buf[32] = "";
	FILE *fp;

	assert_true(asprintf(&lock, "%s/collector.lock", f->home) > 0);
	fp = fopen(lock, "r");
	free(lock);
	if (fp) {
		(void)!fgets(buf, sizeof(buf), fp);
		fclose(fp);
	}
	return atoi(buf);
}

static void test_lock_and_sigterm(void **state)
{
	struct fixture *f = *state;
	char *second[] = { (char *)bin_path("dise-collectord"), "--once", NULL };
	struct run_result r;
	pid_t pid;
	int st;

	pid = collector_start(f, "--foreground", NULL, NULL);
	/* ready: its pid is in the lock file, and its database is there, migrated */
	assert_int_equal(lock_pid(f), pid);
	assert_true(db_count(f, "SELECT version FROM schema_version") > 0);
	/* a second collector must refuse */
	dise_cmd(f, second, &r);
	assert_int_equal(WEXITSTATUS(r.status), 3);
	assert_non_null(strstr(r.err, "another collector"));
	run_result_free(&r);
	kill(pid, SIGTERM);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

static int has_run(struct fixture *f, pid_t pid, const char *outcome)
{
	json_t *runs = runs_json(f);
	int found = find_run(runs, pid, outcome) != NULL;

	json_decref(runs);
	return found;
}

/* Waits until a running collector stored the run of pid with that outcome. */
static void wait_run(struct fixture *f, pid_t pid, const char *outcome)
{
	if (!wait_for(has_run(f, pid, outcome), WAIT_MS))
		fail_msg("the collector never stored pid %d as %s", (int)pid, outcome);
}

static void test_collector_cli(void **state)
{
	struct fixture *f = *state;
	char *start[] = { (char *)bin_path("dise"), "collector", "start", NULL };
	char *stop[] = { (char *)bin_path("dise"), "collector", "stop", NULL };
	char *status[] = { (char *)bin_path("dise"), "collector", "status", NULL };
	char *ok[] = { "/bin/true", NULL };
	struct run_result r, t;
	int first, second;

	dise_cmd(f, status, &r);
	assert_int_equal(WEXITSTATUS(r.status), 3);
	run_result_free(&r);
	dise_cmd(f, start, &r);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "collector started"));
	/* it returned when the collector was ready: the database is there and migrated, its pid in the lock */
	assert_true(db_count(f, "SELECT version FROM schema_version") > 0);
	assert_non_null(strstr(r.out, "(pid "));
	first = atoi(strstr(r.out, "(pid ") + 5);
	assert_int_equal(lock_pid(f), first);
	run_result_free(&r);
	dise_cmd(f, status, &r);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "collector running"));
	run_result_free(&r);

	/* the running collector picks a run up by itself (woken, not polled) */
	assert_transparent(ok, f->ring, NULL, &t);
	wait_run(f, t.pid, "ok");
	run_result_free(&t);

	dise_cmd(f, stop, &r);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "collector stopped"));
	run_result_free(&r);
	dise_cmd(f, status, &r);
	assert_int_equal(WEXITSTATUS(r.status), 3);
	run_result_free(&r);

	/* started again: it prints the new collector's pid, never the one before it */
	dise_cmd(f, start, &r);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "collector started (pid "));
	second = atoi(strstr(r.out, "(pid ") + 5);
	run_result_free(&r);
	assert_true(second > 0 && second != first);
	assert_int_equal(lock_pid(f), second);
	assert_int_equal(kill(second, 0), 0);
	collector_stop(f);

	/* a collector that cannot start: start says why and fails */
	{
		char *bad_env;

		assert_true(asprintf(&bad_env, "DISE_RING=%s/no/such/dir/ring", f->dir) > 0);
		{
			const char *envs[] = { bad_env, f->env_home, NULL };

			assert_int_equal(run_cmd(start, envs, NULL, &r), 0);
		}
		assert_int_equal(WEXITSTATUS(r.status), 1);
		assert_non_null(strstr(r.err, "cannot consume the ring"));
		run_result_free(&r);
		free(bad_env);
	}
}

/*
 * A locked database pauses ingest; the records wait in the ring and arrive
 * once it is free. The collector must be seen to meet the lock: it says so.
 */
static void test_locked_database(void **state)
{
	struct fixture *f = *state;
	char *ok[] = { "/bin/true", NULL };
	char *db, *log, *status;
	sqlite3 *h;
	struct run_result t, r;
	pid_t pid;
	int st;

	assert_true(asprintf(&db, "%s/dise.db", f->home) > 0);
	assert_true(asprintf(&log, "%s/collector.log", f->dir) > 0);
	collect_once(f, &r); /* the database */
	run_result_free(&r);
	pid = collector_start(f, "--foreground", NULL, log);
	/* then hold its write lock */
	h = db_open(db);
	assert_int_equal(sqlite3_exec(h, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	assert_transparent(ok, f->ring, NULL, &t);
	/* it tries, fails on the lock (after its busy timeout), says so and waits */
	if (!wait_for(file_has(log, "storing failed (Device or resource busy), will retry"), WAIT_MS))
		fail_msg("the collector never met the lock");
	assert_int_equal(waitpid(pid, &st, WNOHANG), 0); /* pausing, not dying */
	assert_int_equal(db_count(f, "SELECT count(*) FROM runs"), 0); /* nothing stored behind the lock */
	assert_int_equal(sqlite3_exec(h, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
	/*
	 * Storing works again: the collector's standing error goes (after the
	 * batch it stored); until then every reading command fails with it.
	 */
	assert_true(asprintf(&status, "%s/collector.status", f->home) > 0);
	if (!wait_for(access(status, F_OK) != 0, WAIT_MS))
		fail_msg("the collector's error stands after the lock went");
	free(status);
	wait_run(f, t.pid, "ok");
	kill(pid, SIGTERM);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	run_result_free(&t);
	free(db);
	free(log);
}

static json_t *lineage_json(struct fixture *f, const char *tool)
{
	char *argv[] = { (char *)bin_path("dise"), "lineage", (char *)tool, "--json", NULL };

	return dise_json(f, argv);
}

/* The lineage of tool when it has `versions` versions and `runs` runs with a version, else NULL. */
static json_t *lineage_if(struct fixture *f, const char *tool, size_t versions, json_int_t runs)
{
	char *argv[] = { (char *)bin_path("dise"), "lineage", (char *)tool, "--json", NULL };
	json_int_t n = 0;
	struct run_result r;
	json_error_t err;
	json_t *l;
	size_t k;

	dise_cmd(f, argv, &r);
	if (r.status != 0) { /* nothing of that tool stored yet */
		assert_non_null(strstr(r.err, "nothing recorded yet"));
		run_result_free(&r);
		return NULL;
	}
	l = json_loads(r.out, 0, &err);
	assert_non_null(l);
	run_result_free(&r);
	for (k = 0; k < json_array_size(l); k++)
		n += json_integer_value(json_object_get(json_array_get(l, k), "runs"));
	if (json_array_size(l) == versions && n == runs)
		return l;
	json_decref(l);
	return NULL;
}

/* Waits until the tool has `versions` versions and `runs` runs with a version. */
static json_t *wait_lineage(struct fixture *f, const char *tool, size_t versions, json_int_t runs)
{
	json_t *l = NULL;

	if (!wait_for((l = lineage_if(f, tool, versions, runs)) != NULL, WAIT_MS))
		fail_msg("lineage of %s never reached %zu versions, %lld runs", tool, versions, (long long)runs);
	return l;
}

static void copy_file(const char *from, const char *to)
{
	char *cmd;

	assert_true(asprintf(&cmd, "cp '%s' '%s.tmp' && mv '%s.tmp' '%s'", from, to, to, to) > 0);
	assert_int_equal(system(cmd), 0);
	free(cmd);
}

static int same_file(const char *a, const char *b)
{
	char *cmd;
	int r;

	assert_true(asprintf(&cmd, "cmp -s '%s' '%s'", a, b) > 0);
	r = system(cmd) == 0;
	free(cmd);
	return r;
}

/* A deploy replaces the binary at a path: a new version whose parent is the old one; both kept in the CAS. */
static void test_versions_lineage(void **state)
{
	struct fixture *f = *state;
	char *tool, *argv_ok[3], *argv_crash[3];
	struct run_result r;
	json_t *l, *v1, *v2;
	pid_t pid;
	int st;

	assert_true(asprintf(&tool, "%s/mytool", f->dir) > 0);
	argv_ok[0] = tool, argv_ok[1] = "0", argv_ok[2] = NULL;
	argv_crash[0] = tool, argv_crash[1] = "segv", argv_crash[2] = NULL;
	pid = collector_start(f, "--foreground", NULL, NULL);

	copy_file(prog_path("exitcode"), tool);
	assert_transparent(argv_ok, f->ring, NULL, &r);
	run_result_free(&r);
	l = wait_lineage(f, "mytool", 1, 1);
	json_decref(l);

	copy_file(prog_path("crasher"), tool); /* the deploy */
	assert_transparent(argv_crash, f->ring, NULL, &r);
	run_result_free(&r);
	assert_transparent(argv_crash, f->ring, NULL, &r); /* same content again: no new version */
	run_result_free(&r);
	l = wait_lineage(f, "mytool", 2, 3);

	v1 = json_array_get(l, 0);
	v2 = json_array_get(l, 1);
	assert_int_equal(json_array_size(json_object_get(v1, "parents")), 0);
	assert_int_equal(json_array_size(json_object_get(v2, "parents")), 1);
	assert_int_equal(json_integer_value(json_array_get(json_object_get(v2, "parents"), 0)),
			 json_integer_value(json_object_get(v1, "id")));
	assert_int_equal(json_integer_value(json_object_get(v2, "crashes")), 2);
	assert_int_equal(json_integer_value(json_object_get(v1, "failures")), 0);
	/* the overwritten version stays runnable from the content-addressed store, byte for byte */
	assert_true(same_file(json_string_value(json_object_get(v1, "cas_path")), prog_path("exitcode")));
	assert_true(same_file(json_string_value(json_object_get(v2, "cas_path")), prog_path("crasher")));
	assert_int_equal(access(json_string_value(json_object_get(v1, "cas_path")), X_OK), 0);
	json_decref(l);

	kill(pid, SIGTERM);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	free(tool);
}

/*
 * What the store keeps (resolve.c, wants_copy): a build tree's probe
 * (configure's conftest: run once, never judged, never routed to) gets its
 * version without a copy; a program of the same build tree run only once
 * gets its copy, kept after its file was replaced, and is the route when
 * its successor crashes.
 */
static void test_store_keeps_what_may_run(void **state)
{
	struct fixture *f = *state;
	char *tree, *probe, *tool, *cas, hex[65];
	struct run_result r;
	int i;

	assert_true(asprintf(&tree, "%s/build", f->dir) > 0);
	assert_int_equal(mkdir(tree, 0700), 0);
	assert_true(asprintf(&probe, "%s/conftest", tree) > 0);
	assert_true(asprintf(&tool, "%s/testbin", tree) > 0);
	copy_file(prog_path("closefds"), probe);
	copy_file(prog_path("exitcode"), tool);
	{
		char *a[] = { probe, NULL }, *b[] = { tool, "0", NULL };

		assert_transparent(a, f->ring, NULL, &r);
		run_result_free(&r);
		assert_transparent(b, f->ring, NULL, &r);
		run_result_free(&r);
	}
	collect_once(f, &r);
	run_result_free(&r);
	/* the probe: a version, hashed, no copy */
	assert_int_equal(db_count(f, "SELECT count(*) FROM versions WHERE tool LIKE '%/build/conftest' AND cas_path IS NULL"),
			 1);
	assert_int_equal(dise_hash_file(probe, NULL, NULL, hex), 0);
	assert_true(asprintf(&cas, "%s/cas/%s", f->home, hex) > 0);
	assert_int_equal(access(cas, F_OK), -1);
	free(cas);

	/* the program run once is replaced by a crashing build: its first version is the route, from its copy */
	copy_file(prog_path("crasher"), tool);
	for (i = 0; i < 3; i++) {
		char *a[] = { tool, "segv", NULL };

		assert_transparent(a, f->ring, NULL, &r);
		run_result_free(&r);
	}
	collect_once(f, &r);
	run_result_free(&r);
	assert_int_equal(db_count(f, "SELECT count(*) FROM routes rt JOIN versions v ON v.id = rt.version_id "
				     "WHERE rt.tool LIKE '%/build/testbin' AND v.cas_path IS NOT NULL"),
			 1);
	assert_int_equal(dise_hash_file(prog_path("exitcode"), NULL, NULL, hex), 0);
	assert_int_equal(db_count(f, "SELECT count(*) FROM routes rt JOIN versions v ON v.id = rt.version_id "
				     "WHERE rt.tool LIKE '%/build/testbin' AND v.sha256 = (SELECT sha256 FROM versions "
				     "WHERE tool LIKE '%/build/testbin' ORDER BY id LIMIT 1)"),
			 1);
	assert_true(asprintf(&cas, "%s/cas/%s", f->home, hex) > 0);
	assert_true(same_file(cas, prog_path("exitcode")));
	free(cas);
	free(tree);
	free(probe);
	free(tool);
}

/* Versions registered by hand, with a merge: v4 has two parents. */
static void test_tool_add_merge(void **state)
{
	struct fixture *f = *state;
	static const char *progs[] = { "exitcode", "crasher", "forker", "threads" };
	static const char *labels[] = { "v1", "v2", "v3", "v4" };
	char *parents[4][6] = {
		{ NULL },
		{ "--parent", "v1", NULL },
		{ "--parent", "v1", NULL },
		{ "--parent", "v2", "--parent", "v3", NULL },
	};
	struct run_result r;
	json_t *l, *v4;
	int i, k;

	for (i = 0; i < 4; i++) {
		char *argv[12] = { (char *)bin_path("dise"), "tool", "add", "app", "--version", (char *)labels[i],
				   (char *)prog_path(progs[i]) };

		for (k = 0; parents[i][k]; k++)
			argv[7 + k] = parents[i][k];
		argv[7 + k] = NULL;
		dise_cmd(f, argv, &r);
		if (r.status != 0)
			print_error("%s\n", r.err);
		assert_int_equal(r.status, 0);
		run_result_free(&r);
	}
	{
		char *argv[] = { (char *)bin_path("dise"), "tool", "add", "app", "--version", "v5",
				 (char *)prog_path("spawner"), "--parent", "nosuch", NULL };

		dise_cmd(f, argv, &r);
		assert_int_equal(WEXITSTATUS(r.status), 1);
		assert_non_null(strstr(r.err, "no version 'nosuch'"));
		run_result_free(&r);
	}
	l = lineage_json(f, "app");
	assert_int_equal(json_array_size(l), 4);
	v4 = json_array_get(l, 3);
	assert_string_equal(json_string_value(json_object_get(v4, "label")), "v4");
	assert_int_equal(json_array_size(json_object_get(v4, "parents")), 2);
	json_decref(l);
}

/* FIPS 180-4 test vectors, also split at every byte boundary, and a file hashed through dise_hash_file. */
static void test_sha256(void **state)
{
	static const struct {
		const char *msg, *hex;
	} v[] = {
		{ "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
		{ "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
		{ "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
		  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
	};
	struct fixture *f = *state;
	struct dise_sha256 s;
	uint8_t d[32];
	char hex[65], *path, *cmd;
	FILE *p;
	size_t i, cut;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		for (cut = 0; cut <= strlen(v[i].msg); cut++) {
			dise_sha256_init(&s);
			dise_sha256_update(&s, v[i].msg, cut);
			dise_sha256_update(&s, v[i].msg + cut, strlen(v[i].msg) - cut);
			dise_sha256_final(&s, d);
			dise_sha256_hex(d, hex);
			assert_string_equal(hex, v[i].hex);
		}
	}
	/* a real binary, against coreutils' sha256sum */
	assert_int_equal(dise_hash_file("/bin/ls", NULL, NULL, hex), 0);
	assert_true(asprintf(&path, "%s/sum", f->dir) > 0);
	assert_true(asprintf(&cmd, "sha256sum /bin/ls > '%s'", path) > 0);
	assert_int_equal(system(cmd), 0);
	p = fopen(path, "r");
	assert_non_null(p);
	{
		char want[65] = "";

		assert_int_equal(fscanf(p, "%64s", want), 1);
		assert_string_equal(hex, want);
	}
	fclose(p);
	free(cmd);
	free(path);
}

/* db_count, or -1 while the database or its schema is not there yet */
static int64_t now_wall(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A run of the file at path, written straight into the ring: its wall start, duration and status as told. */
static void synth_run(dise_ring *ring, const char *path, uint32_t pid, int64_t wall_ns, uint64_t dur_ns, int status)
{
	uint8_t b[1024];
	struct dise_rec_start s;
	struct dise_rec_exit e;
	struct stat st;
	uint64_t start = 1000000000ull + (uint64_t)pid * 1000000ull;
	size_t plen = strlen(path) + 1;

	assert_int_equal(stat(path, &st), 0);
	memset(&s, 0, sizeof(s));
	s.h.size = (uint32_t)(sizeof(s) + plen);
	s.h.type = DISE_REC_START;
	s.h.hdr_size = sizeof(s.h);
	s.h.mono_ns = s.h.run_start_ns = start;
	s.h.pid = s.h.tid = pid;
	s.wall_ns = (uint64_t)wall_ns;
	s.execfn_len = (uint16_t)plen;
	s.exe.dev = s.script.dev = st.st_dev;
	s.exe.ino = s.script.ino = st.st_ino;
	s.exe.size = s.script.size = (uint64_t)st.st_size;
	s.exe.mtime_ns = s.script.mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	memcpy(b, &s, sizeof(s));
	memcpy(b + sizeof(s), path, plen);
	assert_int_equal(dise_ring_put(ring, b, s.h.size), 0);
	memset(&e, 0, sizeof(e));
	e.h.size = sizeof(e);
	e.h.type = DISE_REC_EXIT;
	e.h.hdr_size = sizeof(e.h);
	e.h.mono_ns = start + dur_ns;
	e.h.run_start_ns = start;
	e.h.pid = e.h.tid = pid;
	e.status = status;
	assert_int_equal(dise_ring_put(ring, &e, sizeof(e)), 0);
}

static int64_t heal_requests(struct fixture *f, const char *tool, const char *detector)
{
	char *sql;
	int64_t n;

	assert_true(asprintf(&sql,
			     "SELECT count(*) FROM heal_requests h JOIN versions v ON v.id = h.version_id "
			     "JOIN failures x ON x.id = h.failure_id WHERE (v.tool = '%s' OR v.tool LIKE '%%/%s')%s%s%s",
			     tool, tool, detector ? " AND x.detector = '" : "", detector ? detector : "", detector ? "'" : "") > 0);
	n = db_count(f, sql);
	free(sql);
	return n;
}

static char *tool_copy(struct fixture *f, const char *name, const char *prog)
{
	char *p;

	assert_true(asprintf(&p, "%s/%s", f->dir, name) > 0);
	copy_file(prog_path(prog), p);
	return p;
}

/* EXIT before START (other shards): the run still gets its version once its START arrives, even after later runs. */
static void test_late_start_gets_version(void **state)
{
	struct fixture *f = *state;
	char *t = tool_copy(f, "latestart", "exitcode");
	struct run_result r;
	dise_ring ring;
	uint8_t b[1024];
	struct dise_rec_exit e;
	uint64_t start = 1000000000ull + 700000ull * 1000000ull;

	assert_int_equal(dise_ring_map(f->ring, DISE_RING_WRITE | DISE_RING_CREATE, 0, 0, &ring), 0);
	/* the EXIT of pid 700000 first, and a later complete run, then a pass of the collector */
	memset(&e, 0, sizeof(e));
	e.h.size = sizeof(e);
	e.h.type = DISE_REC_EXIT;
	e.h.hdr_size = sizeof(e.h);
	e.h.mono_ns = start + 1000;
	e.h.run_start_ns = start;
	e.h.pid = e.h.tid = 700000;
	memcpy(b, &e, sizeof(e));
	assert_int_equal(dise_ring_put(&ring, b, sizeof(e)), 0);
	synth_run(&ring, t, 700001, now_wall(), 1000000, 0);
	collect_once(f, &r);
	run_result_free(&r);
	/* now its START (synth_run writes START and EXIT: the EXIT again is harmless) */
	synth_run(&ring, t, 700000, now_wall(), 1000, 0);
	dise_ring_unmap(&ring);
	collect_once(f, &r);
	run_result_free(&r);
	assert_int_equal(db_count(f, "SELECT count(*) FROM runs WHERE tool LIKE '%%/latestart' AND version_id > 0"), 2);
	free(t);
}

/*
 * A release (blamer-v1) that runs `regress` ok, then the next (blamer-v2)
 * at the same path, which fails it: the baseline strikes are counted against.
 */
static char *regressing_tool(struct fixture *f, const char *name)
{
	char *t = tool_copy(f, name, "blamer-v1"), *ok[] = { t, "regress", NULL };
	struct run_result r;

	assert_transparent(ok, f->ring, NULL, &r);
	assert_int_equal(r.status, 0);
	run_result_free(&r);
	collect_once(f, &r);
	run_result_free(&r);
	copy_file(prog_path("blamer-v2"), t);
	return t;
}

/* Three strikes: 2 failures do not heal, the 3rd does, once; 50 at once heal once; 3 outside the window never. */
static void test_three_strikes(void **state)
{
	struct fixture *f = *state;
	char *t1 = regressing_tool(f, "strike1"), *t2 = regressing_tool(f, "strike50");
	char *t3 = tool_copy(f, "strikeold", "blamer-v1");
	char *fail1[] = { t1, "regress", NULL }, *fail2[] = { t2, "regress", NULL };
	struct run_result r;
	dise_ring ring;
	pid_t pids[50];
	int i, st;

	for (i = 0; i < 2; i++) {
		assert_transparent(fail1, f->ring, NULL, &r);
		run_result_free(&r);
	}
	collect_once(f, &r);
	run_result_free(&r);
	assert_int_equal(heal_requests(f, "strike1", NULL), 0);

	assert_transparent(fail1, f->ring, NULL, &r);
	run_result_free(&r);
	collect_once(f, &r);
	run_result_free(&r);
	assert_int_equal(heal_requests(f, "strike1", "three_strikes"), 1);
	{
		json_t *l = lineage_json(f, "strike1");

		assert_int_equal(json_array_size(l), 2);
		assert_non_null(json_object_get(json_array_get(l, 1), "heal_request")); /* taken by the healer since */
		assert_non_null(strstr(json_string_value(json_object_get(json_array_get(l, 1), "detection")),
				       "/strike1 v")); /* the tool by its path */
		json_decref(l);
	}
	assert_int_equal(db_count(f, "SELECT count(*) FROM failures WHERE detector = 'three_strikes' AND "
				     "description LIKE '/%/strike1 v% failed 3 times within 3600 s where its ancestors did not%'"),
			 1);
	/* a 4th run and another pass: routed to the release before, it runs ok; still exactly one request */
	{
		char *pre;
		const char *env[3];

		assert_true(asprintf(&pre, "LD_PRELOAD=%s", shim_path()) > 0);
		env[0] = pre, env[1] = f->env_ring, env[2] = NULL;
		assert_int_equal(run_cmd(fail1, env, NULL, &r), 0);
		assert_int_equal(r.status, 0);
		run_result_free(&r);
		free(pre);
	}
	collect_once(f, &r);
	run_result_free(&r);
	assert_int_equal(heal_requests(f, "strike1", NULL), 1);

	/* 50 failing runs at the same time */
	for (i = 0; i < 50; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			char *pre, *rv;

			assert_true(asprintf(&pre, "LD_PRELOAD=%s", shim_path()) > 0);
			assert_true(asprintf(&rv, "DISE_RING=%s", f->ring) > 0);
			char *envp[] = { pre, rv, NULL };
			int dn = open("/dev/null", O_WRONLY);

			dup2(dn, 1);
			execve(fail2[0], fail2, envp);
			_exit(127);
		}
	}
	for (i = 0; i < 50; i++) {
		assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
		assert_int_equal(WEXITSTATUS(st), 3);
	}
	collect_once(f, &r);
	run_result_free(&r);
	assert_int_equal(db_count(f, "SELECT count(*) FROM runs WHERE tool LIKE '%%/strike50' AND outcome = 'fail'"), 50);
	assert_int_equal(heal_requests(f, "strike50", NULL), 1);

	/* three failures where the release before ran ok, but two hours ago, a minute apart */
	assert_int_equal(dise_ring_map(f->ring, DISE_RING_WRITE, 0, 0, &ring), 0);
	synth_run(&ring, t3, 899999, now_wall() - INT64_C(7300) * 1000000000, 1000000, 0);
	collect_once(f, &r);
	run_result_free(&r);
	copy_file(prog_path("blamer-v2"), t3);
	for (i = 0; i < 3; i++)
		synth_run(&ring, t3, 900000 + (uint32_t)i, now_wall() - INT64_C(7200) * 1000000000 + i * INT64_C(60000000000),
			  1000000, 1);
	dise_ring_unmap(&ring);
	collect_once(f, &r);
	run_result_free(&r);
	assert_int_equal(db_count(f, "SELECT count(*) FROM runs WHERE tool LIKE '%%/strikeold' AND outcome = 'fail'"), 3);
	/* they have their version (so the detectors did look at them), and are simply too old */
	assert_int_equal(db_count(f, "SELECT count(*) FROM runs WHERE tool LIKE '%%/strikeold' AND version_id > 0"), 4);
	assert_int_equal(db_count(f, "SELECT count(*) FROM versions WHERE tool LIKE '%%/strikeold'"), 2);
	assert_int_equal(heal_requests(f, "strikeold", NULL), 0);
	free(t1);
	free(t2);
	free(t3);
}

/*
 * Against the release before, on the same invocation: failure rate 10 of 30
 * against 0 of 30 (Fisher p < 0.01); slowdown: twice the parent's wall time;
 * twice as slow but 1 ms more: jitter, not a regression.
 */
static void test_error_rate_and_slowdown(void **state)
{
	struct fixture *f = *state;
	char *te = tool_copy(f, "flaky", "blamer-v1"), *ts = tool_copy(f, "sluggish", "blamer-v1");
	char *tj = tool_copy(f, "jittery", "blamer-v1");
	struct run_result r;
	dise_ring ring;
	int64_t now = now_wall();
	int i, v;

	assert_int_equal(dise_ring_map(f->ring, DISE_RING_WRITE | DISE_RING_CREATE, 0, 0, &ring), 0);
	for (v = 1; v <= 2; v++) {
		uint32_t pid = 800000 + (uint32_t)v * 1000;

		if (v == 2) {
			copy_file(prog_path("blamer-v2"), te);
			copy_file(prog_path("blamer-v2"), ts);
			copy_file(prog_path("blamer-v2"), tj);
		}
		for (i = 0; i < 30; i++)
			synth_run(&ring, te, pid + (uint32_t)i, now - (100 - v * 40 - i) * INT64_C(1000000000), 1000000,
				  v == 2 && i % 3 == 0);
		for (i = 0; i < 10; i++)
			synth_run(&ring, ts, pid + 100 + (uint32_t)i, now - (100 - v * 40 - i) * INT64_C(1000000000),
				  v == 1 ? 50000000 : 100000000, 0);
		for (i = 0; i < 10; i++)
			synth_run(&ring, tj, pid + 200 + (uint32_t)i, now - (100 - v * 40 - i) * INT64_C(1000000000),
				  v == 1 ? 1000000 : 2000000, 0);
		collect_once(f, &r);
		run_result_free(&r);
	}
	dise_ring_unmap(&ring);
	assert_int_equal(db_count(f, "SELECT count(*) FROM versions WHERE tool LIKE '%%/flaky' OR tool LIKE '%%/sluggish' "
				     "OR tool LIKE '%%/jittery'"), 6);
	assert_int_equal(heal_requests(f, "flaky", "error_rate"), 1);
	assert_int_equal(db_count(f, "SELECT count(*) FROM failures WHERE detector = 'error_rate' AND description LIKE "
				     "'%/flaky v% failed 10 of 30 runs, its ancestors 0 of 30 on the same invocations%'"),
			 1);
	assert_int_equal(heal_requests(f, "sluggish", "slowdown"), 1);
	assert_int_equal(heal_requests(f, "jittery", NULL), 0);
	free(te);
	free(ts);
	free(tj);
}

/* Runs `dise run argv...` with this fixture's ring and home; status as from waitpid. */
static void dise_run(struct fixture *f, char *const args[], struct run_result *r)
{
	char *argv[16] = { (char *)bin_path("dise"), "run" };
	int i;

	for (i = 0; args[i] && i < 13; i++)
		argv[2 + i] = args[i];
	argv[2 + i] = NULL;
	dise_cmd(f, argv, r);
}

static int64_t runs_of(struct fixture *f, pid_t pid, const char *outcome_and_more)
{
	char *sql;
	int64_t n;

	assert_true(asprintf(&sql, "SELECT count(*) FROM runs WHERE pid = %d%s", (int)pid, outcome_and_more) > 0);
	n = db_count(f, sql);
	free(sql);
	return n;
}

/* The pid dise run gave the child: the one run of that tool in the database. */
static pid_t child_pid(struct fixture *f, const char *tool)
{
	char *sql;
	int64_t pid;

	assert_true(asprintf(&sql, "SELECT max(pid) FROM runs WHERE tool = '%s' OR tool LIKE '%%/%s'", tool, tool) > 0);
	pid = db_count(f, sql);
	free(sql);
	return (pid_t)pid;
}

static void test_dise_run(void **state)
{
	struct fixture *f = *state;
	char *ex3[] = { (char *)prog_path("exitcode"), "3", NULL };
	char *ex255[] = { (char *)prog_path("exitcode"), "255", "_exit", NULL };
	char *segv[] = { (char *)prog_path("crasher"), "segv", NULL };
	char *stat5[] = { (char *)prog_path("static-exit"), "5", NULL };
	char *missing[] = { "no-such-command-here", NULL };
	struct run_result r, direct;
	pid_t pid;

	/* exit codes and output pass through, as when run directly */
	dise_run(f, ex3, &r);
	assert_int_equal(run_cmd(ex3, NULL, NULL, &direct), 0);
	assert_int_equal(r.status, direct.status);
	assert_string_equal(r.out, direct.out);
	run_result_free(&r);
	run_result_free(&direct);
	/* exit codes and fatal signals pass through (dise dies of the tool's signal); a static binary, which no
	   shim can watch, python3, coreutils, and a tool killed by SIGKILL, all through dise run */
	{
		char *py[] = { "/usr/bin/python3", "-c", "import sys; print('py'); sys.exit(4)", NULL };
		char *ls[] = { "ls", "/nonexistent", NULL };
		char *killed[] = { (char *)prog_path("crasher"), "kill", NULL };
		const struct {
			char **args;
			int code, sig; /* one of them */
			const char *out;
		} cases[] = {
			{ ex255, 255, 0, NULL }, { segv, 0, SIGSEGV, NULL }, { stat5, 5, 0, "static 5\n" },
			{ py, 4, 0, "py\n" },    { ls, 2, 0, "" },          { killed, 0, SIGKILL, NULL },
		};
		size_t i;

		for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			dise_run(f, cases[i].args, &r);
			if (cases[i].sig) {
				assert_true(WIFSIGNALED(r.status));
				assert_int_equal(WTERMSIG(r.status), cases[i].sig);
			} else {
				assert_true(WIFEXITED(r.status));
				assert_int_equal(WEXITSTATUS(r.status), cases[i].code);
			}
			if (cases[i].out)
				assert_string_equal(r.out, cases[i].out);
			run_result_free(&r);
		}
	}
	dise_run(f, missing, &r);
	assert_int_equal(WEXITSTATUS(r.status), 127);
	assert_non_null(strstr(r.err, "command not found"));
	run_result_free(&r);

	/* stop the collector dise run started (it finishes its batch), then drain the rest of the ring */
	collector_stop(f);
	collect_once(f, &r);
	run_result_free(&r);

	pid = child_pid(f, "exitcode");
	assert_true(pid > 0);
	assert_int_equal(db_count(f, "SELECT count(*) FROM runs WHERE tool LIKE '%%/exitcode' AND outcome = 'fail'"), 2);
	assert_int_equal(db_count(f, "SELECT count(*) FROM runs WHERE tool LIKE '%%/crasher' AND outcome = 'crash' AND signal = 11"), 1);
	/* the shim's run only: dise run's stand-in was not needed */
	assert_int_equal(db_count(f, "SELECT count(*) FROM runs WHERE pid = (SELECT pid FROM runs WHERE tool LIKE '%%/crasher' "
				     "AND outcome = 'crash')"),
			 1);
	pid = child_pid(f, "static-exit");
	assert_int_equal(runs_of(f, pid, " AND outcome = 'fail' AND exit_status = 5"), 1);
	assert_int_equal(db_count(f, "SELECT count(*) FROM runs WHERE tool LIKE '%%/python3' AND outcome = 'fail' AND exit_status = 4"), 1);
	assert_int_equal(db_count(f, "SELECT count(*) FROM runs WHERE tool LIKE '%%/ls' AND outcome = 'fail' AND exit_status = 2"), 1);
	/* killed: wait4 told dise run at once, no need to wait for the vanished sweep */
	assert_int_equal(db_count(f, "SELECT count(*) FROM runs WHERE tool LIKE '%%/crasher' AND outcome = 'vanished' AND signal = 9"), 1);
	assert_int_equal(db_count(f, "SELECT count(*) FROM runs WHERE tool LIKE '%%/static-exit' AND version_id > 0"), 1);
}

/* Under nohup (SIGHUP ignored) and with a signal blocked, the tool sees the same as when run directly. */
static void test_dise_run_inherits_signals(void **state)
{
	struct fixture *f = *state;
	char *py[] = { "/usr/bin/python3", "-c",
		       "import signal; print(signal.getsignal(signal.SIGHUP), signal.getsignal(signal.SIGINT), "
		       "sorted(signal.pthread_sigmask(signal.SIG_BLOCK, [])))",
		       NULL };
	struct sigaction ign, old;
	sigset_t usr1, oldmask;
	struct run_result direct, wrapped;

	memset(&ign, 0, sizeof(ign));
	ign.sa_handler = SIG_IGN;
	sigaction(SIGHUP, &ign, &old);
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_BLOCK, &usr1, &oldmask);
	assert_int_equal(run_cmd(py, NULL, NULL, &direct), 0);
	dise_run(f, py, &wrapped);
	sigprocmask(SIG_SETMASK, &oldmask, NULL);
	sigaction(SIGHUP, &old, NULL);
	assert_int_equal(wrapped.status, 0);
	assert_int_equal(strncmp(direct.out, "1 ", 2), 0); /* SIG_IGN (1): the precondition held */
	assert_non_null(strstr(direct.out, "[<Signals.SIGUSR1: 10>]"));
	assert_string_equal(wrapped.out, direct.out);
	run_result_free(&direct);
	run_result_free(&wrapped);
	collector_stop(f);
}

/* The child of parent whose command name is comm, 0 if none. */
static pid_t child_named(pid_t parent, const char *comm)
{
	char path[64], name[64];
	FILE *fp;
	int c;
	pid_t found = 0;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)parent, (int)parent);
	fp = fopen(path, "r");
	if (!fp)
		return 0;
	while (!found && fscanf(fp, "%d", &c) == 1) {
		FILE *cf;

		snprintf(path, sizeof(path), "/proc/%d/comm", c);
		cf = fopen(path, "r");
		if (cf) {
			if (fgets(name, sizeof(name), cf) && (name[strcspn(name, "\n")] = '\0', !strcmp(name, comm)))
				found = c;
			fclose(cf);
		}
	}
	fclose(fp);
	return found;
}

/* Has the collector stored the START of pid (its run, ended or not)? */
static int run_started(struct fixture *f, pid_t pid)
{
	char sql[128];

	if (pid <= 0)
		return 0;
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM runs WHERE pid = %d", (int)pid);
	return db_try_count(f, sql) == 1;
}

/* Ctrl-C: the terminal signals the whole foreground group; the tool dies of it, and so does dise. */
static void test_dise_run_ctrl_c(void **state)
{
	struct fixture *f = *state;
	int st;
	pid_t tool = 0, pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		char *argv[] = { (char *)bin_path("dise"), "run", "/bin/sleep", "30", NULL };

		setpgid(0, 0);
		setenv("DISE_RING", f->ring, 1);
		setenv("DISE_HOME", f->home, 1);
		unsetenv("LD_PRELOAD");
		execv(argv[0], argv);
		_exit(127);
	}
	track_child(pid);
	setpgid(pid, pid);
	/* dise runs, sleep sleeps: its START went through the collector dise run started */
	if (!wait_for(run_started(f, tool = child_named(pid, "sleep")), WAIT_MS))
		fail_msg("sleep never started under dise run (pid %d)", (int)tool);
	assert_int_equal(killpg(pid, SIGINT), 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGINT);
	{
		struct run_result r;

		collector_stop(f);
		collect_once(f, &r);
		run_result_free(&r);
	}
	assert_int_equal(db_count(f, "SELECT count(*) FROM runs WHERE tool LIKE '%%/sleep' AND outcome = 'fail' AND signal = 2"), 1);
	{
		char sql[128];

		snprintf(sql, sizeof(sql), "SELECT count(*) FROM runs WHERE pid = %d AND outcome = 'fail'", (int)tool);
		assert_int_equal(db_count(f, sql), 1);
	}
}

static void write_config(struct fixture *f, const char *json)
{
	char *path;
	FILE *fp;

	mkdir(f->home, 0700);
	assert_true(asprintf(&path, "%s/dise.json", f->home) > 0);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(json, fp);
	fclose(fp);
	free(path);
}

/* A bad configuration: one clear line naming the key, and the collector does not start. */
static void test_config_errors(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *json, *says;
	} cases[] = {
		{ "{\"detect\": {\"strikez\": 3}}", "unknown key 'detect.strikez'" },
		{ "{\"detect\": {\"strikes\": 0}}", "'detect.strikes' must be an integer from 1" },
		{ "{\"tools\": {\"grep\": {\"normal_exit_codes\": [1, 300]}}}", "'tools.grep.normal_exit_codes'" },
		{ "{\"tools\": {\"grep\": {\"normal\": [1]}}}", "unknown key 'tools.grep.normal'" },
		{ "{\"cas\": {\"max_bytes\": -1}}", "'cas.max_bytes'" },
		{ "{\"tools\": {\"app\": {\"on_failure\": \"panic\"}}}", "'tools.app.on_failure' must be" },
		{ "{\"tools\": {\"app\": {\"rule_scope\": \"planet\"}}}", "'tools.app.rule_scope' must be" },
		{ "{\"tools\": {\"app\": {\"critical\": 1}}}", "'tools.app.critical' must be true or false" },
		{ "{\"tools\": {\"app\": {\"rule_scope\": \"all_similar\", \"critical\": true}}}",
		  "'tools.app.critical' is true but 'rule_scope' is \"all_similar\"" },
		{ "{\"colour\": true}", "unknown key 'colour'" },
		{ "{\"detect\": ", "dise.json:1:" },
		{ "{\"tools\": {\"a\": {}}, \"tools\": {}}", "dise.json:1:" }, /* a duplicate key */
	};
	char *argv[] = { (char *)bin_path("dise-collectord"), "--once", NULL };
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct run_result r;

		write_config(f, cases[i].json);
		dise_cmd(f, argv, &r);
		assert_int_equal(WEXITSTATUS(r.status), 1);
		if (!strstr(r.err, cases[i].says) || strchr(r.err, '\n') != r.err + strlen(r.err) - 1) {
			print_error("config %s: said '%s'\n", cases[i].json, r.err);
			fail();
		}
		run_result_free(&r);
	}
	if (geteuid() != 0) { /* root reads anything: an unreadable file only means something to others */
		char *path;
		struct run_result r;

		write_config(f, "{}");
		assert_true(asprintf(&path, "%s/dise.json", f->home) > 0);
		chmod(path, 0);
		dise_cmd(f, argv, &r);
		assert_int_equal(WEXITSTATUS(r.status), 1);
		run_result_free(&r);
		free(path);
	}
}

/* A tool whose policy calls exit code 1 normal does not strike out on it; the same failures elsewhere do. */
static void test_config_normal_exit_codes(void **state)
{
	struct fixture *f = *state;
	char *g = regressing_tool(f, "grepish"), *s = regressing_tool(f, "strict");
	char *ga[] = { g, "regress", NULL }, *sa[] = { s, "regress", NULL };
	struct run_result r;
	int i;

	/* both releases fail an invocation their parent ran ok (exit 3): for grepish, 3 is a normal ending */
	write_config(f, "{\"tools\": {\"grepish\": {\"normal_exit_codes\": [3]}}, \"detect\": {\"strikes\": 3}}");
	for (i = 0; i < 3; i++) {
		assert_transparent(ga, f->ring, NULL, &r);
		run_result_free(&r);
		assert_transparent(sa, f->ring, NULL, &r);
		run_result_free(&r);
	}
	collect_once(f, &r);
	run_result_free(&r);
	assert_int_equal(heal_requests(f, "grepish", NULL), 0);
	assert_int_equal(heal_requests(f, "strict", "three_strikes"), 1);
	free(g);
	free(s);
}

/* A copy of prog named name with npad bytes appended (content of its own), registered as tool's version label. */
static char *add_version(struct fixture *f, const char *tool, const char *label, const char *prog, int npad,
			 const char *parent1, const char *parent2)
{
	char *name, *path;
	struct run_result r;
	FILE *fp;

	assert_true(asprintf(&name, "%s-%s", tool, label) > 0);
	path = tool_copy(f, name, prog);
	free(name);
	fp = fopen(path, "a");
	assert_non_null(fp);
	for (int i = 0; i < npad; i++)
		fputc('\n', fp);
	fclose(fp);
	{
		char *add[] = { (char *)bin_path("dise"), "tool", "add", (char *)tool, "--version", (char *)label, path,
				parent1 ? "--parent" : NULL, (char *)parent1, parent2 ? "--parent" : NULL, (char *)parent2, NULL };

		dise_cmd(f, add, &r);
	}
	assert_int_equal(r.status, 0);
	run_result_free(&r);
	return path;
}

/* Registers v1 -> v2 -> v3 of tool from progs (a "+" suffix: the program with a byte appended, other content). */
static void add_chain(struct fixture *f, const char *tool, const char *const progs[3], char *paths[3])
{
	int i;

	for (i = 0; i < 3; i++) {
		size_t len = strlen(progs[i]);
		int pad = progs[i][len - 1] == '+';
		char prog[64], label[8];

		snprintf(prog, sizeof(prog), "%.*s", (int)(len - (size_t)pad), progs[i]);
		snprintf(label, sizeof(label), "v%d", i + 1);
		paths[i] = add_version(f, tool, label, prog, pad, i == 0 ? NULL : i == 1 ? "v1" : "v2", NULL);
	}
}

/*
 * A tool whose policy freezes: three crashes mark the version failed and
 * learn the rule, but nothing is pruned, tainted or routed, and `dise health`
 * says it was frozen; a tool without the policy is rolled back.
 */
static void test_freeze_policy(void **state)
{
	struct fixture *f = *state;
	char *paths[2];
	struct run_result r;
	json_t *j;
	int i;

	write_config(f, "{\"tools\": {\"frz\": {\"on_failure\": \"freeze\"}}}");
	paths[0] = add_version(f, "frz", "v1", "exitcode", 0, NULL, NULL);
	paths[1] = add_version(f, "frz", "v2", "crasher", 0, "v1", NULL);
	for (i = 0; i < 3; i++) {
		char *crash[] = { paths[1], "segv", NULL };

		assert_transparent(crash, f->ring, NULL, &r);
		run_result_free(&r);
	}
	collect_once(f, &r);
	run_result_free(&r);
	assert_int_equal(db_count(f, "SELECT count(*) FROM versions WHERE tool = 'frz' AND label = 'v2' AND health = 'failed'"), 1);
	assert_int_equal(db_count(f, "SELECT count(*) FROM versions WHERE tool = 'frz' AND health = 'pruned'"), 0);
	assert_int_equal(db_count(f, "SELECT count(*) FROM routes WHERE tool = 'frz'"), 0);
	assert_int_equal(db_count(f, "SELECT count(*) FROM rules WHERE tool = 'frz'"), 1);
	assert_int_equal(db_count(f, "SELECT count(*) FROM journal WHERE step = 'freeze'"), 1);
	{
		char *health[] = { (char *)bin_path("dise"), "health", "--json", NULL };

		j = dise_json(f, health);
	}
	assert_int_equal(json_integer_value(json_object_get(j, "frozen")), 1);
	assert_int_equal(json_integer_value(json_object_get(j, "routed")), 0);
	json_decref(j);
	{
		/* the failed version still runs itself: nothing routes it anywhere */
		char *crash[] = { paths[1], "segv", NULL };

		assert_transparent(crash, f->ring, NULL, &r);
		assert_true(WIFSIGNALED(r.status));
		run_result_free(&r);
	}
	for (i = 0; i < 2; i++)
		free(paths[i]);
}

/*
 * A merge, through the whole stack: v1 -> v2, v1 -> v3, v4 = merge(v2, v3).
 * v2 is pruned by hand; three crashes of v4 route to v3, its healthy parent
 * (not the pruned v2, not the farther v1), and a preloaded run of v4's path
 * runs v3.
 */
static void test_merge_heals_to_right_parent(void **state)
{
	struct fixture *f = *state;
	char *v[4];
	struct run_result r;
	int i;

	v[0] = add_version(f, "mrg", "v1", "exitcode", 1, NULL, NULL);
	v[1] = add_version(f, "mrg", "v2", "exitcode", 2, "v1", NULL);
	v[2] = add_version(f, "mrg", "v3", "exitcode", 3, "v1", NULL);
	v[3] = add_version(f, "mrg", "v4", "crasher", 0, "v2", "v3");
	{
		char *h[] = { (char *)bin_path("dise"), "heal", "mrg", "--version", "v2", NULL };

		dise_cmd(f, h, &r);
		assert_int_equal(r.status, 0);
		run_result_free(&r);
	}
	for (i = 0; i < 3; i++) {
		char *a[] = { v[3], "segv", NULL };

		assert_transparent(a, f->ring, NULL, &r);
		run_result_free(&r);
	}
	collect_once(f, &r);
	run_result_free(&r);
	assert_int_equal(db_count(f, "SELECT count(*) FROM routes rt JOIN versions v ON v.id = rt.version_id "
				     "WHERE rt.tool = 'mrg' AND v.label = 'v3'"),
			 1);
	assert_int_equal(db_count(f, "SELECT count(*) FROM versions WHERE tool = 'mrg' AND label IN ('v2', 'v4') "
				     "AND health = 'pruned'"),
			 2);
	{
		/* the merged file now runs v3: exitcode with "segv" exits 0 (atoi) instead of crashing */
		char env_ring[4200], env_pre[4200];
		char *a[] = { v[3], "segv", NULL };
		const char *env[] = { env_ring, env_pre, NULL };

		snprintf(env_ring, sizeof(env_ring), "DISE_RING=%s", f->ring);
		snprintf(env_pre, sizeof(env_pre), "LD_PRELOAD=%s", shim_path());
		assert_int_equal(run_cmd(a, env, NULL, &r), 0);
		assert_true(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0);
		assert_non_null(strstr(r.out, "exiting with 0"));
		run_result_free(&r);
	}
	for (i = 0; i < 4; i++)
		free(v[i]);
}

/*
 * Restore in place: with on_failure "restore", healing also writes v1's
 * bytes back at the broken file's path, with the file's mode kept, so that
 * a run where no shim is loaded gets the healthy version too.
 */
static void test_restore_in_place(void **state)
{
	struct fixture *f = *state;
	char *v1, *v2;
	struct run_result r;
	struct stat st;
	int i;

	write_config(f, "{\"tools\": {\"rst\": {\"on_failure\": \"restore\"}}}");
	v1 = add_version(f, "rst", "v1", "exitcode", 1, NULL, NULL);
	v2 = add_version(f, "rst", "v2", "crasher", 0, "v1", NULL);
	assert_int_equal(chmod(v2, 0751), 0);
	for (i = 0; i < 3; i++) {
		char *a[] = { v2, "segv", NULL };

		assert_transparent(a, f->ring, NULL, &r);
		run_result_free(&r);
	}
	collect_once(f, &r);
	run_result_free(&r);
	assert_int_equal(db_count(f, "SELECT count(*) FROM journal WHERE step = 'restore' AND result = 'ok'"), 1);
	/* restored after the route's commit, then done: nothing left 'restoring' */
	assert_int_equal(db_count(f, "SELECT count(*) FROM heal_requests WHERE state != 'done'"), 0);
	assert_true(same_file(v1, v2)); /* byte-identical to the healthy version */
	assert_int_equal(stat(v2, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0751);
	{
		/* no shim at all: the file itself is healthy now */
		char *a[] = { v2, "segv", NULL };

		assert_int_equal(run_cmd(a, NULL, NULL, &r), 0);
		assert_true(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0);
		run_result_free(&r);
	}
	{
		/* a file whose content changed since (a newer deploy) is never overwritten */
		char *v3 = add_version(f, "rst", "v3", "crasher", 2, "v1", NULL);
		char *h[] = { (char *)bin_path("dise"), "heal", "rst", "--version", "v3", NULL };
		FILE *fp = fopen(v3, "a");

		assert_non_null(fp);
		fputs("new deploy", fp);
		fclose(fp);
		dise_cmd(f, h, &r);
		assert_int_equal(r.status, 0);
		run_result_free(&r);
		assert_int_equal(db_count(f, "SELECT count(*) FROM journal WHERE step = 'restore' AND result = 'failed' "
					     "AND detail LIKE '%no longer holds the pruned content%'"),
				 1);
		assert_false(same_file(v1, v3));
		free(v3);
	}
	free(v1);
	free(v2);
}

/*
 * 50 failing runs at once, from 50 processes, while the collector runs:
 * exactly one healing (one heal request, one prune, one rule, one route).
 * Runs that start after the route is published run v1 instead (and exit 0):
 * how many crash first depends on the machine's speed, at least three do.
 */
static void test_concurrent_failures_heal_once(void **state)
{
	struct fixture *f = *state;
	static const char *const progs[3] = { "exitcode", "crasher", "exitcode+" };
	char *paths[3], env_ring[4200], env_pre[4200];
	pid_t coll, kids[50];
	int i, st, crashed = 0;

	add_chain(f, "race", progs, paths);
	/*
	 * The healing under test is the one the crashes cause. 50 processes at
	 * once on a loaded machine run v1 at very different speeds (1 ms, then
	 * 20 ms): the slowdown detector, tested on its own elsewhere, would
	 * rightly see that as a second strike here, so it only counts minutes.
	 */
	write_config(f, "{\"detect\": {\"slowdown_min_delta_ms\": 60000}}");
	coll = collector_start(f, "--foreground", NULL, NULL);
	snprintf(env_ring, sizeof(env_ring), "DISE_RING=%s", f->ring);
	snprintf(env_pre, sizeof(env_pre), "LD_PRELOAD=%s", shim_path());
	for (i = 0; i < 50; i++) {
		kids[i] = fork();
		assert_true(kids[i] >= 0);
		if (kids[i] == 0) {
			char *argv[] = { paths[1], "segv", NULL };
			const char *env[] = { env_ring, env_pre, NULL };
			struct run_result r;

			if (run_cmd(argv, env, NULL, &r) != 0)
				_exit(1);
			if (WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGSEGV)
				_exit(0); /* crashed: v2 */
			_exit(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0 && strstr(r.out, "exiting with 0") ? 2 : 1);
		}
	}
	for (i = 0; i < 50; i++) {
		assert_int_equal(waitpid(kids[i], &st, 0), kids[i]);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) != 1); /* crashed, or routed to v1 */
		crashed += WEXITSTATUS(st) == 0;
	}
	assert_true(crashed >= 3);
	/* every crash stored and healing done */
	if (!wait_for(db_try_count(f, "SELECT count(*) FROM runs WHERE outcome = 'crash'") == crashed &&
			      db_try_count(f, "SELECT count(*) FROM heal_requests WHERE state = 'done'") >= 1,
		      WAIT_MS))
		fail_msg("the %d crashes were not stored and healed", crashed);
	/* stopped, it finishes what it was doing (a detection pass, a healing) */
	kill(coll, SIGTERM);
	assert_int_equal(waitpid(coll, &st, 0), coll);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	/* and every detector over everything stored once more: were a second healing due, it would happen here */
	{
		struct run_result r;

		collect_once(f, &r);
		run_result_free(&r);
	}
	assert_int_equal(db_count(f, "SELECT count(*) FROM runs WHERE outcome = 'crash'"), crashed);
	if (db_count(f, "SELECT count(*) FROM heal_requests") != 1) {
		char *cmd;

		/* what the second healing was about */
		if (asprintf(&cmd, "sqlite3 %s/dise.db \"SELECT h.id, h.state, v.label, x.detector, x.description FROM "
				   "heal_requests h JOIN versions v ON v.id = h.version_id JOIN failures x ON x.id = h.failure_id; "
				   "SELECT v.label, r.outcome, count(*) FROM runs r LEFT JOIN versions v ON v.id = r.version_id "
				   "GROUP BY 1, 2\" >&2",
			     f->home) > 0) {
			if (system(cmd)) {
			}
			free(cmd);
		}
	}
	assert_int_equal(db_count(f, "SELECT count(*) FROM heal_requests"), 1);
	assert_int_equal(db_count(f, "SELECT count(*) FROM journal WHERE step = 'prune'"), 1);
	assert_int_equal(db_count(f, "SELECT count(*) FROM rules WHERE tool = 'race'"), 1);
	assert_int_equal(db_count(f, "SELECT count(*) FROM routes rt JOIN versions v ON v.id = rt.version_id "
				     "WHERE rt.tool = 'race' AND v.label = 'v1'"),
			 1);
	for (i = 0; i < 3; i++)
		free(paths[i]);
}

/*
 * A webhook: a local HTTP server (python3) records what it is POSTed; a
 * healing sends one "routed" event with the tool, the version and the
 * reason. A dead endpoint costs one line on stderr and the healing is done.
 */
static void test_webhook(void **state)
{
	static const char server[] =
		"import http.server, sys\n"
		"class H(http.server.BaseHTTPRequestHandler):\n"
		"    def do_POST(self):\n"
		"        b = self.rfile.read(int(self.headers['Content-Length']))\n"
		"        open(sys.argv[1], 'ab').write(self.headers['Content-Type'].encode() + b' ' + b + b'\\n')\n"
		"        self.send_response(204); self.end_headers()\n"
		"    def log_message(self, *a): pass\n"
		"s = http.server.HTTPServer(('127.0.0.1', 0), H)\n"
		"open(sys.argv[2] + '.tmp', 'w').write(str(s.server_address[1]))\n"
		"import os; os.rename(sys.argv[2] + '.tmp', sys.argv[2])\n"
		"s.serve_forever()\n";
	struct fixture *f = *state;
	static const char *const progs[3] = { "exitcode", "exitcode+", "crasher" };
	char *paths[3], *posts, *portf, *port = NULL, *json, *got;
	struct run_result r;
	pid_t srv;
	int i;

	assert_true(asprintf(&posts, "%s/posts", f->dir) > 0);
	assert_true(asprintf(&portf, "%s/port", f->dir) > 0);
	srv = fork();
	assert_true(srv >= 0);
	if (srv == 0) {
		execl("/usr/bin/python3", "python3", "-c", server, posts, portf, (char *)NULL);
		_exit(127);
	}
	track_child(srv); /* killed in teardown should an assertion fail before its end below */
	/* it writes its port (renamed into place) once it listens */
	if (!wait_for((port = slurp(portf)) != NULL, WAIT_MS))
		fail_msg("the webhook server never listened");
	add_chain(f, "hooked", progs, paths);
	assert_true(asprintf(&json, "{\"notify\": {\"webhook\": \"http://127.0.0.1:%s/dise\", \"timeout_ms\": 3000}}",
			     port) > 0);
	write_config(f, json);
	free(json);
	for (i = 0; i < 3; i++) {
		char *a[] = { paths[2], "segv", NULL };

		assert_transparent(a, f->ring, NULL, &r);
		run_result_free(&r);
	}
	collect_once(f, &r);
	run_result_free(&r);
	got = slurp(posts);
	assert_non_null(got);
	if (!strstr(got, "application/json {\"event\":\"routed\",\"tool\":\"hooked\"") || !strstr(got, "three_strikes") ||
	    strchr(got, '\n') != got + strlen(got) - 1) {
		print_error("posted: %s\n", got);
		fail();
	}
	free(got);
	/* sent once: a second pass sends nothing again */
	collect_once(f, &r);
	run_result_free(&r);
	got = slurp(posts);
	assert_int_equal(strchr(got, '\n'), got + strlen(got) - 1);
	free(got);

	/* the endpoint gone: healing happens all the same, and the collector says so in one line */
	kill(srv, SIGKILL);
	waitpid(srv, NULL, 0);
	{
		char *h[] = { (char *)bin_path("dise"), "heal", "hooked", "--version", "v2", NULL };

		dise_cmd(f, h, &r);
		assert_int_equal(r.status, 0);
		run_result_free(&r);
	}
	collect_once(f, &r);
	assert_non_null(strstr(r.err, "event routed not delivered"));
	run_result_free(&r);
	assert_int_equal(db_count(f, "SELECT count(*) FROM versions WHERE tool = 'hooked' AND health = 'pruned'"), 2);
	for (i = 0; i < 3; i++)
		free(paths[i]);
	free(port);
	free(posts);
	free(portf);
}

/*
 * Validation of the candidate before it becomes the route. "val": v2 fails
 * the tool's test command, so v1 is routed to. "rep": v2 crashes the same
 * way when v3's failing invocation is replayed (replay allowed), so v1 is
 * routed to; the replays are not recorded as runs.
 */
static void test_validation(void **state)
{
	struct fixture *f = *state;
	static const char *const val_progs[3] = { "exitcode", "exitcode+", "crasher" };
	static const char *const rep_progs[3] = { "exitcode", "crasher+", "crasher" };
	char *val[3], *rep[3], *json;
	struct run_result r;
	int i;

	add_chain(f, "val", val_progs, val);
	add_chain(f, "rep", rep_progs, rep);
	assert_true(asprintf(&json,
			     "{\"tools\": {\"val\": {\"test_command\": \"! cmp -s \\\"$DISE_CANDIDATE\\\" %s\", "
			     "\"test_timeout_seconds\": 10}, \"rep\": {\"replay\": true}}}",
			     val[1]) > 0);
	write_config(f, json);
	free(json);
	for (i = 0; i < 3; i++) {
		char *a[] = { val[2], "segv", NULL }, *b[] = { rep[2], "segv", NULL };

		assert_transparent(a, f->ring, NULL, &r);
		run_result_free(&r);
		assert_transparent(b, f->ring, NULL, &r);
		run_result_free(&r);
	}
	collect_once(f, &r);
	run_result_free(&r);
	assert_int_equal(db_count(f, "SELECT count(*) FROM routes rt JOIN versions v ON v.id = rt.version_id "
				     "WHERE rt.tool = 'val' AND v.label = 'v1'"),
			 1);
	assert_int_equal(db_count(f, "SELECT count(*) FROM journal WHERE tool = 'val' AND step = 'validate_test' "
				     "AND result = 'rejected'"),
			 1);
	assert_int_equal(db_count(f, "SELECT count(*) FROM journal WHERE tool = 'val' AND step = 'validate_test' "
				     "AND result = 'ok'"),
			 1);
	assert_int_equal(db_count(f, "SELECT count(*) FROM routes rt JOIN versions v ON v.id = rt.version_id "
				     "WHERE rt.tool = 'rep' AND v.label = 'v1'"),
			 1);
	assert_int_equal(db_count(f, "SELECT count(*) FROM journal WHERE tool = 'rep' AND step = 'validate_rules' "
				     "AND result = 'rejected' AND detail LIKE '%fails like rule%'"),
			 1);
	assert_int_equal(db_count(f, "SELECT count(*) FROM heal_requests WHERE state != 'done'"), 0);
	/* the replays ran with DISE_DISABLE=1: rep v2 has no runs, and v1 none either */
	assert_int_equal(db_count(f, "SELECT count(*) FROM runs r JOIN versions v ON v.id = r.version_id "
				     "WHERE v.tool = 'rep' AND v.label IN ('v1', 'v2')"),
			 0);
	{
		/* a later v4 below the pruned v3 repeats its crash: the inherited rule, replayed, refuses it */
		char *v4 = add_version(f, "rep", "v4", "crasher", 2, "v3", NULL); /* content of its own */
		char *v5 = add_version(f, "rep", "v5", "exitcode", 3, "v3", NULL);

		collect_once(f, &r);
		run_result_free(&r);
		/* refused: healed like a version that failed (pruned, its path routed to v1), no second rule */
		assert_int_equal(db_count(f, "SELECT count(*) FROM versions WHERE tool = 'rep' AND label = 'v4' AND health = 'pruned'"), 1);
		assert_int_equal(db_count(f, "SELECT count(*) FROM rules WHERE tool = 'rep'"), 1);
		assert_int_equal(db_count(f, "SELECT count(*) FROM failures x JOIN versions v ON v.id = x.version_id "
					     "WHERE v.label = 'v4' AND v.tool = 'rep' AND x.detector = 'rule'"),
				 1);
		/* v5 passed the same replay; v1 and v2 are not below v3: not covered */
		assert_int_equal(db_count(f, "SELECT count(*) FROM rule_checks c JOIN versions v ON v.id = c.version_id "
					     "WHERE v.tool = 'rep' AND v.label = 'v5' AND c.result = 'passed'"),
				 1);
		assert_int_equal(db_count(f, "SELECT count(*) FROM rule_checks c JOIN versions v ON v.id = c.version_id "
					     "WHERE v.tool = 'rep' AND v.label IN ('v1', 'v2') AND c.result = 'not_covered'"),
				 2);
		/* without replay in its policy, val's rule is only recorded as covering its descendants */
		assert_int_equal(db_count(f, "SELECT count(*) FROM rule_checks c JOIN versions v ON v.id = c.version_id "
					     "WHERE v.tool = 'val' AND c.result IN ('passed', 'failed')"),
				 0);
		assert_int_equal(db_count(f, "SELECT count(*) FROM routes rt JOIN versions v ON v.id = rt.version_id "
					     "WHERE rt.tool = 'rep' AND v.label = 'v1'"),
				 1);
		free(v4);
		free(v5);
	}
	for (i = 0; i < 3; i++)
		free(val[i]), free(rep[i]);
}

/* Runs `path mode` under the shim; returns its wait status. */
static int run_preloaded(struct fixture *f, const char *path, const char *mode, struct run_result *r)
{
	char env_ring[4200], env_pre[4200];
	char *a[] = { (char *)path, (char *)mode, NULL };
	const char *env[] = { env_ring, env_pre, NULL };

	snprintf(env_ring, sizeof(env_ring), "DISE_RING=%s", f->ring);
	snprintf(env_pre, sizeof(env_pre), "LD_PRELOAD=%s", shim_path());
	assert_int_equal(run_cmd(a, env, NULL, r), 0);
	return r->status;
}

#define ROUTED_TO(tool, label)                                                                                  \
	db_count(f, "SELECT count(*) FROM routes rt JOIN versions v ON v.id = rt.version_id WHERE rt.tool = '" tool \
		    "' AND v.label = '" label "'")

/*
 * Rule scopes. "sim" (rule_scope all_similar) and "dsc" (the default,
 * descendants): v0 exitcode -> v1 crasher -> v2 crasher (other bytes, the
 * same crash signature). Three crashes of v2 route to v1. One crash of v1
 * then matches sim's rule (v1 is an ancestor, covered by all_similar): v1 is
 * healed at once, no new rule, the route moves to v0, and v2's path runs
 * v0. dsc's rule does not cover its ancestor: one crash of v1 is one strike.
 * "gla" is critical (global): its rule (SIGABRT, another signature) covers
 * "glb", whose v2 (crasher, other bytes) is healed after one crash that
 * matches it.
 */
static void test_rule_scopes(void **state)
{
	struct fixture *f = *state;
	static const char *const tools[2] = { "sim", "dsc" };
	char *v[2][3], *ga[2], *gb[2];
	struct run_result r;
	int i, t;

	for (t = 0; t < 2; t++) {
		v[t][0] = add_version(f, tools[t], "v0", "exitcode", 0, NULL, NULL);
		v[t][1] = add_version(f, tools[t], "v1", "crasher", 1, "v0", NULL);
		v[t][2] = add_version(f, tools[t], "v2", "crasher", 2, "v1", NULL);
	}
	ga[0] = add_version(f, "gla", "v1", "exitcode", 4, NULL, NULL);
	ga[1] = add_version(f, "gla", "v2", "crasher", 4, "v1", NULL);
	gb[0] = add_version(f, "glb", "v1", "exitcode", 5, NULL, NULL);
	gb[1] = add_version(f, "glb", "v2", "crasher", 5, "v1", NULL);
	write_config(f, "{\"tools\": {\"sim\": {\"rule_scope\": \"all_similar\"}, \"gla\": {\"critical\": true}}}");
	for (i = 0; i < 3; i++) {
		char *a[] = { v[0][2], "segv", NULL }, *b[] = { v[1][2], "segv", NULL }, *c[] = { ga[1], "abort", NULL };

		assert_transparent(a, f->ring, NULL, &r);
		run_result_free(&r);
		assert_transparent(b, f->ring, NULL, &r);
		run_result_free(&r);
		assert_transparent(c, f->ring, NULL, &r);
		run_result_free(&r);
	}
	collect_once(f, &r);
	run_result_free(&r);
	assert_int_equal(ROUTED_TO("sim", "v1"), 1);
	assert_int_equal(ROUTED_TO("dsc", "v1"), 1);
	assert_int_equal(ROUTED_TO("gla", "v1"), 1);
	assert_int_equal(db_count(f, "SELECT count(*) FROM rules WHERE tool = 'sim' AND scope = 'all_similar'"), 1);
	assert_int_equal(db_count(f, "SELECT count(*) FROM rules WHERE tool = 'dsc' AND scope = 'descendants'"), 1);
	assert_int_equal(db_count(f, "SELECT count(*) FROM rules WHERE tool = 'gla' AND scope = 'global'"), 1);
	/* where each rule reached: sim's covers its ancestors, dsc's does not, gla's covers glb */
	assert_int_equal(db_count(f, "SELECT count(*) FROM rule_checks k JOIN rules ru ON ru.id = k.rule_id "
				     "JOIN versions v ON v.id = k.version_id WHERE ru.tool = 'sim' AND v.tool = 'sim' "
				     "AND k.result = 'covered'"),
			 2);
	assert_int_equal(db_count(f, "SELECT count(*) FROM rule_checks k JOIN rules ru ON ru.id = k.rule_id "
				     "JOIN versions v ON v.id = k.version_id WHERE ru.tool = 'dsc' AND v.tool = 'dsc' "
				     "AND k.result = 'not_covered'"),
			 2);
	assert_int_equal(db_count(f, "SELECT count(*) FROM rule_checks k JOIN rules ru ON ru.id = k.rule_id "
				     "JOIN versions v ON v.id = k.version_id WHERE ru.tool = 'gla' AND v.tool = 'glb' "
				     "AND k.result = 'covered'"),
			 2);
	assert_int_equal(db_count(f, "SELECT count(*) FROM rule_checks k JOIN rules ru ON ru.id = k.rule_id "
				     "JOIN versions v ON v.id = k.version_id WHERE ru.tool != v.tool AND ru.tool != 'gla'"),
			 0);

	/* one crash each of sim v1, dsc v1 (the routes) and glb v2 */
	for (t = 0; t < 2; t++) {
		assert_true(WIFSIGNALED(run_preloaded(f, v[t][1], "segv", &r)));
		run_result_free(&r);
	}
	assert_true(WIFSIGNALED(run_preloaded(f, gb[1], "abort", &r)));
	run_result_free(&r);
	collect_once(f, &r);
	run_result_free(&r);
	assert_int_equal(ROUTED_TO("sim", "v0"), 1);
	assert_int_equal(db_count(f, "SELECT count(*) FROM versions WHERE tool = 'sim' AND label = 'v1' AND health = 'pruned'"),
			 1);
	assert_int_equal(db_count(f, "SELECT count(*) FROM journal WHERE tool = 'sim' AND step = 'rule_matched'"), 1);
	assert_int_equal(db_count(f, "SELECT count(*) FROM journal WHERE tool = 'sim' AND step = 'rule' AND result = 'skipped'"),
			 1);
	assert_int_equal(db_count(f, "SELECT count(*) FROM rules WHERE tool = 'sim'"), 1);
	assert_int_equal(ROUTED_TO("dsc", "v1"), 1);
	assert_int_equal(db_count(f, "SELECT count(*) FROM versions WHERE tool = 'dsc' AND label = 'v1' AND health = 'healthy'"),
			 1);
	assert_int_equal(ROUTED_TO("glb", "v1"), 1);
	assert_int_equal(db_count(f, "SELECT count(*) FROM failures x JOIN versions v ON v.id = x.version_id "
				     "WHERE v.tool = 'glb' AND v.label = 'v2' AND x.detector = 'rule'"),
			 1);
	/* the routes in effect: sim's v2 and v1 paths run v0, glb's v2 runs v1 (exitcode: "segv" exits 0) */
	for (i = 0; i < 3; i++) {
		const char *path = i == 0 ? v[0][2] : i == 1 ? v[0][1] : gb[1];
		int st = run_preloaded(f, path, "segv", &r);

		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
		assert_non_null(strstr(r.out, "exiting with 0"));
		run_result_free(&r);
	}
	for (t = 0; t < 2; t++)
		for (i = 0; i < 3; i++)
			free(v[t][i]);
	for (i = 0; i < 2; i++)
		free(ga[i]), free(gb[i]);
}

/*
 * The upgrade path: a database of every older schema version, holding a
 * run, is opened by this collector: migrated step by step to the current
 * version, the run kept, and every reading command works on it.
 */
static void test_schema_upgrade(void **state)
{
	struct fixture *f = *state;
	char *db, *sql;
	int v;

	assert_true(asprintf(&db, "%s/dise.db", f->home) > 0);
	mkdir(f->home, 0700);
	for (v = 1; v < DISE_SCHEMA_VERSION; v++) {
		static const char *const cmds[][4] = { { "runs", "--json" }, { "crashes", "--json" }, { "health", "--json" },
							{ "pruned", "--json" }, { "rules", "--json" } };
		dise_store *st;
		sqlite3 *h;
		struct run_result r;
		size_t i;

		unlink(db);
		assert_int_equal(dise_store_create_old(db, v), 0);
		h = db_open(db);
		assert_true(asprintf(&sql, "INSERT INTO runs(epoch, pid, start_ns, outcome, exit_status, execfn, argv) "
					   "VALUES (1, %d, 5, 'fail', 3, '/bin/old', '[\"old\"]')",
				     4200 + v) > 0);
		assert_int_equal(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK);
		free(sql);
		sqlite3_close(h);
		/* a reader refuses it, saying it was made by an older dise */
		{
			char *a[] = { (char *)bin_path("dise"), "runs", NULL };

			dise_cmd(f, a, &r);
			assert_int_equal(WEXITSTATUS(r.status), 1);
			assert_non_null(strstr(r.err, "older dise"));
			run_result_free(&r);
		}
		assert_int_equal(dise_store_open(db, 0, &st), 0);
		dise_store_free(st);
		assert_int_equal(db_count(f, "SELECT version FROM schema_version"), DISE_SCHEMA_VERSION);
		assert_true(asprintf(&sql, "SELECT count(*) FROM runs WHERE pid = %d AND exit_status = 3", 4200 + v) > 0);
		assert_int_equal(db_count(f, sql), 1);
		free(sql);
		for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
			char *a[] = { (char *)bin_path("dise"), (char *)cmds[i][0], (char *)cmds[i][1], NULL };
			json_t *j = dise_json(f, a);

			json_decref(j);
		}
	}
	free(db);
}

/* Over the cap, copies go oldest first; the newest healthy version of a tool keeps its copy. */
static void test_config_cas_cap(void **state)
{
	struct fixture *f = *state;
	static const char *progs[] = { "exitcode", "forker", "threads" };
	static const char *labels[] = { "v1", "v2", "v3" };
	struct run_result r;
	int i;

	write_config(f, "{\"cas\": {\"max_bytes\": 1000}}");
	collect_once(f, &r); /* makes the database */
	run_result_free(&r);
	for (i = 0; i < 3; i++) {
		char *argv[] = { (char *)bin_path("dise"), "tool", "add", "capped", "--version", (char *)labels[i],
				 (char *)prog_path(progs[i]), NULL };

		dise_cmd(f, argv, &r);
		assert_int_equal(r.status, 0);
		run_result_free(&r);
	}
	/* dise tool add reads no configuration: the collector's resolver applies the cap on its next step */
	{
		char *ok[] = { (char *)prog_path("closefds"), NULL };

		assert_transparent(ok, f->ring, NULL, &r);
		run_result_free(&r);
	}
	collect_once(f, &r);
	run_result_free(&r);
	assert_int_equal(db_count(f, "SELECT count(*) FROM versions WHERE tool = 'capped' AND cas_path IS NOT NULL"), 1);
	assert_int_equal(db_count(f, "SELECT max(id) FROM versions WHERE tool = 'capped'"),
			 db_count(f, "SELECT id FROM versions WHERE tool = 'capped' AND cas_path IS NOT NULL"));
}

/* The collector issue's acceptance: `dise run ./crasher` three times, then runs, crash group, heal request, lineage. */
static void test_done_when(void **state)
{
	struct fixture *f = *state;
	char *tool = tool_copy(f, "crasher", "crasher");
	char *args[] = { tool, "segv", NULL };
	char *crashes[] = { (char *)bin_path("dise"), "crashes", "--json", NULL };
	struct run_result r;
	json_t *j, *l;
	size_t i;
	int found = 0;

	for (i = 0; i < 3; i++) {
		dise_run(f, args, &r);
		assert_true(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGSEGV);
		run_result_free(&r);
	}
	/* the collector dise run started stores, versions and detects by itself: a first version, nothing to compare
	 * it to or route to: failing, not healed */
	if (!wait_for(db_try_count(f, "SELECT count(*) FROM versions WHERE tool LIKE '%%/crasher' AND health = 'failing'") > 0,
		      WAIT_MS))
		fail_msg("the collector dise run started never judged the crashes");
	collector_stop(f);

	assert_int_equal(db_count(f, "SELECT count(*) FROM runs WHERE tool LIKE '%%/crasher' AND outcome = 'crash'"), 3);
	j = dise_json(f, crashes);
	assert_int_equal(json_array_size(j), 1);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(j, 0), "count")), 3);
	/* the signature's strikes, per version; no version condemned (nothing was healed) */
	assert_non_null(strstr(json_string_value(json_object_get(json_array_get(j, 0), "strikes_by_version")), " x3"));
	/* named as dise lineage names it, its label with its id (the id alone read as another label: "v6" for v2) */
	assert_non_null(
		strstr(json_string_value(json_object_get(json_array_get(j, 0), "strikes_by_version")), " v1 (version "));
	assert_null(json_object_get(json_array_get(j, 0), "condemned"));
	for (i = 0; i < json_array_size(json_object_get(json_array_get(j, 0), "top_frames")); i++) {
		const char *fn = json_string_value(
			json_object_get(json_array_get(json_object_get(json_array_get(j, 0), "top_frames"), i), "function"));

		found |= fn && !strcmp(fn, "dise_test_crash_segv");
	}
	assert_true(found);
	json_decref(j);
	l = lineage_json(f, "crasher");
	assert_int_equal(json_array_size(l), 1);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(l, 0), "crashes")), 3);
	/* no heal request: a single version has no ancestor to route to; marked failing, still run */
	assert_null(json_string_value(json_object_get(json_array_get(l, 0), "heal_request")));
	assert_string_equal(json_string_value(json_object_get(json_array_get(l, 0), "health")), "failing");
	assert_int_equal(db_count(f, "SELECT count(*) FROM failures WHERE detector = 'no_baseline' AND signature IS NOT NULL"), 1);
	json_decref(l);
	free(tool);
}

/* A full disk (SQLITE_FULL): ingest pauses and retries, the records wait in the ring, nothing is lost. */
static void test_disk_full(void **state)
{
	struct fixture *f = *state;
	struct run_result r;
	dise_ring ring;
	uint8_t b[512];
	pid_t pid;
	int i, st, pages;

	collect_once(f, &r); /* an empty database */
	run_result_free(&r);
	pages = (int)db_count(f, "PRAGMA page_count");
	assert_int_equal(dise_ring_map(f->ring, DISE_RING_WRITE, 0, 0, &ring), 0);
	for (i = 0; i < 3000; i++) {
		assert_int_equal(dise_ring_put(&ring, b, (uint32_t)make_start(b, 300000 + (uint32_t)i, 5000 + (uint64_t)i)), 0);
		assert_int_equal(dise_ring_put(&ring, b, (uint32_t)make_exit(b, 300000 + (uint32_t)i, 5000 + (uint64_t)i, 0)), 0);
	}
	/* a collector whose database cannot grow past its current size */
	{
		char env_pages[64], *log;
		const char *env[] = { env_pages, NULL };

		snprintf(env_pages, sizeof(env_pages), "DISE_TEST_DB_MAX_PAGES=%d", pages + 1);
		assert_true(asprintf(&log, "%s/full.log", f->dir) > 0);
		pid = collector_start(f, "--foreground", env, log);
		/* it meets the full disk and says so */
		if (!wait_for(file_has(log, "storing failed (No space left on device), will retry"), WAIT_MS)) {
			char *buf = slurp(log);

			print_error("the capped collector said: %s\n", buf ? buf : "(nothing)");
			fail();
		}
		free(log);
	}
	assert_int_equal(waitpid(pid, &st, WNOHANG), 0); /* still running: pausing, not dying */
	/* nothing was released: the records still wait in the ring */
	assert_int_equal(dise_ring_stats_of(&ring).tail, 0);
	kill(pid, SIGTERM);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	/* room again: everything arrives, once */
	collect_once(f, &r);
	run_result_free(&r);
	assert_int_equal(db_count(f, "SELECT count(*) FROM runs WHERE pid >= 300000 AND pid < 303000 AND outcome = 'ok'"),
			 3000);
	assert_int_equal(dise_ring_stats_of(&ring).head, dise_ring_stats_of(&ring).tail);
	dise_ring_unmap(&ring);
}

/*
 * The healer's scenario: app v1 -> v2 -> v3, v2 crashes three times: v2 pruned (kept), v3 degraded,
 * one rule, the route to v1. A tool with no healthy ancestor ends routed nowhere, said so.
 */
static void test_healing(void **state)
{
	struct fixture *f = *state;
	static const char *const progs[3] = { "exitcode", "crasher", "forker" };
	char *paths[3];
	struct run_result r;
	json_t *j, *l;
	int i;

	add_chain(f, "app", progs, paths);
	for (i = 0; i < 2; i++) { /* two crashes: no healing */
		char *crash[] = { paths[1], "segv", NULL };

		assert_transparent(crash, f->ring, NULL, &r);
		run_result_free(&r);
	}
	collect_once(f, &r);
	run_result_free(&r);
	assert_int_equal(db_count(f, "SELECT count(*) FROM versions WHERE tool = 'app' AND health = 'healthy'"), 3);
	{
		char *crash[] = { paths[1], "segv", NULL };

		assert_transparent(crash, f->ring, NULL, &r);
		run_result_free(&r);
	}
	collect_once(f, &r);
	run_result_free(&r);

	l = lineage_json(f, "app");
	assert_int_equal(json_array_size(l), 3);
	assert_string_equal(json_string_value(json_object_get(json_array_get(l, 0), "health")), "healthy");
	assert_true(json_is_true(json_object_get(json_array_get(l, 0), "route")));
	assert_string_equal(json_string_value(json_object_get(json_array_get(l, 1), "health")), "pruned");
	assert_string_equal(json_string_value(json_object_get(json_array_get(l, 2), "health")), "degraded");
	{
		/* the same story for Graphviz: one node per version, an edge per parent, the route marked */
		char *dot[] = { (char *)bin_path("dise"), "lineage", "app", "--dot", NULL }, node[64];
		json_int_t v1 = json_integer_value(json_object_get(json_array_get(l, 0), "id"));
		json_int_t v2 = json_integer_value(json_object_get(json_array_get(l, 1), "id"));
		json_int_t v3 = json_integer_value(json_object_get(json_array_get(l, 2), "id"));

		dise_cmd(f, dot, &r);
		assert_int_equal(r.status, 0);
		assert_true(!strncmp(r.out, "digraph \"app\" {", 15));
		snprintf(node, sizeof(node), "v%lld -> v%lld;", (long long)v1, (long long)v2);
		assert_non_null(strstr(r.out, node));
		snprintf(node, sizeof(node), "v%lld -> v%lld;", (long long)v2, (long long)v3);
		assert_non_null(strstr(r.out, node));
		snprintf(node, sizeof(node), "v%lld [label=\"v%lld v1\\n", (long long)v1, (long long)v1);
		assert_non_null(strstr(strstr(r.out, node), "peripheries=2"));
		assert_non_null(strstr(r.out, "fillcolor=lightpink"));
		assert_non_null(strstr(r.out, "fillcolor=khaki"));
		assert_string_equal(r.out + strlen(r.out) - 2, "}\n");
		run_result_free(&r);
	}
	json_decref(l);
	assert_int_equal(db_count(f, "SELECT count(*) FROM versions v WHERE v.tool = 'app' AND v.label = 'v3' AND "
				     "v.tainted_by = (SELECT id FROM versions WHERE tool = 'app' AND label = 'v2')"),
			 1);

	{
		/* built here: bin_path() hands out rotating buffers */
		char *rules[] = { (char *)bin_path("dise"), "rules", "--json", NULL };

		j = dise_json(f, rules);
	}
	assert_int_equal(json_array_size(j), 1);
	if (!strstr(json_string_value(json_object_get(json_array_get(j, 0), "description")),
		    "SIGSEGV in dise_test_crash_segv (app-v2+0x")) {
		print_error("rule: %s\n", json_string_value(json_object_get(json_array_get(j, 0), "description")));
		fail();
	}
	assert_non_null(strstr(json_string_value(json_object_get(json_array_get(j, 0), "description")),
			       "when run as `app-v2 segv`"));
	json_decref(j);
	{
		char *pruned[] = { (char *)bin_path("dise"), "pruned", "--json", NULL };

		j = dise_json(f, pruned);
	}
	assert_int_equal(json_array_size(j), 1);
	assert_non_null(strstr(json_string_value(json_object_get(json_array_get(j, 0), "why")), "three_strikes"));
	json_decref(j);
	/* every step in the journal */
	assert_int_equal(db_count(f, "SELECT count(DISTINCT step) FROM journal WHERE tool = 'app' AND step IN "
				     "('start','mark_failed','prune','taint','rule','route')"),
			 6);
	/* the pruned version is kept: its file and its runs */
	assert_int_equal(db_count(f, "SELECT count(*) FROM versions v WHERE v.tool = 'app' AND v.label = 'v2' AND "
				     "v.cas_path IS NOT NULL"),
			 1);

	/* routing: the pruned file now runs v1 instead, under the shim and through dise run, unchanged argv */
	{
		char *crash[] = { paths[1], "segv", NULL };
		char *pre, *rv;
		const char *env[3];

		assert_true(asprintf(&pre, "LD_PRELOAD=%s", shim_path()) > 0);
		assert_true(asprintf(&rv, "DISE_RING=%s", f->ring) > 0);
		env[0] = pre, env[1] = rv, env[2] = NULL;
		assert_int_equal(run_cmd(crash, env, NULL, &r), 0);
		assert_true(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0);
		assert_string_equal(r.out, "exiting with 0 via main\n"); /* v1 (exitcode) with argv "segv" */
		run_result_free(&r);
		dise_run(f, crash, &r);
		assert_int_equal(r.status, 0);
		assert_string_equal(r.out, "exiting with 0 via main\n");
		run_result_free(&r);
		free(pre);
		free(rv);
		collector_stop(f);
		collect_once(f, &r);
		run_result_free(&r);
		/* recorded: the pruned image ended by a route exec, the routed run is app v1 */
		assert_int_equal(db_count(f, "SELECT count(*) FROM runs WHERE outcome = 'exec' AND exec_path LIKE '%/.dise-%-app-v2'"), 2);
		assert_int_equal(db_count(f, "SELECT count(*) FROM runs r JOIN versions v ON v.id = r.version_id WHERE "
					     "r.tool = 'app' AND v.label = 'v1' AND r.outcome = 'ok'"),
				 2);
	}

	/* an operator resets v2: healthy again, v3 too, no route, journaled with the reason */
	{
		char *reset[] = { (char *)bin_path("dise"), "reset", "app", "--version", "v2", "--why", "fixed upstream", NULL };
		char *crash[] = { paths[1], "segv", NULL };

		dise_cmd(f, reset, &r);
		assert_int_equal(r.status, 0);
		run_result_free(&r);
		assert_int_equal(db_count(f, "SELECT count(*) FROM versions WHERE tool = 'app' AND health = 'healthy'"), 3);
		assert_int_equal(db_count(f, "SELECT count(*) FROM routes WHERE tool = 'app'"), 0);
		assert_int_equal(db_count(f, "SELECT count(*) FROM journal WHERE tool = 'app' AND step = 'reset' AND "
					     "detail LIKE '%fixed upstream'"),
				 1);
		collect_once(f, &r); /* publishes the (now empty) routes */
		run_result_free(&r);
		/* v2 runs as itself again, and crashes: its earlier strikes no longer count */
		assert_transparent(crash, f->ring, NULL, &r);
		assert_true(WIFSIGNALED(r.status));
		run_result_free(&r);
		collect_once(f, &r);
		run_result_free(&r);
		assert_int_equal(db_count(f, "SELECT count(*) FROM versions WHERE tool = 'app' AND label = 'v2' AND "
					     "health = 'healthy'"),
				 1);
	}

	/* a lone version that crashes three times: no healthy ancestor, routed nowhere */
	{
		char *lone = tool_copy(f, "lonely", "crasher"), *crash[] = { lone, "segv", NULL };

		for (i = 0; i < 3; i++) {
			assert_transparent(crash, f->ring, NULL, &r);
			run_result_free(&r);
		}
		collect_once(f, &r);
		run_result_free(&r);
		assert_int_equal(db_count(f, "SELECT count(*) FROM versions WHERE tool LIKE '%/lonely' AND health = 'failing'"), 1);
		assert_int_equal(db_count(f, "SELECT count(*) FROM routes WHERE tool LIKE '%/lonely'"), 0);
		assert_int_equal(db_count(f, "SELECT count(*) FROM journal WHERE tool LIKE '%/lonely' AND result = 'no_ancestor'"), 1);
		free(lone);
	}
	/* the report: one healing, routed; the lone version is failing, not a healing */
	{
		char *health[] = { (char *)bin_path("dise"), "health", "--json", NULL };

		j = dise_json(f, health);
		assert_int_equal(json_integer_value(json_object_get(j, "healings")), 1);
		assert_int_equal(json_integer_value(json_object_get(j, "routed")), 1);
		assert_int_equal(json_integer_value(json_object_get(j, "no_ancestor")), 0);
		assert_true(json_real_value(json_object_get(j, "success_rate")) == 1.0);
		assert_true(json_integer_value(json_object_get(j, "mean_detection_to_route_ns")) > 0);
		assert_true(json_array_size(json_object_get(j, "recent_failures")) >= 2);
		json_decref(j);
	}
	for (i = 0; i < 3; i++)
		free(paths[i]);
}

#define LOAD_RUNS 50000 /* START + EXIT each: 100 000 records */


/* SIGKILL the collector mid-load, start it again: every record stored, none twice. */
static void test_sigkill_exactly_once(void **state)
{
	struct fixture *f = *state;
	struct run_result r;
	dise_ring ring;
	uint8_t b[512];
	pid_t pid;
	int i, st, round;

	/* one shard big enough to hold the whole load: nothing may be dropped */
	assert_int_equal(dise_ring_map(f->ring, DISE_RING_WRITE | DISE_RING_CREATE, 1u << 18, 1, &ring), 0);
	for (i = 0; i < LOAD_RUNS; i++) {
		assert_int_equal(dise_ring_put(&ring, b, (uint32_t)make_start(b, 100000 + (uint32_t)i, 1000 + (uint64_t)i)),
				 0);
		assert_int_equal(dise_ring_put(&ring, b, (uint32_t)make_exit(b, 100000 + (uint32_t)i, 1000 + (uint64_t)i,
									      i % 7 == 0)),
				 0);
	}
	assert_int_equal(dise_ring_stats_of(&ring).dropped, 0);

	/*
	 * Kill it several times at different moments of the load: once it
	 * stored its first batch, then once it stored a sixteenth, two
	 * sixteenths more; each time with records still in the ring.
	 */
	for (round = 0; round < 3; round++) {
		uint64_t from = dise_ring_stats_of(&ring).tail, step = dise_ring_stats_of(&ring).head / 16;

		pid = collector_start(f, "--foreground", NULL, NULL);
		if (!wait_for(dise_ring_stats_of(&ring).tail > from + (uint64_t)round * step, WAIT_MS))
			fail_msg("round %d: the collector stored nothing", round);
		assert_true(dise_ring_stats_of(&ring).tail < dise_ring_stats_of(&ring).head); /* mid-load */
		kill(pid, SIGKILL);
		assert_int_equal(waitpid(pid, &st, 0), pid);
		assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	}
	/* and once at the worst moment: right after a commit, before the release */
	pid = spawn_collector_env(f, "--foreground", "DISE_TEST_KILL_AFTER_COMMIT");
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);

	collect_once(f, &r);
	print_message("      after 4 SIGKILLs: %s", r.err);
	/* the batch stored before the last kill was read again, and skipped */
	assert_null(strstr(r.err, " 0 read again"));
	run_result_free(&r);
	assert_int_equal(db_count(f, "SELECT count(*) FROM runs"), LOAD_RUNS);
	assert_int_equal(db_count(f, "SELECT count(*) FROM runs WHERE outcome IS NULL"), 0);
	assert_int_equal(db_count(f, "SELECT count(*) FROM runs WHERE outcome = 'fail'"), (LOAD_RUNS + 6) / 7);
	assert_int_equal(db_count(f, "SELECT count(DISTINCT pid) FROM runs"), LOAD_RUNS);
	/* and the ring is empty: all released */
	assert_int_equal(dise_ring_stats_of(&ring).head, dise_ring_stats_of(&ring).tail);
	dise_ring_unmap(&ring);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sha256, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_end_to_end, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_crash_groups_and_vanished, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_out_of_order, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_start_end_one_row, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_ingest_pairs_runs, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_end_may_strike, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_touched_until_looked_at, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_merged_run_touched, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_exec_end_no_class, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_head_read_per_transaction, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_head_kept_while_no_commit, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_runs_metric_as_group_by, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_strike_hint_kept, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_lock_and_sigterm, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_sigkill_exactly_once, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_collector_cli, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_locked_database, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_disk_full, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_versions_lineage, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_store_keeps_what_may_run, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_tool_add_merge, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_late_start_gets_version, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_dise_run, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_dise_run_ctrl_c, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_dise_run_inherits_signals, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_config_errors, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_config_normal_exit_codes, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_config_cas_cap, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_schema_upgrade, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_done_when, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_validation, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_rule_scopes, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_webhook, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_failures_heal_once, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_merge_heals_to_right_parent, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_restore_in_place, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_freeze_policy, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_healing, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_three_strikes, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_error_rate_and_slowdown, fixture_setup, fixture_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
