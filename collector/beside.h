/* SPDX-License-Identifier: MIT */
/* The copies beside original files (collector/beside.c). */
#ifndef DISE_BESIDE_H
#define DISE_BESIDE_H

#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "dise/ring.h"

void dise_file_id_of(const struct stat *st, struct dise_file_id *id);
/* A route target's identity and ctime, which the shim checks before it runs the target (shim.c). */
void dise_target_id_of(const struct stat *st, struct dise_route_in *ret);
/* 1 when fd's content (read from where it is) hashes to sha, 0 when not, -errno */
int dise_content_is(int fd, const char *sha);

/* "<dir of orig>/.dise-<sha256 prefix>-<name of orig>". Returns 0 or -errno. */
int dise_beside_path(const char *orig, const char *sha, char *buf, size_t size);

/*
 * Whether a copy may be placed beside orig by a collector running as owner
 * (beside.c says the policy): 0, or -errno with the reason in why.
 * Writability is not checked here (placing one finds out).
 */
int dise_beside_allowed(const char *orig, uid_t owner, char *why, size_t size);

/*
 * Makes (or checks) the copy of content sha (from cas_file) beside orig:
 * owned by us, mode 0555, exactly that content. Its path into out, its
 * identity and ctime into ret->to and ret->to_ctime_ns (as it is in place:
 * after the rename). Returns 0 or -errno (-EACCES, -EROFS: not there).
 */
int dise_beside_copy(const char *orig, const char *sha, const char *cas_file, char *out, size_t size,
		     struct dise_route_in *ret);

/*
 * Removes the copy at path if it is provably one dise made of content sha
 * (name, owner, mode, content): 0 (also when gone already), -EPERM when it
 * is not ours (left alone), -errno.
 */
int dise_beside_remove(const char *path, const char *sha);

#endif
