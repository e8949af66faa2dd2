/* SPDX-License-Identifier: MIT */
/* Webhook notifications of healing events (libcurl). */
#ifndef DISE_HEAL_NOTIFY_H
#define DISE_HEAL_NOTIFY_H

#include "store.h"

/*
 * POSTs one JSON event to url for each healing event journaled since the
 * last call (routed, no_ancestor, frozen, refused), at most 64 per call,
 * each bounded by timeout_ms; a failure is one line on stderr, not retried.
 * Keeps its place in notify_cursor. url NULL: nothing. Returns the number
 * delivered, or -errno. curl_global_init() must have run.
 */
int dise_notify_pending(dise_store *st, const char *url, long timeout_ms);

#endif
