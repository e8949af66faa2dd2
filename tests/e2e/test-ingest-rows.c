/* SPDX-License-Identifier: MIT */
/*
 * What the collector asks of the kernel and of SQLite per run (issue 11,
 * goal 2), with every row and every answer as it was: the script a
 * watched shell's fork children name, looked at once a write transaction;
 * an image's exec parent from the row written before it; a rule's matches
 * read from failures only.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "record.h"
#include "store.h"
#include "toolpath.h"

/* A START of `sh loop.sh` in dir (a fork child when fork), decoded into *rec (its bytes in b). */
static void sh_start(uint8_t *b, size_t size, struct dise_record *rec, const char *dir, uint32_t pid, int fork)
{
	char *argv[] = { "sh", "loop.sh", NULL };
	struct dise_rec_start_in in = { 0 };
	struct dise_rec_buf rb;
	struct stat sh;
	int n;

	assert_int_equal(stat("/bin/sh", &sh), 0);
	in.who = (struct dise_rec_who){ 1000 + pid, pid, pid };
	in.mono_ns = 1000 + pid;
	in.wall_ns = 1;
	in.ppid = 1, in.flags = fork ? DISE_START_FORK : 0;
	in.exe_id.dev = sh.st_dev, in.exe_id.ino = sh.st_ino, in.exe_id.size = (uint64_t)sh.st_size;
	in.exe_id.mtime_ns = (int64_t)sh.st_mtim.tv_sec * 1000000000 + sh.st_mtim.tv_nsec;
	in.script_id = in.exe_id;
	in.execfn = "/bin/sh";
	in.cwd = dir;
	in.argv.v = argv;
	dise_rec_buf_init(&rb, b, (uint32_t)size);
	assert_true((n = dise_rec_start_write(&in, &rb.sink)) > 0);
	assert_int_equal(dise_record_decode(b, (size_t)n, rec, NULL), 0);
}

/* A new file at path (made beside it, then renamed: another inode than the one it replaces). */
static void write_script(const char *path, const char *text)
{
	char tmp[4096];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.new", path);
	assert_non_null(f = fopen(tmp, "w"));
	fputs(text, f);
	fclose(f);
	assert_int_equal(rename(tmp, path), 0);
}

/*
 * The script a watched shell runs (`sh loop.sh`) is named again by each of
 * its fork children's STARTs: looked at (stat, open, read, close) once a
 * write transaction, every row with the script's identity as before; the
 * next transaction looks again (a script written anew between two gathers
 * is the new one's).
 */
static void test_script_read_once_per_transaction(void **state)
{
	static const char ino[] = "SELECT exe_ino FROM runs WHERE pid = ?1";
	static const char script_path[] = "SELECT path = tool AND path LIKE '%/loop.sh' FROM runs WHERE pid = ?1";
	struct fixture *f = *state;
	struct dise_record rec;
	uint8_t b[1024];
	struct stat s1, s2;
	char *db, *script;
	dise_store *st;

	assert_true(asprintf(&db, "%s/rows.db", f->dir) > 0);
	assert_true(asprintf(&script, "%s/loop.sh", f->dir) > 0);
	write_script(script, "#!/bin/sh\ntrue\n");
	assert_int_equal(stat(script, &s1), 0);
	assert_int_equal(dise_store_open(db, 0, &st), 0);
	assert_int_equal(dise_store_begin(st), 0);
	for (uint32_t pid = 10; pid < 14; pid++) {
		sh_start(b, sizeof(b), &rec, f->dir, pid, pid != 10);
		assert_int_equal(dise_store_add_record(st, 1, &rec), 0);
	}
	assert_int_equal(dise_store_commit(st), 0);
	assert_int_equal(dise_store_script_reads(st), 1); /* four STARTs naming it, one look */
	for (uint32_t pid = 10; pid < 14; pid++) {
		assert_int_equal(db_int(dise_store_db(st), ino, pid), (int64_t)s1.st_ino);
		assert_int_equal(db_int(dise_store_db(st), script_path, pid), 1);
	}
	/* written anew (another file) before the next gather: that transaction's rows are the new file's */
	write_script(script, "#!/bin/sh\nfalse\n");
	assert_int_equal(stat(script, &s2), 0);
	assert_int_not_equal(s1.st_ino, s2.st_ino);
	assert_int_equal(dise_store_begin(st), 0);
	sh_start(b, sizeof(b), &rec, f->dir, 20, 1);
	assert_int_equal(dise_store_add_record(st, 1, &rec), 0);
	assert_int_equal(dise_store_commit(st), 0);
	assert_int_equal(dise_store_script_reads(st), 2);
	assert_int_equal(db_int(dise_store_db(st), ino, 20), (int64_t)s2.st_ino);
	/* not a script (gone): the interpreter's own row, as before */
	unlink(script);
	assert_int_equal(dise_store_begin(st), 0);
	sh_start(b, sizeof(b), &rec, f->dir, 21, 1);
	assert_int_equal(dise_store_add_record(st, 1, &rec), 0);
	sh_start(b, sizeof(b), &rec, f->dir, 22, 1);
	assert_int_equal(dise_store_add_record(st, 1, &rec), 0);
	assert_int_equal(dise_store_commit(st), 0);
	assert_int_equal(dise_store_script_reads(st), 3);
	assert_int_equal(db_int(dise_store_db(st), "SELECT path = '/bin/sh' AND exe_ino IS NOT NULL FROM runs WHERE pid = ?1", 22), 1);
	dise_store_free(st);
	free(script);
	free(db);
}

/* A record of pid (started at start): a START (a fork child's when fork), an EXEC, an EXIT 0; decoded into *rec. */
static void rec_of(uint8_t *b, size_t size, struct dise_record *rec, int type, uint32_t pid, uint64_t start, int fork)
{
	size_t n;

	if (type == DISE_REC_START) {
		struct dise_rec_start s;

		n = make_start(b, pid, start);
		memcpy(&s, b, sizeof(s));
		s.flags |= fork ? DISE_START_FORK : 0;
		memcpy(b, &s, sizeof(s));
	} else if (type == DISE_REC_EXEC) {
		char *argv[] = { "/bin/true", NULL };
		struct dise_rec_who who = { start, pid, pid };
		struct dise_rec_argv a = { argv, NULL, 0 };
		struct dise_rec_buf rb;
		int k;

		dise_rec_buf_init(&rb, b, (uint32_t)size);
		assert_true((k = dise_rec_exec_write(&who, DISE_EXEC_EXECVE, "/bin/true", &a, &rb.sink)) > 0);
		n = (size_t)k;
	} else {
		n = make_exit(b, pid, start, 0);
	}
	assert_int_equal(dise_record_decode(b, n, rec, NULL), 0);
}

/* A shell's child pid: its fork child's START and EXEC at start (one row), then, unless image is 0, the image's START and EXIT. */
static void spawn(dise_store *st, uint32_t pid, uint64_t start, int image)
{
	uint8_t b[2][1024];
	struct dise_record s, e;

	rec_of(b[0], sizeof(b[0]), &s, DISE_REC_START, pid, start, 1);
	rec_of(b[1], sizeof(b[1]), &e, DISE_REC_EXEC, pid, start, 0);
	assert_int_equal(dise_store_add_run(st, 1, &s, &e), 1);
	if (!image)
		return;
	rec_of(b[0], sizeof(b[0]), &s, DISE_REC_START, pid, start + 50, 0);
	rec_of(b[1], sizeof(b[1]), &e, DISE_REC_EXIT, pid, start + 50, 0);
	assert_int_equal(dise_store_add_run(st, 1, &s, &e), 1);
}

/*
 * An image's exec parent (the run of its pid that ended by exec, the
 * fork child) is the row the record before it wrote, without a look when
 * that record is the fork child's EXEC stored in the same transaction; the
 * same row a look finds (Q_EXEC_PARENT), which is still made when another
 * record came between or the transaction is another.
 */
static void test_exec_parent_from_batch(void **state)
{
	static const char parent_ok[] = "SELECT i.exec_parent = c.id AND c.outcome = 'exec' FROM runs i JOIN runs c "
					"ON c.pid = i.pid AND c.start_ns < i.start_ns WHERE i.pid = ?1 AND i.outcome = 'ok'";
	struct fixture *f = *state;
	uint8_t b[2][1024];
	struct dise_record s, e;
	dise_store *st;
	char *db;

	assert_true(asprintf(&db, "%s/parents.db", f->dir) > 0);
	assert_int_equal(dise_store_open(db, 0, &st), 0);
	assert_int_equal(dise_store_begin(st), 0);
	spawn(st, 7, 100, 1);
	spawn(st, 8, 200, 1);
	assert_int_equal(dise_store_exec_parent_reads(st), 0); /* each image right after its fork child's EXEC */
	/* another record between the fork child's EXEC and the image's START: looked up */
	spawn(st, 9, 300, 0);
	rec_of(b[0], sizeof(b[0]), &s, DISE_REC_START, 10, 310, 0);
	rec_of(b[1], sizeof(b[1]), &e, DISE_REC_EXIT, 10, 310, 0);
	assert_int_equal(dise_store_add_run(st, 1, &s, &e), 1);
	assert_int_equal(dise_store_exec_parent_reads(st), 1); /* pid 10's own START, not a fork child's */
	rec_of(b[0], sizeof(b[0]), &s, DISE_REC_START, 9, 350, 0);
	rec_of(b[1], sizeof(b[1]), &e, DISE_REC_EXIT, 9, 350, 0);
	assert_int_equal(dise_store_add_run(st, 1, &s, &e), 1);
	assert_int_equal(dise_store_exec_parent_reads(st), 2);
	/* the fork child in one transaction, the image in the next: looked up */
	spawn(st, 11, 400, 0);
	assert_int_equal(dise_store_commit(st), 0);
	assert_int_equal(dise_store_begin(st), 0);
	rec_of(b[0], sizeof(b[0]), &s, DISE_REC_START, 11, 450, 0);
	rec_of(b[1], sizeof(b[1]), &e, DISE_REC_EXIT, 11, 450, 0);
	assert_int_equal(dise_store_add_run(st, 1, &s, &e), 1);
	assert_int_equal(dise_store_exec_parent_reads(st), 3);
	assert_int_equal(dise_store_commit(st), 0);
	for (uint32_t pid = 7; pid <= 11; pid++)
		if (pid != 10)
			assert_int_equal(db_int(dise_store_db(st), parent_ok, pid), 1);
	dise_store_free(st);
	free(db);
}

/*
 * An exit-status rule's matches (dise_store_rule_matches), read from the
 * failures of the versions its checks found covered or passed (the
 * seventh pass: no longer every run of the window of every version
 * checked): the same pairs, with their latest run, whatever else the
 * window holds. Versions 2 (covered: two failures that match, an ok run
 * with the same status and argv, one of another argv), 3 (not covered),
 * 4 (passed: its match before the window), 5 (covered, failed since),
 * 6 (passed: a queued heal request), 7 (passed, a match).
 */
static void test_rule_matches_failures_only(void **state)
{
	static const char sql[] =
		"INSERT INTO versions(id, tool, sha256, health) VALUES (1, '/t', 'a', 'healthy'), (2, '/t', 'b', 'healthy'), "
		"(3, '/t', 'c', 'healthy'), (4, '/t', 'd', 'healthy'), (5, '/t', 'e', 'failed'), (6, '/t', 'f', 'healthy'), "
		"(7, '/t', 'g', 'degraded');"
		"INSERT INTO rules(id, tool, source_version, description, exit_code, argv, cwd, scope, created_wall_ns) "
		"VALUES (1, '/t', 1, 'exits 4', 4, '[\"x\"]', '/', 'descendants', 1);"
		"INSERT INTO rule_checks(rule_id, version_id, result, wall_ns) VALUES (1, 2, 'covered', 1), (1, 3, 'not_covered', 1), "
		"(1, 4, 'passed', 1), (1, 5, 'covered', 1), (1, 6, 'passed', 1), (1, 7, 'passed', 1);"
		"INSERT INTO heal_requests(version_id, failure_id, state, created_wall_ns) VALUES (6, 1, 'queued', 1);"
		"INSERT INTO runs(id, epoch, pid, start_ns, start_wall_ns, version_id, outcome, exit_status, argv) VALUES "
		"(10, 1, 10, 1, 500, 2, 'fail', 4, '[\"x\"]'), (11, 1, 11, 1, 600, 2, 'fail', 4, '[\"x\"]'), "
		"(12, 1, 12, 1, 700, 2, 'ok', 4, '[\"x\"]'), (13, 1, 13, 1, 800, 2, 'fail', 4, '[\"y\"]'), "
		"(14, 1, 14, 1, 500, 3, 'fail', 4, '[\"x\"]'), (15, 1, 15, 1, 50, 4, 'fail', 4, '[\"x\"]'), "
		"(16, 1, 16, 1, 500, 5, 'fail', 4, '[\"x\"]'), (17, 1, 17, 1, 500, 6, 'fail', 4, '[\"x\"]'), "
		"(18, 1, 18, 1, 500, 7, 'fail', 4, '[\"x\"]'), (19, 1, 19, 1, 500, 7, 'fail', 3, '[\"x\"]'), "
		"(20, 1, 20, 1, 900, 7, 'crash', 4, '[\"x\"]');";
	struct fixture *f = *state;
	int64_t m[8][3];
	dise_store *st;
	char *db;

	assert_true(asprintf(&db, "%s/rules.db", f->dir) > 0);
	assert_int_equal(dise_store_open(db, 0, &st), 0);
	assert_int_equal(sqlite3_exec(dise_store_db(st), sql, NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(dise_store_rule_matches(st, 100, m, 8), 2);
	assert_int_equal(m[0][0], 1), assert_int_equal(m[0][1], 2), assert_int_equal(m[0][2], 11);
	assert_int_equal(m[1][0], 1), assert_int_equal(m[1][1], 7), assert_int_equal(m[1][2], 18);
	assert_int_equal(dise_store_rule_matches(st, 10, m, 8), 3); /* version 4's match, in the window now */
	assert_int_equal(m[1][1], 4), assert_int_equal(m[1][2], 15);
	dise_store_free(st);
	free(db);
}

/*
 * The rules' pairs not checked yet (dise_store_rule_pairs): a rule of one
 * tool with that tool's versions, a global rule with every version, never
 * the rule's own source, a version failed or pruned, or a pair checked;
 * in (rule, version) order, at most max.
 */
static void test_rule_pairs(void **state)
{
	static const char sql[] =
		"INSERT INTO versions(id, tool, sha256, health) VALUES (1, '/t', 'a', 'healthy'), (2, '/t', 'b', 'healthy'), "
		"(3, '/t', 'c', 'failed'), (4, '/u', 'd', 'healthy'), (5, '/u', 'e', 'healthy'), (6, '/t', 'f', 'degraded'), "
		"(7, '/u', 'g', 'pruned');"
		"INSERT INTO rules(id, tool, source_version, description, exit_code, argv, cwd, scope, created_wall_ns) "
		"VALUES (1, '/t', 1, 'exits 4', 4, '[\"x\"]', '/', 'descendants', 1), "
		"(2, '/u', 5, 'exits 5', 5, NULL, '/', 'global', 1), (3, '/u', 4, 'exits 6', 6, '[]', '/', 'all_similar', 1);"
		"INSERT INTO rule_checks(rule_id, version_id, result, wall_ns) VALUES (1, 2, 'covered', 1), (2, 4, 'passed', 1);";
	static const int64_t want[][2] = { { 1, 6 }, { 2, 1 }, { 2, 2 }, { 2, 6 }, { 3, 5 } };
	struct fixture *f = *state;
	struct dise_rule_pair *p = NULL;
	size_t cap = 0;
	dise_store *st;
	char *db;

	assert_true(asprintf(&db, "%s/pairs.db", f->dir) > 0);
	assert_int_equal(dise_store_open(db, 0, &st), 0);
	assert_int_equal(sqlite3_exec(dise_store_db(st), sql, NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(dise_store_rule_pairs(st, &p, &cap, 64), 5);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(p[i].rule, want[i][0]);
		assert_int_equal(p[i].version, want[i][1]);
	}
	assert_int_equal(p[1].scope, DISE_SCOPE_GLOBAL);
	assert_int_equal(p[1].replayable, 0); /* no argv */
	assert_int_equal(p[0].replayable, 1);
	assert_string_equal(p[1].vtool, "/t");
	assert_int_equal(dise_store_rule_pairs(st, &p, &cap, 2), 2);
	assert_int_equal(p[1].rule, 2), assert_int_equal(p[1].version, 1);
	free(p);
	dise_store_free(st);
	free(db);
}

/* Paths made absolute as before the join by hand (toolpath.c): relative, absolute, "." and "..", the limits. */
static void test_path_absolute(void **state)
{
	static char lng[8200];
	char out[4096];

	(void)state;
	assert_int_equal(dise_path_absolute("loop.sh", "/tmp/x", out, sizeof(out)), 0);
	assert_string_equal(out, "/tmp/x/loop.sh");
	assert_int_equal(dise_path_absolute("../a/./b//c", "/tmp/x/", out, sizeof(out)), 0);
	assert_string_equal(out, "/tmp/a/b/c");
	assert_int_equal(dise_path_absolute("/usr/bin/../bin/true", "relative", out, sizeof(out)), 0);
	assert_string_equal(out, "/usr/bin/true");
	assert_int_equal(dise_path_absolute("..", "/", out, sizeof(out)), 0);
	assert_string_equal(out, "/");
	assert_int_equal(dise_path_absolute("a", "relative", out, sizeof(out)), -EINVAL);
	assert_int_equal(dise_path_absolute("a", NULL, out, sizeof(out)), -EINVAL);
	assert_int_equal(dise_path_absolute("", "/", out, sizeof(out)), -EINVAL);
	/* cwd "/" path of 8191 characters fits the join, of 8192 not */
	memset(lng, 'a', 8189);
	lng[8189] = 0;
	assert_int_equal(dise_path_absolute(lng, "/", out, sizeof(out)), -ENAMETOOLONG); /* joined, too long for out */
	lng[8190] = 0, lng[8189] = 'a';
	assert_int_equal(dise_path_absolute(lng, "/", out, sizeof(out)), -ENAMETOOLONG);
	lng[0] = '/', lng[1] = 0;
	assert_int_equal(dise_path_absolute(lng, "/x", out, 1), -ENAMETOOLONG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_script_read_once_per_transaction, fixture_setup, fixture_teardown),
		cmocka_unit_test(test_path_absolute),
		cmocka_unit_test_setup_teardown(test_exec_parent_from_batch, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_rule_matches_failures_only, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_rule_pairs, fixture_setup, fixture_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
