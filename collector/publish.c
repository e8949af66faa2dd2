/* SPDX-License-Identifier: MIT */
/*
 * Publishing the routes: for every file that ran as a pruned version, where
 * the version its tool is routed to runs from, into the route file the
 * shim reads (include/dise/ring.h).
 *
 * A routed run is the original run with other bytes: the same argv (the
 * shim passes it unchanged) and the same resources found relative to
 * itself. So the routed content runs from a copy beside the original file:
 * "<dir>/.dise-<sha256 prefix>-<name>", made by the collector (the file's
 * owner's permissions, mode 0555), named by its content, replaced when
 * what is there is not exactly that content. `/proc/self/exe`'s directory
 * and a script's `dirname "$0"` are then the original's. Where the
 * directory is not writable by the collector, the route runs the store's
 * copy (cas/run/<version>/<name>, as before) and the route is flagged: `dise
 * health` says so.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "home.h"
#include "publish.h"
#include "sha256.h"

/* A route target's identity and ctime, which the shim checks before it runs the target (shim.c). */
static void target_id(const struct stat *st, struct dise_route_in *ret)
{
	ret->to.dev = st->st_dev;
	ret->to.ino = st->st_ino;
	ret->to.size = (uint64_t)st->st_size;
	ret->to.mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
	ret->to_ctime_ns = (int64_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec;
}

/* 1 when fd's content hashes to sha, 0 when not, -errno */
static int content_is(int fd, const char *sha)
{
	struct dise_sha256 h;
	uint8_t buf[65536], d[32];
	char hex[65];
	ssize_t n;

	if (dise_sha256_init(&h) < 0)
		return -ENOMEM;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		dise_sha256_update(&h, buf, (size_t)n);
	if (dise_sha256_final(&h, d) < 0 || n < 0)
		return -EIO;
	dise_sha256_hex(d, hex);
	return strcmp(hex, sha) == 0;
}

static int copy_fd(int in, int out)
{
	char buf[65536];
	ssize_t n;

	while ((n = read(in, buf, sizeof(buf))) > 0) {
		char *p = buf;

		while (n > 0) {
			ssize_t w = write(out, p, (size_t)n);

			if (w < 0)
				return -errno;
			p += w;
			n -= w;
		}
	}
	return n < 0 ? -errno : 0;
}

int dise_beside_path(const char *orig, const char *sha, char *buf, size_t size)
{
	const char *slash = strrchr(orig, '/');
	int n;

	if (!slash || orig[0] != '/' || strlen(sha) < 16)
		return -EINVAL;
	n = snprintf(buf, size, "%.*s/.dise-%.16s-%s", (int)(slash - orig), orig, sha, slash + 1);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int dise_beside_copy(const char *orig, const char *sha, const char *cas_file, char *out, size_t size,
		     struct dise_route_in *ret)
{
	char tmp[PATH_MAX + 32];
	struct stat st;
	ino_t ino;
	int fd, in, r;

	r = dise_beside_path(orig, sha, out, size);
	if (r < 0)
		return r;
	/* what is there already: ours, read-only, exactly that content */
	fd = open(out, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd >= 0) {
		int ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
			 (st.st_mode & 07777) == 0555 && content_is(fd, sha) == 1;

		close(fd);
		if (ok) {
			target_id(&st, ret);
			return 0;
		}
	}
	r = snprintf(tmp, sizeof(tmp), "%.*s/.dise-tmp-XXXXXX", (int)(strrchr(out, '/') - out), out);
	if (r < 0 || (size_t)r >= sizeof(tmp))
		return -ENAMETOOLONG;
	in = dise_open_regular(cas_file, 1, &st);
	if (in < 0)
		return in;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		close(in);
		return r;
	}
	r = copy_fd(in, fd);
	close(in);
	if (r == 0 && lseek(fd, 0, SEEK_SET) == 0 && content_is(fd, sha) != 1)
		r = -EIO; /* the store's copy is not that content (any more) */
	if (r == 0 && fchmod(fd, 0555) < 0)
		r = -errno;
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (r == 0 && fstat(fd, &st) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, out) < 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		return r;
	}
	/* the rename changed its ctime: the identity is the one in place */
	ino = st.st_ino;
	if (lstat(out, &st) < 0)
		return -errno;
	if (st.st_ino != ino)
		return -ESTALE; /* replaced at once: the next publication makes it again */
	target_id(&st, ret);
	return 0;
}

/* cas/run/<version>/<name> -> ../../<sha256>: the store's copy, under the original's name */
static int store_copy(const char *cas_dir, const struct dise_pruned_route *p, char *out, size_t size,
		      struct dise_route_in *ret)
{
	const char *name = strrchr(p->path, '/');
	char dir[PATH_MAX], to[128];
	struct stat st;
	int n, fd, ok;

	name = name ? name + 1 : p->path;
	if (!name[0])
		return -EINVAL;
	n = snprintf(dir, sizeof(dir), "%s/run", cas_dir);
	if (n < 0 || (size_t)n >= sizeof(dir))
		return -ENAMETOOLONG;
	mkdir(dir, 0700);
	snprintf(dir, sizeof(dir), "%s/run/%lld", cas_dir, (long long)p->version);
	mkdir(dir, 0700);
	n = snprintf(out, size, "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	snprintf(to, sizeof(to), "../../%s", p->sha256);
	if (symlink(to, out) < 0 && errno != EEXIST)
		return -errno;
	/* what runs is exactly that content, and unwritable (the shim refuses a writable target) */
	fd = dise_open_regular(out, 0, &st);
	if (fd < 0)
		return fd;
	ok = content_is(fd, p->sha256);
	if (ok == 1 && (st.st_mode & 0222) && (fchmod(fd, st.st_mode & 0555) < 0 || fstat(fd, &st) < 0))
		ok = -errno;
	close(fd);
	if (ok != 1)
		return ok < 0 ? ok : -EIO;
	target_id(&st, ret);
	return 0;
}

int dise_publish_routes(dise_ring_reader *rd, const char *ring_path, dise_store *st, const char *cas_dir)
{
	struct dise_pruned_route *rows = NULL;
	struct dise_route_in *e = NULL;
	char **targets = NULL, rpath[PATH_MAX + 16];
	size_t nrows = 0, n = 0, i;
	int r, began = 0;

	r = dise_routes_path(ring_path, rpath, sizeof(rpath));
	if (r < 0)
		return r;
	/* a read cut short (busy) is no route table: the one published stays until the next try */
	r = dise_store_pruned_routes(st, &rows, &nrows);
	if (r < 0)
		return r;
	/* the placements, replaced in one transaction (a reader sees the old set or the new one) */
	if (dise_store_begin(st) == 0)
		began = 1;
	dise_store_route_placements_clear(st);
	e = calloc(nrows ? nrows : 1, sizeof(*e));
	targets = calloc(nrows ? nrows : 1, sizeof(*targets));
	if (!e || !targets) {
		r = -ENOMEM;
		goto out;
	}
	for (i = 0; i < nrows; i++) {
		char buf[PATH_MAX + 128], cas_file[PATH_MAX + 80];
		struct dise_route_in to = { 0 };
		uint32_t flags = DISE_ROUTE_BESIDE;
		int b;

		snprintf(cas_file, sizeof(cas_file), "%s/%s", cas_dir, rows[i].sha256);
		b = dise_beside_copy(rows[i].path, rows[i].sha256, cas_file, buf, sizeof(buf), &to);
		if (b < 0) {
			flags = 0;
			if (store_copy(cas_dir, &rows[i], buf, sizeof(buf), &to) < 0) {
				dise_store_route_published(st, rows[i].tool, rows[i].version, rows[i].path, NULL, b,
							   "neither beside the file nor from the store");
				dise_store_route_unpublished(st, rows[i].tool, rows[i].version, rows[i].path,
							     "neither beside the file nor from the store");
				continue;
			}
		}
		/* a routed run is a run of the original's tool, whatever the copy's name */
		dise_store_path_tool_set(st, buf, rows[i].tool);
		targets[n] = strdup(buf);
		if (!targets[n]) {
			r = -ENOMEM;
			goto out;
		}
		e[n].from.dev = (uint64_t)rows[i].dev;
		e[n].from.ino = (uint64_t)rows[i].ino;
		e[n].from.size = (uint64_t)rows[i].size;
		e[n].from.mtime_ns = rows[i].mtime_ns;
		e[n].to = to.to;
		e[n].to_ctime_ns = to.to_ctime_ns;
		e[n].target = targets[n];
		e[n].flags = flags;
		dise_store_route_published(st, rows[i].tool, rows[i].version, rows[i].path, targets[n], b,
					   b < 0 ? "the directory is not writable: runs from the store" : NULL);
		n++;
	}
	r = dise_routes_write(rpath, e, n);
	if (r == 0 && rd)
		r = dise_ring_routes_announce(rd, (uint32_t)(n < UINT32_MAX ? n : UINT32_MAX));
	if (r < 0)
		for (i = 0; i < nrows; i++) {
			dise_store_route_published(st, rows[i].tool, rows[i].version, rows[i].path, NULL, r,
						   "the route table could not be written");
			dise_store_route_unpublished(st, rows[i].tool, rows[i].version, rows[i].path,
						     "the route table could not be written");
		}
out:
	if (began && dise_store_commit(st) < 0)
		dise_store_rollback(st);
	if (targets)
		for (i = 0; i < n; i++)
			free(targets[i]);
	free(targets);
	free(e);
	dise_pruned_routes_free(rows, nrows);
	return r < 0 ? r : (int)n;
}
