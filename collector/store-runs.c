/* SPDX-License-Identifier: MIT */
/*
 * The records -> runs write path of the store: each record ingest read
 * (START, EXIT, EXEC, CRASH, REAP, a START with its end in one row) made
 * into the runs table's rows by ingest's statements, prepared at open with
 * store.c's (st->q, enum dise__q in store-internal.h).
 *
 * Runs get one row each, keyed by (epoch, pid, start_ns); START and
 * EXIT/CRASH/EXEC are upserts on that key, so their order does not matter.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "crash-sig.h"
#include "known.h"
#include "outcome.h"
#include "store-internal.h"
#include "store.h"
#include "toolpath.h"

const char *const dise__runs_queries[Q_MAX] = {
	[Q_START] = "INSERT INTO runs(epoch, pid, start_ns, ppid, uid, start_wall_ns, execfn, exe, cwd, argv, argc, "
		    "exe_dev, exe_ino, exe_size, exe_mtime_ns, forked, exec_parent, tool, path, version_id, class) "
		    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, COALESCE(?20, ?18), ?18, ?19, "
		    "CASE WHEN ?19 IS NOT NULL THEN dise_class(?10, ?9) END) "
		    /* its end came first (another shard): the resolver gives its version, as it did (bad_resolved) */
		    "ON CONFLICT(epoch, pid, start_ns) DO UPDATE SET ppid = excluded.ppid, uid = excluded.uid, tool = excluded.path, "
		    "path = excluded.path, "
		    "start_wall_ns = excluded.start_wall_ns, execfn = excluded.execfn, exe = excluded.exe, "
		    "cwd = excluded.cwd, argv = excluded.argv, argc = excluded.argc, exe_dev = excluded.exe_dev, "
		    "exe_ino = excluded.exe_ino, exe_size = excluded.exe_size, exe_mtime_ns = excluded.exe_mtime_ns, "
		    "forked = excluded.forked, exec_parent = excluded.exec_parent "
		    "RETURNING version_id IS NULL AND exe_ino IS NOT NULL",
	/*
	 * A START and its end (an EXIT, an EXEC) read in the same batch with no
	 * record of that pid between them (ingest.c): the row as Q_START then
	 * Q_EXIT or Q_EXEC would leave it, written once, touched (the next
	 * touched number, as TOUCH) when it has its version and did not end
	 * by exec (an exec is no outcome to judge: Q_EXEC does not touch). A run that ended by exec gets no class
	 * either: every reader of runs.class looks at runs that ended ok or failed (store-detect.c), never at
	 * an exec's (a shell's fork child: one index entry fewer, runs_version_class, and no dise_class()).
	 * A row already there (its end or a crash came first): nothing (no change), and the two are stored
	 * one by one.
	 */
	[Q_START_END] = "INSERT INTO runs(epoch, pid, start_ns, ppid, uid, start_wall_ns, execfn, exe, cwd, argv, argc, "
			"exe_dev, exe_ino, exe_size, exe_mtime_ns, forked, exec_parent, tool, path, version_id, class, "
			"end_ns, outcome, exit_status, user_ns, sys_ns, maxrss_kb, exec_path, touched) "
			"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, COALESCE(?20, ?18), ?18, ?19, "
			"CASE WHEN ?19 IS NOT NULL AND ?22 <> 'exec' THEN dise_class(?10, ?9) END, ?21, ?22, ?23, ?24, ?25, ?26, ?27, "
			"CASE WHEN ?19 IS NOT NULL AND ?22 <> 'exec' THEN " DISE__TOUCH_NEXT " END) "
			"ON CONFLICT(epoch, pid, start_ns) DO NOTHING", /* no RETURNING (its rows buffered in a table of their own): the bindings say */
	/*
	 * The ends. An EXIT never overrides a CRASH of the same run (a crash in
	 * an atexit handler). A run that has its version already (a long run:
	 * its START was resolved before it ended) is marked touched (TOUCH):
	 * the detectors look at its version again (store-detect.c).
	 */
	[Q_EXIT] = "INSERT INTO runs(epoch, pid, start_ns, end_ns, outcome, exit_status, user_ns, sys_ns, maxrss_kb) "
		   "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) "
		   "ON CONFLICT(epoch, pid, start_ns) DO UPDATE SET "
		   "end_ns = excluded.end_ns, outcome = excluded.outcome, exit_status = excluded.exit_status, "
		   "user_ns = excluded.user_ns, sys_ns = excluded.sys_ns, maxrss_kb = excluded.maxrss_kb, " TOUCH("runs") " "
		   "WHERE runs.outcome IS NULL OR runs.outcome NOT IN ('crash')",
	[Q_EXEC] = "INSERT INTO runs(epoch, pid, start_ns, end_ns, outcome, exec_path) VALUES (?1, ?2, ?3, ?4, 'exec', ?5) "
		   "ON CONFLICT(epoch, pid, start_ns) DO UPDATE SET end_ns = excluded.end_ns, outcome = 'exec', "
		   "exec_path = excluded.exec_path WHERE runs.outcome IS NULL", /* not touched: an exec is no outcome to judge */
	[Q_CRASH_RUN] = "INSERT INTO runs(epoch, pid, start_ns, end_ns, outcome, signal) VALUES (?1, ?2, ?3, ?4, 'crash', ?5) "
			"ON CONFLICT(epoch, pid, start_ns) DO UPDATE SET end_ns = excluded.end_ns, outcome = 'crash', "
			"signal = excluded.signal, " TOUCH("runs") " RETURNING id",
	[Q_CRASH_ADD] = "INSERT INTO crashes(run_id, tid, signal, si_code, fault_addr, main_thread, signature, frames, "
			"sym_signature, reraised) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
	/* the image this one replaced: the latest run of the same pid that ended by exec */
	[Q_EXEC_PARENT] = "SELECT id FROM runs WHERE epoch = ?1 AND pid = ?2 AND start_ns < ?3 AND outcome = 'exec' "
			  "ORDER BY start_ns DESC LIMIT 1",
	/* the latest run of a pid that began at or after a moment (dise run's spawn) */
	[Q_PID_SINCE] = "SELECT id FROM runs WHERE epoch = ?1 AND pid = ?2 AND start_ns >= ?3 ORDER BY start_ns DESC LIMIT 1",
	/* what dise run saw: fills the end of a run the shim could not end itself (SIGKILL, no shim) */
	[Q_TRACED] = "UPDATE runs SET end_ns = ?2, outcome = ?3, exit_status = ?4, signal = ?5, "
		     "user_ns = COALESCE(user_ns, ?6), sys_ns = COALESCE(sys_ns, ?7), maxrss_kb = COALESCE(maxrss_kb, ?8), "
		     TOUCH("runs") " "
		     "WHERE id = ?1 AND (outcome IS NULL OR outcome = 'vanished')",
	/* `dise attach` stopped watching a live process: its end is unknown, and not a failure (nor, later, vanished) */
	[Q_DETACH] = "INSERT INTO runs(epoch, pid, start_ns, end_ns, outcome) VALUES (?1, ?2, ?3, ?4, 'detached') "
		     "ON CONFLICT(epoch, pid, start_ns) DO UPDATE SET end_ns = excluded.end_ns, outcome = 'detached', "
		     TOUCH("runs") " WHERE runs.outcome IS NULL",
};

static void bind_key(sqlite3_stmt *q, uint64_t epoch, const struct dise_rec_hdr *h)
{
	sqlite3_bind_int64(q, 1, (int64_t)epoch);
	sqlite3_bind_int64(q, 2, h->pid);
	sqlite3_bind_int64(q, 3, (int64_t)h->run_start_ns);
}

/* The length of the valid UTF-8 sequence at p (as jansson checks it: no overlong, surrogate or > U+10FFFF), 0 if none. */
static size_t utf8_seq(const unsigned char *p)
{
	size_t n = *p < 0x80 ? 1 : *p < 0xc2 ? 0 : *p < 0xe0 ? 2 : *p < 0xf0 ? 3 : *p < 0xf5 ? 4 : 0;
	uint32_t c = n == 2 ? *p & 0x1f : n == 3 ? *p & 0x0f : *p & 0x07;

	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (p[i] & 0x3f);
	}
	if ((n == 3 && (c < 0x800 || (c >= 0xd800 && c <= 0xdfff))) || (n == 4 && (c < 0x10000 || c > 0x10ffff)))
		return 0;
	return n;
}

/*
 * One argument at o as jansson's compact dump writes dise_json_text() of
 * it: a JSON string, or {"hex":"..."} when it is not UTF-8 (room: 6 bytes
 * per input byte + 12).
 */
static char *json_str(char *o, const char *s)
{
	static const char digits[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	int valid = 1;

	for (const unsigned char *q = p; *q;) {
		size_t n = utf8_seq(q);

		if (!n) {
			valid = 0;
			break;
		}
		q += n;
	}
	if (!valid) { /* its exact bytes, as dise_json_text() writes them: {"hex":"..."} */
		o = stpcpy(o, "{\"hex\":\"");
		for (; *p; p++) {
			*o++ = digits[*p >> 4];
			*o++ = digits[*p & 15];
		}
		return stpcpy(o, "\"}");
	}
	*o++ = '"';
	for (; *p; p++) {
		unsigned char c = *p;
		const char *e = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\b' ? "\\b" : c == '\f' ? "\\f" :
				c == '\n' ? "\\n" : c == '\r' ? "\\r" : c == '\t' ? "\\t" : NULL;

		if (e) {
			*o++ = e[0];
			*o++ = e[1];
		} else if (c < 0x20) {
			o += sprintf(o, "\\u%04X", c);
		} else {
			*o++ = (char)c;
		}
	}
	*o++ = '"';
	return o;
}

/*
 * argv as a JSON array: each argument a string, or {"hex": ...} when it is
 * not UTF-8 (its exact bytes), byte for byte what jansson's compact dump
 * of dise_json_text() makes of it (runs.argv is compared across runs, old
 * and new). Written by hand: the JSON objects cost a tenth of ingest.
 */
static char *argv_json(const char *p, uint32_t count)
{
	size_t len = 0;
	const char *a = p;
	char *s, *o;
	uint32_t i;

	for (i = 0; p && i < count; i++, a += strlen(a) + 1)
		len += strlen(a) * 6 + 13;
	if (!(s = o = malloc(len + 3)))
		return NULL;
	*o++ = '[';
	for (i = 0, a = p; p && i < count; i++, a += strlen(a) + 1) {
		if (i)
			*o++ = ',';
		o = json_str(o, a);
	}
	*o++ = ']';
	*o = 0;
	return s;
}

/* The id of the latest run of pid in epoch that began at or after since_ns (0: none). */
static int pid_since(dise_store *st, uint64_t epoch, uint32_t pid, uint64_t since_ns, int64_t *ret_id)
{
	sqlite3_stmt *q = st->q[Q_PID_SINCE];

	*ret_id = 0;
	sqlite3_bind_int64(q, 1, (int64_t)epoch);
	sqlite3_bind_int64(q, 2, pid);
	sqlite3_bind_int64(q, 3, (int64_t)since_ns);
	return dise__run(q, ret_id);
}

/*
 * Whether the heads read before (st->heads) are still current, in the write
 * transaction open: yes while no other connection committed since they
 * were found current (PRAGMA data_version, read once a transaction: the
 * resolver's commits, `dise tool add` from another process); otherwise they
 * are emptied. Ingest writes no head. 0 or -errno.
 */
static int heads_check(dise_store *st)
{
	int64_t dv = -1;
	int r;

	if (!st->in_tx || st->heads_checked)
		return 0;
	if ((r = dise_store_data_version(st, &dv)) < 0)
		return r;
	if (dv != st->heads_dv)
		st->nheads = 0;
	st->heads_dv = dv;
	st->heads_checked = 1;
	return 0;
}

/* The index of path's head read as version v (st->heads), or -1. */
static int head_read(const dise_store *st, const char *path, int64_t v)
{
	for (unsigned i = 0; i < st->nheads; i++)
		if (st->heads[i].version == v && !strcmp(st->heads[i].path, path))
			return (int)i;
	return -1;
}

/*
 * The version a START at path gets at ingest, when it is known (known.h): 1
 * with it and its tool, 0, or -errno. The path's head is read once while no
 * other connection commits (a gather's STARTs are mostly of a few paths),
 * in a write transaction: none can change it before that ends. A hint (a
 * look outside any transaction, dise_store_end_may_strike) takes the heads
 * as the last transaction found them: it decides only when a bad end is
 * committed, never a run's version.
 */
static int start_version(dise_store *st, const char *path, const struct stat *script, const struct dise_file_id *exe,
			 int hint, int64_t *v, char *tool, size_t size)
{
	struct dise_known_id id = { (int64_t)exe->dev, (int64_t)exe->ino, (int64_t)exe->size, exe->mtime_ns };
	int64_t known = 0;
	int r, cached = st->in_tx || hint;

	if (script)
		id = (struct dise_known_id){ (int64_t)script->st_dev, (int64_t)script->st_ino, (int64_t)script->st_size,
					     (int64_t)script->st_mtim.tv_sec * 1000000000 + script->st_mtim.tv_nsec };
	if ((r = heads_check(st)) < 0)
		return r;
	if (cached && st->known && dise_known_get(st->known, path, &id, &known, tool, size) &&
	    head_read(st, path, known) >= 0) {
		*v = known;
		return 1;
	}
	r = dise__start_version(st, path, &id, v, tool, size);
	if (r == 1 && st->in_tx && st->nheads < DISE__HEADS_MAX && strlen(path) < DISE__HEAD_PATH_MAX) {
		st->heads[st->nheads].version = *v;
		st->heads[st->nheads].parent = -1;
		strcpy(st->heads[st->nheads++].path, path);
	}
	return r;
}

/*
 * Whether path is a script (dise_script_file, its stat into *script):
 * looked at once in a write transaction (st->scripts, emptied at each
 * begin: every record it stores was written before it began, so the first
 * look is as late as any), each time outside one.
 */
static int script_file(dise_store *st, const char *path, struct stat *script)
{
	struct dise__script *c;
	unsigned i;

	for (i = 0; st->in_tx && i < st->nscripts; i++) {
		if (!strcmp(st->scripts[i].path, path)) {
			*script = st->scripts[i].st;
			return st->scripts[i].is_script;
		}
	}
	st->script_reads++;
	if (!st->in_tx || st->nscripts >= DISE__SCRIPTS_MAX || strlen(path) >= DISE__HEAD_PATH_MAX)
		return dise_script_file(path, script);
	c = &st->scripts[st->nscripts++];
	strcpy(c->path, path);
	c->is_script = dise_script_file(path, &c->st);
	*script = c->st;
	return c->is_script;
}

/*
 * The exec parent of the image whose START is h, without a look: the row
 * the record stored just before it wrote, a new row of the same process
 * ended by exec that began before it (the fork child's START and EXEC, one
 * row, then the image's START: the process's next record, none of its pid
 * between). What Q_EXEC_PARENT finds then: the latest run of the pid that
 * ended by exec before the image began (no other run of the pid began
 * between the two: one process, whose next record this is). 0: look it up.
 */
static int64_t exec_parent_written(const dise_store *st, uint64_t epoch, const struct dise_rec_hdr *h)
{
	const struct dise__exec_row *e = &st->exec_prev;

	return st->in_tx && e->id > 0 && e->epoch == epoch && e->pid == h->pid && e->start_ns < h->run_start_ns ? e->id : 0;
}

/*
 * The path a START's run goes by, into path: 1 the script an interpreter
 * runs (its stat in *script: its identity), 0 the executable's path made
 * absolute, -1 none usable (then its name, as it came). The tool's path
 * (toolpath.h).
 */
static int run_path(dise_store *st, const struct dise_record *rec, char *path, size_t size, struct stat *script)
{
	const char *invoked = rec->exe[0] ? rec->exe : rec->execfn;

	if (dise_interpreter_operand(invoked, rec->argv, rec->argv_count, rec->cwd, path, size) &&
	    script_file(st, path, script))
		return 1;
	return dise_path_absolute(invoked, rec->cwd, path, size) == 0 ? 0 : -1;
}

/* Binds an end that Q_START_END writes with its START: ?21 end_ns, ?22 outcome, ?23-?26 the exit's, ?27 exec_path. */
static void bind_end(sqlite3_stmt *q, const struct dise_record *end)
{
	const struct dise_rec_exit *e = &end->u.exit;

	sqlite3_bind_int64(q, 21, (int64_t)end->hdr.mono_ns);
	if (end->type == DISE_REC_EXEC) {
		sqlite3_bind_text(q, 22, "exec", -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 27, end->path, -1, SQLITE_STATIC);
		return;
	}
	sqlite3_bind_text(q, 22, dise_outcome_name(dise_outcome_of_record(end)), -1, SQLITE_STATIC);
	sqlite3_bind_int(q, 23, e->status & 0xff);
	sqlite3_bind_int64(q, 24, (int64_t)e->user_ns);
	sqlite3_bind_int64(q, 25, (int64_t)e->sys_ns);
	sqlite3_bind_int64(q, 26, (int64_t)e->maxrss_kb);
}

/*
 * A START (end NULL), or a START with its end in one row (Q_START_END).
 * Returns 0, 1 when the row was there already and nothing was written
 * (only with an end), or -errno.
 */
static int start_row(dise_store *st, uint64_t epoch, const struct dise_record *rec, const struct dise_record *end)
{
	const struct dise_rec_start *s = &rec->u.start;
	sqlite3_stmt *q = st->q[end ? Q_START_END : Q_START];
	const char *invoked = rec->exe[0] ? rec->exe : rec->execfn;
	int64_t parent = 0, unresolved = -1, v = 0;
	char *argv, path[4096], tool[4096];
	struct stat script;
	int r, kind, interpreted;

	if (s->flags & DISE_START_WRAPPED) {
		/* dise run's stand-in: only when the shim did not record this process itself */
		int64_t shim_run;

		r = pid_since(st, epoch, rec->hdr.pid, rec->hdr.run_start_ns + 1, &shim_run);
		if (r < 0 || shim_run)
			return r;
	}
	if ((s->flags & DISE_START_CORE) && (r = dise__store_core_seen(st, epoch, rec)) != 0)
		return r < 0 ? r : 0; /* the shim (or a tracer) recorded this crash */
	argv = argv_json(rec->argv, rec->argv_count);
	if (!(s->flags & DISE_START_FORK) && !(s->flags & DISE_START_ATTACHED) &&
	    !(parent = exec_parent_written(st, epoch, &rec->hdr))) {
		sqlite3_stmt *p = st->q[Q_EXEC_PARENT];

		st->exec_parent_reads++;
		bind_key(p, epoch, &rec->hdr);
		r = dise__run(p, &parent);
		if (r < 0)
			goto out;
	}
	bind_key(q, epoch, &rec->hdr);
	sqlite3_bind_int64(q, 4, s->ppid);
	sqlite3_bind_int64(q, 5, s->uid);
	sqlite3_bind_int64(q, 6, (int64_t)s->wall_ns);
	sqlite3_bind_text(q, 7, rec->execfn, -1, SQLITE_STATIC);
	if (rec->exe[0])
		sqlite3_bind_text(q, 8, rec->exe, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 9, rec->cwd, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 10, argv ? argv : "[]", -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 11, s->argc);
	/*
	 * The tool: the path it was invoked at, absolute (of the real exe when
	 * that path was /proc or /dev/fd); an interpreter given a script file
	 * runs the script, whose file is then the run's identity (toolpath.h).
	 */
	kind = run_path(st, rec, path, sizeof(path), &script);
	interpreted = kind == 1;
	if (interpreted) {
		sqlite3_bind_int64(q, 12, (int64_t)script.st_dev);
		sqlite3_bind_int64(q, 13, (int64_t)script.st_ino);
		sqlite3_bind_int64(q, 14, (int64_t)script.st_size);
		sqlite3_bind_int64(q, 15, (int64_t)script.st_mtim.tv_sec * 1000000000 + script.st_mtim.tv_nsec);
	} else if (!(s->flags & DISE_START_NO_EXE)) {
		sqlite3_bind_int64(q, 12, (int64_t)s->exe.dev);
		sqlite3_bind_int64(q, 13, (int64_t)s->exe.ino);
		sqlite3_bind_int64(q, 14, (int64_t)s->exe.size);
		sqlite3_bind_int64(q, 15, s->exe.mtime_ns);
	}
	sqlite3_bind_int(q, 16, !!(s->flags & DISE_START_FORK));
	if (parent)
		sqlite3_bind_int64(q, 17, parent);
	if (kind >= 0) {
		sqlite3_bind_text(q, 18, path, -1, SQLITE_STATIC);
		/* a content the resolver gave this path its version for: that version now (known.h) */
		if ((interpreted || !(s->flags & DISE_START_NO_EXE)) &&
		    (r = start_version(st, path, interpreted ? &script : NULL, &s->exe, 0, &v, tool, sizeof(tool))) < 0)
			goto out;
		if (v > 0) {
			sqlite3_bind_int64(q, 19, v);
			sqlite3_bind_text(q, 20, tool, -1, SQLITE_STATIC);
		}
	} else { /* no usable path: its name, as it came */
		sqlite3_bind_text(q, 18, invoked, -1, SQLITE_STATIC);
	}
	if (end)
		bind_end(q, end);
	r = dise__run(q, end ? NULL : &unresolved);
	if (r == 0 && end) {
		if (!sqlite3_changes(st->db)) {
			r = 1; /* a row was there: DO NOTHING */
		} else { /* written with no version and with its file's identity: the resolver's to do */
			unresolved = v <= 0 && (interpreted || !(s->flags & DISE_START_NO_EXE));
			if (end->type == DISE_REC_EXEC && st->in_tx)
				st->exec_last = (struct dise__exec_row){ sqlite3_last_insert_rowid(st->db), epoch,
									 rec->hdr.run_start_ns, rec->hdr.pid };
		}
	}
	if (r == 0 && unresolved > 0)
		st->unresolved++;
out:
	free(argv);
	return r;
}

static int add_start(dise_store *st, uint64_t epoch, const struct dise_record *rec)
{
	return start_row(st, epoch, rec, NULL);
}

/* dise run's wait4: the true end of the latest run of that pid since the spawn. */
static int add_traced(dise_store *st, uint64_t epoch, const struct dise_record *rec)
{
	const struct dise_rec_exit *e = &rec->u.exit;
	sqlite3_stmt *q = st->q[Q_TRACED];
	int outcome = dise_outcome_of_record(rec);
	int64_t id;
	int r = pid_since(st, epoch, rec->hdr.pid, rec->hdr.run_start_ns, &id);

	if (r < 0 || !id)
		return r;
	if (outcome < 0)
		return 0;
	sqlite3_bind_int64(q, 1, id);
	sqlite3_bind_int64(q, 2, (int64_t)rec->hdr.mono_ns);
	sqlite3_bind_text(q, 3, dise_outcome_name(outcome), -1, SQLITE_STATIC);
	if (WIFEXITED(e->status))
		sqlite3_bind_int(q, 4, WEXITSTATUS(e->status));
	else
		sqlite3_bind_int(q, 5, WTERMSIG(e->status));
	sqlite3_bind_int64(q, 6, (int64_t)e->user_ns);
	sqlite3_bind_int64(q, 7, (int64_t)e->sys_ns);
	sqlite3_bind_int64(q, 8, (int64_t)e->maxrss_kb);
	return dise__run(q, NULL);
}

static int add_exit(dise_store *st, uint64_t epoch, const struct dise_record *rec)
{
	const struct dise_rec_exit *e = &rec->u.exit;
	sqlite3_stmt *q = st->q[Q_EXIT];

	if (e->how == DISE_EXIT_TRACED)
		return add_traced(st, epoch, rec);
	if (e->how == DISE_EXIT_DETACHED) {
		q = st->q[Q_DETACH];
		bind_key(q, epoch, &rec->hdr);
		sqlite3_bind_int64(q, 4, (int64_t)rec->hdr.mono_ns);
		return dise__run(q, NULL);
	}
	bind_key(q, epoch, &rec->hdr);
	sqlite3_bind_int64(q, 4, (int64_t)rec->hdr.mono_ns);
	sqlite3_bind_text(q, 5, dise_outcome_name(dise_outcome_of_record(rec)), -1, SQLITE_STATIC);
	sqlite3_bind_int(q, 6, e->status & 0xff);
	sqlite3_bind_int64(q, 7, (int64_t)e->user_ns);
	sqlite3_bind_int64(q, 8, (int64_t)e->sys_ns);
	sqlite3_bind_int64(q, 9, (int64_t)e->maxrss_kb);
	return dise__run(q, NULL);
}

static int add_exec(dise_store *st, uint64_t epoch, const struct dise_record *rec)
{
	sqlite3_stmt *q = st->q[Q_EXEC];

	bind_key(q, epoch, &rec->hdr);
	sqlite3_bind_int64(q, 4, (int64_t)rec->hdr.mono_ns);
	sqlite3_bind_text(q, 5, rec->path, -1, SQLITE_STATIC);
	return dise__run(q, NULL);
}

static int add_crash(dise_store *st, uint64_t epoch, const struct dise_record *rec)
{
	const struct dise_rec_crash *c = &rec->u.crash;
	sqlite3_stmt *q = st->q[Q_CRASH_RUN];
	int64_t run_id = 0;
	char sig[24], sym[24], *frames = NULL;
	int r;

	if ((c->flags & DISE_CRASH_CORE) && (r = dise__store_core_seen(st, epoch, rec)) != 0)
		return r < 0 ? r : 0; /* its START was dropped: recorded otherwise */
	/* what the stack is (crash-sig.c): unwound before the statements, which only store it */
	dise_crash_signature(rec, sig, sym, &frames);
	bind_key(q, epoch, &rec->hdr);
	sqlite3_bind_int64(q, 4, (int64_t)rec->hdr.mono_ns);
	sqlite3_bind_int(q, 5, c->signo);
	r = dise__run(q, &run_id);
	if (r == 0) {
		q = st->q[Q_CRASH_ADD];
		sqlite3_bind_int64(q, 1, run_id);
		sqlite3_bind_int64(q, 2, rec->hdr.tid);
		sqlite3_bind_int(q, 3, c->signo);
		sqlite3_bind_int(q, 4, c->si_code);
		sqlite3_bind_int64(q, 5, (int64_t)c->fault_addr);
		sqlite3_bind_int(q, 6, !(c->flags & DISE_CRASH_OTHER_THREAD));
		sqlite3_bind_text(q, 7, sig, -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 8, frames ? frames : "[]", -1, SQLITE_STATIC);
		if (sym[0])
			sqlite3_bind_text(q, 9, sym, -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(q, 9);
		sqlite3_bind_int(q, 10, !!(c->flags & DISE_CRASH_RERAISED)); /* the child's crash passed on */
		r = dise__run(q, NULL);
	}
	free(frames);
	return r;
}

int dise_store_run_mergeable(const struct dise_record *start, const struct dise_record *end)
{
	return start->type == DISE_REC_START && !(start->u.start.flags & (DISE_START_WRAPPED | DISE_START_CORE)) &&
	       (end->type == DISE_REC_EXEC ||
		(end->type == DISE_REC_EXIT && end->u.exit.how != DISE_EXIT_TRACED && end->u.exit.how != DISE_EXIT_DETACHED)) &&
	       end->hdr.pid == start->hdr.pid && end->hdr.run_start_ns == start->hdr.run_start_ns;
}

int dise_store_end_may_strike(dise_store *st, const struct dise_record *start, const struct dise_record *end)
{
	static const char parents[] = "SELECT EXISTS (SELECT 1 FROM version_parents WHERE version_id = ?1)";
	char path[4096], tool[4096];
	struct stat script;
	int64_t v = 0, has_parent = 1;
	int kind, i;

	/* a crash may be a strike with no baseline (then the version is marked failing) */
	if (end->type != DISE_REC_EXIT || dise_outcome_of_record(end) != DISE_OUTCOME_FAIL || !start ||
	    !dise_store_run_mergeable(start, end))
		return 1;
	kind = run_path(st, start, path, sizeof(path), &script);
	if (kind < 0 || (kind == 0 && (start->u.start.flags & DISE_START_NO_EXE)) ||
	    start_version(st, path, kind ? &script : NULL, &start->u.start.exe, 1, &v, tool, sizeof(tool)) <= 0)
		return 1;
	/* whether it has a parent: kept with its head, as current as it (a read outside a transaction: 33 us) */
	i = head_read(st, path, v);
	if (i >= 0 && st->heads[i].parent >= 0)
		has_parent = st->heads[i].parent;
	else if (dise__int(st, parents, &has_parent, "i", v) < 0)
		return 1;
	else if (i >= 0)
		st->heads[i].parent = has_parent != 0;
	/* a failing exit is a strike only against a baseline (store-detect.c's STRIKE): a version with no parent has none */
	return has_parent != 0;
}

/* A record (or a START with its end) about to be stored: the exec row the one before it wrote, and none yet of its own. */
static void exec_row_next(dise_store *st)
{
	st->exec_prev = st->exec_last;
	st->exec_last.id = 0;
}

int dise_store_add_run(dise_store *st, uint64_t epoch, const struct dise_record *start, const struct dise_record *end)
{
	int r;

	if (!dise_store_run_mergeable(start, end))
		return -EINVAL;
	exec_row_next(st);
	r = start_row(st, epoch, start, end);
	if (r != 1)
		return r < 0 ? r : 1;
	/* the run's row was there (its end, or a crash, came first): one by one, as they came */
	r = add_start(st, epoch, start);
	return r < 0 ? r : dise_store_add_record(st, epoch, end);
}

int dise_store_add_record(dise_store *st, uint64_t epoch, const struct dise_record *rec)
{
	exec_row_next(st);
	switch (rec->type) {
	case DISE_REC_START: return add_start(st, epoch, rec);
	case DISE_REC_EXIT: return add_exit(st, epoch, rec);
	case DISE_REC_EXEC: return add_exec(st, epoch, rec);
	case DISE_REC_CRASH: return add_crash(st, epoch, rec);
	case DISE_REC_REAP: return dise__store_add_reap(st, epoch, rec);
	default: return 0; /* test records and the like: nothing to keep */
	}
}
