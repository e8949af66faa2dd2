/* SPDX-License-Identifier: MIT */
/*
 * Webhook notifications: one JSON POST per healing event, read from the
 * journal after the healing committed, so a slow or dead endpoint never holds
 * healing up. The journal row last sent is kept (notify_cursor): an event
 * committed just before the collector stopped is sent when it starts again.
 * A failed POST is said on stderr in one line and not retried.
 *
 *   {"event": "routed" | "no_ancestor" | "frozen" | "refused" | "matched", "tool": "app",
 *    "version": 12, "detail": "app -> v11 (...)", "reason": "three_strikes: ...",
 *    "wall_ns": ..., "journal_id": ...}
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "notify.h"
#include "store.h"

static size_t discard(char *p, size_t size, size_t n, void *u)
{
	(void)p, (void)u;
	return size * n;
}

static int post(const char *url, long timeout_ms, const char *body, char *why, size_t size)
{
	CURL *h = curl_easy_init();
	struct curl_slist *hdr = NULL;
	CURLcode c;
	long code = 0;

	if (!h) {
		snprintf(why, size, "cannot make a curl handle");
		return -ENOMEM;
	}
	hdr = curl_slist_append(hdr, "Content-Type: application/json");
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM for timeouts */
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "dise-collectord");
	c = curl_easy_perform(h);
	if (c == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	curl_slist_free_all(hdr);
	curl_easy_cleanup(h);
	if (c != CURLE_OK) {
		snprintf(why, size, "%s", curl_easy_strerror(c));
		return -EIO;
	}
	if (code >= 300) {
		snprintf(why, size, "HTTP status %ld", code);
		return -EIO;
	}
	return 0;
}

struct event {
	int64_t journal_id;
	const char *name;
	char *body;
};

/*
 * The events journaled after the cursor, at most max, as JSON bodies. Read
 * to the end and the statement finalized before anything is sent: no read
 * snapshot is held (the WAL cannot be checkpointed past one) while a
 * webhook takes its time. Returns how many, or -errno (busy included: then
 * nothing is sent and the cursor stays).
 */
static int collect(sqlite3 *db, int64_t cursor, struct event *ev, int max)
{
	sqlite3_stmt *q;
	int n = 0, r = 0;

	if (sqlite3_prepare_v2(db,
			       "SELECT j.id, j.step, j.result, j.tool, j.version_id, j.detail, j.wall_ns, "
			       "(SELECT s.detail FROM journal s WHERE s.request_id = j.request_id AND s.step = 'start' "
			       " ORDER BY s.id LIMIT 1) "
			       "FROM journal j WHERE j.id > ?1 AND j.step IN ('route', 'freeze', 'rule_refused', 'rule_matched') "
			       "ORDER BY j.id LIMIT ?2",
			       -1, &q, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_int64(q, 1, cursor);
	sqlite3_bind_int(q, 2, max);
	while (n < max && (r = dise_sql_step(q)) > 0) {
		const char *step = (const char *)sqlite3_column_text(q, 1);
		const char *result = (const char *)sqlite3_column_text(q, 2);
		const char *event = !strcmp(step, "freeze")	      ? "frozen"
				    : !strcmp(step, "rule_refused")   ? "refused"
				    : !strcmp(step, "rule_matched")   ? "matched"
				    : !strcmp(result, "no_ancestor") ? "no_ancestor"
								      : "routed";
		json_t *o = json_pack("{s:s,s:s,s:I,s:s,s:I,s:I}", "event", event, "tool",
				      sqlite3_column_text(q, 3) ? (const char *)sqlite3_column_text(q, 3) : "",
				      "version", (json_int_t)sqlite3_column_int64(q, 4), "detail",
				      sqlite3_column_text(q, 5) ? (const char *)sqlite3_column_text(q, 5) : "", "wall_ns",
				      (json_int_t)sqlite3_column_int64(q, 6), "journal_id",
				      (json_int_t)sqlite3_column_int64(q, 0));

		if (o && sqlite3_column_text(q, 7))
			json_object_set_new(o, "reason", json_string((const char *)sqlite3_column_text(q, 7)));
		ev[n].journal_id = sqlite3_column_int64(q, 0);
		ev[n].name = event;
		ev[n].body = o ? json_dumps(o, JSON_COMPACT) : NULL; /* NULL: skipped, as when it cannot be made */
		json_decref(o);
		n++;
	}
	sqlite3_finalize(q);
	if (r < 0) {
		while (n--)
			free(ev[n].body);
		return r;
	}
	return n;
}

int dise_notify_pending(sqlite3 *db, const char *url, long timeout_ms)
{
	struct event ev[64];
	sqlite3_stmt *q;
	int64_t cursor = 0;
	int sent = 0, n, i, r;

	if (!url)
		return 0;
	if (sqlite3_prepare_v2(db, "SELECT journal_id FROM notify_cursor WHERE id = 1", -1, &q, NULL) != SQLITE_OK)
		return -EIO;
	if ((r = dise_sql_step(q)) > 0)
		cursor = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	if (r < 0)
		return r;
	n = collect(db, cursor, ev, (int)(sizeof(ev) / sizeof(ev[0])));
	if (n <= 0)
		return n;
	/* no statement open from here on: the POSTs may take timeout_ms each */
	for (i = 0; i < n; i++) {
		char why[256];

		if (!ev[i].body)
			continue;
		if (post(url, timeout_ms, ev[i].body, why, sizeof(why)) < 0)
			fprintf(stderr, "dise-collectord: webhook %s: event %s not delivered: %s\n", url, ev[i].name, why);
		else
			sent++;
		free(ev[i].body);
	}
	/* not retried (a dead endpoint must not replay the journal forever): the cursor moves past them all */
	if (sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO notify_cursor(id, journal_id) VALUES (1, ?1)", -1, &q, NULL) !=
	    SQLITE_OK)
		return -EIO;
	sqlite3_bind_int64(q, 1, ev[n - 1].journal_id);
	r = dise_sql_step(q);
	sqlite3_finalize(q);
	return r < 0 ? r : sent;
}
