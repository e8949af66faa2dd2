/* SPDX-License-Identifier: MIT */
/*
 * Shared by the store's files (store*.c) and nothing else: the handle's
 * inside and the statement cache. Every statement a store function runs is
 * a constant string of its file, prepared once per connection on first use
 * (SQLITE_PREPARE_PERSISTENT), found again by its address, and reset with
 * its bindings cleared after every use, so that no statement holds a read
 * snapshot between calls. Values are always bound, never pasted in.
 */
#ifndef DISE_STORE_INTERNAL_H
#define DISE_STORE_INTERNAL_H

#include <sqlite3.h>
#include <stdint.h>
#include <sys/stat.h>

#include "store.h"

#define DISE__CACHE_MAX 128
#define DISE__HEADS_MAX 16
#define DISE__HEAD_PATH_MAX 256
#define DISE__SCRIPTS_MAX 8

struct dise_store {
	sqlite3 *db;
	sqlite3_stmt **q; /* ingest's statements, prepared at open (writers only) */
	int in_tx;
	int ncache;
	struct {
		const char *sql;
		sqlite3_stmt *q;
	} cache[DISE__CACHE_MAX];
	int prepared; /* statements prepared since open: the cache's own count, for tests and benchmarks */
	struct dise__profile *profile; /* DISE_SQL_PROFILE: time per statement (store-profile.c), or NULL */
	struct dise_known *known;      /* ingest: the versions the resolver gave, by path (known.h), or NULL */
	uint64_t unresolved;	       /* STARTs stored without their version (the resolver's to do) */
	/*
	 * Ingest: the paths whose head (path_heads) was read as a version in
	 * a write transaction (BEGIN IMMEDIATE: no other connection writes
	 * until it ends, and ingest writes no head). Kept across transactions
	 * while no other connection commits (the resolver, `dise tool add`):
	 * PRAGMA data_version, read once in each write transaction that looks
	 * at a head, is still heads_dv; otherwise emptied (store-runs.c).
	 */
	struct {
		int64_t version;
		int parent; /* whether the version has a parent (version_parents): 1, 0, -1 not read yet */
		char path[DISE__HEAD_PATH_MAX];
	} heads[DISE__HEADS_MAX];
	unsigned nheads;
	int heads_checked;    /* heads_dv read in the write transaction open */
	int64_t heads_dv;     /* PRAGMA data_version when heads[] was last found current (-1: never) */
	uint64_t head_reads;  /* path_heads read by ingest (for tests and benchmarks) */
	/*
	 * Ingest: the scripts interpreters' STARTs named in the write
	 * transaction open (a watched `sh loop.sh` forks a child for each
	 * command: each START names loop.sh again), whether each is one and
	 * its stat, looked at once a transaction (dise_script_file: stat,
	 * open, read, close): the transaction stores records that were all
	 * written before it began, so a look at its start is as late as one at
	 * any of them. Emptied at each begin (store-runs.c).
	 */
	struct dise__script {
		int is_script;
		struct stat st;
		char path[DISE__HEAD_PATH_MAX];
	} scripts[DISE__SCRIPTS_MAX];
	unsigned nscripts;
	uint64_t script_reads; /* scripts looked at by ingest (for tests and benchmarks) */
	/*
	 * Ingest: the run ended by exec that the record stored last wrote as a
	 * new row (a fork child's START and EXEC, one row: id 0 otherwise), and
	 * the one the record before it wrote (exec_prev): the image that
	 * process became, stored next, has it as its exec parent without a
	 * look (store-runs.c). Forgotten at each begin.
	 */
	struct dise__exec_row {
		int64_t id;
		uint64_t epoch, start_ns;
		uint32_t pid;
	} exec_last, exec_prev;
	uint64_t exec_parent_reads; /* exec parents looked up by ingest (for tests and benchmarks) */
};

/*
 * Ingest's statements, prepared at open (writers only) into st->q: the SQL
 * of store.c's in its own array, of the write path's in dise__runs_queries
 * (store-runs.c; NULL for store.c's).
 */
enum dise__q {
	/* store.c's: the cursors, the open runs, the transaction */
	Q_CURSOR_GET,
	Q_CURSOR_SET,
	Q_OPEN_RUNS,
	Q_VANISH,
	Q_BEGIN,
	Q_COMMIT,
	Q_ROLLBACK,
	/* store-runs.c's: the records -> runs write path */
	Q_START,
	Q_START_END,
	Q_EXIT,
	Q_EXEC,
	Q_CRASH_RUN,
	Q_CRASH_ADD,
	Q_EXEC_PARENT,
	Q_PID_SINCE,
	Q_TRACED,
	Q_DETACH,
	Q_MAX,
};
extern const char *const dise__runs_queries[Q_MAX];

/* Runs a prepared statement to completion (*ret_first: the first column of the first row, when given); resets it. 0 or -errno. */
int dise__run(sqlite3_stmt *q, int64_t *ret_first);

/*
 * SQLite's result code as 0 or -errno: SQLITE_BUSY/LOCKED -> -EBUSY,
 * SQLITE_FULL -> -ENOSPC, SQLITE_NOMEM -> -ENOMEM, SQLITE_READONLY/PERM ->
 * -EACCES, SQLITE_CANTOPEN -> -ENOENT, anything else -> -EIO.
 */
int dise__errno(int rc);

/*
 * One step of q: 1 for a row, 0 at the end of the rows, -errno on an error.
 * A busy database is an error, never the end of the rows: a loop
 * `while ((r = dise__step(q)) > 0)` must look at r < 0 after it.
 */
int dise__step(sqlite3_stmt *q);
struct dise_known_id;
/*
 * The version a START of the file at path with identity id gets at ingest
 * (known.h): 1 with it and its tool, when the resolver gave it to that path
 * and identity and it is still the path's head; 0: the resolver's to do.
 */
int dise__start_version(dise_store *st, const char *path, const struct dise_known_id *id, int64_t *version,
			char *tool, size_t size);
/*
 * Makes room for element n of a growing array *arr of capacity *cap
 * (elements of size bytes; doubling from 8). Returns 0 or -ENOMEM, with
 * *arr and *cap untouched on failure.
 */
int dise__grow(void **arr, size_t *cap, size_t n, size_t size);

/* The cached statement for sql (a constant: its address is the key), prepared on first use; NULL on error. */
sqlite3_stmt *dise__stmt(dise_store *st, const char *sql);

/* Resets q and clears its bindings (q may be NULL). */
void dise__done(sqlite3_stmt *q);

/*
 * Binds in order, one letter of types per parameter: 's' a string (NULL
 * binds NULL), 'i' an int64_t, 'd' an int, 'n' an int64_t that binds NULL
 * when it is negative (no value), 'f' a double. Returns 0 or -EINVAL (a wrong count).
 */
int dise__bind(sqlite3_stmt *q, const char *types, ...);

/* Runs sql (cached) with its parameters to the end. Returns 0 or -errno. */
int dise__exec(dise_store *st, const char *sql, const char *types, ...);

/*
 * The first column of the first row of sql (cached) into *ret (0 when
 * NULL). Returns 1 with a row, 0 without (*ret untouched), or -errno.
 */
int dise__int(dise_store *st, const char *sql, int64_t *ret, const char *types, ...);

/* The same for a text column, copied into buf (cut at size - 1; "" when NULL). */
int dise__text(dise_store *st, const char *sql, char *buf, size_t size, const char *types, ...);

/*
 * A run's end written when it has its version, or its version given when it
 * has ended, is touched: the next sequence number, above every one there is
 * (schema v21; writes are serialised, so one committed later is always
 * larger). The detectors look at the versions of the runs touched above
 * what they looked at last (store-detect.c); nothing is ever cleared.
 */
#define DISE__TOUCH_NEXT "(SELECT COALESCE(max(touched), 0) + 1 FROM runs WHERE touched IS NOT NULL)"
#define TOUCH(t) "touched = CASE WHEN " t ".version_id IS NULL THEN " t ".touched ELSE " DISE__TOUCH_NEXT " END"

/* store-core.c: 1 when a dise-coredump START or CRASH (flag CORE) is of a crash recorded otherwise: drop it; 0, or -errno. */
int dise__store_core_seen(dise_store *st, uint64_t epoch, const struct dise_record *rec);

/* store-reap.c: a REAP record's wait status ends the reaped child's run when nothing else did. */
int dise__store_add_reap(dise_store *st, uint64_t epoch, const struct dise_record *rec);

/* the absolute path run t ran at (SQL) */
#define DISE__RUN_PATH(t) \
	"COALESCE(" t ".path, CASE WHEN substr(" t ".execfn, 1, 1) = '/' THEN " t ".execfn ELSE " t ".cwd || '/' || " t ".execfn END)"

/*
 * The rows of a route query (store-route.c): identity (4 columns), version,
 * tool, sha256, cas_path, path, and optionally the canary percent.
 */
int dise__route_rows(dise_store *st, const char *sql, struct dise_pruned_route **ret, size_t *ret_n);

/* Registers dise_class(argv, cwd) (dise_store_run_class()) on db. Returns 0 or -errno. */
int dise__register_class(sqlite3 *db);
/* A strdup of column i of q's current row, NULL when NULL (or out of memory). */
char *dise__col_strdup(sqlite3_stmt *q, int i);
/* FNV-1a (64 bit) of the text p, from h (DISE__FNV_BASIS to start): runs' classes, the runs metric's groups */
#define DISE__FNV_BASIS 14695981039346656037ull
#define DISE__FNV_PRIME 1099511628211ull
uint64_t dise__fnv1a(uint64_t h, const char *p);

/* store-profile.c: DISE_SQL_PROFILE=1 times every statement, printed to stderr at close. */
void dise__profile_start(dise_store *st);
void dise__profile_end(dise_store *st);

#endif
