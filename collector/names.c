/* SPDX-License-Identifier: MIT */
/*
 * The name tables of names.h. The order of each table is its enum's: a
 * value added goes at the end of its enum and of its table, and a schema
 * step widens the column's CHECK (schema.c).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "names.h"

const char *const dise_outcome_names[DISE_OUTCOME_MAX] = { "ok", "fail", "crash", "vanished", "exec", "detached" };
const char *const dise_health_names[DISE_HEALTH_MAX] = { "healthy", "degraded", "failed", "pruned", "regenerated", "failing" };
const char *const dise_heal_state_names[DISE_HEAL_STATE_MAX] = { "queued",	"validating", "restoring", "done",
								  "no_ancestor", "frozen",	"reset" };
const char *const dise_detector_names[DISE_DETECTOR_MAX] = { "three_strikes", "error_rate", "slowdown", "rule",
							     "manual", "no_baseline", "canary" };
const char *const dise_scope_names[DISE_SCOPE_MAX] = { "descendants", "all_similar", "global" };
const char *const dise_check_names[DISE_CHECK_MAX] = { "not_covered", "covered", "passed", "failed" };

static const char *name_of(const char *const *t, int n, int v)
{
	return v >= 0 && v < n && t[v] ? t[v] : "unknown";
}

static int value_of(const char *const *t, int n, const char *s)
{
	int i;

	for (i = 0; s && i < n; i++)
		if (!strcmp(s, t[i]))
			return i;
	return -EINVAL;
}

#define NAMES(kind, type, table, max)                                 \
	const char *dise_##kind##_name(type v)                        \
	{                                                             \
		return name_of(table, max, (int)v);                   \
	}                                                             \
	int dise_##kind##_from_name(const char *s)                    \
	{                                                             \
		return value_of(table, max, s);                       \
	}

NAMES(outcome, enum dise_outcome, dise_outcome_names, DISE_OUTCOME_MAX)
NAMES(health, enum dise_health, dise_health_names, DISE_HEALTH_MAX)
NAMES(heal_state, enum dise_heal_state, dise_heal_state_names, DISE_HEAL_STATE_MAX)
NAMES(detector, enum dise_detector, dise_detector_names, DISE_DETECTOR_MAX)
NAMES(scope, enum dise_scope, dise_scope_names, DISE_SCOPE_MAX)
NAMES(check, enum dise_check, dise_check_names, DISE_CHECK_MAX)

int dise_names_sql_check(const char *column, const char *const *names, int n, char *buf, unsigned size)
{
	unsigned off = 0;
	int i, k;

	if (size)
		buf[0] = '\0';
	for (i = 0; i < n; i++) {
		k = snprintf(buf + off, size - off, "%s%s = '%s'", i ? " OR " : "", column, names[i]);
		if (k < 0 || (unsigned)k >= size - off)
			return -ENOSPC;
		off += (unsigned)k;
	}
	return 0;
}
