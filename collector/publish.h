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

#endif
