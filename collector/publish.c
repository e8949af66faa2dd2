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
 * and a script's `dirname "$0"` are then the original's. Where no copy
 * may be placed (a system directory, one not owned by the store's owner:
 * beside.c) or the directory is not writable by the collector, the route
 * runs the store's copy (cas/run/<version>/<name>) and the route is
 * flagged: `dise health` says so.
 *
 * A regenerated version rolled out over a route (collector/canary.c) gets
 * its copy the same way, as the entry's canary target.
 *
 * A copy no route uses any more (the route was reset, moved to another
 * version, the tool went away) is removed once the new route table is in
 * place, if it is provably the copy dise made (beside.c); a copy that is
 * not is left where it is.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "beside.h"
#include "canary.h"
#include "home.h"
#include "publish.h"

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
	ok = dise_content_is(fd, p->sha256);
	if (ok == 1 && (st.st_mode & 0222) && (fchmod(fd, st.st_mode & 0555) < 0 || fstat(fd, &st) < 0))
		ok = -errno;
	close(fd);
	if (ok != 1)
		return ok < 0 ? ok : -EIO;
	dise_target_id_of(&st, ret);
	return 0;
}

/*
 * The copies beside originals that no route uses any more, removed when
 * provably ours (beside.c). After the new route table is in place: a
 * process that read the old one finds no target and runs its own file,
 * which is what the dropped route means. targets: n paths, NULL ones skipped.
 */
static void remove_stale(const struct dise_route_copy *old, size_t nold, char *const *targets, size_t n)
{
	size_t i, k;

	for (i = 0; i < nold; i++) {
		for (k = 0; k < n && (!targets[k] || strcmp(old[i].path, targets[k])); k++)
			;
		if (k == n)
			dise_beside_remove(old[i].path, old[i].sha256);
	}
}

/*
 * Where p's version runs from for the file at p->path: a copy beside it,
 * else the store's copy (flagged, and said why); into buf, its identity
 * into *ret, the flags into *ret_flags, the placement recorded. 0, or
 * -errno when neither could be had (recorded and journaled).
 */
static int place(dise_store *st, const char *cas_dir, const struct dise_pruned_route *p, char *buf, size_t size,
		 struct dise_route_in *ret, uint32_t *ret_flags)
{
	char cas_file[PATH_MAX + 80], why[PATH_MAX + 128] = "";
	int b;

	*ret_flags = DISE_ROUTE_BESIDE;
	snprintf(cas_file, sizeof(cas_file), "%s/%s", cas_dir, p->sha256);
	b = dise_beside_allowed(p->path, geteuid(), why, sizeof(why));
	if (b == 0) {
		b = dise_beside_copy(p->path, p->sha256, cas_file, buf, size, ret);
		if (b < 0)
			snprintf(why, sizeof(why), "no copy beside it: %s", strerror(-b));
	}
	if (b < 0) {
		*ret_flags = 0;
		if (store_copy(cas_dir, p, buf, size, ret) < 0) {
			dise_store_route_published(st, p->tool, p->version, p->path, NULL, b,
						   "neither beside the file nor from the store");
			dise_store_route_unpublished(st, p->tool, p->version, p->path,
						     "neither beside the file nor from the store");
			return b;
		}
		snprintf(why + strlen(why), sizeof(why) - strlen(why), "; runs from the store");
	}
	/* a routed run is a run of the original's tool, whatever the copy's name */
	dise_store_path_tool_set(st, buf, p->tool);
	dise_store_route_published(st, p->tool, p->version, p->path, buf, b, b < 0 ? why : NULL);
	return 0;
}

/*
 * The canary target of row p (a regenerated version rolled out over its
 * route) into e, its path into *ret (free it); none when p has none or its
 * copy cannot be had: then every run goes to the stable (weight 0).
 */
static int place_canary(dise_store *st, const char *cas_dir, const struct dise_pruned_route *p, struct dise_route_in *e,
			char **ret)
{
	struct dise_pruned_route c = *p;
	struct dise_route_in to = { 0 };
	char buf[PATH_MAX + 128];
	uint32_t flags;

	*ret = NULL;
	if (!p->canary_version)
		return 0;
	c.version = p->canary_version;
	memcpy(c.sha256, p->canary_sha256, sizeof(c.sha256));
	if (place(st, cas_dir, &c, buf, sizeof(buf), &to, &flags) < 0) {
		e->canary_pct = 0;
		return 0;
	}
	if (!(*ret = strdup(buf)))
		return -ENOMEM;
	e->canary_target = *ret;
	e->canary_to = to.to;
	e->canary_ctime_ns = to.to_ctime_ns;
	return 0;
}

/* The weighted routes after the plain ones in *rows (a read cut short: an error, never a shorter table). */
static int append_canary_routes(dise_store *st, struct dise_pruned_route **rows, size_t *nrows)
{
	struct dise_pruned_route *c = NULL, *all;
	size_t nc = 0;
	int r = dise_store_canary_routes(st, &c, &nc);

	if (r < 0 || nc == 0)
		return r;
	all = realloc(*rows, (*nrows + nc) * sizeof(*all));
	if (!all) {
		dise_pruned_routes_free(c, nc);
		return -ENOMEM;
	}
	memcpy(all + *nrows, c, nc * sizeof(*c));
	free(c); /* its strings now belong to all */
	*rows = all;
	*nrows += nc;
	return 0;
}

int dise_publish_routes(dise_ring_reader *rd, const char *ring_path, dise_store *st, const char *cas_dir)
{
	struct dise_pruned_route *rows = NULL;
	struct dise_route_in *e = NULL;
	struct dise_route_copy *old = NULL;
	char **targets = NULL, rpath[PATH_MAX + 16];
	size_t nrows = 0, n = 0, nold = 0, i;
	int r, began = 0;

	r = dise_routes_path(ring_path, rpath, sizeof(rpath));
	if (r < 0)
		return r;
	/* a read cut short (busy) is no route table: the one published stays until the next try */
	r = dise_store_pruned_routes(st, &rows, &nrows);
	if (r < 0)
		return r;
	/* and the canary rollouts' weighted routes (collector/canary.c) */
	r = append_canary_routes(st, &rows, &nrows);
	if (r < 0) {
		dise_pruned_routes_free(rows, nrows);
		return r;
	}
	/* the placements, replaced in one transaction (a reader sees the old set or the new one) */
	if (dise_store_begin(st) == 0)
		began = 1;
	if (dise_store_route_copies(st, &old, &nold) < 0)
		old = NULL, nold = 0; /* not read: none removed this time */
	dise_store_route_placements_clear(st);
	e = calloc(nrows ? nrows : 1, sizeof(*e));
	targets = calloc(2 * nrows + 1, sizeof(*targets)); /* each entry's target, then its canary's (or NULL) */
	if (!e || !targets) {
		r = -ENOMEM;
		goto out;
	}
	for (i = 0; i < nrows; i++) {
		char buf[PATH_MAX + 128];
		struct dise_route_in to = { 0 };
		uint32_t flags;

		if (place(st, cas_dir, &rows[i], buf, sizeof(buf), &to, &flags) < 0)
			continue;
		if (!(targets[2 * n] = strdup(buf))) {
			r = -ENOMEM;
			goto out;
		}
		e[n].from.dev = (uint64_t)rows[i].dev;
		e[n].from.ino = (uint64_t)rows[i].ino;
		e[n].from.size = (uint64_t)rows[i].size;
		e[n].from.mtime_ns = rows[i].mtime_ns;
		e[n].to = to.to;
		e[n].to_ctime_ns = to.to_ctime_ns;
		e[n].target = targets[2 * n];
		e[n].flags = flags;
		e[n].canary_pct = (uint32_t)rows[i].canary_pct;
		if ((r = place_canary(st, cas_dir, &rows[i], &e[n], &targets[2 * n + 1])) < 0)
			goto out;
		n++;
	}
	r = dise_routes_write(rpath, e, n);
	if (r == 0 && rd)
		r = dise_ring_routes_announce(rd, (uint32_t)(n < UINT32_MAX ? n : UINT32_MAX));
	if (r == 0)
		remove_stale(old, nold, targets, 2 * n);
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
		for (i = 0; i < 2 * nrows + 1; i++)
			free(targets[i]);
	free(targets);
	free(e);
	dise_route_copies_free(old, nold);
	dise_pruned_routes_free(rows, nrows);
	return r < 0 ? r : (int)n;
}
