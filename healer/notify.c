/* SPDX-License-Identifier: MIT */
/*
 * Webhook notifications: one JSON POST per healing event, read from the
 * journal after the healing committed, so a slow or dead endpoint never holds
 * healing up. The journal row last sent is kept (notify_cursor): an event
 * committed just before the collector stopped is sent when it starts again.
 * A failed POST is said on stderr in one line and not retried.
 *
 *   {"event": "routed" | "no_ancestor" | "frozen" | "refused" | "matched" | "failing" | "not_published" (a route
 *    that could not be put in effect) | "restore_failed" | "canary_start" | "canary_step" | "canary_promote" |
 *    "canary_abort" (a canary rollout: collector/canary.c) | "proposed" (a regenerated candidate waiting for
 *    `dise approve`: modes suggest, ask, confidence below its threshold) | "regenerated" (one routed at once),
 *    "tool": "app",
 *    "version": 12, "detail": "app -> v11 (...)", "reason": "three_strikes: ...",
 *    "wall_ns": ..., "journal_id": ...}
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
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

int dise_notify_pending(dise_store *st, const char *url, long timeout_ms)
{
	struct dise_event ev[64];
	int64_t cursor = 0;
	int sent = 0, n, i, r;

	if (!url)
		return 0;
	if ((r = dise_store_notify_cursor(st, &cursor)) < 0)
		return r;
	/*
	 * Read whole, the statement reset, before anything is sent: no read
	 * snapshot is held (the WAL cannot be checkpointed past one) while a
	 * webhook takes its time. Busy: nothing sent, the cursor stays.
	 */
	n = dise_store_notify_events(st, cursor, ev, (int)(sizeof(ev) / sizeof(ev[0])));
	if (n <= 0)
		return n;
	for (i = 0; i < n; i++) {
		const char *event = !strcmp(ev[i].step, "route_publish") ? "not_published"
				    : !strcmp(ev[i].step, "restore")	    ? "restore_failed"
				    : !strcmp(ev[i].step, "freeze")	    ? "frozen"
				    : !strcmp(ev[i].step, "rule_refused")   ? "refused"
				    : !strcmp(ev[i].step, "rule_matched")   ? "matched"
				    : !strcmp(ev[i].step, "failing")	    ? "failing"
				    : !strncmp(ev[i].step, "canary_", 7)    ? ev[i].step /* canary_start|step|promote|abort */
				    : !strcmp(ev[i].step, "regenerate")     ? (!strcmp(ev[i].result, "proposed") ? "proposed"
													   : "regenerated")
				    : !strcmp(ev[i].result, "no_ancestor") ? "no_ancestor"
									    : "routed";
		json_t *o = json_pack("{s:s,s:s,s:I,s:s,s:I,s:I}", "event", event, "tool", ev[i].tool ? ev[i].tool : "",
				      "version", (json_int_t)ev[i].version, "detail", ev[i].detail ? ev[i].detail : "",
				      "wall_ns", (json_int_t)ev[i].wall_ns, "journal_id", (json_int_t)ev[i].journal_id);
		char *body, why[256];

		if (o && ev[i].reason)
			json_object_set_new(o, "reason", json_string(ev[i].reason));
		body = o ? json_dumps(o, JSON_COMPACT) : NULL;
		json_decref(o);
		if (!body)
			continue;
		if (post(url, timeout_ms, body, why, sizeof(why)) < 0)
			fprintf(stderr, "dise-collectord: webhook %s: event %s not delivered: %s\n", url, event, why);
		else
			sent++;
		free(body);
	}
	cursor = ev[n - 1].journal_id;
	dise_events_free(ev, n);
	/* not retried (a dead endpoint must not replay the journal forever): the cursor moves past them all */
	r = dise_store_notify_cursor_set(st, cursor);
	return r < 0 ? r : sent;
}
