/* SPDX-License-Identifier: MIT */
/*
 * Prometheus metrics (metrics.h). The families, all prefixed dise_:
 *
 *   runs_total{tool,outcome}              ended runs
 *   run_failures_total{tool,outcome}      of those, failures (outcome.h)
 *   crashes_total{signature,tool,signal}  crashes by signature (module + offset)
 *   heals_total{tool}                     versions the healer pruned
 *   routes_total{tool}                    routes to an ancestor it made
 *   heal_steps_total{step,result}         every step of the journal
 *   route_active{tool,version}            1 per route in effect
 *   versions{health}                      versions by health
 *   canary_weight_percent{tool,stable,canary}  the weight of each running canary rollout
 *   ring_{written,dropped,torn,corrupt}_total, ring_pending_records, ring_slots
 *   ingest_lag_seconds                    age of the oldest record waiting in the ring
 *   store_size_bytes                      the database and its WAL
 *
 * The text is rendered whole before anything is written, so a store that
 * fails half-way leaves the last good file in place.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "dise/ring.h"
#include "metrics.h"
#include "record-json.h"
#include "status.h"

struct family {
	const char *name, *type, *help;
	const char *labels[DISE_METRIC_LABELS_MAX];
};

static const struct family families[DISE_METRIC_MAX] = {
	[DISE_METRIC_RUNS] = { "dise_runs_total", "counter", "Runs that ended, by tool and outcome.", { "tool", "outcome" } },
	[DISE_METRIC_FAILURES] = { "dise_run_failures_total", "counter",
				   "Runs whose ending is a failure (a crash, or an exit status that is not external), by tool and outcome.",
				   { "tool", "outcome" } },
	[DISE_METRIC_CRASHES] = { "dise_crashes_total", "counter",
				  "Crashes by signature (the top frames as module + offset), tool and signal number.",
				  { "signature", "tool", "signal" } },
	[DISE_METRIC_HEALS] = { "dise_heals_total", "counter", "Versions the healer pruned, by tool.", { "tool" } },
	[DISE_METRIC_ROUTES] = { "dise_routes_total", "counter", "Routes to a healthy ancestor the healer made, by tool.",
				 { "tool" } },
	[DISE_METRIC_HEAL_STEPS] = { "dise_heal_steps_total", "counter", "Steps of the healing journal, by step and result.",
				     { "step", "result" } },
	[DISE_METRIC_ROUTED] = { "dise_route_active", "gauge", "1 for each tool routed to an ancestor version now.",
				 { "tool", "version" } },
	[DISE_METRIC_VERSIONS] = { "dise_versions", "gauge", "Versions by health.", { "health" } },
	[DISE_METRIC_CANARY] = { "dise_canary_weight_percent", "gauge",
				 "Percent of a tool's runs sent to the canary, per running rollout.",
				 { "tool", "stable", "canary" } },
};

void dise_metrics_escape(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), i = 0, k;

	while (i < n) {
		if (p[i] == '\\' || p[i] == '"') {
			fputc('\\', f);
			fputc(p[i++], f);
		} else if (p[i] == '\n') {
			fputs("\\n", f);
			i++;
		} else if (p[i] >= 0x20 && p[i] != 0x7f && (k = dise_utf8_len(p + i, n - i))) {
			fwrite(p + i, 1, k, f);
			i += k;
		} else { /* not UTF-8, or a control character: the parser would refuse the whole file */
			fputs("\xef\xbf\xbd", f);
			i++;
		}
	}
}

static void header(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

struct row_arg {
	FILE *f;
	const struct family *fam;
};

static int put_row(void *p, const char *const *labels, int n, int64_t value)
{
	struct row_arg *a = p;
	int i;

	fputs(a->fam->name, a->f);
	for (i = 0; i < n && a->fam->labels[i]; i++) {
		fprintf(a->f, "%s%s=\"", i ? "," : "{", a->fam->labels[i]);
		dise_metrics_escape(a->f, labels[i]);
		fputc('"', a->f);
	}
	fprintf(a->f, "%s %" PRId64 "\n", i ? "}" : "", value);
	return 0;
}

static void one_value(FILE *f, const char *name, const char *type, const char *help, double v)
{
	header(f, name, type, help);
	fprintf(f, "%s %.17g\n", name, v);
}

static uint64_t mono_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The ring's counters, and how long its oldest waiting record has waited (stamps are the producers': untrusted). */
static void ring_metrics(FILE *f, const char *ring_path)
{
	dise_ring_reader *rd;
	struct dise_ring_stats s;
	void *buf;
	size_t len;
	uint64_t id, lag = 0;
	int r;

	if (!ring_path || (r = dise_ring_reader_new(ring_path, DISE_READER_PEEK, 0, &rd)) < 0) {
		fprintf(f, "# no ring to read the counters of: %s\n", ring_path ? strerror(-r) : "none");
		return;
	}
	dise_ring_reader_stats(rd, &s);
	if ((buf = malloc(DISE_RECORD_MAX))) {
		do
			r = dise_ring_read(rd, buf, DISE_RECORD_MAX, &len, &id);
		while (r == -EBADMSG);
		if (r == 1 && len >= sizeof(struct dise_rec_hdr)) {
			uint64_t now = mono_now_ns(), at;

			memcpy(&at, (const char *)buf + offsetof(struct dise_rec_hdr, mono_ns), sizeof(at));
			lag = at < now ? now - at : 0;
		}
		free(buf);
	}
	dise_ring_reader_free(rd);
	one_value(f, "dise_ring_written_total", "counter", "Records producers committed to the ring.", (double)s.written);
	one_value(f, "dise_ring_dropped_total", "counter", "Records dropped because the ring was full or they were too big.",
	      (double)s.dropped);
	one_value(f, "dise_ring_torn_total", "counter", "Reservations never committed (a producer died mid-record).",
	      (double)s.torn);
	one_value(f, "dise_ring_corrupt_total", "counter", "Malformed records the consumer skipped.", (double)s.corrupt);
	one_value(f, "dise_ring_pending_records", "gauge", "Slots written and not yet stored.", (double)s.pending);
	one_value(f, "dise_ring_slots", "gauge", "Slots of the ring.", (double)s.nslots);
	one_value(f, "dise_ingest_lag_seconds", "gauge", "How long the oldest record waiting in the ring has waited (0: none waits).",
	      (double)lag / 1e9);
}

static double file_size(const char *path, const char *suffix)
{
	char p[4300];
	struct stat s;

	if (snprintf(p, sizeof(p), "%s%s", path, suffix) >= (int)sizeof(p) || stat(p, &s) < 0)
		return 0;
	return (double)s.st_size;
}

int dise_metrics_render(dise_store *st, const char *db_path, const char *ring_path, char **ret, size_t *ret_len)
{
	FILE *f = open_memstream(ret, ret_len);
	int m, r = 0;

	if (!f)
		return -errno;
	for (m = 0; m < DISE_METRIC_MAX && r == 0; m++) {
		struct row_arg a = { f, &families[m] };

		header(f, families[m].name, families[m].type, families[m].help);
		r = dise_store_metric(st, (enum dise_metric)m, put_row, &a);
	}
	if (r == 0) {
		ring_metrics(f, ring_path);
		one_value(f, "dise_store_size_bytes", "gauge", "Bytes of the database and its write-ahead log.",
		      file_size(db_path, "") + file_size(db_path, "-wal"));
	}
	if (fclose(f) != 0 && r == 0)
		r = -ENOMEM;
	if (r < 0) {
		free(*ret);
		*ret = NULL;
	}
	return r;
}

struct dise_metrics_writer {
	char *db, *ring, *out;
	unsigned interval_ms;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int stop;
	int last_error; /* said once until it changes */
	dise_store *st;
};

/* One write: a store that cannot be read now (no schema yet, busy) keeps the last file. */
static void write_once(struct dise_metrics_writer *w)
{
	char *text = NULL;
	size_t len = 0;
	int r;

	if (!w->st && dise_store_open(w->db, 1, &w->st) < 0)
		return;
	r = dise_metrics_render(w->st, w->db, w->ring, &text, &len);
	if (r == 0)
		r = dise_file_replace(w->out, text, len, 0644);
	if (r < 0 && r != w->last_error)
		fprintf(stderr, "dise-collectord: cannot %s the metrics%s%s: %s\n", text ? "write" : "read",
			text ? " to " : "", text ? w->out : "", strerror(-r));
	w->last_error = r;
	free(text);
}

static void *writer_main(void *p)
{
	struct dise_metrics_writer *w = p;
	int stop;

	do {
		struct timespec until;

		write_once(w);
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += w->interval_ms / 1000;
		until.tv_nsec += (long)(w->interval_ms % 1000) * 1000000;
		if (until.tv_nsec >= 1000000000) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
		pthread_mutex_lock(&w->lock);
		while (!w->stop && pthread_cond_timedwait(&w->cond, &w->lock, &until) != ETIMEDOUT)
			;
		stop = w->stop;
		pthread_mutex_unlock(&w->lock);
	} while (!stop);
	write_once(w); /* what the collector stored last */
	return NULL;
}

static void writer_free(struct dise_metrics_writer *w)
{
	dise_store_free(w->st);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	free(w->db);
	free(w->ring);
	free(w->out);
	free(w);
}

int dise_metrics_writer_start(const char *db_path, const char *ring_path, const char *out, unsigned interval_ms,
			      dise_metrics_writer **ret)
{
	struct dise_metrics_writer *w = calloc(1, sizeof(*w));
	pthread_condattr_t ca;
	int r;

	if (!w)
		return -ENOMEM;
	pthread_mutex_init(&w->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cond, &ca);
	pthread_condattr_destroy(&ca);
	w->db = strdup(db_path);
	w->ring = strdup(ring_path);
	w->out = strdup(out);
	w->interval_ms = interval_ms ? interval_ms : 1;
	if (!w->db || !w->ring || !w->out) {
		writer_free(w);
		return -ENOMEM;
	}
	r = -pthread_create(&w->thread, NULL, writer_main, w);
	if (r < 0) {
		writer_free(w);
		return r;
	}
	*ret = w;
	return 0;
}

void dise_metrics_writer_stop(dise_metrics_writer *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = 1;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	writer_free(w);
}
