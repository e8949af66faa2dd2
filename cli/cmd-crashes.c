/* SPDX-License-Identifier: MIT */
/*
 * `dise crashes [--json]`: crashes grouped by signature (the top frames as
 * module + offset: stable across ASLR and hosts), with counts, first and
 * last seen, the tools they hit, and the symbolized top frames of the
 * latest one: with the source file:line and the inlined functions of each
 * where debug information is found (symbols.h), looked up now.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "home.h"
#include "record-json.h"
#include "store.h"
#include "symbols.h"

#define TOP_FRAMES 6

static void print_time(const char *label, int64_t wall_ns)
{
	time_t t = (time_t)(wall_ns / 1000000000);
	struct tm tm;
	char buf[64];

	localtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
	dise_cli_print(stdout, "%s%s", label, buf);
}

static int hex_bytes(const char *hex, uint8_t *out, size_t size)
{
	size_t n = 0;
	unsigned v;

	while (hex && hex[0] && hex[1] && n < size && sscanf(hex, "%2x", &v) == 1) {
		out[n++] = (uint8_t)v;
		hex += 2;
	}
	return hex && !hex[0] ? (int)n : 0;
}

/*
 * Frame k's place in the source, as a JSON array (innermost first; NULL
 * when nothing is known): only for a frame whose offset is an address of
 * the file that ran (its build id recorded), so that a file rebuilt since
 * says nothing rather than something wrong.
 */
static json_t *frame_source(dise_symbols *sy, json_t *f, size_t k)
{
	const char *mod = json_string_value(json_object_get(f, "module"));
	uint8_t bid[64];
	struct dise_src src[DISE_SRC_MAX];
	int nb = hex_bytes(json_string_value(json_object_get(f, "build_id")), bid, sizeof(bid)), n, i;
	json_t *arr;

	if (!mod || nb <= 0)
		return NULL;
	n = dise_symbols_lookup(sy, mod, bid, (size_t)nb, (uint64_t)json_integer_value(json_object_get(f, "offset")),
				k > 0, src, DISE_SRC_MAX);
	if (n <= 0)
		return NULL;
	arr = json_array();
	for (i = 0; i < n; i++) {
		json_t *o = json_pack("{s:s,s:b}", "function", src[i].function, "inlined", src[i].inlined);

		if (src[i].file[0])
			json_object_set_new(o, "file", json_string(src[i].file));
		if (src[i].line)
			json_object_set_new(o, "line", json_integer(src[i].line));
		if (src[i].column)
			json_object_set_new(o, "column", json_integer(src[i].column));
		json_array_append_new(arr, o);
	}
	return arr;
}

static void print_source(json_t *src)
{
	size_t i;

	for (i = 0; i < json_array_size(src); i++) {
		json_t *o = json_array_get(src, i);
		const char *fn = json_string_value(json_object_get(o, "function"));
		const char *file = json_string_value(json_object_get(o, "file"));

		dise_cli_print(stdout, "        %s:%lld in %s%s\n", file ? file : "??",
			       (long long)json_integer_value(json_object_get(o, "line")), fn && fn[0] ? fn : "??",
			       json_is_true(json_object_get(o, "inlined")) ? " (inlined)" : "");
	}
}

json_t *dise_cli_top_frames(dise_symbols *sy, const char *frames)
{
	json_error_t err;
	json_t *fr = frames ? json_loads(frames, 0, &err) : NULL, *top = json_array();
	size_t k;

	for (k = 0; fr && k < json_array_size(fr) && json_array_size(top) < TOP_FRAMES; k++) {
		json_t *f = json_deep_copy(json_array_get(fr, k)), *src = sy ? frame_source(sy, f, k) : NULL;

		if (src)
			json_object_set_new(f, "source", src);
		json_array_append_new(top, f);
	}
	json_decref(fr);
	return top;
}

int dise_cli_crashes(int argc, char **argv, const struct dise_cli_cmd *cmd)
{
	char home[4096];
	int json = dise_cli_parse_json(argc, argv, cmd), i, r;
	dise_store *st;
	dise_symbols *sy;
	json_t *arr, *rows;

	r = dise_cli_open_store(1, &st, home, sizeof(home));
	if (r)
		return r;
	r = dise_store_report(st, DISE_REPORT_CRASHES, NULL, 0, &rows);
	dise_store_free(st);
	if (r < 0) /* busy: a partial list is no answer */
		return dise_cli_error(r, "reading the crashes");
	arr = json_array();
	sy = dise_symbols_new();
	for (i = 0; i < (int)json_array_size(rows); i++) {
		json_t *row = json_array_get(rows, i);
		const char *frames = json_string_value(json_object_get(row, "frames"));
		const char *tools = json_string_value(json_object_get(row, "tools"));
		const char *sig = json_string_value(json_object_get(row, "signature"));
		const char *strikes = json_string_value(json_object_get(row, "strikes_by_version"));
		const char *condemned = json_string_value(json_object_get(row, "condemned"));
		int signo = (int)json_integer_value(json_object_get(row, "signal"));
		json_int_t count = json_integer_value(json_object_get(row, "count"));
		json_int_t first = json_integer_value(json_object_get(row, "first_seen_wall_ns"));
		json_int_t last = json_integer_value(json_object_get(row, "last_seen_wall_ns"));
		json_t *top = dise_cli_top_frames(sy, frames);
		size_t k;

		if (json) {
			json_t *o = json_pack("{s:s,s:I,s:I,s:I,s:i,s:s,s:s,s:o}", "signature", sig, "count", count,
					      "first_seen_wall_ns", first, "last_seen_wall_ns", last, "signal", signo,
					      "signal_name", dise_signal_name(signo), "tools", tools ? tools : "", "top_frames",
					      top);

			if (strikes)
				json_object_set_new(o, "strikes_by_version", json_string(strikes));
			if (condemned)
				json_object_set_new(o, "condemned", json_string(condemned));
			json_array_append_new(arr, o);
			continue;
		}
		dise_cli_print(stdout, "%s  %s x%lld  in %s\n", sig, dise_signal_name(signo), (long long)count, tools ? tools : "?");
		print_time("    first ", first);
		print_time(", last ", last);
		putchar('\n');
		if (strikes)
			dise_cli_print(stdout, "    strikes: %s\n", strikes);
		if (condemned)
			dise_cli_print(stdout, "    condemned: %s\n", condemned);
		for (k = 0; k < json_array_size(top); k++) {
			json_t *f = json_array_get(top, k);
			const char *fn = json_string_value(json_object_get(f, "function"));
			const char *mod = json_string_value(json_object_get(f, "module"));

			dise_cli_print(stdout, "    #%zu %s", k, fn ? fn : "??");
			if (fn)
				dise_cli_print(stdout, "+0x%llx", (unsigned long long)json_integer_value(json_object_get(f, "function_offset")));
			if (mod)
				dise_cli_print(stdout, " (%s+0x%llx)", mod, (unsigned long long)json_integer_value(json_object_get(f, "offset")));
			putchar('\n');
			print_source(json_object_get(f, "source"));
		}
		json_decref(top);
	}
	json_decref(rows);
	dise_symbols_free(sy);
	if (json) {
		dise_cli_json_print(arr);
	}
	json_decref(arr);
	return 0;
}
