/* SPDX-License-Identifier: MIT */
/*
 * `dise ring stat|dump|reset`: what an SRE uses to see that capture works
 * before any collector exists. dump only peeks (read-only mapping, nothing
 * released or marked) unless --consume is given, in which case it takes the
 * consumer lock like the collector would and frees what it printed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "decode.h"
#include "dise/ring.h"
#include "record-json.h"

static const char *open_hint(int r)
{
	switch (r) {
	case -ENOENT: return "no ring yet (it is created by the first program run under the shim)";
	case -EPROTO: return "not a dise ring of this layout version (an older dise's? the collector moves it aside when it starts; or 'dise ring reset')";
	case -EBADMSG: return "corrupt ring header (run 'dise ring reset')";
	case -EPERM: return "not owned by you or accessible to others: refusing it";
	case -EBUSY: return "another consumer (the collector?) holds the ring";
	default: return NULL;
	}
}

static int open_reader(const char *path, int flags, dise_ring_reader **rd)
{
	int r = dise_ring_reader_new(path, flags, 0, rd);
	const char *hint = open_hint(r);

	if (r == 0)
		return 0;
	if (hint)
		dise_cli_print(stderr, "dise: ring '%s': %s\n", path, hint);
	else
		dise_cli_error(r, "cannot open ring '%s'", path);
	return -1;
}

/* A counter for JSON: anybody can write the ring, and a value past INT64_MAX must not turn negative. */
static json_int_t json_u64(uint64_t v)
{
	return v > (uint64_t)INT64_MAX ? (json_int_t)INT64_MAX : (json_int_t)v;
}

static int ring_stat(const char *path, int json)
{
	dise_ring_reader *rd;
	struct dise_ring_stats s;

	if (open_reader(path, DISE_READER_PEEK, &rd) < 0)
		return 1;
	dise_ring_reader_stats(rd, &s);
	rd = dise_ring_reader_free(rd);
	if (json) {
		char eb[24];
		json_t *o;

		snprintf(eb, sizeof(eb), "%016" PRIx64, s.epoch);
		o = json_pack("{s:s,s:i,s:s,s:I,s:i,s:i,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:i,s:i}", "path", path,
			      "layout_version", (int)s.layout_version, "epoch", eb, "slots", (json_int_t)s.nslots,
			      "shards", (int)s.nshards, "slot_size", DISE_SLOT_SIZE, "bytes",
			      (json_int_t)dise_ring_file_size(s.nshards, s.nslots / s.nshards), "head",
			      json_u64(s.head), "tail", json_u64(s.tail), "pending_slots", json_u64(s.pending),
			      "written", json_u64(s.written), "dropped", json_u64(s.dropped), "torn", json_u64(s.torn),
			      "corrupt", json_u64(s.corrupt), "consumer_pid", (int)s.consumer_pid, "corrupt_shards",
			      (int)s.bad_shards);
		dise_cli_json_print(o);
		json_decref(o);
		return 0;
	}
	dise_cli_print(stdout, "ring        %s\n", path);
	dise_cli_print(stdout, "layout      v%u, %u shard%s of %" PRIu64 " slots of %u bytes (%zu bytes), epoch %016" PRIx64 "\n",
	       s.layout_version, s.nshards, s.nshards == 1 ? "" : "s", s.nslots / s.nshards, DISE_SLOT_SIZE,
	       dise_ring_file_size(s.nshards, s.nslots / s.nshards), s.epoch);
	if (s.bad_shards)
		dise_cli_print(stdout, "cursor      head %" PRIu64 ", tail %" PRIu64 " (%" PRIu64
			       " slots pending; %u shard%s with a head outside its lap: a stray store, the collector repairs it)\n",
			       s.head, s.tail, s.pending, s.bad_shards, s.bad_shards == 1 ? "" : "s");
	else
		dise_cli_print(stdout, "cursor      head %" PRIu64 ", tail %" PRIu64 " (%" PRIu64 " slots pending)\n",
			       s.head, s.tail, s.pending);
	dise_cli_print(stdout, "written     %" PRIu64 "\n", s.written);
	dise_cli_print(stdout, "dropped     %" PRIu64 "\n", s.dropped);
	dise_cli_print(stdout, "torn        %" PRIu64 "\n", s.torn);
	dise_cli_print(stdout, "corrupt     %" PRIu64 "\n", s.corrupt);
	if (s.consumer_pid)
		dise_cli_print(stdout, "consumer    pid %u (last)\n", s.consumer_pid);
	return 0;
}

static int ring_dump(const char *path, int json, int consume)
{
	dise_ring_reader *rd;
	void *buf = malloc(DISE_RECORD_MAX);
	uint64_t n = 0, bad = 0;
	int r;

	if (!buf)
		return dise_cli_error(-ENOMEM, "dump");
	if (open_reader(path, consume ? 0 : DISE_READER_PEEK, &rd) < 0) {
		free(buf);
		return 1;
	}
	for (;;) {
		struct dise_record rec;
		const char *why = NULL;
		size_t len;
		uint64_t id;

		r = dise_ring_read(rd, buf, DISE_RECORD_MAX, &len, &id);
		if (r == -EBADMSG) {
			bad++;
			continue;
		}
		if (r < 0) {
			dise_cli_error(r, "reading ring '%s'", path);
			break;
		}
		if (r == 0)
			break;
		if (dise_record_decode(buf, len, &rec, &why) < 0) {
			bad++;
			dise_ring_count_corrupt(rd);
			if (!json)
				dise_cli_print(stderr, "dise: record %" PRIu64 " rejected: %s\n", id, why);
			continue;
		}
		n++;
		if (json) {
			json_t *o = dise_record_to_json(&rec, id, dise_ring_reader_epoch(rd));

			if (o) {
				dise_cli_json_print(o);
				json_decref(o);
			}
		} else {
			dise_record_print(stdout, &rec, id);
		}
	}
	fflush(stdout);
	if (consume)
		dise_ring_release(rd);
	dise_ring_reader_free(rd);
	free(buf);
	if (!json)
		dise_cli_print(stderr, "%" PRIu64 " records, %" PRIu64 " rejected\n", n, bad);
	return r < 0 ? 1 : 0;
}

int dise_cli_ring(int argc, char **argv, const struct dise_cli_cmd *cmd)
{
	enum { OPT_CONSUME = DISE_CLI_OPT_FIRST };
	static const struct option opts[] = { DISE_CLI_JSON, { "consume", no_argument, NULL, OPT_CONSUME },
					      DISE_CLI_OPT_END };
	char path[DISE_PATH_MAX];
	const char *verb;
	int r, c, json = 0, consume = 0;

	while ((c = dise_cli_getopt(argc, argv, opts, DISE_CLI_PERMUTE, cmd)) != -1) {
		switch (c) {
		case DISE_CLI_OPT_JSON: json = 1; break;
		case OPT_CONSUME: consume = 1; break;
		}
	}
	verb = dise_cli_operands(argc, argv, 1, 1, cmd)[0];
	if (strcmp(verb, "stat") && strcmp(verb, "dump") && strcmp(verb, "reset"))
		dise_cli_usage_error(cmd, "unknown ring command '%s' (stat, dump, reset)", verb);
	if (consume && strcmp(verb, "dump"))
		dise_cli_usage_error(cmd, "--consume is for 'ring dump' only");
	if (json && !strcmp(verb, "reset"))
		dise_cli_usage_error(cmd, "'ring reset' prints nothing: no --json");
	r = dise_cli_ring_path(path, sizeof(path), 0);
	if (r < 0)
		return dise_cli_error(r, "ring path");
	if (!strcmp(verb, "stat"))
		return ring_stat(path, json);
	if (!strcmp(verb, "dump"))
		return ring_dump(path, json, consume);
	if (unlink(path) < 0 && errno != ENOENT)
		return dise_cli_error(-errno, "cannot remove ring '%s'", path);
	return 0;
}
