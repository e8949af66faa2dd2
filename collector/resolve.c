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
 * overwritten; by reflink where the filesystem allows. Not a build
 * system's probe (configure's conftest, made, run once and deleted by the
 * hundred): hashed, a version, no copy, as it can never be routed to
 * (wants_copy). A version without a copy is never a route target: the
 * healer rejects such an ancestor ("no copy of it to run").
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
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bounded.h"
#include "config.h"
#include "home.h"
#include "canary.h"
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
	/*
	 * A step's work space, kept from step to step: a step's runs are 8 KiB
	 * each (two paths), and zeroing 256 of them at every step was a fifth
	 * of the resolver's CPU under a steady stream of runs.
	 */
	struct dise_unversioned *p;
	char (*sha)[65];
	int *known; /* 1: sha valid, 0: unresolvable, -1: did not answer in time */
	int64_t *vid; /* the version a step gave each run (0: none) */
	int space;
	dise_known *given; /* the versions given, by path, for ingest (known.h), or NULL */
	int evicted;	   /* a step's enforce_cap() evicted copies */
	/* contents known to have their copy in the store (stored()): asked for every run of a known content */
	char copied[64][65];
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

void dise_resolver_set_known(dise_resolver *rs, dise_known *k)
{
	rs->given = k;
}

void dise_resolver_set_cas_cap(dise_resolver *rs, uint64_t max_bytes)
{
	rs->cap = max_bytes;
}

static int same_identity(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* The rest of a copy, from off, by read and write (a filesystem without copy_file_range). */
static int copy_plain(int fd, int out, off_t off)
{
	uint8_t buf[65536];
	ssize_t n;

	while ((n = pread(fd, buf, sizeof(buf), off)) > 0) {
		if (write(out, buf, (size_t)n) != n)
			return errno ? -errno : -EIO;
		off += n;
	}
	return n < 0 ? -errno : 0;
}

/*
 * The store's copy of the file open at fd, hashed as hex: made beside, then
 * renamed to cas_dir/<hex>. A reflink where the filesystem shares blocks
 * (btrfs, XFS: no byte copied, and later writes to the file never reach the
 * copy), else copy_file_range, else read and write. The bytes copied are
 * the bytes hashed: the file kept its identity (dev, ino, size, mtime,
 * checked after the copy), the test the content cache rests on too; a file
 * that changed meanwhile leaves no copy. Not a hard link: the file written
 * in place later (cp over it) would change the copy with it.
 */
static int store_copy(int fd, const struct stat *st, const char *cas_dir, const char *hex)
{
	char tmp[PATH_MAX], dst[PATH_MAX];
	struct stat after;
	off_t off = 0;
	int out, r = 0;

	snprintf(dst, sizeof(dst), "%s/%s", cas_dir, hex);
	if (access(dst, F_OK) == 0)
		return 0; /* content-addressed: stored already */
	snprintf(tmp, sizeof(tmp), "%s/.new.%d.%lu", cas_dir, (int)getpid(), (unsigned long)st->st_ino);
	unlink(tmp); /* a leftover of a collector that died here */
	out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (out < 0)
		return -errno;
	if (ioctl(out, FICLONE, fd) < 0) {
		while (off < st->st_size) {
			ssize_t n = copy_file_range(fd, &off, out, NULL, (size_t)(st->st_size - off), 0);

			if (n <= 0) {
				r = n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP)
					    ? copy_plain(fd, out, off)
					    : n < 0 ? -errno : -ESTALE; /* shorter than it was */
				break;
			}
		}
	}
	if (r == 0 && (fstat(fd, &after) < 0 || !same_identity(st, &after)))
		r = -ESTALE;
	/* the store's copy: the owner's only, never writable (umask plays no part) */
	if (r == 0 && fchmod(out, (st->st_mode & 0111) ? 0500 : 0400) < 0)
		r = -errno;
	if (close(out) < 0 && r == 0)
		r = -errno;
	if (r == 0 && access(dst, F_OK) != 0 && rename(tmp, dst) == 0)
		return 0;
	unlink(tmp);
	return r;
}

int dise_hash_file(const char *path, const char *cas_dir, const struct stat *expect, char hex[65])
{
	struct dise_sha256 s;
	uint8_t buf[65536], d[32];
	struct stat st;
	int fd, r = 0;
	ssize_t n;

	/* the path came from the ring: never blocks in open() (a FIFO), regular files only */
	fd = dise_open_regular(path, 0, &st);
	if (fd < 0)
		return fd;
	if (expect && !same_identity(expect, &st)) {
		close(fd);
		return -ESTALE;
	}
	r = dise_sha256_init(&s); /* a failure here makes final fail: the file is read for nothing, and said so */
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		dise_sha256_update(&s, buf, (size_t)n);
	if (n < 0)
		r = -errno;
	if (dise_sha256_final(&s, d) < 0 && r == 0)
		r = -ENOMEM;
	dise_sha256_hex(d, hex);
	if (r == 0 && cas_dir)
		store_copy(fd, &st, cas_dir, hex); /* no copy: the version is no route target (the healer asks for one) */
	close(fd);
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

	return dise_hash_file(j->path, j->cas[0] ? j->cas : NULL, &j->expect, j->hex);
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
	snprintf(j->cas, sizeof(j->cas), "%s", cas ? cas : "");
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
	if (rs) {
		free(rs->p);
		free(rs->sha);
		free(rs->known);
		free(rs->vid);
	}
	free(rs);
	return NULL;
}

/* The slot of content sha among the contents known copied (the first byte of its hex digest picks it). */
static char *copied_slot(dise_resolver *rs, const char *sha)
{
	unsigned h = (unsigned)strtoul((char[3]){ sha[0], sha[1], '\0' }, NULL, 16);

	return rs->copied[h % 64];
}

/*
 * Whether the store holds a copy of content sha: asked of the file system
 * until it says yes, then remembered (a copy goes only by enforce_cap(),
 * which forgets it here; one removed by hand is made again when its
 * content is hashed again).
 */
static int stored(dise_resolver *rs, const char *sha)
{
	char cas[PATH_MAX + 80], *slot = copied_slot(rs, sha);

	if (!strcmp(slot, sha))
		return 1;
	snprintf(cas, sizeof(cas), "%s/%s", rs->cas, sha);
	if (access(cas, F_OK) < 0)
		return 0;
	snprintf(slot, 65, "%s", sha);
	return 1;
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
		r = dise_store_version_add(rs->st, tool, sha, label, path, size, wall_ns, stored(rs, sha) ? cas : NULL, &id);
		if (r < 0)
			return r;
		/* a build probe (configure's conftest) is recorded, never judged: no pass at once for it */
		rs->made += !dise_is_build_probe(tool);
		if ((r = dise_store_path_head(rs->st, path, &head)) < 0)
			return r;
		/* a new path of a tool that has versions (a group's next release directory): after its newest */
		if (!head && observed && (r = dise_store_tool_newest(rs->st, tool, id, &head)) < 0)
			return r;
		if (head && head != id && (r = dise_store_parent_add(rs->st, id, head)) < 0)
			return r;
		/* a new content where another ran: a canary of the tool when its policy says so */
		if (head && head != id && (r = dise_canary_on_deploy(rs->st, rs->cfg, tool, head, id, wall_ns)) < 0)
			return r;
	}
	/* a rollout whose canary left this path (a rollback by hand, another content) ends */
	if ((r = dise_canary_path_moved(rs->st, tool, path, id, wall_ns)) < 0)
		return r;
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

/*
 * The tool of run u, into tool: the path, unless it is one of a group's: a
 * path `dise tool add` registered, else one dise.json's "paths" match (or a
 * routed run's copy: its version's tool). >= 0, or -errno (busy: the run
 * would get the wrong tool).
 */
static int tool_of(dise_resolver *rs, const struct dise_unversioned *u, char *tool, size_t size)
{
	const char *group;
	int r;

	snprintf(tool, size, "%s", u->tool);
	if ((r = routed_tool(rs, u->path, tool, size)) == 0)
		r = dise_store_path_tool(rs->st, u->path, tool, size);
	if (r == 0 && (group = dise_config_group(rs->cfg, u->path)))
		snprintf(tool, size, "%s", group);
	return r;
}

/*
 * Whether run u's file needs a copy in the store: a version that may ever
 * be routed to must have its bytes before its file is replaced, and the
 * file may be replaced right after its run, so the copy is made when the
 * file is hashed. Not for a build system's probe (configure's conftest,
 * cmake's cmTC_*, toolpath.h): such a tool is never judged (detect.c), so
 * never pruned and never routed, and its versions are no other tool's
 * ancestors; nor for a file in the store already (a routed run's copy).
 * When its tool cannot be told now: a copy, to be safe.
 */
static int wants_copy(dise_resolver *rs, const struct dise_unversioned *u)
{
	char tool[sizeof(u->path)];
	size_t n = strlen(rs->cas);

	if (!strncmp(u->path, rs->cas, n) && u->path[n] == '/')
		return 0;
	return tool_of(rs, u, tool, sizeof(tool)) < 0 || !dise_is_build_probe(tool);
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
		memset(rs->copied, 0, sizeof(rs->copied)); /* evicted: asked of the file system again */
		rs->evicted = 1;
	}
	dise_cas_copies_free(c, n);
	return r;
}

/*
 * Whether ingest may give run u's version to the next runs of its path and
 * identity (known.h): only when this step would give it again without
 * hashing, i.e. the content has its copy or wants none (the loop in
 * dise_resolver_step: a content hashed without a copy that is now wanted
 * is hashed again, and copied).
 */
static int given_ok(dise_resolver *rs, const struct dise_unversioned *u, const char *tool, const char *sha)
{
	size_t n = strlen(rs->cas);

	if (!rs->given)
		return 0;
	return stored(rs, sha) || (!strncmp(u->path, rs->cas, n) && u->path[n] == '/') || dise_is_build_probe(tool);
}

/* After a step's commit: the versions it gave, for ingest to give the next runs of those paths. */
static void give(dise_resolver *rs, int n)
{
	for (int i = 0; i < n; i++) {
		struct dise_known_id id = { rs->p[i].dev, rs->p[i].ino, rs->p[i].size, rs->p[i].mtime_ns };

		if (rs->vid[i] > 0)
			dise_known_put(rs->given, rs->p[i].path, &id, rs->vid[i], rs->p[i].tool);
	}
}

int dise_resolver_step(dise_resolver *rs, int max)
{
	struct dise_unversioned *p;
	char (*sha)[65];
	int *known;
	int n, i, r = 0;

	if (max > rs->space) {
		free(rs->p), free(rs->sha), free(rs->known), free(rs->vid);
		rs->p = malloc((size_t)max * sizeof(*rs->p));
		rs->sha = malloc((size_t)max * sizeof(*rs->sha));
		rs->known = malloc((size_t)max * sizeof(*rs->known));
		rs->vid = malloc((size_t)max * sizeof(*rs->vid));
		rs->space = rs->p && rs->sha && rs->known && rs->vid ? max : 0;
		if (!rs->space)
			return -ENOMEM;
	}
	p = rs->p, sha = rs->sha, known = rs->known;
	n = dise_store_runs_unversioned(rs->st, p, max);
	if (n <= 0)
		return n;
	memset(known, 0, (size_t)n * sizeof(*known));
	memset(rs->vid, 0, (size_t)n * sizeof(*rs->vid));
	memset(sha, 0, (size_t)n * sizeof(*sha));
	/* its bad end came first (from another shard): the detectors must look once it has its version */
	for (i = 0; i < n; i++)
		rs->bad_resolved += (uint64_t)p[i].failed;

	/* hashing: no transaction open, the collector's ingest goes on */
	for (i = 0; i < n; i++) {
		int cached, copy = -1; /* -1: not asked yet */

		/* busy: not cached, hashed again (the same answer, at a cost) */
		cached = dise_store_content_hash(rs->st, p[i].dev, p[i].ino, p[i].size, p[i].mtime_ns, sha[i]) > 0;
		/* known, and hashed without a copy (a probe's) that is now wanted (mv conftest tool): hashed again, copied */
		if (cached && sha[i][0] && !stored(rs, sha[i]) && (copy = wants_copy(rs, &p[i])))
			cached = 0;
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
			if (copy < 0)
				copy = wants_copy(rs, &p[i]);
			r = hash_bounded(p[i].path, copy ? rs->cas : NULL, &id, sha[i]);
			/* not answering in time: no version for this run, and nothing cached (it may answer later) */
			known[i] = r == 0 ? 1 : r == -ETIMEDOUT || r == -EBUSY ? -1 : 0;
			r = 0;
		}
	}

	r = dise_store_begin(rs->st);
	if (r < 0)
		return r;
	for (i = 0; i < n && r == 0; i++) {
		int64_t v = 0;

		if (known[i] >= 0)
			r = dise_store_content_add(rs->st, p[i].dev, p[i].ino, p[i].size, p[i].mtime_ns,
						   known[i] ? sha[i] : NULL);
		if (r == 0 && known[i] > 0) {
			char tool[sizeof(p[i].path)];

			if ((r = tool_of(rs, &p[i], tool, sizeof(tool))) < 0)
				break; /* busy: the run would get the wrong tool */
			r = strcmp(tool, p[i].tool) ? dise_store_run_set_tool(rs->st, p[i].run_id, tool) : 0;
			if (r < 0)
				break;
			v = version_for(rs, tool, sha[i], p[i].path, p[i].size, p[i].wall_ns, NULL, 1);
			r = v < 0 ? (int)v : 0;
			if (v > 0 && given_ok(rs, &p[i], tool, sha[i])) {
				rs->vid[i] = v; /* for ingest, once committed */
				snprintf(p[i].tool, sizeof(p[i].tool), "%s", tool);
			}
		}
		/* version 0: the file was gone or changed before it could be hashed */
		if (r == 0)
			r = dise_store_run_set_version(rs->st, p[i].run_id, v);
	}
	rs->evicted = 0;
	if (r == 0)
		r = enforce_cap(rs);
	if (r == 0)
		r = dise_store_commit(rs->st);
	if (r < 0)
		dise_store_rollback(rs->st);
	if (rs->evicted) /* those versions' runs hash again when their copy is wanted (the loop above) */
		dise_known_clear(rs->given);
	else if (r == 0)
		give(rs, n);
	if (r == 0)
		r = n;
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
