/* SPDX-License-Identifier: MIT */
/*
 * `dise metrics`: the Prometheus metrics the collector writes for
 * node-exporter's textfile collector (collector/metrics.c), computed now
 * from the store and the ring, in the text exposition format.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "dise/ring.h"
#include "home.h"
#include "metrics.h"
#include "store.h"

int dise_cli_metrics(int argc, char **argv, const struct dise_cli_cmd *cmd)
{
	static const struct option opts[] = { DISE_CLI_OPT_END };
	char home[4096], db[4200], ring[DISE_PATH_MAX], *text = NULL;
	size_t len = 0;
	dise_store *st;
	int r;

	while (dise_cli_getopt(argc, argv, opts, DISE_CLI_PERMUTE, cmd) != -1)
		;
	dise_cli_operands(argc, argv, 0, 0, cmd);
	r = dise_cli_open_store(1, &st, home, sizeof(home));
	if (r)
		return r;
	if (dise_path_join(db, sizeof(db), home, "dise.db") < 0) {
		dise_store_free(st);
		return dise_cli_error(-ENAMETOOLONG, "the database path");
	}
	if (dise_cli_ring_path(ring, sizeof(ring), 0) < 0)
		ring[0] = '\0';
	r = dise_metrics_render(st, db, ring[0] ? ring : NULL, &text, &len);
	dise_store_free(st);
	if (r < 0) /* busy: partial metrics are no answer */
		return dise_cli_error(r, "reading the metrics");
	fwrite(text, 1, len, stdout); /* label values are escaped for the format already */
	free(text);
	return fflush(stdout) == 0 ? 0 : dise_cli_error(-errno, "writing the metrics");
}
