/* SPDX-License-Identifier: MIT */
/*
 * Versions. A version is one content (SHA-256 of the executed file: for a
 * #! script, the script) of one tool. Files are hashed once per identity
 * (dev, ino, size, mtime), on this resolver's own connection and outside
 * any transaction, so a large binary delays version assignment, never
 * ingest; each on a thread with a deadline (bounded.h): a file on a hung
 * filesystem leaves its run without a version, never the resolver stuck.
 * Every new content is copied to $DISE_HOME/cas/<sha256> (mode
 * 0500, or 0400 for a file that was not executable: the owner's only,
 * never writable), so any ancestor stays runnable after its path was
 * overwritten.
 * Lineage: when the content at a path changes, the new version's parent is
 * the version that was there before (path_heads); the first version seen at
 * a new path of a tool that has versions already (a group: a new release
 * directory) follows the tool's newest version; `dise tool add` names
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bounded.h"
#include "config.h"
#include "home.h"
#include "resolve.h"
#include "sha256.h"
#include "toolpath.h"

struct dise_resolver {
	dise_store *st;
	const struct dise_config *cfg; /* dise.json "tools": {"name": {"paths": [globs]}} */
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

void dise_resolver_set_config(dise_resolver *rs, const struct dise_config *cfg)
{
	rs->cfg = cfg;
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

	/* the path came from the ring: never blocks in open() (a FIFO), regular files only */
	fd = dise_open_regular(path, 0, &st);
	if (fd < 0)
		return fd;
	if (expect && (st.st_dev != expect->st_dev || st.st_ino != expect->st_ino || st.st_size != expect->st_size ||
		       st.st_mtim.tv_sec != expect->st_mtim.tv_sec || st.st_mtim.tv_nsec != expect->st_mtim.tv_nsec)) {
		close(fd);
		return -ESTALE;
	}
	if (cas_dir) {
		snprintf(tmp, sizeof(tmp), "%s/.new.%d.%lu", cas_dir, (int)getpid(), (unsigned long)st.st_ino);
		unlink(tmp); /* a leftover of a collector that died here */
		out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	}
	r = dise_sha256_init(&s); /* a failure here makes final fail: the file is read for nothing, and said so */
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
	if (dise_sha256_final(&s, d) < 0 && r == 0)
		r = -ENOMEM;
	dise_sha256_hex(d, hex);
	/* the store's copy: the owner's only, never writable (umask plays no part) */
	if (out >= 0 && fchmod(out, (st.st_mode & 0111) ? 0500 : 0400) < 0) {
		close(out);
		unlink(tmp);
		out = -1;
	}
	if (out >= 0) {
		close(out);
		snprintf(dst, sizeof(dst), "%s/%s", cas_dir, hex);
		if (r == 0 && access(dst, F_OK) != 0 && rename(tmp, dst) == 0)
			return 0;
		unlink(tmp); /* already stored: content-addressed, so it is the same */
	}
	return r;
}

/* Hashing one file of a run with a deadline (bounded.h): a hung filesystem delays that run only. */
struct hash_job {
	char path[PATH_MAX], cas[PATH_MAX], hex[65];
	struct stat expect;
};

static int hash_job_run(void *p)
{
	struct hash_job *j = p;

	return dise_hash_file(j->path, j->cas, &j->expect, j->hex);
}

#define HASH_DEADLINE_MS 60000

/* dise_hash_file on a thread of its own: 0, -errno, or -ETIMEDOUT / -EBUSY (not now: the file is not answering) */
static int hash_bounded(const char *path, const char *cas, const struct stat *expect, char hex[65])
{
	struct hash_job *j = calloc(1, sizeof(*j));
	int r;

	if (!j)
		return -ENOMEM;
	snprintf(j->path, sizeof(j->path), "%s", path);
	snprintf(j->cas, sizeof(j->cas), "%s", cas);
	j->expect = *expect;
	r = dise_bounded(hash_job_run, j, free, dise_file_deadline_ms(HASH_DEADLINE_MS));
	if (r == -ETIMEDOUT)
		return r; /* j is the thread's now */
	if (r == 0)
		memcpy(hex, j->hex, sizeof(j->hex));
	free(j);
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
	/* normal, as the paths of runs are (routed_tool compares them) */
	if (dise_path_absolute(cas_dir, NULL, rs->cas, sizeof(rs->cas)) < 0)
		snprintf(rs->cas, sizeof(rs->cas), "%s", cas_dir);
	*ret = rs;
	return 0;
}

dise_resolver *dise_resolver_free(dise_resolver *rs)
{
	free(rs);
	return NULL;
}

/*
 * The version of (tool, sha) for a file at path: found, or made, with the
 * lineage edge from the version that was at path before. Returns its id,
 * or -errno.
 */
static int64_t version_for(dise_resolver *rs, const char *tool, const char *sha, const char *path, int64_t size,
			   int64_t wall_ns, const char *label, int observed)
{
	int64_t id = 0, head = 0;
	char cas[PATH_MAX + 80];
	int r = dise_store_version_find(rs->st, tool, sha, &id);

	if (r < 0)
		return r;
	if (id == 0) {
		snprintf(cas, sizeof(cas), "%s/%s", rs->cas, sha);
		r = dise_store_version_add(rs->st, tool, sha, label, path, size, wall_ns, access(cas, F_OK) == 0 ? cas : NULL,
					   &id);
		if (r < 0)
			return r;
		rs->made++;
		if ((r = dise_store_path_head(rs->st, path, &head)) < 0)
			return r;
		/* a new path of a tool that has versions (a group's next release directory): after its newest */
		if (!head && observed && (r = dise_store_tool_newest(rs->st, tool, id, &head)) < 0)
			return r;
		if (head && head != id && (r = dise_store_parent_add(rs->st, id, head)) < 0)
			return r;
	}
	r = dise_store_path_head_set(rs->st, path, id);
	return r < 0 ? r : id;
}

/*
 * A routed run runs $DISE_HOME/cas/run/<version>/<name> (ingest.c): it is a
 * run of that version's tool, not a tool of its own. 1 with the tool in
 * buf, 0 when path is no such link, or -errno.
 */
static int routed_tool(dise_resolver *rs, const char *path, char *buf, size_t size)
{
	size_t n = strlen(rs->cas);
	const char *p = path + n + 5;
	char *end;
	long long v;

	if (strncmp(path, rs->cas, n) || strncmp(path + n, "/run/", 5) || *p < '1' || *p > '9')
		return 0;
	v = strtoll(p, &end, 10);
	if (*end != '/' || strchr(end + 1, '/'))
		return 0;
	return dise_store_version_tool(rs->st, v, buf, size);
}

/* Evicts copies until the store is under its cap. Runs inside the caller's transaction. */
static int enforce_cap(dise_resolver *rs)
{
	struct dise_cas_copy *c = NULL;
	size_t n = 0, i;
	int64_t total;
	int r;

	if (!rs->cap)
		return 0;
	if ((r = dise_store_cas_total(rs->st, &total)) < 0)
		return r;
	if ((uint64_t)total <= rs->cap)
		return 0;
	if ((r = dise_store_cas_evictable(rs->st, &c, &n)) < 0)
		return r;
	for (i = 0; r == 0 && i < n && (uint64_t)total > rs->cap; i++) {
		r = dise_store_cas_forget(rs->st, c[i].path);
		if (r == 0 && (unlink(c[i].path) == 0 || errno == ENOENT))
			total -= c[i].size;
	}
	dise_cas_copies_free(c, n);
	return r;
}

int dise_resolver_step(dise_resolver *rs, int max)
{
	struct dise_unversioned *p;
	char (*sha)[65];
	int *known; /* 1: sha valid, 0: unresolvable, -1: did not answer in time */
	int n, i, r = 0;

	p = calloc((size_t)max, sizeof(*p));
	sha = calloc((size_t)max, sizeof(*sha));
	known = calloc((size_t)max, sizeof(*known));
	if (!p || !sha || !known) {
		r = -ENOMEM;
		goto out;
	}
	n = dise_store_runs_unversioned(rs->st, p, max);
	if (n <= 0) {
		r = n;
		goto out;
	}
	/* its bad end came first (from another shard): the detectors must look once it has its version */
	for (i = 0; i < n; i++)
		rs->bad_resolved += (uint64_t)p[i].failed;

	/* hashing: no transaction open, the collector's ingest goes on */
	for (i = 0; i < n; i++) {
		int cached;

		/* busy: not cached, hashed again (the same answer, at a cost) */
		cached = dise_store_content_hash(rs->st, p[i].dev, p[i].ino, p[i].size, p[i].mtime_ns, sha[i]) > 0;
		if (cached)
			known[i] = sha[i][0] != '\0';
		for (int j = 0; !cached && j < i; j++) /* same identity earlier in this step */
			if (p[j].dev == p[i].dev && p[j].ino == p[i].ino && p[j].size == p[i].size &&
			    p[j].mtime_ns == p[i].mtime_ns) {
				memcpy(sha[i], sha[j], sizeof(sha[i]));
				known[i] = known[j];
				cached = 1;
			}
		if (!cached) {
			struct stat id = { 0 };

			id.st_dev = (dev_t)p[i].dev;
			id.st_ino = (ino_t)p[i].ino;
			id.st_size = (off_t)p[i].size;
			id.st_mtim.tv_sec = p[i].mtime_ns / 1000000000;
			id.st_mtim.tv_nsec = p[i].mtime_ns % 1000000000;
			r = hash_bounded(p[i].path, rs->cas, &id, sha[i]);
			/* not answering in time: no version for this run, and nothing cached (it may answer later) */
			known[i] = r == 0 ? 1 : r == -ETIMEDOUT || r == -EBUSY ? -1 : 0;
			r = 0;
		}
	}

	r = dise_store_begin(rs->st);
	if (r < 0)
		goto out;
	for (i = 0; i < n && r == 0; i++) {
		int64_t v = 0;

		if (known[i] >= 0)
			r = dise_store_content_add(rs->st, p[i].dev, p[i].ino, p[i].size, p[i].mtime_ns,
						   known[i] ? sha[i] : NULL);
		if (r == 0 && known[i] > 0) {
			char tool[sizeof(p[i].path)];
			const char *group;

			/*
			 * The path is the tool, unless it is one of a group's: a path
			 * `dise tool add` registered, else one dise.json's "paths" match
			 */
			snprintf(tool, sizeof(tool), "%s", p[i].tool);
			if ((r = routed_tool(rs, p[i].path, tool, sizeof(tool))) == 0)
				r = dise_store_path_tool(rs->st, p[i].path, tool, sizeof(tool));
			if (r < 0)
				break; /* busy: the run would get the wrong tool */
			if (r == 0 && (group = dise_config_group(rs->cfg, p[i].path)))
				snprintf(tool, sizeof(tool), "%s", group);
			r = strcmp(tool, p[i].tool) ? dise_store_run_set_tool(rs->st, p[i].run_id, tool) : 0;
			if (r < 0)
				break;
			v = version_for(rs, tool, sha[i], p[i].path, p[i].size, p[i].wall_ns, NULL, 1);
			r = v < 0 ? (int)v : 0;
		}
		/* version 0: the file was gone or changed before it could be hashed */
		if (r == 0)
			r = dise_store_run_set_version(rs->st, p[i].run_id, v);
	}
	if (r == 0)
		r = enforce_cap(rs);
	if (r == 0)
		r = dise_store_commit(rs->st);
	if (r < 0)
		dise_store_rollback(rs->st);
	if (r == 0)
		r = n;
out:
	free(p);
	free(sha);
	free(known);
	return r;
}

int dise_resolver_register(dise_resolver *rs, const char *tool, const char *label, const char *path,
			   char *const *parents, int nparents, int64_t *ret_id)
{
	char abs[PATH_MAX], sha[65];
	struct stat st;
	int64_t id = 0;
	int r, i;

	char cwd[PATH_MAX];

	/* the path as it is invoked (absolute, symbolic links kept): what runs of it will be found by */
	if (!getcwd(cwd, sizeof(cwd)))
		return -errno;
	if ((r = dise_path_absolute(path, cwd, abs, sizeof(abs))) < 0)
		return r;
	if (stat(abs, &st) < 0)
		return -errno;
	r = dise_hash_file(abs, rs->cas, NULL, sha);
	if (r < 0)
		return r;
	r = dise_store_begin(rs->st);
	if (r < 0)
		return r;
	r = dise_store_path_tool_set(rs->st, abs, tool);
	if (r == 0) {
		id = version_for(rs, tool, sha, abs, (int64_t)st.st_size, 0, label, 0); /* its parents are named */
		r = id < 0 ? (int)id : 0;
	}
	if (r == 0)
		r = dise_store_version_set_label(rs->st, id, label);
	if (r == 0)
		r = enforce_cap(rs);
	for (i = 0; r == 0 && i < nparents; i++) {
		int64_t pid = 0;

		if ((r = dise_store_version_by_label(rs->st, tool, parents[i], &pid)) < 0)
			break;
		if (!pid) {
			fprintf(stderr, "dise: tool '%s' has no version '%s'\n", tool, parents[i]);
			r = -ENOENT;
			break;
		}
		r = dise_store_parent_add(rs->st, id, pid);
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
