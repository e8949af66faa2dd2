/* SPDX-License-Identifier: MIT */
/* From runs to versions: hashing, the content-addressed store, lineage edges. */
#ifndef DISE_RESOLVE_H
#define DISE_RESOLVE_H

#include <stdint.h>
#include <sys/stat.h>

#include "known.h"
#include "store.h"

typedef struct dise_resolver dise_resolver;

/* A resolver on its own store connection (it runs beside ingest); cas_dir is created when missing. */
int dise_resolver_new(dise_store *st, const char *cas_dir, dise_resolver **ret);
dise_resolver *dise_resolver_free(dise_resolver *rs);

/*
 * Caps the content-addressed store at max_bytes (0: no cap). When over,
 * copies are evicted oldest-used first; never the copy of a tool's newest
 * healthy version (and, once the healer exists, never a route's).
 */
void dise_resolver_set_cas_cap(dise_resolver *rs, uint64_t max_bytes);
/* Where the resolver leaves the versions it gave, by path, for ingest (known.h; NULL: nowhere, the default). */
void dise_resolver_set_known(dise_resolver *rs, dise_known *k);
/* The groups of dise.json (cfg outlives the resolver; NULL: none): a path they match is their tool's. */
struct dise_config;
void dise_resolver_set_config(dise_resolver *rs, const struct dise_config *cfg);

/*
 * Gives versions to up to max runs that have none yet. Files are hashed
 * with no transaction open. Returns the number of runs handled (0: none
 * waited), or -errno.
 */
int dise_resolver_step(dise_resolver *rs, int max);

/*
 * How many versions this resolver has made that the detectors judge (a new
 * one: a detection pass and rules to check at once); a build probe's
 * (toolpath.h) are not counted: they wait for the pass their runs owe.
 */
uint64_t dise_resolver_versions_made(const dise_resolver *rs);
/* How many runs it gave a version to after their bad end (crash, fail, vanished) was stored. */
uint64_t dise_resolver_bad_resolved(const dise_resolver *rs);

/*
 * Hashes path into ret_hex and, with cas_dir, copies it to cas_dir/<sha256>
 * (once; a reflink where the filesystem allows; no copy when the file
 * changed while read, which is no error of the hash). With expect, fails
 * with -ESTALE when the file's identity is no longer that one.
 */
int dise_hash_file(const char *path, const char *cas_dir, const struct stat *expect, char ret_hex[65]);

/*
 * `dise tool add`: registers the content of path as version `label` of
 * `tool`, with the versions labelled parents[0..nparents) as its parents
 * (several: a merge), and makes runs from that path belong to `tool`.
 */
int dise_resolver_register(dise_resolver *rs, const char *tool, const char *label, const char *path,
			   char *const *parents, int nparents, int64_t *ret_id);

#endif
