/* SPDX-License-Identifier: MIT */
/*
 * DISE_SQL_PROFILE=1: where a connection's time goes, statement by
 * statement. SQLite reports each statement's run time when it finishes
 * (sqlite3_trace_v2, SQLITE_TRACE_PROFILE); the totals are printed to
 * stderr, largest first, when the connection closes. A diagnostic for
 * profiling the collector (bench-collector-cpu), off unless asked for.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store-internal.h"

#define PROFILE_MAX 256

struct dise__profile {
	int n;
	struct {
		const char *key; /* sqlite3_sql() of the statement: stable while it is prepared */
		char sql[1200];
		uint64_t count, ns, steps;
	} e[PROFILE_MAX];
};

static int on_profile(unsigned type, void *ctx, void *p, void *x)
{
	struct dise__profile *pf = ctx;
	const char *sql = sqlite3_sql((sqlite3_stmt *)p);
	int i;

	if (type != SQLITE_TRACE_PROFILE || !sql)
		return 0;
	for (i = 0; i < pf->n && pf->e[i].key != sql; i++)
		;
	if (i == pf->n) {
		if (pf->n == PROFILE_MAX)
			return 0;
		pf->e[pf->n].key = sql;
		snprintf(pf->e[pf->n++].sql, sizeof(pf->e[0].sql), "%s", sql);
	}
	pf->e[i].count++;
	pf->e[i].ns += (uint64_t)*(sqlite3_int64 *)x;
	/* the virtual machine's steps: the work done, whatever else ran on the machine */
	pf->e[i].steps += (uint64_t)sqlite3_stmt_status((sqlite3_stmt *)p, SQLITE_STMTSTATUS_VM_STEP, 1);
	return 0;
}

void dise__profile_start(dise_store *st)
{
	const char *on = getenv("DISE_SQL_PROFILE");

	if (!on || !*on || !strcmp(on, "0") || !(st->profile = calloc(1, sizeof(*st->profile))))
		return;
	sqlite3_trace_v2(st->db, SQLITE_TRACE_PROFILE, on_profile, st->profile);
}

static int by_ns(const void *a, const void *b)
{
	const struct dise__profile *p = NULL;
	const uint64_t x = ((const __typeof__(p->e[0]) *)a)->ns, y = ((const __typeof__(p->e[0]) *)b)->ns;

	return x < y ? 1 : x > y ? -1 : 0;
}

void dise__profile_end(dise_store *st)
{
	struct dise__profile *pf = st->profile;
	uint64_t total = 0, steps = 0;
	int i;

	if (!pf)
		return;
	sqlite3_trace_v2(st->db, 0, NULL, NULL);
	qsort(pf->e, (size_t)pf->n, sizeof(pf->e[0]), by_ns);
	for (i = 0; i < pf->n; i++)
		total += pf->e[i].ns, steps += pf->e[i].steps;
	fprintf(stderr, "dise: sql profile of a connection: %.3f s, %llu VM steps, in %d statements\n", (double)total / 1e9,
		(unsigned long long)steps, pf->n);
	for (i = 0; i < pf->n && i < 25; i++)
		fprintf(stderr, "  %8.3f ms %5.1f%% %8llu x %7.1f us %9.0f steps  %s\n", (double)pf->e[i].ns / 1e6,
			total ? 100.0 * (double)pf->e[i].ns / (double)total : 0.0, (unsigned long long)pf->e[i].count,
			(double)pf->e[i].ns / 1e3 / (double)pf->e[i].count, (double)pf->e[i].steps / (double)pf->e[i].count,
			pf->e[i].sql + (strncmp(pf->e[i].sql, "WITH RECURSIVE anc", 18) ? 0 : 260));
	free(pf);
	st->profile = NULL;
}
