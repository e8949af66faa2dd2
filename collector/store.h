/* SPDX-License-Identifier: MIT */
/*
 * The SQLite store, the only part of dise that speaks SQL: runs and
 * crashes, and the ingest cursor that makes reading the ring exactly-once
 * in effect (store.c); versions (store-version.c); detections
 * (store-detect.c); healing (store-heal.c); routes (store-route.c); what the
 * dise command reads (store-report.c). Each function runs cached
 * statements (prepared once per connection) with bound values, and returns
 * with none of them open.
 *
 * Errors: 0 or -errno; SQLITE_BUSY/LOCKED map to -EBUSY, SQLITE_FULL to
 * -ENOSPC, SQLITE_CORRUPT/NOTADB to -EUCLEAN, SQLITE_READONLY/PERM to
 * -EACCES, anything else to -EIO (dise_store_errmsg() says what SQLite said).
 * Not thread-safe: one store per thread.
 */
#ifndef DISE_STORE_H
#define DISE_STORE_H

#include <limits.h>
#include <stdint.h>

#include <stddef.h>

#include "decode.h"
#include "names.h"

struct sqlite3;
typedef struct dise_store dise_store;

#define DISE_SCHEMA_VERSION 21

/*
 * Opens (creating and migrating) the database; readonly opens an existing
 * one as is. -EUCLEAN: the file is damaged or no database; -EACCES: not
 * writable (for a writer); -ENODATA: no schema yet (a reader).
 */
int dise_store_open(const char *path, int readonly, dise_store **ret);
/* What SQLite said when this thread's last dise_store_open() failed, one line ("" when nothing). */
const char *dise_store_open_errmsg(void);
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
 * Whether end (an EXIT the run wrote itself, or an EXEC) ends the run that
 * START start begins (same pid and start), so that dise_store_add_run can
 * write them as one row (a START of `dise run` or dise-coredump: never).
 */
int dise_store_run_mergeable(const struct dise_record *start, const struct dise_record *end);
/*
 * A START and its end in one row: the row dise_store_add_record of one then
 * the other leaves, in one INSERT. The caller makes sure nothing stored
 * between them would have read or written a run of that pid (ingest.c).
 * Returns 1 when written as one row, 0 when the run's row was there already
 * (then the two were stored one by one), -EINVAL when they are not a pair
 * (dise_store_run_mergeable), or -errno.
 */
int dise_store_add_run(dise_store *st, uint64_t epoch, const struct dise_record *start, const struct dise_record *end);
/*
 * Whether a bad end may be a strike that the detectors must see at once
 * (ingest commits at once for it): 0 only for an EXIT that failed, of the
 * run that start begins, whose version is known at ingest (known.h) and
 * has no parent, no baseline to be a strike against (store-detect.c's
 * STRIKE: a crash can be one without a baseline); 1 for anything else or
 * any doubt. Latency only: the end is stored with the gather either way.
 * Reads the store outside a transaction.
 */
int dise_store_end_may_strike(dise_store *st, const struct dise_record *start, const struct dise_record *end);

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

/* How many statements this connection has prepared (each once: they are cached). */
int dise_store_statements_prepared(dise_store *st);

/* The underlying handle: for tests that look into the database, nothing else (the store owns all SQL). */
struct sqlite3 *dise_store_db(dise_store *st);

/*
 * ---- Routes, and what the collector watches (store-route.c) ----
 */
struct dise_pruned_route {
	int64_t dev, ino, size, mtime_ns; /* the identity of a file that ran as a pruned version */
	char *path;                       /* an absolute path it ran at */
	int64_t version;                  /* the version its tool is routed to */
	char *tool, *cas_path;            /* of that version */
	char sha256[65];
	int canary_pct;                   /* 0: a plain route; else a canary rollout's weight (collector/canary.h) */
	/* a regenerated version rolled out over this plain route: its canary arm runs that version (else 0) */
	int64_t canary_version;
	char canary_sha256[65];
};
/*
 * The files that ran as a pruned version with the version to run instead:
 * all of them (*ret, *ret_n: free with dise_pruned_routes_free), or -errno:
 * never a shorter table than there is.
 */
int dise_store_pruned_routes(dise_store *st, struct dise_pruned_route **ret, size_t *ret_n);
void dise_pruned_routes_free(struct dise_pruned_route *e, size_t n);
/* How many file identities hold a pruned version's content (grows when pruned content appears at a new identity). */
int dise_store_pruned_identities(dise_store *st, int64_t *ret);
/*
 * Records where the route of the file at path to version runs from: target
 * (NULL: not published), error (0: beside the original; else why not), a
 * note for people. Returns 0 or -errno.
 */
/* The copies beside originals that the placements in effect use, each with its version's content (free with dise_route_copies_free). 0 or -errno. */
struct dise_route_copy {
	char *path;
	char sha256[65];
};
int dise_store_route_copies(dise_store *st, struct dise_route_copy **ret, size_t *ret_n);
void dise_route_copies_free(struct dise_route_copy *c, size_t n);
int dise_store_route_placements_clear(dise_store *st);
/* Journals (once) that the route of path to version could not be published: the webhook says so. */
int dise_store_route_unpublished(dise_store *st, const char *tool, int64_t version, const char *path, const char *why);
int dise_store_route_published(dise_store *st, const char *tool, int64_t version, const char *path,
			       const char *target, int error, const char *note);
/* A value that changes whenever a route or a version's health changes. */
int dise_store_routes_fingerprint(dise_store *st, int64_t *ret);
/* PRAGMA data_version: changes when another connection commits. */
int dise_store_data_version(dise_store *st, int64_t *ret);
/* The rows this connection changed since it opened. */
int64_t dise_store_total_changes(dise_store *st);

/*
 * ---- The resolver's statements (store-version.c) ----
 * Lookups: 1 with a value, 0 without, -errno; the rest 0 or -errno.
 */
struct dise_unversioned {
	int64_t run_id, dev, ino, size, mtime_ns, wall_ns;
	int failed; /* its bad end is stored already (outcome.h, no tool policy) */
	char tool[4096], path[4096];
};
/* Runs with a file identity and no version yet, oldest first, at most max; how many. */
int dise_store_runs_unversioned(dise_store *st, struct dise_unversioned *p, int max);
/* The hash cached for a file identity into sha ("" when it could not be hashed). */
int dise_store_content_hash(dise_store *st, int64_t dev, int64_t ino, int64_t size, int64_t mtime_ns, char sha[65]);
/* Caches sha (NULL: could not be hashed) for a file identity, unless one is cached. */
int dise_store_content_add(dise_store *st, int64_t dev, int64_t ino, int64_t size, int64_t mtime_ns, const char *sha);
/* The tool a registered path belongs to. */
int dise_store_path_tool(dise_store *st, const char *path, char *buf, size_t size);
int dise_store_path_tool_set(dise_store *st, const char *path, const char *tool);
int dise_store_version_find(dise_store *st, const char *tool, const char *sha, int64_t *ret_id);
int dise_store_version_by_label(dise_store *st, const char *tool, const char *label, int64_t *ret_id);
int dise_store_version_add(dise_store *st, const char *tool, const char *sha, const char *label, const char *path,
			   int64_t size, int64_t wall_ns, const char *cas_path, int64_t *ret_id);
int dise_store_version_set_label(dise_store *st, int64_t version, const char *label);
/* The label a person sees for version (per tool: v1, v2…; "v<id>" when it has none) into buf. 0 or -errno. */
int dise_store_version_label(dise_store *st, int64_t version, char *buf, size_t size);
int dise_store_parent_add(dise_store *st, int64_t version, int64_t parent);
/* The version last seen at path (its head). */
int dise_store_path_head(dise_store *st, const char *path, int64_t *ret_id);
/* The newest version of tool other than except (0: none). */
int dise_store_tool_newest(dise_store *st, const char *tool, int64_t except, int64_t *ret_id);
int dise_store_path_head_set(dise_store *st, const char *path, int64_t version);
struct dise_known;
/*
 * Ingest gives a START its version when the resolver gave it to that path
 * and file identity already and it is still the path's head (known.h);
 * NULL: never (the default). How many STARTs were stored without one.
 */
void dise_store_set_known(dise_store *st, struct dise_known *k);
uint64_t dise_store_unresolved_starts(const dise_store *st);
/* How many times ingest read a path's head (path_heads) to give a START its version at ingest: for tests and benchmarks. */
uint64_t dise_store_head_reads(const dise_store *st);
/* How many times ingest looked at the script an interpreter's START names (stat, open, read): for tests and benchmarks. */
uint64_t dise_store_script_reads(const dise_store *st);
/* How many times ingest looked up an image's exec parent (the run of its pid that ended by exec): for tests and benchmarks. */
uint64_t dise_store_exec_parent_reads(const dise_store *st);
int dise_store_run_set_version(dise_store *st, int64_t run, int64_t version);
/* The tool a run belongs to, once known to be a group's (dise tool add, dise.json "paths"). */
int dise_store_run_set_tool(dise_store *st, int64_t run, const char *tool);
/* The bytes the content-addressed copies take. */
int dise_store_cas_total(dise_store *st, int64_t *ret_bytes);
struct dise_cas_copy {
	char *path;
	int64_t size;
};
/* The copies the cap may evict, used least recently first (never a tool's newest healthy version's), to free. */
int dise_store_cas_evictable(dise_store *st, struct dise_cas_copy **ret, size_t *ret_n);
void dise_cas_copies_free(struct dise_cas_copy *c, size_t n);
/* No version has the copy at cas_path any more. */
int dise_store_cas_forget(dise_store *st, const char *cas_path);

/*
 * ---- The detectors' statements (store-detect.c) ----
 * normal: the tool's normal exit codes ("1,3", NULL: none), see outcome.h.
 * 0 (or a count) or -errno.
 */
int dise_store_last_run_id(dise_store *st, int64_t *ret);
/* Whether any rule (`dise rule add`, healer/rules.c) is stored: *ret 1 or 0. */
int dise_store_rules_any(dise_store *st, int64_t *ret);
struct dise_invocation {
	char *argv, *cwd;
	int64_t class; /* their hash (runs.class): what the index finds */
};
struct dise_version_ref {
	int64_t id;
	char tool[PATH_MAX]; /* a tool is the path it was invoked at: up to PATH_MAX */
	int failed;	     /* a failure among the runs that made it one to look at (always 1 over the window) */
	/*
	 * Looking at what changed (after_run >= 0, not failed_only): the
	 * invocation classes of its runs that ended ok since it was last looked
	 * at (at most 16), the only ones whose slowdown can have changed;
	 * classes_known 0: every class is to be looked at (the pass over the window).
	 */
	int classes_known;
	struct dise_invocation *classes;
	size_t nclasses;
	/*
	 * failed_only: the most strikes it can have in the window now (those
	 * judged strikes, and every failure not judged yet): below the
	 * threshold, the bad ends wait for the pass owed (nothing to decide at once).
	 */
	int64_t strikes_possible;
};
/*
 * The versions to look at, to free: not pruned or failed, with no queued
 * heal request, and with runs started since since_wall_ns (after_run < 0)
 * or (after_run >= 0) runs that ended or got their version since the
 * detectors last looked (touched, detect_state: the runs stored since that
 * have not ended have nothing to look at); *ret_touched: the touched sequence number they
 * looked up to, for dise_store_touched_seen_set (-1: none, a pass over the
 * window or failed_only); failed_only: those with a failure not judged yet
 * (runs.strike), the touched runs left for the next call (which looks at
 * everything else: the failure rate, the slowdown). Free with
 * dise_version_refs_free.
 */
int dise_store_versions_to_check(dise_store *st, int64_t since_wall_ns, int64_t after_run, int failed_only,
				 struct dise_version_ref **ret, size_t *ret_n, int64_t *ret_touched);
/* The runs touched up to upto (versions_to_check's *ret_touched) were looked at. 0 or -errno. */
int dise_store_touched_seen_set(dise_store *st, int64_t upto);
void dise_version_refs_free(struct dise_version_ref *v, size_t n);
/*
 * Strikes of version since since_wall_ns (and its last reset): failures
 * that are evidence it is worse than its baseline (its ancestors not pruned
 * or failed): a self-raised crash with a signature no baseline version
 * produced; a non-zero exit of an invocation class (argv, cwd) that a
 * baseline version ended ok and this version never did, with an exit
 * status no baseline version gave. *ret_has_base: 1
 * when it has a baseline at all (0: a first version, whose crashes are all
 * counted, but which can only be marked failing).
 */
int dise_store_version_strikes(dise_store *st, int64_t version, const char *normal, int64_t since_wall_ns,
			       int64_t *ret_strikes, int *ret_has_base);
/*
 * The same from each failure's verdict (runs.strike), made once when the
 * failure is first looked at: what changed since is not read again, so
 * the count can differ from dise_store_version_strikes() (a later ok run
 * of the class, a baseline pruned since). A count that reaches the
 * threshold is only a reason to ask dise_store_version_strikes().
 */
int dise_store_version_strikes_seen(dise_store *st, int64_t version, const char *normal, int64_t since_wall_ns,
				    int64_t *ret_strikes, int *ret_has_base);
/* Its failures not judged yet judged no strike: a version never judged (a build probe). 0 or -errno. */
int dise_store_version_strikes_settle(dise_store *st, int64_t version);
/* Its strikes' verdicts made again from the facts as they are now (after dise_store_version_strikes() disagreed). */
int dise_store_version_strikes_rejudge(dise_store *st, int64_t version, const char *normal, int64_t since_wall_ns);

/*
 * 1 when another version, not pruned or failed, ran at version's path
 * between two of its runs (its content came back after another: a
 * configure probe's conftest, a test program rebuilt in place), else 0;
 * or -errno.
 */
int dise_store_version_alternates(dise_store *st, int64_t version);

/* Judged runs (ok or failed) and failures of a version and of its baseline, on the invocation classes both ran. */
struct dise_rate_pair {
	int64_t runs, fails, base_runs, base_fails;
};
int dise_store_version_compare_rate(dise_store *st, int64_t version, const char *normal, int last,
				    struct dise_rate_pair *ret);

/* An invocation class: argv (JSON, as runs.argv) and cwd (may be NULL). */
/*
 * The invocation class of a run (runs.class): a 64-bit FNV-1a hash of its
 * argv (the JSON text runs.argv holds) and its cwd (NULL hashes apart from
 * ""). Equal classes may still differ (a collision): queries compare argv
 * and cwd too.
 */
int64_t dise_store_run_class(const char *argv_json, const char *cwd);
/* The classes a version ended ok at least min_ok times (at most 16, the most run first). */
int dise_store_version_classes(dise_store *st, int64_t version, int min_ok, struct dise_invocation **ret, size_t *ret_n);
void dise_invocations_free(struct dise_invocation *v, size_t n);
/* One ok run's times: wall (end - start) and CPU (user + sys, 0 when unknown). */
struct dise_duration {
	int64_t wall_ns, cpu_ns, run_id;
};
/* The times of the ok runs of class c, newest first, at most max: of version (since its reset), or of its baseline. */
int dise_store_class_ok_durations(dise_store *st, int64_t version, int of_base, const struct dise_invocation *c,
				  struct dise_duration *out, int max);
/*
 * 1 when a watched process whose parent was run run_id started while it
 * ran (among the 4096 runs stored after it), 0 if none, or -errno.
 */
int dise_store_run_spawned(dise_store *st, int64_t run_id);
/*
 * Marks a healthy or degraded version failing (bad, with no baseline to
 * compare it to: still run, never routed away from), with a failure row
 * (detector no_baseline) and a journal row (step 'failing'), once.
 * Returns 1 when it was marked, 0 when it already was (or is not healthy), or -errno.
 */
int dise_store_version_mark_failing(dise_store *st, int64_t version, const char *tool, const char *normal, const char *desc,
				    int64_t wall_ns);
/*
 * A detection: a failure row (with the latest failed run and its crash's
 * stack and signature) and a queued heal request unless one is queued
 * (none for DISE_DETECT_NO_BASELINE: nothing to heal).
 * Returns 1 when a request was queued, 0 when one was already, or -errno.
 */
int dise_store_detection_add(dise_store *st, int64_t version, const char *normal, enum dise_detector detector,
			     const char *severity, const char *desc, int64_t wall_ns);

/*
 * ---- What the dise command reads (store-report.c) ----
 * A report is the rows of one query as a JSON array of objects (column name
 * -> value, NULL columns left out), read whole. arg: the tool (RUNS,
 * JOURNAL: NULL for every tool; LINEAGE: required); limit: RUNS' and
 * JOURNAL's newest rows. 0 or -errno.
 */
struct json_t;
enum dise_report {
	DISE_REPORT_RUNS,
	DISE_REPORT_LINEAGE,
	DISE_REPORT_CRASHES,
	DISE_REPORT_PRUNED,
	DISE_REPORT_RULES,
	DISE_REPORT_TOOLS,
	DISE_REPORT_HEALTH_BY,
	DISE_REPORT_RECENT_FAILURES,
	DISE_REPORT_ROUTE_PLACEMENTS, /* where each published route runs from, or why it is not published */
	DISE_REPORT_TOOL_PATHS,       /* each tool's paths (for: can a route run beside the original?) */
	DISE_REPORT_RESTORE_FAILURES, /* on_failure "restore" that did not restore, newest first */
	DISE_REPORT_JOURNAL,	   /* arg: a tool or NULL; limit: the newest rows, oldest first */
	DISE_REPORT_HEAL_PROBLEMS, /* the latest steps that went wrong: rejections, no ancestor, failed restores */
	DISE_REPORT_MUTATIONS,	   /* regeneration attempts (arg: a tool or NULL), oldest first */
	DISE_REPORT_REGEN_STATE,   /* per tool: its latest regeneration attempt, proposals waiting, the ratchet's lock */
	DISE_REPORT_MAX,
};
int dise_store_report(dise_store *st, enum dise_report what, const char *arg, int64_t limit, struct json_t **ret);

/*
 * Detection to route: from the record of the run that made the detection
 * (the third strike's end), or the detection itself when no run made it
 * (a rule), to the route.
 */
struct dise_health_counts {
	int64_t runs, queued, routed, no_ancestor, frozen, mean_detection_to_route_ns;
	int64_t restore_failed; /* restores in place that failed: the route applies, the file was not written back */
};
int dise_store_health_counts(dise_store *st, struct dise_health_counts *ret);

/* The version a command names: ver (label, v12 or 12), else the newest one it may act on. */
enum dise_pick {
	DISE_PICK_HEALABLE,   /* not pruned */
	DISE_PICK_RESETTABLE, /* pruned or failed */
};
/* 1 with *ret, 0 when there is none, or -errno. */
/*
 * The tool a command names (name): a tool's name (its path, or a group's
 * name); a path (made absolute against cwd) that is a tool or one of a
 * group's; or a file name that exactly one tool's path ends in. 1 with the
 * tool in buf, 0 when none, -EEXIST when the file name is several tools'
 * (*ret_candidates: them, ", "-separated, to free), or -errno.
 */
int dise_store_tool_lookup(dise_store *st, const char *name, const char *cwd, char *buf, size_t size,
			   char **ret_candidates);
int dise_store_version_pick(dise_store *st, const char *tool, const char *ver, enum dise_pick pick, int64_t *ret);

/*
 * ---- The healer's statements (store-heal.c) ----
 * All return 0 (lookups: 1 with a row, 0 without) or -errno; none holds a
 * statement open when it returns. Times are CLOCK_REALTIME ns.
 */
int dise_store_journal_add(dise_store *st, int64_t request, const char *tool, int64_t version, const char *step,
			   const char *result, const char *detail, int64_t wall_ns, int64_t duration_ns);
/* The tool of version into buf: 1, 0 when there is no such version, or -errno. */
int dise_store_version_tool(dise_store *st, int64_t version, char *buf, size_t size);
/* The path of version's content-addressed copy (to free), NULL when it has none. 0 or -errno. */
int dise_store_version_copy(dise_store *st, int64_t version, char **ret_copy);

struct dise_store_node {
	int64_t id;
	enum dise_health health;
};
struct dise_store_edge {
	int64_t version, parent;
};
/* The versions of tool (by id) and its lineage edges (grouped by version, parents by id), to free. */
int dise_store_tool_dag(dise_store *st, const char *tool, struct dise_store_node **ret_nodes, size_t *ret_n,
			struct dise_store_edge **ret_edges, size_t *ret_ne);

/* The latest failed run of a version (outcome.h's decision, no tool policy), with its crash if it crashed. */
struct dise_failed_run {
	int exit_status, signal; /* -1: none */
	char *argv, *cwd, *frames, *signature; /* NULL: none */
};
int dise_store_last_failed_run(dise_store *st, int64_t version, struct dise_failed_run *ret);
void dise_failed_run_free(struct dise_failed_run *f);

/* A rule learned from version source; exit_code, signo -1: none. */
int dise_store_rule_add(dise_store *st, const char *tool, int64_t source, const char *desc, const char *signature,
			int exit_code, int signo, const char *argv, const char *cwd, const char *reason, enum dise_scope scope,
			int64_t wall_ns);
int dise_store_version_set_health(dise_store *st, int64_t version, enum dise_health health);
/* version degraded, tainted by `by`, if it was healthy: returns 1 when it was, 0, or -errno. */
int dise_store_version_taint(dise_store *st, int64_t version, int64_t by);
int dise_store_heal_set_state(dise_store *st, int64_t request, enum dise_heal_state state);
/* The state of request (enum dise_heal_state), -ENOENT, or -errno. */
int dise_store_heal_state(dise_store *st, int64_t request);
/* "detector: description" of a failure into buf, and whether a rule found it: 1, 0 (none), -errno. */
int dise_store_failure_reason(dise_store *st, int64_t failure, char *buf, size_t size, int *ret_is_rule);
int dise_store_route_set(dise_store *st, const char *tool, int64_t version, int64_t wall_ns);
int dise_store_route_drop(dise_store *st, const char *tool);
/* The version tool is routed to: 1, 0 when it has no route, -errno. */
int dise_store_route_get(dise_store *st, const char *tool, int64_t *ret_version);

/* Where a pruned version's files are, to be given back the ancestor's content. */
struct dise_restore_target {
	char *path, *sha256, *from;
};
int dise_store_restore_targets(dise_store *st, int64_t pruned, int64_t ancestor, struct dise_restore_target **ret,
			       size_t *ret_n);
void dise_restore_targets_free(struct dise_restore_target *t, size_t n);

int dise_store_rule_check_set(dise_store *st, int64_t rule, int64_t version, enum dise_check result, const char *detail,
			      int64_t wall_ns);
/*
 * A failure of version (detector, desc; severity high; rule > 0: with that
 * rule's crash signature) and a queued heal request for it, unless one is
 * queued already.
 */
int dise_store_heal_request_add(dise_store *st, int64_t version, enum dise_detector detector, const char *desc,
				int64_t rule, int64_t wall_ns);
/* (rule, version, run) of covered versions seen failing the way a rule describes since since_wall_ns; how many. */
int dise_store_rule_matches(dise_store *st, int64_t since_wall_ns, int64_t (*m)[3], int max);
int dise_store_rule_description(dise_store *st, int64_t rule, char *buf, size_t size);

struct dise_rule_pair {
	int64_t rule, version, source;
	int replayable;
	enum dise_scope scope;
	char tool[PATH_MAX], vtool[PATH_MAX]; /* tools are paths */
};
/*
 * The (rule, version it may cover) pairs not checked yet, at most max, into
 * the array *ret of capacity *cap, grown as needed (nothing allocated when
 * there is none: 8 KiB a pair); how many, or -errno.
 */
int dise_store_rule_pairs(dise_store *st, struct dise_rule_pair **ret, size_t *cap, int max);

struct dise_heal_request {
	int64_t id, version, failure;
	enum dise_heal_state state;
};
/* Requests queued, validating or restoring, oldest first, at most max; how many. */
int dise_store_heal_requests_open(dise_store *st, struct dise_heal_request *req, int max);
/* `dise reset`: version healthy (strikes from wall_ns on), what it tainted healthy, its queued requests reset, tool's route dropped. */
int dise_store_version_reset(dise_store *st, int64_t version, const char *tool, int64_t wall_ns);

/* The rules of a tool that keep an invocation to replay (only_rule > 0: that one). */
struct dise_replay {
	int64_t rule;
	char *argv, *cwd, *description;
	int signal, exit_code; /* 0, -1: none */
};
int dise_store_rules_replayable(dise_store *st, const char *tool, int64_t only_rule, struct dise_replay **ret,
				size_t *ret_n);
void dise_replays_free(struct dise_replay *t, size_t n);

/* The webhook's place in the journal, and the healing events after it. */
int dise_store_notify_cursor(dise_store *st, int64_t *ret_journal_id);
int dise_store_notify_cursor_set(dise_store *st, int64_t journal_id);
struct dise_event {
	int64_t journal_id, version, wall_ns;
	char step[32], result[32];
	char *tool, *detail, *reason; /* NULL: none */
};
/* Events journaled after `after`, at most max; how many, or -errno. dise_events_free() frees their strings. */
int dise_store_notify_events(dise_store *st, int64_t after, struct dise_event *ev, int max);
void dise_events_free(struct dise_event *ev, int n);

/*
 * ---- Prometheus metrics (store-metrics.c; formatted by metrics.c) ----
 * Each family's rows: its label values, then the value.
 */
enum dise_metric {
	DISE_METRIC_RUNS,	/* tool, outcome: ended runs */
	DISE_METRIC_FAILURES,	/* tool, outcome: of those, failures (outcome.h, no tool policy) */
	DISE_METRIC_CRASHES,	/* signature, tool, signal: crashes (the 500 most frequent groups) */
	DISE_METRIC_HEALS,	/* tool: versions pruned by the healer */
	DISE_METRIC_ROUTES,	/* tool: routes to an ancestor made by the healer */
	DISE_METRIC_HEAL_STEPS, /* step, result: every step of the journal */
	DISE_METRIC_ROUTED,	/* tool, version: 1 per route in effect */
	DISE_METRIC_VERSIONS,	/* health: versions */
	DISE_METRIC_CANARY,	/* tool, stable, canary: the weight of each running rollout */
	DISE_METRIC_MAX,
};
#define DISE_METRIC_LABELS_MAX 4
/* Calls fn for each row of family m (stops at fn's first error, and returns it). 0 or -errno. */
int dise_store_metric(dise_store *st, enum dise_metric m,
		      int (*fn)(void *arg, const char *const *labels, int nlabels, int64_t value), void *arg);

#endif
