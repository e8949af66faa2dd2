/* SPDX-License-Identifier: MIT */
/*
 * What the route tests share (test-route.c, test-route-copy.c): deploying
 * a version over another at a path, healing it by hand, running under the
 * shim, and looking identities up in the published route file.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "dise/ring.h"
#include "route-util.h"
#include "sandbox.h"

void sh(const char *fmt, ...)
{
	char *cmd;
	va_list ap;

	va_start(ap, fmt);
	assert_true(vasprintf(&cmd, fmt, ap) > 0);
	va_end(ap);
	if (system(cmd) != 0) {
		print_error("failed: %s\n", cmd);
		fail();
	}
	free(cmd);
}

void write_file(const char *path, int mode, const char *text)
{
	char *tmp;
	FILE *fp;

	assert_true(asprintf(&tmp, "%s.tmp", path) > 0);
	fp = fopen(tmp, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
	assert_int_equal(chmod(tmp, (mode_t)mode), 0);
	assert_int_equal(rename(tmp, path), 0); /* a deploy: a new inode at the path */
	free(tmp);
}

void file_id_of(const char *path, struct dise_file_id *id)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	id->dev = st.st_dev;
	id->ino = st.st_ino;
	id->size = (uint64_t)st.st_size;
	id->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
}

void target_of(const char *path, struct dise_route_in *e)
{
	struct stat s;

	file_id_of(path, &e->to);
	assert_int_equal(stat(path, &s), 0);
	e->to_ctime_ns = (int64_t)s.st_ctim.tv_sec * 1000000000 + s.st_ctim.tv_nsec;
}

void tool_add(struct fixture *f, const char *tool, const char *label, const char *path, const char *parent)
{
	char *add[] = { (char *)bin_path("dise"), "tool", "add", (char *)tool, "--version", (char *)label, (char *)path,
			parent ? "--parent" : NULL, (char *)parent, NULL };
	struct run_result r;

	dise_cmd(f, add, &r);
	if (r.status != 0)
		print_error("tool add: %s\n", r.err);
	assert_int_equal(r.status, 0);
	run_result_free(&r);
}

/* Runs argv under the shim with f's ring and home. */
void watched(struct fixture *f, char *const argv[], struct run_result *r)
{
	char *pre;
	const char *env[4];

	assert_true(asprintf(&pre, "LD_PRELOAD=%s", shim_path()) > 0);
	env[0] = pre, env[1] = f->env_ring, env[2] = f->env_home, env[3] = NULL;
	assert_int_equal(run_cmd(argv, env, NULL, r), 0);
	free(pre);
}

void heal(struct fixture *f, const char *tool, const char *label)
{
	char *h[] = { (char *)bin_path("dise"), "heal", (char *)tool, label ? "--version" : NULL, (char *)label, NULL };
	struct run_result r;

	dise_cmd(f, h, &r);
	if (r.status != 0)
		print_error("heal: %s %s\n", r.out, r.err);
	assert_int_equal(r.status, 0);
	run_result_free(&r);
}

/*
 * The deploy story: v1 at path, then v2 (text2, or the file from2) replaces
 * it, runs once under the shim, is healed by hand and the routes published.
 */
void deploy_and_heal(struct fixture *f, const char *tool, const char *path, const char *v2_text, int mode,
			    char *const argv[])
{
	struct run_result r;

	tool_add(f, tool, "v1", path, NULL);
	write_file(path, mode, v2_text);
	tool_add(f, tool, "v2", path, "v1");
	watched(f, argv, &r);
	run_result_free(&r);
	collect_once(f, &r);
	run_result_free(&r);
	heal(f, tool, NULL); /* the newest: v2 */
	collect_once(f, &r);
	run_result_free(&r);
}

char *routes_file(struct fixture *f)
{
	char *p;

	assert_true(asprintf(&p, "%s.routes", f->ring) > 0);
	return p;
}

/* Is identity id routed in f's route file? */
int routed(struct fixture *f, const struct dise_file_id *id, char *out, size_t size)
{
	char *rp = routes_file(f);
	struct dise_file_id to;
	int r = dise_routes_lookup(rp, (uint32_t)geteuid(), id, out, size, &to, NULL, NULL, NULL);

	free(rp);
	return r == 1;
}


int route_pct_of(struct fixture *f, const char *path)
{
	struct dise_file_id id, to;
	char *rp = routes_file(f), out[4096];
	uint32_t pct = 0;
	int r;

	file_id_of(path, &id);
	r = dise_routes_lookup(rp, (uint32_t)geteuid(), &id, out, sizeof(out), &to, NULL, NULL, &pct);
	free(rp);
	return r == 1 ? (int)pct : -1;
}

char *watched_out(struct fixture *f, char *const argv[], int *status)
{
	struct run_result r;
	char *out;

	watched(f, argv, &r);
	out = strdup(r.out ? r.out : "");
	assert_non_null(out);
	if (status)
		*status = r.status;
	run_result_free(&r);
	return out;
}

void assert_prints(struct fixture *f, char *const argv[], int n, const char *want)
{
	struct run_result r;
	int i;

	for (i = 0; i < n; i++) {
		watched(f, argv, &r);
		if (!r.out || strcmp(r.out, want))
			fail_msg("run %d of %s printed '%s', not '%s'", i, argv[0], r.out ? r.out : "", want);
		run_result_free(&r);
	}
}

const char regen_v1_text[] = "#!/bin/sh\n"
			     "# a tool\n"
			     "case \"$1\" in\n"
			     "greet)\n"
			     "\techo \"hello $2\"\n"
			     "\t;;\n"
			     "version)\n"
			     "\techo 1\n"
			     "\t;;\n"
			     "esac\n"
			     "exit 0\n";

void need_sandbox(void)
{
	char why[256];

	if (dise_sandbox_check(why, sizeof(why)) < 0) {
		print_message("skipped: %s\n", why);
		skip();
	}
}

/* Every attempt, said (for a failing test's log). */
void show_mutations(struct fixture *f)
{
	char *all[] = { (char *)bin_path("dise"), "proposals", "--all", NULL };
	struct run_result r;

	dise_cmd(f, all, &r);
	print_message("%s%s", r.out, r.err);
	run_result_free(&r);
}
