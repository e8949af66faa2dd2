/* SPDX-License-Identifier: MIT */
/*
 * The versions the resolver gave, by path: what ingest needs to give a run
 * its version when it stores the run's START (resolve-at-ingest), so that
 * the resolver only sees new contents. Shared by the collector's threads
 * (a mutex); filled by the resolver after the commit that gave a run of
 * that path its version, emptied when the content store evicted copies.
 *
 * An entry is a hint, never the answer alone: ingest gives its version to a
 * run of that path only when the run's file identity (dev, ino, size,
 * mtime: the content cache's own test) is the entry's, and the path's head
 * in the store (path_heads) is still the entry's version, read in the
 * transaction that stores the run: a `dise tool add` of the path, another
 * content at it, make the head another version, and the resolver does it.
 */
#ifndef DISE_KNOWN_H
#define DISE_KNOWN_H

#include <stddef.h>
#include <stdint.h>

typedef struct dise_known dise_known;

struct dise_known_id {
	int64_t dev, ino, size, mtime_ns;
};

dise_known *dise_known_new(void);
void dise_known_free(dise_known *k);
/* The version (and its tool) of path's file at identity id. Replaces what path had. */
void dise_known_put(dise_known *k, const char *path, const struct dise_known_id *id, int64_t version, const char *tool);
/* 1 with the version and its tool when path's entry has identity id, else 0 (tool too long: 0). */
int dise_known_get(dise_known *k, const char *path, const struct dise_known_id *id, int64_t *version, char *tool,
		   size_t size);
/* Forgets every entry (the content store evicted copies: those versions' runs are the resolver's again). */
void dise_known_clear(dise_known *k);
/* Entries given out by dise_known_get since the start (tests, benchmarks). */
uint64_t dise_known_hits(dise_known *k);

#endif
