/* SPDX-License-Identifier: MIT */
/*
 * The words the store keeps in its columns, as enums with one name table
 * each: a run's outcome, a version's health, a heal request's state, the
 * detector that found a failure, a rule's scope, a rule check's result.
 * The database holds the names (readable with the sqlite3 shell); code
 * holds the enums and converts at the store's edge. The schema's CHECK
 * constraints are made from these same tables, so a name the code does
 * not know cannot get into the database either.
 */
#ifndef DISE_NAMES_H
#define DISE_NAMES_H

/* NULL in the database while the run has not ended */
enum dise_outcome {
	DISE_OUTCOME_OK,
	DISE_OUTCOME_FAIL,     /* a non-zero exit, or death by a signal that is not a crash */
	DISE_OUTCOME_CRASH,    /* a core-dumping signal */
	DISE_OUTCOME_VANISHED, /* gone without an EXIT record: SIGKILL, the OOM killer */
	DISE_OUTCOME_EXEC,     /* replaced by another image (execve) */
	DISE_OUTCOME_DETACHED, /* `dise attach` stopped watching: its end is unknown */
	DISE_OUTCOME_MAX,
};

/* failing: bad with nothing to compare it to or nowhere better to go: visible and notified, still run, never routed away from */
enum dise_health { DISE_HEALTHY, DISE_DEGRADED, DISE_FAILED, DISE_PRUNED, DISE_REGENERATED, DISE_FAILING, DISE_HEALTH_MAX };

enum dise_heal_state {
	DISE_HEAL_QUEUED,
	DISE_HEAL_VALIDATING,  /* candidates are validated outside a transaction */
	DISE_HEAL_RESTORING,   /* routed; files are written back outside a transaction */
	DISE_HEAL_DONE,
	DISE_HEAL_NO_ANCESTOR,
	DISE_HEAL_FROZEN,
	DISE_HEAL_RESET,
	DISE_HEAL_STATE_MAX,
};

enum dise_detector {
	DISE_DETECT_THREE_STRIKES,
	DISE_DETECT_ERROR_RATE,
	DISE_DETECT_SLOWDOWN,
	DISE_DETECT_RULE,
	DISE_DETECT_MANUAL,
	DISE_DETECT_NO_BASELINE, /* bad endings with no ancestor to compare to: marks the version failing, heals nothing */
	DISE_DETECT_CANARY, /* a canary rollout aborted on its evidence (collector/canary.c) */
	DISE_DETECTOR_MAX,
};

enum dise_scope { DISE_SCOPE_DESCENDANTS, DISE_SCOPE_ALL_SIMILAR, DISE_SCOPE_GLOBAL, DISE_SCOPE_MAX };

enum dise_check { DISE_CHECK_NOT_COVERED, DISE_CHECK_COVERED, DISE_CHECK_PASSED, DISE_CHECK_FAILED, DISE_CHECK_MAX };

extern const char *const dise_outcome_names[DISE_OUTCOME_MAX];
extern const char *const dise_health_names[DISE_HEALTH_MAX];
extern const char *const dise_heal_state_names[DISE_HEAL_STATE_MAX];
extern const char *const dise_detector_names[DISE_DETECTOR_MAX];
extern const char *const dise_scope_names[DISE_SCOPE_MAX];
extern const char *const dise_check_names[DISE_CHECK_MAX];

/* The name of a value ("unknown" when out of range); thread-safe. */
const char *dise_outcome_name(enum dise_outcome v);
const char *dise_health_name(enum dise_health v);
const char *dise_heal_state_name(enum dise_heal_state v);
const char *dise_detector_name(enum dise_detector v);
const char *dise_scope_name(enum dise_scope v);
const char *dise_check_name(enum dise_check v);

/* The value of a name (s may be NULL), or -EINVAL. */
int dise_outcome_from_name(const char *s);
int dise_health_from_name(const char *s);
int dise_heal_state_from_name(const char *s);
int dise_detector_from_name(const char *s);
int dise_scope_from_name(const char *s);
int dise_check_from_name(const char *s);

/*
 * "col = 'a' OR col = 'b' OR ...": the condition of a CHECK constraint that
 * column holds one of the n names of a table (names are constants of this
 * file, never data). Not "col IN (...)": SQLite builds an IN list of more
 * than a few values into a temporary index at every execution of every
 * statement that writes the table (a third of ingest's time for runs).
 * Returns 0, or -ENOSPC when buf is too small.
 */
int dise_names_sql_check(const char *column, const char *const *names, int n, char *buf, unsigned size);

#endif
