/* SPDX-License-Identifier: MIT */
/*
 * The SQLite store: runs and crashes, and the ingest cursor that makes
 * reading the ring exactly-once in effect.
 *
 * Errors: 0 or -errno; SQLITE_BUSY/LOCKED map to -EBUSY, SQLITE_FULL to
 * -ENOSPC, anything else to -EIO (dise_store_errmsg() says what SQLite said).
 * Not thread-safe: one store per thread.
 */
#ifndef DISE_STORE_H
#define DISE_STORE_H

#include <stdint.h>

#include "decode.h"

struct sqlite3;
struct sqlite3_stmt;
typedef struct dise_store dise_store;

#define DISE_SCHEMA_VERSION 8

/* Opens (creating and migrating) the database; readonly opens an existing one as is. */
int dise_store_open(const char *path, int readonly, dise_store **ret);
/*
 * Tests of the upgrade path: creates path as a database of an older schema
 * version (1 .. DISE_SCHEMA_VERSION), as the migration steps define that
 * version. Returns 0 or -errno.
 */
int dise_store_create_old(const char *path, int version);

dise_store *dise_store_free(dise_store *st);
const char *dise_store_errmsg(dise_store *st);

int dise_store_begin(dise_store *st);
int dise_store_commit(dise_store *st);
void dise_store_rollback(dise_store *st);

/* Where ingest of shard `shard` of ring incarnation `epoch` stands (0 when never). */
int dise_store_cursor_get(dise_store *st, uint64_t epoch, uint32_t shard, uint64_t *ret_next);
int dise_store_cursor_set(dise_store *st, uint64_t epoch, uint32_t shard, uint64_t next);

/*
 * Applies one decoded record. Runs are keyed by (epoch, pid, run_start_ns),
 * so records of one run may arrive in any order (they can, across shards).
 */
int dise_store_add_record(dise_store *st, uint64_t epoch, const struct dise_record *rec);

/*
 * Marks as `vanished` every run that has no end yet and whose process is
 * gone (alive(pid, start_ns, arg) == 0): killed by SIGKILL, the OOM killer,
 * or by a signal the shim does not catch. A late EXIT or CRASH for such a
 * run still overrides it. Returns how many were marked, or -errno.
 */
int dise_store_mark_vanished(dise_store *st, uint64_t now_mono_ns,
			     int (*alive)(uint32_t pid, uint64_t start_ns, void *arg), void *arg);

/*
 * Copies the WAL back into the database (a passive checkpoint). The store
 * turns SQLite's automatic checkpoints off, so that none runs inside an
 * ingest commit: the collector calls this when the ring is drained.
 */
int dise_store_checkpoint(dise_store *st);

/*
 * Runs one SQL statement with its parameters bound in order: types holds a
 * letter per parameter, 's' for a string (NULL binds NULL) and 'i' for an
 * int64_t. For the resolver's and healer's few statements. Returns 0,
 * -EBUSY, or -EIO.
 */
int dise_sql_exec(struct sqlite3 *db, const char *sql, const char *types, ...);

/* The first column of the first row of sql (no parameters), or none when there is no row or it fails. */
int64_t dise_sql_int(struct sqlite3 *db, const char *sql, int64_t none);

/*
 * SQLite's result code as 0 or -errno: SQLITE_BUSY/LOCKED -> -EBUSY,
 * SQLITE_FULL -> -ENOSPC, SQLITE_NOMEM -> -ENOMEM, SQLITE_READONLY/PERM ->
 * -EACCES, SQLITE_CANTOPEN -> -ENOENT, anything else -> -EIO.
 */
int dise_sql_errno(int rc);

/*
 * One step of q: 1 for a row, 0 at the end of the rows, -errno on an error.
 * A busy database is an error, never the end of the rows: a loop
 * `while ((r = dise_sql_step(q)) > 0)` must look at r < 0 after it.
 */
int dise_sql_step(struct sqlite3_stmt *q);

/* The underlying handle, for read-only queries by the CLI. */
struct sqlite3 *dise_store_db(dise_store *st);

#endif
