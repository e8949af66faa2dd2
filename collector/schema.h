/* SPDX-License-Identifier: MIT */
/* The database's schema and its migrations (schema.c); for the store's files only. */
#ifndef DISE_SCHEMA_H
#define DISE_SCHEMA_H

struct sqlite3;

/*
 * Brings the schema of db to version target (DISE_SCHEMA_VERSION but in
 * tests), one step per version, in one IMMEDIATE transaction. Must run with
 * foreign keys off (a step may rebuild a table others refer to). Returns
 * 0, -EPROTO for a database made by a newer dise, or -errno.
 */
int dise__schema_migrate(struct sqlite3 *db, int target);

/*
 * For a reader: 0 when db's schema is the current one, -ENODATA when it has
 * none yet, -ESTALE when it is older (the collector will upgrade it), or
 * -errno (-EBUSY).
 */
int dise__schema_check(struct sqlite3 *db);

#endif
