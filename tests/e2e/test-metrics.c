/* SPDX-License-Identifier: MIT */
/*
 * Prometheus metrics (collector/metrics.c): `dise metrics` counts runs,
 * failures and crashes of a tool whose path holds a quote, a backslash, a
 * newline and a byte that is not UTF-8, escaped as the text format wants;
 * the ring's pending records and the ingest lag go to 0 once stored; the
 * collector's file is replaced atomically and the real node-exporter
 * (prometheus-node-exporter, scripts/deps.sh) serves it from its textfile
 * directory on 127.0.0.1, parsed without a scrape error.
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <dirent.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "harness.h"

#define NODE_EXPORTER "/usr/bin/prometheus-node-exporter"
/* A directory and a file name only a hostile user would choose: ", \, a newline, and \xff. */
#define HOSTILE_DIR "we\"ird\\dir"
#define HOSTILE_NAME "cra\nsh\xff"
/* How they read in a label value: \xff (not UTF-8) as U+FFFD. */
#define HOSTILE_ESCAPED "we\\\"ird\\\\dir/cra\\nsh\xef\xbf\xbd\""

/* f->dir/HOSTILE_DIR/HOSTILE_NAME: a copy of the crasher (free it). */
static char *hostile_crasher(struct fixture *f)
{
	char *dir, *path;

	assert_true(asprintf(&dir, "%s/" HOSTILE_DIR, f->dir) > 0);
	assert_int_equal(mkdir(dir, 0755), 0);
	assert_true(asprintf(&path, "%s/" HOSTILE_NAME, dir) > 0);
	{
		FILE *in = fopen(prog_path("crasher"), "rb"), *out = fopen(path, "wb");
		char buf[65536];
		size_t n;

		assert_non_null(in);
		assert_non_null(out);
		while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
			assert_int_equal(fwrite(buf, 1, n, out), n);
		fclose(in);
		assert_int_equal(fclose(out), 0);
	}
	assert_int_equal(chmod(path, 0755), 0);
	free(dir);
	return path;
}

/* Runs argv under the shim with f's ring. */
static void watched(struct fixture *f, char *const argv[], struct run_result *r)
{
	char *pre;
	const char *env[] = { NULL, f->env_ring, NULL };

	assert_true(asprintf(&pre, "LD_PRELOAD=%s", shim_path()) > 0);
	env[0] = pre;
	assert_int_equal(run_cmd(argv, env, NULL, r), 0);
	free(pre);
}

static void crash_twice(struct fixture *f, const char *path)
{
	int i;

	for (i = 0; i < 2; i++) {
		char *argv[] = { (char *)path, "segv", NULL };
		struct run_result r;

		watched(f, argv, &r);
		assert_true(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGSEGV);
		run_result_free(&r);
	}
}

/* `dise metrics`, asserted to succeed: its output (free it). */
static char *dise_metrics(struct fixture *f)
{
	char *argv[] = { (char *)bin_path("dise"), "metrics", NULL }, *out;
	struct run_result r;

	dise_cmd(f, argv, &r);
	if (!WIFEXITED(r.status) || WEXITSTATUS(r.status) != 0)
		fail_msg("dise metrics: status %d, stderr '%s'", r.status, r.err);
	out = strdup(r.out);
	run_result_free(&r);
	return out;
}

/* The value of the sample whose line starts with head (name and labels), -1 when none. */
static double sample(const char *text, const char *head)
{
	const char *p = text;
	size_t n = strlen(head);

	while (p && *p) {
		if (!strncmp(p, head, n) && p[n] == ' ')
			return strtod(p + n + 1, NULL);
		p = strchr(p, '\n');
		p = p ? p + 1 : NULL;
	}
	return -1;
}

/*
 * Every line is a comment or a sample `name{label="value",...} number`:
 * each value's quote, backslash and newline escaped, so no line breaks in a value.
 */
static void assert_exposition(const char *text)
{
	const char *line = text;

	while (*line) {
		const char *end = strchr(line, '\n'), *p = line;

		assert_non_null(end);
		if (*p != '#') {
			while (p < end && *p != '{' && *p != ' ')
				p++;
			if (*p == '{') {
				p++;
				while (*p != '}') {
					while (*p != '=')
						assert_true(*p++ != '\n');
					assert_int_equal(p[1], '"');
					for (p += 2; *p != '"'; p++) {
						assert_true(p < end);
						if (*p == '\\') {
							p++;
							assert_true(*p == '\\' || *p == '"' || *p == 'n');
						}
					}
					p++;
					if (*p == ',')
						p++;
				}
				p++;
			}
			assert_int_equal(*p, ' ');
			assert_true(p + 1 < end);
		}
		line = end + 1;
	}
}

/*
 * A running canary rollout of the hostile tool (its version the stable, a canary
 * the store no longer has: labelled by id) at 25%, and an aborted one: only the
 * running rollout has a weight, its tool escaped like every label.
 */
static void assert_canary_weight(struct fixture *f)
{
	char *db, sql[512], head[512], *text;
	sqlite3 *h;
	int64_t v = db_count(f, "SELECT max(id) FROM versions");

	assert_true(asprintf(&db, "%s/dise.db", f->home) > 0);
	h = db_open(db);
	snprintf(sql, sizeof(sql),
		 "INSERT INTO canaries(tool, stable_id, canary_id, step, weight, state, started_wall_ns, step_wall_ns) "
		 "SELECT tool, id, 9999, 1, 25, 'running', 1, 1 FROM versions WHERE id = %lld;"
		 "INSERT INTO canaries(tool, stable_id, canary_id, weight, state, started_wall_ns, step_wall_ns) "
		 "VALUES ('aborted-tool', %lld, 9998, 0, 'aborted', 1, 1);",
		 (long long)v, (long long)v);
	assert_int_equal(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
	free(db);
	text = dise_metrics(f);
	assert_exposition(text);
	snprintf(head, sizeof(head), "dise_canary_weight_percent{tool=\"%s/%s,stable=\"v1\",canary=\"v9999\"}", f->dir,
		 HOSTILE_ESCAPED);
	if (sample(text, head) != 25)
		fail_msg("no '%s 25' in:\n%s", head, text);
	assert_null(strstr(text, "aborted-tool"));
	free(text);
}

/* Runs, failures and crashes by a hostile tool name; the ring's backlog and lag, then none once stored. */
static void test_metrics_hostile_tool(void **state)
{
	struct fixture *f = *state;
	char *path = hostile_crasher(f), *text, head[512];
	struct run_result r;

	collect_once(f, &r); /* the database */
	run_result_free(&r);
	crash_twice(f, path);
	text = dise_metrics(f);
	assert_exposition(text);
	assert_true(sample(text, "dise_ring_pending_records") >= 2);
	assert_true(sample(text, "dise_ingest_lag_seconds") > 0);
	free(text);

	collect_once(f, &r);
	run_result_free(&r);
	text = dise_metrics(f);
	assert_exposition(text);
	assert_true(sample(text, "dise_ring_pending_records") == 0);
	assert_true(sample(text, "dise_ingest_lag_seconds") == 0);
	assert_true(sample(text, "dise_ring_written_total") >= 4);
	assert_true(sample(text, "dise_ring_dropped_total") == 0);
	assert_true(sample(text, "dise_store_size_bytes") > 0);
	snprintf(head, sizeof(head), "dise_runs_total{tool=\"%s/%s,outcome=\"crash\"}", f->dir, HOSTILE_ESCAPED);
	if (sample(text, head) != 2)
		fail_msg("no '%s 2' in:\n%s", head, text);
	snprintf(head, sizeof(head), "dise_run_failures_total{tool=\"%s/%s,outcome=\"crash\"}", f->dir, HOSTILE_ESCAPED);
	assert_true(sample(text, head) == 2);
	{
		const char *c = strstr(text, "\ndise_crashes_total{signature=\"");

		assert_non_null(c);
		snprintf(head, sizeof(head), "\",tool=\"%s/%s,signal=\"11\"} 2\n", f->dir, HOSTILE_ESCAPED);
		assert_non_null(strstr(c, head));
	}
	free(text);
	assert_canary_weight(f);
	free(path);
}

/* A free TCP port of 127.0.0.1 (the kernel's choice; node-exporter then binds it). */
static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t n = sizeof(a);
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port;

	assert_true(s >= 0);
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&a, &n), 0);
	port = ntohs(a.sin_port);
	close(s);
	return port;
}

struct body {
	char *p;
	size_t n;
};

static size_t on_body(char *d, size_t size, size_t nmemb, void *arg)
{
	struct body *b = arg;
	char *g = realloc(b->p, b->n + size * nmemb + 1);

	if (!g)
		return 0;
	memcpy(g + b->n, d, size * nmemb);
	b->n += size * nmemb;
	g[b->n] = '\0';
	b->p = g;
	return size * nmemb;
}

/* GET url into *body (NULL on failure): 1 when it answered 200. */
static int scrape(const char *url, char **ret)
{
	struct body b = { NULL, 0 };
	CURL *c = curl_easy_init();
	long code = 0;
	int ok;

	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	ok = curl_easy_perform(c) == CURLE_OK && curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK &&
	     code == 200 && b.p;
	curl_easy_cleanup(c);
	free(*ret);
	*ret = ok ? b.p : NULL;
	if (!ok)
		free(b.p);
	return ok;
}

static int file_has_crashes(const char *path, const char *needle)
{
	char *t = slurp(path);
	int ok = t && strstr(t, needle);

	free(t);
	return ok;
}

/* Only dise.prom in dir: no temporary file left behind by the atomic replace. */
static void assert_only_prom(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	assert_non_null(d);
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && strcmp(e->d_name, "dise.prom"))
			fail_msg("left in the textfile directory: '%s'", e->d_name);
	closedir(d);
}

/* The collector writes the file; the real node-exporter serves it, parsed (no textfile scrape error). */
static void test_metrics_node_exporter(void **state)
{
	struct fixture *f = *state;
	char *path, *textdir, *prom, *arg, *url, *body = NULL, want[512], listen[64];
	struct stat s1, s2;
	const char *env[] = { NULL, NULL };
	pid_t ne;
	int port;

	if (access(NODE_EXPORTER, X_OK) != 0) {
		print_message("SKIP: %s is not installed (scripts/deps.sh installs prometheus-node-exporter)\n",
			      NODE_EXPORTER);
		skip();
	}
	path = hostile_crasher(f);
	assert_true(asprintf(&textdir, "%s/textfile", f->dir) > 0);
	assert_int_equal(mkdir(textdir, 0755), 0);
	assert_true(asprintf(&prom, "%s/dise.prom", textdir) > 0);
	assert_true(asprintf(&arg, "DISE_METRICS_FILE=%s", prom) > 0);
	env[0] = arg;
	collector_start(f, "--metrics-interval=1", env, NULL);
	crash_twice(f, path);
	snprintf(want, sizeof(want), "\",tool=\"%s/%s,signal=\"11\"} 2\n", f->dir, HOSTILE_ESCAPED);
	assert_true(wait_for(file_has_crashes(prom, want), WAIT_MS));
	assert_int_equal(stat(prom, &s1), 0);
	assert_true(s1.st_mode & S_IROTH); /* node-exporter runs as its own user */
	/* replaced, not rewritten in place: a reader never sees half a file */
	assert_true(wait_for(stat(prom, &s2) == 0 && s2.st_ino != s1.st_ino, WAIT_MS));

	port = free_port();
	snprintf(listen, sizeof(listen), "--web.listen-address=127.0.0.1:%d", port);
	ne = fork();
	assert_true(ne >= 0);
	if (ne == 0) {
		char *ta;

		if (asprintf(&ta, "--collector.textfile.directory=%s", textdir) < 0)
			_exit(127);
		execl(NODE_EXPORTER, NODE_EXPORTER, listen, "--collector.disable-defaults", "--collector.textfile", ta,
		      "--log.level=warn", (char *)NULL);
		_exit(127);
	}
	track_child(ne);
	assert_true(asprintf(&url, "http://127.0.0.1:%d/metrics", port) > 0);
	assert_true(wait_for(scrape(url, &body) || waitpid(ne, NULL, WNOHANG) == ne, WAIT_MS));
	assert_non_null(body); /* else node-exporter ended (the port taken?) */
	/* node-exporter orders labels by name and escapes as dise did */
	snprintf(want, sizeof(want), "dise_runs_total{outcome=\"crash\",tool=\"%s/%s} 2\n", f->dir, HOSTILE_ESCAPED);
	if (!strstr(body, want))
		fail_msg("node-exporter does not serve '%s':\n%s", want, body);
	snprintf(want, sizeof(want), "\",tool=\"%s/%s} 2\n", f->dir, HOSTILE_ESCAPED);
	assert_non_null(strstr(body, "dise_crashes_total{signal=\"11\",signature=\""));
	assert_non_null(strstr(strstr(body, "dise_crashes_total{signal=\"11\",signature=\""), want));
	assert_non_null(strstr(body, "\nnode_textfile_scrape_error 0\n"));
	assert_non_null(strstr(body, "\ndise_ring_written_total "));
	kill(ne, SIGTERM);
	waitpid(ne, NULL, 0);
	collector_stop(f);
	assert_only_prom(textdir);
	free(body);
	free(url);
	free(arg);
	free(prom);
	free(textdir);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_metrics_hostile_tool, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_metrics_node_exporter, fixture_setup, fixture_teardown),
	};

	curl_global_init(CURL_GLOBAL_DEFAULT);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
