/* SPDX-License-Identifier: MIT */
/*
 * The SQLite store's connection, its transactions and ingest's cursors
 * (the write path of the records into runs is store-runs.c's). WAL mode, prepared
 * statements only; the schema and its migrations are schema.c's
 * (schema_version), the statements of the other parts store-*.c's, run
 * through store-sql.c's cache. The raw sqlite3 handle goes no further than
 * these files.
 *
 * Designed for ingest: runs get one row each, keyed by (epoch, pid,
 * start_ns) whose values arrive in nearly ascending order (so the unique
 * index grows at its right edge); START and EXIT/CRASH/EXEC are upserts on
 * that key, so their order does not matter. No per-record dedupe index:
 * instead the ingest cursor (per ring epoch and shard, the position after
 * the last stored record) is written in the same transaction as the
 * records, and a record below it is known to be stored already.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "crash-sig.h"
#include "outcome.h"
#include "record-json.h"
#include "schema.h"
#include "known.h"
#include "store-internal.h"
#include "toolpath.h"
#include "store.h"

static const char *const queries[Q_MAX] = {
	[Q_CURSOR_GET] = "SELECT next_pos FROM ingest_cursor WHERE epoch = ?1 AND shard = ?2",
	[Q_CURSOR_SET] = "INSERT INTO ingest_cursor(epoch, shard, next_pos) VALUES (?1, ?2, ?3) "
			 "ON CONFLICT(epoch, shard) DO UPDATE SET next_pos = excluded.next_pos",
	[Q_OPEN_RUNS] = "SELECT id, pid, start_ns FROM runs WHERE outcome IS NULL",
	[Q_VANISH] = "UPDATE runs SET outcome = 'vanished', end_ns = ?2, " TOUCH("runs") " WHERE id = ?1 AND outcome IS NULL",
	[Q_BEGIN] = "BEGIN IMMEDIATE",
	[Q_COMMIT] = "COMMIT",
	[Q_ROLLBACK] = "ROLLBACK",
};


static int map_rc(int rc)
{
	return dise__errno(rc);
}

const char *dise_store_errmsg(dise_store *st)
{
	return st && st->db ? sqlite3_errmsg(st->db) : "no database";
}


struct sqlite3 *dise_store_db(dise_store *st)
{
	return st->db;
}

static int exec_sql(dise_store *st, const char *sql)
{
	return map_rc(sqlite3_exec(st->db, sql, NULL, NULL, NULL));
}

/*
 * dise_failed(outcome, exit_status, normal): dise_run_failed() for SQL.
 * normal: the exit codes the tool's policy calls normal, as "1,3" (NULL or
 * "": none). With normal codes, a fail without an exit status (a death by
 * signal that dise run saw) is not judged, as `exit_status NOT IN (...)`
 * never judged it before.
 */
static void sql_failed(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const char *o = (const char *)sqlite3_value_text(argv[0]);
	const char *list = (const char *)sqlite3_value_text(argv[2]);
	int normal[DISE_MAX_NORMAL_CODES], n = 0, outcome = o ? dise_outcome_from_name(o) : -1;

	(void)argc;
	while (list && *list && n < DISE_MAX_NORMAL_CODES) {
		char *end;

		normal[n++] = (int)strtol(list, &end, 10);
		list = *end == ',' ? end + 1 : NULL;
	}
	if (n && outcome == DISE_OUTCOME_FAIL && sqlite3_value_type(argv[1]) == SQLITE_NULL) {
		sqlite3_result_int(ctx, 0);
		return;
	}
	sqlite3_result_int(ctx, dise_run_failed(outcome,
						   sqlite3_value_type(argv[1]) == SQLITE_NULL ? -1 : sqlite3_value_int(argv[1]),
						   normal, n));
}

/* dise_sent(si_code, fault_addr, pid): whether a crash signal was sent by another process (outcome.h) */
static void sql_sent(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	(void)argc;
	sqlite3_result_int(ctx, sqlite3_value_type(argv[0]) != SQLITE_NULL &&
					dise_crash_sent_from_outside(sqlite3_value_int(argv[0]),
								     (uint64_t)sqlite3_value_int64(argv[1]),
								     (uint32_t)sqlite3_value_int64(argv[2])));
}

/*
 * One of the database's files before SQLite opens it: a regular file (a
 * FIFO would block SQLite's first read forever), and, for the writer,
 * mode 0600 whatever the umask or an older dise left (the runs' argv is
 * in there): SQLite gives -wal and -shm the database file's mode. The
 * database itself is made here when missing (0600); a journal that is
 * missing is SQLite's to make. By path only, never an open and close of a
 * file SQLite may hold here: closing any descriptor of a file drops every
 * POSIX lock this process holds on it, SQLite's included. Returns 0 or -errno.
 */
static int own_file(const char *path, int readonly, int create)
{
	struct stat st;
	int fd;

	if (stat(path, &st) < 0) {
		if (errno != ENOENT)
			return -errno;
		if (!create)
			return 0;
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd >= 0)
			close(fd); /* new: no one held it */
		return fd >= 0 || errno == EEXIST ? 0 : -errno;
	}
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if (!readonly && st.st_uid == geteuid() && (st.st_mode & 077) && chmod(path, 0600) < 0)
		return -errno;
	return 0;
}

static int own_files(const char *path, int readonly)
{
	static const char *const side[] = { "-wal", "-shm", "-journal" };
	char buf[4200];
	size_t i;
	int r = own_file(path, readonly, !readonly);

	for (i = 0; r == 0 && i < sizeof(side) / sizeof(side[0]); i++) {
		if (snprintf(buf, sizeof(buf), "%s%s", path, side[i]) >= (int)sizeof(buf))
			return -ENAMETOOLONG;
		r = own_file(buf, readonly, 0);
	}
	return r;
}

/* What SQLite said when this thread's last dise_store_open() failed ("" when it said nothing). */
static _Thread_local char open_errmsg[256];

const char *dise_store_open_errmsg(void)
{
	return open_errmsg;
}

/*
 * The writer's journals, -wal and -shm, made writable for their owner when
 * they are not: SQLite gives them the mode the database had when it made
 * them, and a -shm made while the database was read-only (0444) would keep
 * the collector out after the database is writable again. chmod, never
 * unlink: a reader may have the -shm mapped.
 */
static void journals_writable(const char *path)
{
	static const char *const ext[] = { "-wal", "-shm" };
	char j[4200];
	struct stat s;
	size_t i;

	for (i = 0; i < 2; i++)
		if ((size_t)snprintf(j, sizeof(j), "%s%s", path, ext[i]) < sizeof(j) && lstat(j, &s) == 0 &&
		    S_ISREG(s.st_mode) && s.st_uid == geteuid() && (s.st_mode & 0600) != 0600)
			(void)chmod(j, (s.st_mode & 07777) | 0600);
}

int dise_store_open(const char *path, int readonly, dise_store **ret)
{
	dise_store *st = calloc(1, sizeof(*st));
	int r, i, flags = readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;

	open_errmsg[0] = '\0';
	if (!st)
		return -ENOMEM;
	st->heads_dv = -1; /* no head read yet */
	if (!readonly && strcmp(path, ":memory:")) {
		/* SQLite would open a database it cannot write read-only, and fail at the first write */
		if (access(path, W_OK) < 0 && errno != ENOENT) {
			snprintf(open_errmsg, sizeof(open_errmsg), "the database is not writable: %s", strerror(errno));
			free(st);
			return -EACCES;
		}
	}
	if (strcmp(path, ":memory:") && (r = own_files(path, readonly)) < 0) {
		free(st);
		return r;
	}
	if (!readonly && strcmp(path, ":memory:"))
		journals_writable(path);
	r = map_rc(sqlite3_open_v2(path, &st->db, flags | SQLITE_OPEN_NOMUTEX, NULL));
	if (r < 0)
		goto fail;
	sqlite3_busy_timeout(st->db, 2000);
	dise__profile_start(st);
	r = map_rc(sqlite3_create_function(st->db, "dise_failed", 3, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL, sql_failed,
					   NULL, NULL));
	if (r == 0)
		r = dise__register_class(st->db);
	if (r == 0)
		r = map_rc(sqlite3_create_function(st->db, "dise_sent", 3, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL, sql_sent,
						   NULL, NULL));
	if (r < 0)
		goto fail;
	if (!readonly) {
		/*
		 * WAL: readers never block the collector; NORMAL: durable at
		 * checkpoints, atomic always. Foreign keys on only after the
		 * migration: a step may rebuild a table that others refer to.
		 */
		r = exec_sql(st, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint=0;");
		if (r < 0)
			goto fail;
		r = dise__schema_migrate(st->db, DISE_SCHEMA_VERSION);
		if (r == 0)
			r = exec_sql(st, "PRAGMA foreign_keys=ON;");
		if (r < 0)
			goto fail;
		{
			/* test-only fault switch: a database that cannot grow, as on a full disk (SQLITE_FULL) */
			const char *full = getenv("DISE_TEST_DB_MAX_PAGES");
			char sql[64];

			if (full) {
				snprintf(sql, sizeof(sql), "PRAGMA max_page_count=%ld", strtol(full, NULL, 10));
				exec_sql(st, sql);
			}
		}
		st->q = calloc(Q_MAX, sizeof(*st->q));
		if (!st->q) {
			r = -ENOMEM;
			goto fail;
		}
		for (i = 0; i < Q_MAX; i++)
			if (sqlite3_prepare_v3(st->db, queries[i] ? queries[i] : dise__runs_queries[i], -1, SQLITE_PREPARE_PERSISTENT, &st->q[i], NULL) !=
			    SQLITE_OK) {
				r = -EIO;
				goto fail;
			}
	} else {
		/* a reader: the collector may not have made the schema yet, or not upgraded it yet */
		r = dise__schema_check(st->db);
		if (r < 0)
			goto fail;
	}
	*ret = st;
	return 0;
fail:
	if (r == -EUCLEAN)
		snprintf(open_errmsg, sizeof(open_errmsg), "the database is damaged or not a database");
	else if (st->db && r != -ENODATA && r != -ESTALE)
		snprintf(open_errmsg, sizeof(open_errmsg), "%s", sqlite3_errmsg(st->db));
	dise_store_free(st);
	return r;
}

dise_store *dise_store_free(dise_store *st)
{
	int i;

	if (!st)
		return NULL;
	dise__profile_end(st);
	for (i = 0; st->q && i < Q_MAX; i++)
		sqlite3_finalize(st->q[i]);
	free(st->q);
	for (i = 0; i < st->ncache; i++)
		sqlite3_finalize(st->cache[i].q);
	sqlite3_close(st->db);
	free(st);
	return NULL;
}

int dise__run(sqlite3_stmt *q, int64_t *ret_first)
{
	int rc = sqlite3_step(q);

	if (rc == SQLITE_ROW && ret_first)
		*ret_first = sqlite3_column_int64(q, 0);
	while (rc == SQLITE_ROW)
		rc = sqlite3_step(q);
	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
	return map_rc(rc);
}

int dise_store_begin(dise_store *st)
{
	int r = dise__run(st->q[Q_BEGIN], NULL);

	st->in_tx = r == 0;
	st->heads_checked = 0; /* the heads read before: current while no other connection committed (store-runs.c) */
	st->nscripts = 0;      /* the scripts looked at: once a transaction (store-runs.c) */
	st->exec_last.id = 0;  /* a row of a transaction rolled back is no parent */
	return r;
}

int dise_store_commit(dise_store *st)
{
	int r = dise__run(st->q[Q_COMMIT], NULL);

	if (r == 0)
		st->in_tx = 0;
	return r;
}

void dise_store_rollback(dise_store *st)
{
	if (st->in_tx)
		dise__run(st->q[Q_ROLLBACK], NULL);
	st->in_tx = 0;
}

int dise_store_cursor_get(dise_store *st, uint64_t epoch, uint32_t shard, uint64_t *ret_next)
{
	sqlite3_stmt *q = st->q[Q_CURSOR_GET];
	int64_t v = 0;
	int r;

	sqlite3_bind_int64(q, 1, (int64_t)epoch);
	sqlite3_bind_int(q, 2, (int)shard);
	r = dise__run(q, &v);
	if (r == 0)
		*ret_next = (uint64_t)v;
	return r;
}

int dise_store_cursor_set(dise_store *st, uint64_t epoch, uint32_t shard, uint64_t next)
{
	sqlite3_stmt *q = st->q[Q_CURSOR_SET];

	sqlite3_bind_int64(q, 1, (int64_t)epoch);
	sqlite3_bind_int(q, 2, (int)shard);
	sqlite3_bind_int64(q, 3, (int64_t)next);
	return dise__run(q, NULL);
}

int dise_store_checkpoint(dise_store *st)
{
	return map_rc(sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL));
}

int dise_store_mark_vanished(dise_store *st, uint64_t now_mono_ns,
			     int (*alive)(uint32_t pid, uint64_t start_ns, void *arg), void *arg)
{
	sqlite3_stmt *q = st->q[Q_OPEN_RUNS];
	int64_t *gone = NULL;
	size_t n = 0, cap = 0, i;
	int rc, r = 0;

	/* collect first: no writes while the SELECT is stepping */
	while ((rc = dise__step(q)) > 0) {
		if (alive((uint32_t)sqlite3_column_int64(q, 1), (uint64_t)sqlite3_column_int64(q, 2), arg))
			continue;
		if ((r = dise__grow((void **)&gone, &cap, n, sizeof(*gone))) < 0)
			break;
		gone[n++] = sqlite3_column_int64(q, 0);
	}
	if (r == 0 && rc < 0) /* busy: nothing is marked on a partial list, the next pass looks again */
		r = rc;
	sqlite3_reset(q);
	if (r == 0 && n) {
		r = dise_store_begin(st);
		for (i = 0; r == 0 && i < n; i++) {
			q = st->q[Q_VANISH];
			sqlite3_bind_int64(q, 1, gone[i]);
			sqlite3_bind_int64(q, 2, (int64_t)now_mono_ns);
			r = dise__run(q, NULL);
		}
		if (r == 0)
			r = dise_store_commit(st);
		if (r < 0)
			dise_store_rollback(st);
	}
	free(gone);
	return r < 0 ? r : (int)n;
}
