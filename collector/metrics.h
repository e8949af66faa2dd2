/* SPDX-License-Identifier: MIT */
/*
 * Prometheus metrics in the text exposition format (version 0.0.4): what
 * `dise metrics` prints and what the collector writes, atomically, to a
 * file for node-exporter's textfile collector.
 */
#ifndef DISE_METRICS_H
#define DISE_METRICS_H

#include <stddef.h>

#include "store.h"

/*
 * Renders every metric: the store's (st), the ring's counters (ring_path;
 * left out with a comment when there is no ring), the ingest lag and the
 * size of the database (db_path and its WAL). *ret (to free) holds the
 * text. Returns 0 or -errno (a store that fails: no partial text).
 */
int dise_metrics_render(dise_store *st, const char *db_path, const char *ring_path, char **ret, size_t *ret_len);

/* Writes a label value escaped for the text format: \\, \" and \n; a byte that is not UTF-8 as U+FFFD. */
void dise_metrics_escape(FILE *f, const char *s);

/*
 * The collector's writer: a thread with its own read-only connection that
 * renders into out (mode 0644, atomic rename) every interval_ms, and once
 * more when stopped. Returns 0 or -errno.
 */
typedef struct dise_metrics_writer dise_metrics_writer;
int dise_metrics_writer_start(const char *db_path, const char *ring_path, const char *out, unsigned interval_ms,
			      dise_metrics_writer **ret);
/* Stops it (after a last write) and frees it; NULL is fine. */
void dise_metrics_writer_stop(dise_metrics_writer *w);

#endif
