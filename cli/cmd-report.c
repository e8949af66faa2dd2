/* SPDX-License-Identifier: MIT */
/*
 * `dise report --html FILE`: the whole story in one self-contained page
 * (inline CSS, no script, nothing fetched): health at a glance and the
 * routes in effect, each tool's lineage drawn (Graphviz `dot -Tsvg` inlined
 * when dot is installed, else the text tree), crashes with their top
 * frames, rules, the journal as a timeline, regeneration proposals and
 * canary rollouts when there are any. Every row comes from the store's
 * reports (collector/store-report.c) and the same helpers the other
 * commands print with; every string from the store is untrusted (tool
 * paths, argv, symbol names) and HTML-escaped, or DOT-escaped before dot
 * escapes it again for its SVG. The page is written atomically (mode 0644).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "record-json.h"
#include "store.h"
#include "symbols.h"

#define JOURNAL_ROWS 500

static const char style[] =
	"body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222;max-width:1400px}"
	"h1{margin-bottom:0}h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:2em}"
	"table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left;"
	"vertical-align:top}th{background:#f3f3f3}code,pre{font-family:monospace;font-size:13px}"
	"pre{background:#f7f7f7;padding:.6em;overflow:auto}.chip{display:inline-block;padding:.4em .9em;margin:.2em;"
	"border-radius:1em;font-weight:bold}.healthy{background:palegreen}.degraded{background:khaki}"
	".pruned{background:lightpink}.failing{background:orange}.failed{background:tomato}.none{color:#777}"
	".lineage svg{max-width:100%;height:auto}ol.timeline{list-style:none;padding-left:0;border-left:3px solid #bbb}"
	"ol.timeline li{margin:0 0 .4em 0;padding-left:1em}ol.timeline .ok{color:#1a7f37}"
	"ol.timeline .bad{color:#c62828;font-weight:bold}.muted{color:#777}";

/* s as HTML text or attribute value: & < > " ' escaped, control bytes and bytes that are not UTF-8 as U+FFFD. */
static void esc(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	size_t n = strlen((const char *)p), i = 0, k;

	while (i < n) {
		switch (p[i]) {
		case '&': fputs("&amp;", f); i++; continue;
		case '<': fputs("&lt;", f); i++; continue;
		case '>': fputs("&gt;", f); i++; continue;
		case '"': fputs("&quot;", f); i++; continue;
		case '\'': fputs("&#39;", f); i++; continue;
		case '\n':
		case '\t': fputc(p[i++], f); continue;
		}
		if (p[i] >= 0x20 && p[i] != 0x7f && (k = dise_utf8_len(p + i, n - i))) {
			fwrite(p + i, 1, k, f);
			i += k;
		} else {
			fputs("\xef\xbf\xbd", f);
			i++;
		}
	}
}

static void wall_time(FILE *f, int64_t wall_ns)
{
	time_t t = (time_t)(wall_ns / 1000000000);
	struct tm tm;
	char buf[64];

	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S UTC", &tm);
	fputs(buf, f);
}

/* One column of a table: a report's column name, and its heading. */
struct col {
	const char *key, *head;
};

static void cell(FILE *f, const char *key, json_t *v)
{
	size_t kl = strlen(key);

	if (json_is_string(v))
		esc(f, json_string_value(v));
	else if (json_is_integer(v) && kl > 7 && !strcmp(key + kl - 7, "wall_ns"))
		wall_time(f, json_integer_value(v));
	else if (json_is_integer(v))
		fprintf(f, "%lld", (long long)json_integer_value(v));
	else if (json_is_real(v))
		fprintf(f, "%.3g", json_real_value(v));
	else if (json_is_boolean(v))
		fputs(json_is_true(v) ? "yes" : "no", f);
}

/* rows as a table of cols (ended by a NULL key), or none when there are no rows. */
static void table(FILE *f, json_t *rows, const struct col *cols, const char *none)
{
	size_t i;
	const struct col *c;

	if (!json_array_size(rows)) {
		fprintf(f, "<p class=\"none\">%s</p>\n", none);
		return;
	}
	fputs("<table><tr>", f);
	for (c = cols; c->key; c++)
		fprintf(f, "<th>%s</th>", c->head);
	fputs("</tr>\n", f);
	for (i = 0; i < json_array_size(rows); i++) {
		fputs("<tr>", f);
		for (c = cols; c->key; c++) {
			fputs("<td>", f);
			cell(f, c->key, json_object_get(json_array_get(rows, i), c->key));
			fputs("</td>", f);
		}
		fputs("</tr>\n", f);
	}
	fputs("</table>\n", f);
}

/* A report of the store, or NULL after saying on stderr that it could not be read. */
static json_t *report(dise_store *st, enum dise_report what, const char *arg, int64_t limit, const char *name)
{
	json_t *rows = NULL;
	int r = dise_store_report(st, what, arg, limit, &rows);

	if (r < 0) {
		dise_cli_error(r, "reading the %s", name);
		return NULL;
	}
	return rows;
}

static int health_section(FILE *f, dise_store *st)
{
	static const struct col tools[] = { { "tool", "tool" },	    { "versions", "versions" }, { "health", "health" },
					    { "newest", "newest" }, { "route", "routed to" },	{ NULL, NULL } };
	static const struct col routes[] = { { "tool", "tool" },     { "path", "path" }, { "version", "version id" },
					     { "target", "runs" },   { "note", "note" }, { "error", "error" },
					     { NULL, NULL } };
	struct dise_health_counts hc = { 0 };
	json_t *by = report(st, DISE_REPORT_HEALTH_BY, NULL, 0, "versions by health"), *t, *p;
	size_t i;

	if (!by || dise_store_health_counts(st, &hc) < 0) {
		json_decref(by);
		return dise_cli_error(-EIO, "reading the health counts");
	}
	fputs("<h2 id=\"health\">Health at a glance</h2>\n<p>", f);
	for (i = 0; i < json_array_size(by); i++) {
		json_t *row = json_array_get(by, i);

		fputs("<span class=\"chip ", f);
		esc(f, dise_cli_str(row, "health"));
		fputs("\">", f);
		esc(f, dise_cli_str(row, "health"));
		fprintf(f, ": %lld</span>", (long long)dise_cli_num(row, "count"));
	}
	if (!json_array_size(by))
		fputs("<span class=\"none\">no versions recorded</span>", f);
	fprintf(f, "</p>\n<p>%lld runs recorded; heal requests: %lld routed, %lld queued, %lld with no ancestor, %lld frozen",
		(long long)hc.runs, (long long)hc.routed, (long long)hc.queued, (long long)hc.no_ancestor,
		(long long)hc.frozen);
	if (hc.routed)
		fprintf(f, "; %.1f ms on average from detection to route", (double)hc.mean_detection_to_route_ns / 1e6);
	fputs(".</p>\n", f);
	json_decref(by);
	if (!(t = report(st, DISE_REPORT_TOOLS, NULL, 0, "tools")))
		return 1;
	fputs("<h3>Tools</h3>\n", f);
	table(f, t, tools, "no tools recorded");
	json_decref(t);
	if (!(p = report(st, DISE_REPORT_ROUTE_PLACEMENTS, NULL, 0, "routes")))
		return 1;
	fputs("<h3>Routes in effect</h3>\n", f);
	table(f, p, routes, "no route: every tool runs the version deployed");
	json_decref(p);
	return 0;
}

/* `dot -Tsvg` of src: the <svg> element (what precedes it dropped), or NULL when dot is missing or fails. */
static char *dot_svg(const char *src, size_t len)
{
	FILE *in = tmpfile(), *out;
	char *buf = NULL, *svg, chunk[8192];
	size_t n = 0;
	ssize_t k;
	int pfd[2], status = 0;
	pid_t pid;

	if (!in || fwrite(src, 1, len, in) != len || fflush(in) != 0 || fseek(in, 0, SEEK_SET) != 0 ||
	    pipe2(pfd, O_CLOEXEC) < 0) {
		if (in)
			fclose(in);
		return NULL;
	}
	if ((pid = fork()) == 0) {
		int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

		if (dup2(fileno(in), 0) < 0 || dup2(pfd[1], 1) < 0 || (null >= 0 && dup2(null, 2) < 0))
			_exit(127);
		execlp("dot", "dot", "-Tsvg", (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	fclose(in);
	out = pid > 0 ? open_memstream(&buf, &n) : NULL;
	while (out && (k = read(pfd[0], chunk, sizeof(chunk))) != 0) {
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			break;
		fwrite(chunk, 1, (size_t)k, out);
	}
	close(pfd[0]);
	if (out)
		fclose(out);
	if (pid > 0)
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	if (pid <= 0 || !buf || !WIFEXITED(status) || WEXITSTATUS(status) != 0 || !(svg = strstr(buf, "<svg"))) {
		free(buf);
		return NULL;
	}
	memmove(buf, svg, strlen(svg) + 1);
	return buf;
}

/* The text tree when there is no drawing: each version, its health, runs, failures and parents. */
static void text_tree(FILE *f, json_t *rows)
{
	size_t i;

	fputs("<pre>", f);
	for (i = 0; i < json_array_size(rows); i++) {
		json_t *row = json_array_get(rows, i);
		const char *label = dise_cli_str(row, "label"), *parents = dise_cli_str(row, "parent_labels");

		esc(f, label ? label : "-");
		fprintf(f, "  id %lld  ", (long long)dise_cli_num(row, "id"));
		esc(f, dise_cli_str(row, "health"));
		fprintf(f, "  runs %lld, failures %lld", (long long)dise_cli_num(row, "runs"),
			(long long)dise_cli_num(row, "failures"));
		if (parents) {
			fputs(", parents ", f);
			esc(f, parents);
		}
		if (dise_cli_num(row, "route"))
			fputs("   &lt;- route", f);
		fputc('\n', f);
	}
	fputs("</pre>\n", f);
}

static int lineage_section(FILE *f, dise_store *st)
{
	json_t *tools = report(st, DISE_REPORT_TOOLS, NULL, 0, "tools");
	size_t i;
	int drawn = 0, plain = 0;

	if (!tools)
		return 1;
	fputs("<h2 id=\"lineage\">Lineage</h2>\n", f);
	for (i = 0; i < json_array_size(tools); i++) {
		const char *tool = dise_cli_str(json_array_get(tools, i), "tool");
		json_t *rows = report(st, DISE_REPORT_LINEAGE, tool, 0, "lineage");
		char *src = NULL, *svg = NULL;
		size_t len = 0;
		FILE *d;

		if (!rows) {
			json_decref(tools);
			return 1;
		}
		if ((d = open_memstream(&src, &len))) {
			dise_cli_lineage_dot(d, tool, rows);
			if (fclose(d) == 0)
				svg = dot_svg(src, len);
		}
		fputs("<h3>", f);
		esc(f, tool);
		fputs("</h3>\n<div class=\"lineage\">", f);
		if (svg) {
			fputs(svg, f);
			drawn++;
		} else {
			text_tree(f, rows);
			plain++;
		}
		fputs("</div>\n", f);
		free(svg);
		free(src);
		json_decref(rows);
	}
	if (!json_array_size(tools))
		fputs("<p class=\"none\">no tools recorded</p>\n", f);
	if (plain && !drawn)
		fputs("<p class=\"muted\">Graphviz's dot is not installed (or failed): the lineage as text.</p>\n", f);
	json_decref(tools);
	return 0;
}

static void frame(FILE *f, json_t *fr)
{
	const char *fn = dise_cli_str(fr, "function"), *mod = dise_cli_str(fr, "module");
	json_t *src = json_object_get(fr, "source");
	size_t i;

	fputs("<li><code>", f);
	esc(f, fn ? fn : "??");
	if (fn)
		fprintf(f, "+0x%llx", (unsigned long long)dise_cli_num(fr, "function_offset"));
	if (mod) {
		fputs(" (", f);
		esc(f, mod);
		fprintf(f, "+0x%llx)", (unsigned long long)dise_cli_num(fr, "offset"));
	}
	for (i = 0; i < json_array_size(src); i++) {
		json_t *o = json_array_get(src, i);
		const char *file = dise_cli_str(o, "file"), *sfn = dise_cli_str(o, "function");

		fputs("<br>&nbsp;&nbsp;", f);
		esc(f, file ? file : "??");
		fprintf(f, ":%lld in ", (long long)dise_cli_num(o, "line"));
		esc(f, sfn && sfn[0] ? sfn : "??");
		if (json_is_true(json_object_get(o, "inlined")))
			fputs(" (inlined)", f);
	}
	fputs("</code></li>\n", f);
}

static int crashes_section(FILE *f, dise_store *st)
{
	json_t *rows = report(st, DISE_REPORT_CRASHES, NULL, 0, "crashes");
	dise_symbols *sy;
	size_t i, k;

	if (!rows)
		return 1;
	fputs("<h2 id=\"crashes\">Crashes</h2>\n", f);
	if (!json_array_size(rows))
		fputs("<p class=\"none\">no crashes recorded</p>\n", f);
	sy = dise_symbols_new();
	for (i = 0; i < json_array_size(rows); i++) {
		json_t *row = json_array_get(rows, i), *top = dise_cli_top_frames(sy, dise_cli_str(row, "frames"));
		const char *strikes = dise_cli_str(row, "strikes_by_version"), *condemned = dise_cli_str(row, "condemned");

		fputs("<h3><code>", f);
		esc(f, dise_cli_str(row, "signature"));
		fputs("</code></h3>\n<p>", f);
		esc(f, dise_signal_name((int)dise_cli_num(row, "signal")));
		fprintf(f, " &times;%lld in ", (long long)dise_cli_num(row, "count"));
		esc(f, dise_cli_str(row, "tools"));
		fputs("; first ", f);
		wall_time(f, dise_cli_num(row, "first_seen_wall_ns"));
		fputs(", last ", f);
		wall_time(f, dise_cli_num(row, "last_seen_wall_ns"));
		if (strikes) {
			fputs("<br>strikes: ", f);
			esc(f, strikes);
		}
		if (condemned) {
			fputs("<br>condemned: ", f);
			esc(f, condemned);
		}
		fputs("</p>\n<ol start=\"0\">\n", f);
		for (k = 0; k < json_array_size(top); k++)
			frame(f, json_array_get(top, k));
		fputs("</ol>\n", f);
		json_decref(top);
	}
	dise_symbols_free(sy);
	json_decref(rows);
	return 0;
}

static int rules_section(FILE *f, dise_store *st)
{
	static const struct col cols[] = { { "id", "id" },
					   { "tool", "tool" },
					   { "source_version", "learned from" },
					   { "scope", "scope" },
					   { "description", "description" },
					   { "covers", "versions covered" },
					   { "replay_passed", "replays passed" },
					   { "refused_versions", "refused" },
					   { NULL, NULL } };
	json_t *rows = report(st, DISE_REPORT_RULES, NULL, 0, "rules");

	if (!rows)
		return 1;
	fputs("<h2 id=\"rules\">Rules</h2>\n", f);
	table(f, rows, cols, "no rules learned");
	json_decref(rows);
	return 0;
}

static int journal_section(FILE *f, dise_store *st)
{
	json_t *rows = report(st, DISE_REPORT_JOURNAL, NULL, JOURNAL_ROWS, "journal");
	size_t i;

	if (!rows)
		return 1;
	fprintf(f, "<h2 id=\"journal\">Journal</h2>\n<p class=\"muted\">Every step healing took (the newest %d), oldest first.</p>\n",
		JOURNAL_ROWS);
	if (!json_array_size(rows))
		fputs("<p class=\"none\">no healing step taken</p>\n", f);
	else
		fputs("<ol class=\"timeline\">\n", f);
	for (i = 0; i < json_array_size(rows); i++) {
		json_t *row = json_array_get(rows, i);
		const char *result = dise_cli_str(row, "result"), *label = dise_cli_str(row, "label");
		int ok = result && (!strcmp(result, "ok") || !strcmp(result, "skipped"));

		fputs("<li><span class=\"muted\">", f);
		wall_time(f, dise_cli_num(row, "wall_ns"));
		fputs("</span> ", f);
		esc(f, dise_cli_str(row, "tool"));
		if (label) {
			fputc(' ', f);
			esc(f, label);
		}
		fputs(" <b>", f);
		esc(f, dise_cli_str(row, "step"));
		fprintf(f, "</b> <span class=\"%s\">", ok ? "ok" : "bad");
		esc(f, result);
		fputs("</span> ", f);
		esc(f, dise_cli_str(row, "detail"));
		fputs("</li>\n", f);
	}
	if (json_array_size(rows))
		fputs("</ol>\n", f);
	json_decref(rows);
	return 0;
}

/* Proposals and canaries: sections only when there are any. */
static int forward_sections(FILE *f, dise_store *st, const char *home)
{
	static const struct col muts[] = { { "id", "mutation" }, { "tool", "tool" },	   { "strategy", "strategy" },
					   { "verdict", "verdict" }, { "pruned", "pruned" },   { "ancestor", "ancestor" },
					   { "version", "version" }, { "fitness", "fitness" }, { "reason", "reason" },
					   { NULL, NULL } };
	static const struct col cans[] = { { "tool", "tool" },	 { "stable", "stable" }, { "canary", "canary" },
					   { "state", "state" }, { "step", "step" },	 { "weight", "weight %" },
					   { "verdict", "verdict" }, { NULL, NULL } };
	json_t *rows = report(st, DISE_REPORT_MUTATIONS, NULL, 0, "regeneration attempts");
	int r;

	if (!rows)
		return 1;
	if (json_array_size(rows)) {
		fputs("<h2 id=\"proposals\">Regeneration and proposals</h2>\n", f);
		table(f, rows, muts, "");
	}
	json_decref(rows);
	if ((r = dise_cli_canaries_json(st, home, 1, &rows)) != 0)
		return r;
	if (json_array_size(rows)) {
		fputs("<h2 id=\"canaries\">Canary rollouts</h2>\n", f);
		table(f, rows, cans, "");
	}
	json_decref(rows);
	return 0;
}

static int render(FILE *f, dise_store *st, const char *home)
{
	struct timespec now;
	int r;

	clock_gettime(CLOCK_REALTIME, &now);
	fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>dise report</title>\n"
		   "<style>%s</style></head>\n<body>\n<h1>dise report</h1>\n<p class=\"muted\">",
		style);
	esc(f, home);
	fputs(", ", f);
	wall_time(f, (int64_t)now.tv_sec * 1000000000);
	fputs("</p>\n", f);
	if ((r = health_section(f, st)) || (r = lineage_section(f, st)) || (r = crashes_section(f, st)) ||
	    (r = rules_section(f, st)) || (r = journal_section(f, st)) || (r = forward_sections(f, st, home)))
		return r;
	fputs("</body></html>\n", f);
	return 0;
}

int dise_cli_report(int argc, char **argv, const struct dise_cli_cmd *cmd)
{
	enum { OPT_HTML = DISE_CLI_OPT_FIRST };
	static const struct option opts[] = { { "html", required_argument, NULL, OPT_HTML }, DISE_CLI_OPT_END };
	const char *out = NULL;
	char home[4096], *page = NULL;
	size_t len = 0;
	dise_store *st;
	FILE *f;
	int c, r;

	while ((c = dise_cli_getopt(argc, argv, opts, DISE_CLI_PERMUTE, cmd)) != -1)
		if (c == OPT_HTML)
			out = optarg;
	dise_cli_operands(argc, argv, 0, 0, cmd);
	if (!out)
		dise_cli_usage_error(cmd, "--html FILE is required (HTML is the only format)");
	if ((r = dise_cli_open_store(1, &st, home, sizeof(home))))
		return r;
	if (!(f = open_memstream(&page, &len))) {
		dise_store_free(st);
		return dise_cli_error(-errno, "the report");
	}
	r = render(f, st, home);
	dise_store_free(st);
	if (fclose(f) != 0 && !r)
		r = dise_cli_error(-ENOMEM, "the report");
	if (!r && (r = dise_cli_replace(out, page, len, 0644, (unsigned)geteuid(), (unsigned)getegid())) < 0)
		r = dise_cli_error(r, "cannot write '%s'", out);
	else if (!r)
		dise_cli_print(stdout, "%s\n", out);
	free(page);
	return r;
}
