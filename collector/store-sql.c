/* SPDX-License-Identifier: MIT */
/*
 * The store's way of running SQL (store-internal.h): SQLite codes mapped to
 * -errno, a step that tells a busy database from the end of the rows, and
 * the per-connection cache of prepared statements with the binders and
 * one-value lookups every store-*.c file uses.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include "store-internal.h"

int dise__errno(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_DONE:
	case SQLITE_ROW: return 0;
	case SQLITE_BUSY:
	case SQLITE_LOCKED: return -EBUSY;
	case SQLITE_FULL: return -ENOSPC;
	case SQLITE_NOMEM: return -ENOMEM;
	case SQLITE_READONLY:
	case SQLITE_PERM: return -EACCES;
	case SQLITE_CANTOPEN: return -ENOENT;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB: return -EUCLEAN; /* a damaged page, or not a database at all */
	default: return -EIO;
	}
}

int dise__step(sqlite3_stmt *q)
{
	int rc = sqlite3_step(q);

	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : dise__errno(rc);
}

sqlite3_stmt *dise__stmt(dise_store *st, const char *sql)
{
	sqlite3_stmt *q;
	int i;

	for (i = 0; i < st->ncache; i++)
		if (st->cache[i].sql == sql)
			return st->cache[i].q;
	if (st->ncache == DISE__CACHE_MAX) /* a bug: the cache is sized for every statement of the store */
		return NULL;
	if (sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &q, NULL) != SQLITE_OK)
		return NULL;
	st->cache[st->ncache].sql = sql;
	st->cache[st->ncache++].q = q;
	st->prepared++;
	return q;
}

void dise__done(sqlite3_stmt *q)
{
	if (q) {
		sqlite3_reset(q);
		sqlite3_clear_bindings(q);
	}
}

static int bindv(sqlite3_stmt *q, const char *types, va_list ap)
{
	int i;

	if (sqlite3_bind_parameter_count(q) != (int)strlen(types))
		return -EINVAL; /* a wrong type string is a bug: refuse it rather than read garbage */
	for (i = 0; types[i]; i++) {
		switch (types[i]) {
		case 's': {
			const char *v = va_arg(ap, const char *);

			if (v)
				sqlite3_bind_text(q, i + 1, v, -1, SQLITE_TRANSIENT);
			break;
		}
		case 'd': sqlite3_bind_int(q, i + 1, va_arg(ap, int)); break;
		case 'f': sqlite3_bind_double(q, i + 1, va_arg(ap, double)); break;
		case 'n': {
			int64_t v = va_arg(ap, int64_t);

			if (v >= 0)
				sqlite3_bind_int64(q, i + 1, v);
			break;
		}
		default: sqlite3_bind_int64(q, i + 1, va_arg(ap, int64_t));
		}
	}
	return 0;
}

int dise__bind(sqlite3_stmt *q, const char *types, ...)
{
	va_list ap;
	int r;

	va_start(ap, types);
	r = bindv(q, types, ap);
	va_end(ap);
	return r;
}

int dise__exec(dise_store *st, const char *sql, const char *types, ...)
{
	sqlite3_stmt *q = dise__stmt(st, sql);
	va_list ap;
	int r;

	if (!q)
		return -EIO;
	va_start(ap, types);
	r = bindv(q, types, ap);
	va_end(ap);
	while (r == 0 && (r = dise__step(q)) > 0)
		r = 0;
	dise__done(q);
	return r;
}

int dise__int(dise_store *st, const char *sql, int64_t *ret, const char *types, ...)
{
	sqlite3_stmt *q = dise__stmt(st, sql);
	va_list ap;
	int r;

	if (!q)
		return -EIO;
	va_start(ap, types);
	r = bindv(q, types, ap);
	va_end(ap);
	if (r == 0 && (r = dise__step(q)) > 0)
		*ret = sqlite3_column_int64(q, 0);
	dise__done(q);
	return r;
}

int dise__text(dise_store *st, const char *sql, char *buf, size_t size, const char *types, ...)
{
	sqlite3_stmt *q = dise__stmt(st, sql);
	va_list ap;
	int r;

	if (!q)
		return -EIO;
	va_start(ap, types);
	r = bindv(q, types, ap);
	va_end(ap);
	if (r == 0 && (r = dise__step(q)) > 0) {
		const char *t = (const char *)sqlite3_column_text(q, 0);

		snprintf(buf, size, "%s", t ? t : "");
	}
	dise__done(q);
	return r;
}

char *dise__col_strdup(sqlite3_stmt *q, int i)
{
	const char *t = (const char *)sqlite3_column_text(q, i);

	return t ? strdup(t) : NULL;
}

uint64_t dise__fnv1a(uint64_t h, const char *p)
{
	for (; *p; p++) {
		h ^= (unsigned char)*p;
		h *= DISE__FNV_PRIME;
	}
	return h;
}

int64_t dise_store_run_class(const char *argv, const char *cwd)
{
	uint64_t h = dise__fnv1a(DISE__FNV_BASIS, argv ? argv : "");

	/* a separator no text holds, then the cwd; a NULL cwd is a byte no text holds either */
	h = (h ^ 0xffu) * DISE__FNV_PRIME;
	h = cwd ? dise__fnv1a(h, cwd) : (h ^ 0xfeu) * DISE__FNV_PRIME;
	return (int64_t)h;
}

/* dise_class(argv, cwd): dise_store_run_class() for SQL, NULL without an argv */
static void sql_class(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const char *a = (const char *)sqlite3_value_text(argv[0]);

	(void)argc;
	if (a)
		sqlite3_result_int64(ctx, dise_store_run_class(a, (const char *)sqlite3_value_text(argv[1])));
	else
		sqlite3_result_null(ctx);
}

int dise__register_class(sqlite3 *db)
{
	return dise__errno(sqlite3_create_function(db, "dise_class", 2, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL, sql_class,
						   NULL, NULL));
}

int dise_store_statements_prepared(dise_store *st)
{
	return st->prepared;
}

int dise__grow(void **arr, size_t *cap, size_t n, size_t size)
{
	size_t want;
	void *p;

	if (n < *cap)
		return 0;
	want = *cap ? *cap * 2 : 8;
	if (want > SIZE_MAX / size)
		return -ENOMEM;
	p = realloc(*arr, want * size);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = want;
	return 0;
}
