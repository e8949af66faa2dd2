/* SPDX-License-Identifier: MIT */
/*
 * Strategy command: an external program (a team's CI, a repair bot) gets
 * the attempt's context (regen-prompt.h, with the scratch tree's paths) on
 * its stdin and leaves the candidate at the scratch tree's candidate path.
 * It runs in the validation sandbox like a candidate: no network, the
 * system read-only, only the scratch tree writable; what it writes outside
 * never lands, and a candidate left as anything but a regular file (a
 * symlink out of the tree) is refused. Whatever else it left in the tree
 * is removed after it ran.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "regen-tries.h"
#include "sandbox.h"

#define SCRIPT "exec <\"$DISE_CONTEXT\" || exit 126; DISE_CANDIDATE=\"$1\"; export DISE_CANDIDATE; "

static const char *keep; /* nftw has no user pointer: the candidate's path, while tidy() runs (one healer thread) */

static int drop(const char *path, const struct stat *sb, int flag, struct FTW *f)
{
	(void)sb;
	if (f->level == 0 || !strcmp(path, keep))
		return 0;
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

/* What the command left in the scratch tree besides the candidate, removed (symlinks not followed). */
static void tidy(struct rg *g)
{
	keep = g->cand;
	nftw(g->scratch, drop, 16, FTW_DEPTH | FTW_PHYS);
	keep = NULL;
}

int dise__regen_command(struct rg *g, const json_t *ctx, char **text, size_t *len, char *why, size_t size)
{
	char path[sizeof(g->scratch) + 32], *env = NULL, *script = NULL;
	char *argv[] = { "sh", "-c", NULL, "dise-command", g->cand, NULL };
	int64_t wall = 0;
	int st = 0, r;

	snprintf(path, sizeof(path), "%s/.dise-context.json", g->scratch);
	unlink(path);
	if (json_dump_file(ctx, path, JSON_COMPACT) < 0) {
		snprintf(why, size, "the context could not be written to the scratch tree");
		return -EIO;
	}
	if (asprintf(&env, "DISE_CONTEXT=%s", path) < 0 || asprintf(&script, SCRIPT "%s", g->pol.command) < 0) {
		free(env);
		return -ENOMEM;
	}
	argv[2] = script;
	{
		/* a command given by absolute path is read from its directory, even one under /tmp */
		char dir[PATH_MAX] = "";
		size_t n = strcspn(g->pol.command, " \t");

		if (g->pol.command[0] == '/' && n < sizeof(dir)) {
			memcpy(dir, g->pol.command, n);
			dir[n] = '\0';
			*strrchr(dir, '/') = '\0';
		}
		r = dise_sandbox_run_ro(g->scratch, dir[0] ? dir : NULL, "/bin/sh", argv, NULL, env,
					(unsigned)g->pol.timeout_s * 1000u, &st, &wall);
	}
	free(env);
	free(script);
	tidy(g);
	if (r == -ETIMEDOUT) {
		snprintf(why, size, "the command did not finish within %d s", g->pol.timeout_s);
		return 0;
	}
	if (r < 0) {
		snprintf(why, size, "the command could not run in the sandbox: %s", strerror(-r));
		return r;
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st)) {
		snprintf(why, size, "the command %s %d", WIFEXITED(st) ? "exited" : "was killed by signal",
			 WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
		return 0;
	}
	r = dise__regen_read(g->cand, text, len);
	if (r < 0) {
		snprintf(why, size, "the command left no regular file at the candidate's path (%s)",
			 r == -ELOOP || r == -EINVAL ? "a symlink or not a file: refused" : strerror(-r));
		return 0;
	}
	return 1;
}
