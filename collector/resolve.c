/* SPDX-License-Identifier: MIT */
/*
 * Versions. A version is one content (SHA-256 of the executed file: for a
 * #! script, the script) of one tool. Files are hashed once per identity
 * (dev, ino, size, mtime), on this resolver's own connection and outside
 * any transaction, so a large binary delays version assignment, never
 * ingest. Every new content is copied to $DISE_HOME/cas/<sha256> (mode
 * kept), so any ancestor stays runnable after its path was overwritten.
 * Lineage: when the content at a path changes, the new version's parent is
 * the version that was there before (path_heads); `dise tool add` names
 * parents explicitly, several for a merge.
 *
 * The store has a size cap (dise.json cas.max_bytes): over it, the copies
 * used least recently go first, never the newest healthy version of a tool.
 * Not yet: protecting routes, which the healer will add.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "resolve.h"
#include "sha256.h"

struct dise_resolver {
	dise_store *st;
	sqlite3 *db;
	char cas[PATH_MAX];
	uint64_t cap;
	uint64_t made;	       /* versions made so far */
	uint64_t bad_resolved; /* runs given a version after their bad end was stored */
};

uint64_t dise_resolver_versions_made(const dise_resolver *rs)
{
	return rs->made;
}

uint64_t dise_resolver_bad_resolved(const dise_resolver *rs)
{
	return rs->bad_resolved;
}

void dise_resolver_set_cas_cap(dise_resolver *rs, uint64_t max_bytes)
{
	rs->cap = max_bytes;
}

int dise_hash_file(const char *path, const char *cas_dir, const struct stat *expect, char hex[65])
{
	char tmp[PATH_MAX], dst[PATH_MAX];
	struct dise_sha256 s;
	uint8_t buf[65536], d[32];
	struct stat st;
	int fd, out = -1, r = 0;
	ssize_t n;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	if (expect && (st.st_dev != expect->st_dev || st.st_ino != expect->st_ino || st.st_size != expect->st_size ||
		       st.st_mtim.tv_sec != expect->st_mtim.tv_sec || st.st_mtim.tv_nsec != expect->st_mtim.tv_nsec)) {
		close(fd);
		return -ESTALE;
	}
	if (cas_dir) {
		snprintf(tmp, sizeof(tmp), "%s/.new.%d.%lu", cas_dir, (int)getpid(), (unsigned long)st.st_ino);
		out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, (st.st_mode & 0755) | 0400);
	}
	dise_sha256_init(&s);
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		dise_sha256_update(&s, buf, (size_t)n);
		if (out >= 0 && write(out, buf, (size_t)n) != n) {
			close(out);
			unlink(tmp);
			out = -1;
		}
	}
	if (n < 0)
		r = -errno;
	close(fd);
	dise_sha256_final(&s, d);
	dise_sha256_hex(d, hex);
	if (out >= 0) {
		close(out);
		snprintf(dst, sizeof(dst), "%s/%s", cas_dir, hex);
		if (r == 0 && access(dst, F_OK) != 0 && rename(tmp, dst) == 0)
			return 0;
		unlink(tmp); /* already stored: content-addressed, so it is the same */
	}
	return r;
}

int dise_resolver_new(dise_store *st, const char *cas_dir, dise_resolver **ret)
{
	dise_resolver *rs = calloc(1, sizeof(*rs));

	if (!rs)
		return -ENOMEM;
	if (mkdir(cas_dir, 0700) < 0 && errno != EEXIST) {
		free(rs);
		return -errno;
	}
	rs->st = st;
	rs->db = dise_store_db(st);
	snprintf(rs->cas, sizeof(rs->cas), "%s", cas_dir);
	*ret = rs;
	return 0;
}

dise_resolver *dise_resolver_free(dise_resolver *rs)
{
	free(rs);
	return NULL;
}

/* The first column of sql's first row (none when no row or NULL), or -errno (busy is not "none"). */
static int64_t one_int(sqlite3 *db, const char *sql, const char *t1, const char *t2, int64_t none)
{
	sqlite3_stmt *q;
	int64_t v = none;
	int r;

	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
		return -EIO;
	if (t1)
		sqlite3_bind_text(q, 1, t1, -1, SQLITE_STATIC);
	if (t2)
		sqlite3_bind_text(q, 2, t2, -1, SQLITE_STATIC);
	r = dise_sql_step(q);
	if (r > 0 && sqlite3_column_type(q, 0) != SQLITE_NULL)
		v = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	return r < 0 ? r : v;
}

/*
 * The version of (tool, sha) for a file at path: found, or made, with the
 * lineage edge from the version that was at path before.
 */
static int64_t version_for(dise_resolver *rs, const char *tool, const char *sha, const char *path, int64_t size,
			   int64_t wall_ns, const char *label)
{
	sqlite3 *db = rs->db;
	int64_t id = one_int(db, "SELECT id FROM versions WHERE tool = ?1 AND sha256 = ?2", tool, sha, 0), head;
	char cas[PATH_MAX + 80];

	if (id < 0)
		return -1;
	if (id == 0) {
		snprintf(cas, sizeof(cas), "%s/%s", rs->cas, sha);
		if (dise_sql_exec(db,
			  "INSERT INTO versions(tool, sha256, label, path, size, first_seen_wall_ns, cas_path) "
			  "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
			  "ssssiis", tool, sha, label, path, size, wall_ns, access(cas, F_OK) == 0 ? cas : NULL) < 0)
			return -1;
		id = sqlite3_last_insert_rowid(db);
		rs->made++;
		head = one_int(db, "SELECT version_id FROM path_heads WHERE path = ?1", path, NULL, 0);
		if (head < 0)
			return -1;
		if (head && head != id &&
		    dise_sql_exec(db, "INSERT OR IGNORE INTO version_parents(version_id, parent_id) VALUES (?1, ?2)", "ii", id,
			  head) < 0)
			return -1;
	}
	if (dise_sql_exec(db,
		  "INSERT INTO path_heads(path, version_id) VALUES (?1, ?2) "
		  "ON CONFLICT(path) DO UPDATE SET version_id = excluded.version_id",
		  "si", path, id) < 0)
		return -1;
	return id;
}

/* Evicts copies until the store is under its cap. Runs inside the caller's transaction. */
static int enforce_cap(dise_resolver *rs)
{
	sqlite3 *db = rs->db;
	sqlite3_stmt *q;
	int64_t total;
	int r = 0;

	if (!rs->cap)
		return 0;
	total = one_int(db, "SELECT COALESCE(sum(size), 0) FROM (SELECT DISTINCT cas_path, size FROM versions "
			    "WHERE cas_path IS NOT NULL)",
			NULL, NULL, 0);
	if (total < 0)
		return (int)total;
	if ((uint64_t)total <= rs->cap)
		return 0;
	if (sqlite3_prepare_v2(db,
			       "SELECT v.cas_path, max(v.size), max(COALESCE((SELECT max(start_wall_ns) FROM runs r "
			       "WHERE r.version_id = v.id), v.first_seen_wall_ns, 0)) AS used FROM versions v "
			       "WHERE v.cas_path IS NOT NULL GROUP BY v.cas_path HAVING sum(v.id IN (SELECT max(id) FROM "
			       "versions WHERE health = 'healthy' GROUP BY tool)) = 0 ORDER BY used ASC",
			       -1, &q, NULL) != SQLITE_OK)
		return -EIO;
	while ((uint64_t)total > rs->cap && (r = dise_sql_step(q)) > 0) {
		char *path = strdup((const char *)sqlite3_column_text(q, 0));

		if (!path) {
			r = -ENOMEM;
			break;
		}
		r = dise_sql_exec(db, "UPDATE versions SET cas_path = NULL WHERE cas_path = ?1", "s", path);
		if (r == 0 && (unlink(path) == 0 || errno == ENOENT))
			total -= sqlite3_column_int64(q, 1);
		free(path);
		if (r < 0)
			break;
		r = 1;
	}
	sqlite3_finalize(q);
	return r < 0 ? r : 0;
}

struct pending {
	int64_t run_id, size, wall_ns;
	struct stat id;
	char tool[256], path[PATH_MAX];
	char sha[65];
	int known; /* sha valid (0: unresolvable) */
};

int dise_resolver_step(dise_resolver *rs, int max)
{
	sqlite3 *db = rs->db;
	sqlite3_stmt *q;
	struct pending *p;
	int n = 0, i, r = 0;

	p = calloc((size_t)max, sizeof(*p));
	if (!p)
		return -ENOMEM;
	if (sqlite3_prepare_v2(db,
			       "SELECT id, tool, COALESCE(exe, execfn), cwd, exe_dev, exe_ino, exe_size, exe_mtime_ns, "
			       "start_wall_ns, dise_failed(outcome, exit_status, NULL) FROM runs "
			       "WHERE version_id IS NULL AND exe_ino IS NOT NULL ORDER BY id LIMIT ?1",
			       -1, &q, NULL) != SQLITE_OK) {
		free(p);
		return -EIO;
	}
	/*
	 * Every run with an identity and no version yet, whatever its age (the
	 * runs_version index finds them): a START may arrive after later runs,
	 * its EXIT having come first from another shard. Version 0 marks a file
	 * that could not be hashed, so nothing is looked at twice.
	 */
	sqlite3_bind_int(q, 1, max);
	while (n < max && (r = dise_sql_step(q)) > 0) {
		const char *tool = (const char *)sqlite3_column_text(q, 1), *path = (const char *)sqlite3_column_text(q, 2);
		const char *cwd = (const char *)sqlite3_column_text(q, 3);
		int64_t mt = sqlite3_column_int64(q, 7);

		p[n].run_id = sqlite3_column_int64(q, 0);
		snprintf(p[n].tool, sizeof(p[n].tool), "%s", tool ? tool : "");
		if (path && path[0] != '/' && cwd)
			snprintf(p[n].path, sizeof(p[n].path), "%s/%s", cwd, path);
		else
			snprintf(p[n].path, sizeof(p[n].path), "%s", path ? path : "");
		p[n].id.st_dev = (dev_t)sqlite3_column_int64(q, 4);
		p[n].id.st_ino = (ino_t)sqlite3_column_int64(q, 5);
		p[n].id.st_size = (off_t)sqlite3_column_int64(q, 6);
		p[n].id.st_mtim.tv_sec = mt / 1000000000;
		p[n].id.st_mtim.tv_nsec = mt % 1000000000;
		p[n].size = sqlite3_column_int64(q, 6);
		p[n].wall_ns = sqlite3_column_int64(q, 8);
		/* its bad end came first (from another shard): the detectors must look once it has its version */
		rs->bad_resolved += (uint64_t)sqlite3_column_int(q, 9);
		n++;
	}
	sqlite3_finalize(q);
	if (r < 0 || n == 0) {
		free(p);
		return r < 0 ? r : 0;
	}

	/* hashing: no transaction open, the collector's ingest goes on */
	for (i = 0; i < n; i++) {
		sqlite3_stmt *c;
		int cached = 0;

		if (sqlite3_prepare_v2(db,
				       "SELECT sha256 FROM contents WHERE dev = ?1 AND ino = ?2 AND size = ?3 AND mtime_ns = ?4",
				       -1, &c, NULL) == SQLITE_OK) {
			sqlite3_bind_int64(c, 1, (int64_t)p[i].id.st_dev);
			sqlite3_bind_int64(c, 2, (int64_t)p[i].id.st_ino);
			sqlite3_bind_int64(c, 3, (int64_t)p[i].id.st_size);
			sqlite3_bind_int64(c, 4, (int64_t)p[i].id.st_mtim.tv_sec * 1000000000 + p[i].id.st_mtim.tv_nsec);
			/* busy: not cached, hashed again (the same answer, at a cost) */
			if (dise_sql_step(c) > 0) {
				cached = 1;
				if (sqlite3_column_type(c, 0) != SQLITE_NULL) {
					snprintf(p[i].sha, sizeof(p[i].sha), "%s", (const char *)sqlite3_column_text(c, 0));
					p[i].known = 1;
				}
			}
			sqlite3_finalize(c);
		}
		for (int j = 0; !cached && j < i; j++) /* same identity earlier in this step */
			if (p[j].id.st_dev == p[i].id.st_dev && p[j].id.st_ino == p[i].id.st_ino &&
			    p[j].id.st_size == p[i].id.st_size && p[j].id.st_mtim.tv_sec == p[i].id.st_mtim.tv_sec &&
			    p[j].id.st_mtim.tv_nsec == p[i].id.st_mtim.tv_nsec) {
				memcpy(p[i].sha, p[j].sha, sizeof(p[i].sha));
				p[i].known = p[j].known;
				cached = 1;
			}
		if (!cached)
			p[i].known = dise_hash_file(p[i].path, rs->cas, &p[i].id, p[i].sha) == 0;
	}

	r = dise_store_begin(rs->st);
	if (r < 0)
		goto out;
	for (i = 0; i < n && r == 0; i++) {
		int64_t mt = (int64_t)p[i].id.st_mtim.tv_sec * 1000000000 + p[i].id.st_mtim.tv_nsec, v = 0;

		r = dise_sql_exec(db, "INSERT OR IGNORE INTO contents(dev, ino, size, mtime_ns, sha256) VALUES (?1, ?2, ?3, ?4, ?5)",
			  "iiiis", (int64_t)p[i].id.st_dev, (int64_t)p[i].id.st_ino, (int64_t)p[i].id.st_size, mt,
			  p[i].known ? p[i].sha : NULL);
		if (r == 0 && p[i].known) {
			char tool[256];

			/* a registered path belongs to its registered tool */
			{
				sqlite3_stmt *t;

				snprintf(tool, sizeof(tool), "%s", p[i].tool);
				if (sqlite3_prepare_v2(db, "SELECT tool FROM tool_paths WHERE path = ?1", -1, &t, NULL) ==
				    SQLITE_OK) {
					sqlite3_bind_text(t, 1, p[i].path, -1, SQLITE_STATIC);
					r = dise_sql_step(t);
					if (r > 0)
						snprintf(tool, sizeof(tool), "%s", (const char *)sqlite3_column_text(t, 0));
					sqlite3_finalize(t);
					if (r < 0) /* busy: the run would get the wrong tool */
						break;
					r = 0;
				}
			}
			v = version_for(rs, tool, p[i].sha, p[i].path, p[i].size, p[i].wall_ns, NULL);
			if (v < 0)
				r = -EIO;
		}
		/* version 0: the file was gone or changed before it could be hashed */
		if (r == 0)
			r = dise_sql_exec(db, "UPDATE runs SET version_id = ?1 WHERE id = ?2", "ii", v, p[i].run_id);
	}
	if (r == 0)
		r = enforce_cap(rs);
	if (r == 0)
		r = dise_store_commit(rs->st);
	if (r < 0)
		dise_store_rollback(rs->st);
out:
	free(p);
	return r < 0 ? r : n;
}

int dise_resolver_register(dise_resolver *rs, const char *tool, const char *label, const char *path,
			   char *const *parents, int nparents, int64_t *ret_id)
{
	char abs[PATH_MAX], sha[65];
	struct stat st;
	int64_t id;
	int r, i;

	if (!realpath(path, abs) || stat(abs, &st) < 0)
		return -errno;
	r = dise_hash_file(abs, rs->cas, NULL, sha);
	if (r < 0)
		return r;
	r = dise_store_begin(rs->st);
	if (r < 0)
		return r;
	r = dise_sql_exec(rs->db,
		  "INSERT INTO tool_paths(path, tool) VALUES (?1, ?2) ON CONFLICT(path) DO UPDATE SET tool = excluded.tool",
		  "ss", abs, tool);
	id = r == 0 ? version_for(rs, tool, sha, abs, (int64_t)st.st_size, 0, label) : -1;
	if (id < 0)
		r = r ? r : -EIO;
	if (r == 0)
		r = dise_sql_exec(rs->db, "UPDATE versions SET label = ?1 WHERE id = ?2", "si", label, id);
	if (r == 0)
		r = enforce_cap(rs);
	for (i = 0; r == 0 && i < nparents; i++) {
		int64_t pid = one_int(rs->db, "SELECT id FROM versions WHERE tool = ?1 AND label = ?2", tool, parents[i], 0);

		if (pid < 0) {
			r = (int)pid;
			break;
		}
		if (!pid) {
			fprintf(stderr, "dise: tool '%s' has no version '%s'\n", tool, parents[i]);
			r = -ENOENT;
			break;
		}
		r = dise_sql_exec(rs->db, "INSERT OR IGNORE INTO version_parents(version_id, parent_id) VALUES (?1, ?2)", "ii",
			  id, pid);
	}
	if (r == 0)
		r = dise_store_commit(rs->st);
	if (r < 0) {
		dise_store_rollback(rs->st);
		return r;
	}
	*ret_id = id;
	return 0;
}
