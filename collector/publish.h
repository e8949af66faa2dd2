/* SPDX-License-Identifier: MIT */
/* Publishing the routes (collector/publish.c). */
#ifndef DISE_PUBLISH_H
#define DISE_PUBLISH_H

#include <stddef.h>

#include "dise/ring.h"
#include "store.h"

/*
 * Writes the route file of the ring at ring_path from the store, placing
 * each routed content beside its original file where the directory allows
 * (else from the store, flagged), records each route's placement or failure
 * in the store, and announces the count in the ring (rd: its consumer, may
 * be NULL). Returns the number of routes, or -errno.
 */
int dise_publish_routes(dise_ring_reader *rd, const char *ring_path, dise_store *st, const char *cas_dir);

/* "<dir of orig>/.dise-<sha256 prefix>-<name of orig>". Returns 0 or -errno. */
int dise_beside_path(const char *orig, const char *sha, char *buf, size_t size);

/*
 * Makes (or checks) the copy of content sha (from cas_file) beside orig:
 * owned by us, mode 0555, exactly that content. Its path into out, its
 * identity and ctime into ret->to and ret->to_ctime_ns (as it is in place:
 * after the rename). Returns 0 or -errno (-EACCES, -EROFS: not there).
 */
int dise_beside_copy(const char *orig, const char *sha, const char *cas_file, char *out, size_t size,
		     struct dise_route_in *ret);

#endif
