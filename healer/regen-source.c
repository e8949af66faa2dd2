/* SPDX-License-Identifier: MIT */
/*
 * A compiled tool's source, for revert-hunks (regen.c). dise.json's
 * "source" names a git work tree, a build command and the artifact it
 * makes; each version names its revision (`dise tool add --rev`, or the
 * revision source.rev_command prints for the version's copy, run in the
 * sandbox, checked and recorded). The diff between the ancestor's and the
 * pruned version's revisions, file by file, is cut into hunks (one 64-bit
 * mask over all of them); a candidate is the pruned revision's tree (an
 * export, in a scratch directory: the user's tree is only read, by git)
 * with the hunks of a mask reverted, built by the build command in the
 * sandbox (only that scratch copy writable), its artifact read back as the
 * candidate's content. Anything missing or wrong (no source, no revision,
 * a revision git does not have, a binary file in the diff, a failed build,
 * no artifact) is a one-line reason: rollback only, or a candidate that
 * fails; never a route.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "home.h"
#include "regen-internal.h"
#include "regen-source.h"
#include "sandbox.h"
#include "validate.h"

#define GIT_MS 60000		/* a git command on the user's tree */
#define REV_MS 10000		/* a rev_command */
#define MAX_FILE (4u << 20)	/* a source file larger than this is not diffed */
#define MAX_ARTIFACT (64u << 20) /* the sandbox's file-size limit: no artifact is larger */
/* git never runs a program the repository's config or attributes name (fsmonitor, external diff, textconv) */
#define GIT "git -c core.fsmonitor= -c core.hooksPath=/dev/null -C \"$1\" "

struct rg_file {
	char *path; /* relative to the tree's top */
	char *at, *pt; /* its text at A's and at P's revision ("" where it is absent) */
	size_t alen, plen;
	int in_a, in_p;
	struct dise_lines la, lp;
	struct dise_hunk *h;
	size_t nh, first; /* its hunks are bits first .. first + nh - 1 of a mask */
};

struct rg_src {
	const struct dise_source_policy *sp;
	char dir[PATH_MAX]; /* the scratch directory: base/ (P's tree), tree/ (a candidate's), outputs */
	char base[PATH_MAX + 8], tree[PATH_MAX + 8], out[PATH_MAX + 8];
	char rev_a[64], rev_p[64];
	struct rg_file *f;
	size_t nf;
};

int dise_rev_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > 255 || s[0] == '-' || strstr(s, ".."))
		return 0;
	return strspn(s, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ._/-") == n;
}

/* sh -c script with $1.. = args (NULL-ended, up to 5), outside the sandbox: 0 exit 0, 1 not, -errno. */
static int sh(const char *script, unsigned tmo_ms, const char *a1, const char *a2, const char *a3, const char *a4)
{
	char *argv[] = { "sh", "-c", (char *)script, "sh", (char *)a1, (char *)a2, (char *)a3, (char *)a4, NULL };
	int st = 0, r = dise_validate_spawn("/bin/sh", argv, NULL, NULL, tmo_ms, &st);

	if (r < 0)
		return r;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}

/* The output file's first line, trimmed, into buf; 0, or -errno. */
static int out_line(struct rg_src *s, char *buf, size_t size)
{
	size_t len, n;
	char *t;
	int r = dise__regen_read_max(s->out, 4096, &t, &len);

	if (r < 0)
		return r;
	n = strspn(t, " \t");
	snprintf(buf, size, "%.*s", (int)strcspn(t + n, "\r\n"), t + n);
	free(t);
	for (n = strlen(buf); n && (buf[n - 1] == ' ' || buf[n - 1] == '\t'); n--)
		buf[n - 1] = '\0';
	return 0;
}

/* The revision rev_command prints for version v's copy, run in the sandbox, into buf; 1, 0 (why), -errno. */
static int rev_from_command(struct rg *g, int64_t v, const char *label, char *buf, size_t size)
{
	struct rg_src *s = g->src;
	char *argv[] = { "sh", "-c", "exec >\"$1\" 2>/dev/null; eval \"$2\"", "sh", s->out, s->sp->rev_command, NULL };
	char *copy = NULL, *env = NULL;
	int64_t wall;
	int st = 0, r = dise_store_version_copy(g->c.st, v, &copy);

	if (r == 0 && !copy)
		r = -ENOENT;
	if (r < 0) {
		snprintf(g->why, sizeof(g->why), "rollback only: no copy of %s to ask source.rev_command about", label);
		return 0;
	}
	unlink(s->out);
	/* the copy, where the sandbox shows it (the CAS may be under /tmp, which the sandbox hides) */
	r = asprintf(&env, "DISE_BINARY=%s/binary", s->dir) < 0 ? -ENOMEM : 0;
	if (r == 0 && sh("cp \"$1\" \"$2/binary\" && chmod 0755 \"$2/binary\"", GIT_MS, copy, s->dir, NULL, NULL) != 0)
		r = -EIO;
	free(copy);
	if (r == 0)
		r = dise_sandbox_run(s->dir, "/bin/sh", argv, NULL, env, REV_MS, &st, &wall);
	free(env);
	if (r == -ETIMEDOUT || (r == 0 && !(WIFEXITED(st) && WEXITSTATUS(st) == 0))) {
		snprintf(g->why, sizeof(g->why), "rollback only: source.rev_command %s for %s", r ? "timed out" : "failed",
			 label);
		return 0;
	}
	if (r == 0 && (r = out_line(s, buf, size)) == -E2BIG)
		snprintf(g->why, sizeof(g->why), "rollback only: source.rev_command printed over 4 KiB for %s", label);
	if (r < 0)
		return r == -E2BIG ? 0 : r;
	if (!dise_rev_name_ok(buf)) {
		for (char *c = buf; *c; c++)
			if ((unsigned char)*c < 0x20 || *c == 0x7f)
				*c = '?';
		snprintf(g->why, sizeof(g->why), "rollback only: source.rev_command printed '%.60s' for %s: not a revision",
			 buf, label);
		return 0;
	}
	return 1;
}

/*
 * Version v's revision, checked to be a commit of the repository, as its
 * full hash into buf (64 bytes); one from rev_command is recorded. 1, 0
 * (rollback only: why), -errno.
 */
static int rev_of(struct rg *g, int64_t v, char *buf)
{
	struct rg_src *s = g->src;
	char label[64] = "", rev[256] = "";
	int r, asked = 0;

	if ((r = dise_store_version_label(g->c.st, v, label, sizeof(label))) < 0 ||
	    (r = dise_store_version_rev(g->c.st, v, rev, sizeof(rev))) < 0)
		return r;
	if (r == 0 && s->sp->rev_command) {
		if ((r = rev_from_command(g, v, label, rev, sizeof(rev))) <= 0)
			return r;
		asked = 1;
	}
	if (r == 0) {
		snprintf(g->why, sizeof(g->why), "rollback only: no source revision known for %s (dise tool add --rev, or "
						 "source.rev_command)",
			 label);
		return 0;
	}
	unlink(s->out);
	r = dise_rev_name_ok(rev) ? sh(GIT "rev-parse --verify --quiet \"$2^{commit}\" > \"$3\"", GIT_MS, s->sp->repo, rev,
				       s->out, NULL)
				  : 1;
	if (r == 0)
		r = out_line(s, buf, 64);
	if (r == 0 && strlen(buf) < 40)
		r = 1;
	if (r < 0)
		return r;
	if (r) {
		snprintf(g->why, sizeof(g->why), "rollback only: %s's revision '%.60s' is not a commit of %.200s", label, rev,
			 s->sp->repo);
		return 0;
	}
	return asked ? (dise_store_version_rev_set(g->c.st, v, buf, "rev_command", dise__now_ns(CLOCK_REALTIME)) < 0 ? -EIO : 1)
		     : 1;
}

/* rev:path's text into *text, or absent (*in 0); 0, 1 (not text: why), -errno. */
static int blob(struct rg *g, const char *rev, const char *path, char **text, size_t *len, int *in)
{
	struct rg_src *s = g->src;
	char *spec = NULL;
	int r;

	if (asprintf(&spec, "%s:%s", rev, path) < 0)
		return -ENOMEM;
	unlink(s->out);
	r = sh(GIT "cat-file blob \"$2\" > \"$3\" 2>/dev/null", GIT_MS, s->sp->repo, spec, s->out, NULL);
	free(spec);
	*in = r == 0;
	if (r < 0)
		return r;
	if (r) { /* not in that revision: the diff added or removed it */
		*text = strdup("");
		*len = 0;
		return *text ? 0 : -ENOMEM;
	}
	r = dise__regen_read_max(s->out, MAX_FILE, text, len);
	if (r == -E2BIG || (r == 0 && memchr(*text, '\0', *len))) {
		snprintf(g->why, sizeof(g->why), "rollback only: %.200s changed and is %s: revert-hunks cuts text only", path,
			 r ? "larger than 4 MiB" : "binary");
		return 1;
	}
	return r;
}

/* f's texts at both revisions and its hunks; 0, 1 (why), -errno. */
static int file_load(struct rg *g, struct rg_file *f)
{
	struct rg_src *s = g->src;
	int r;

	if (!dise_relpath_inside(f->path)) {
		snprintf(g->why, sizeof(g->why), "rollback only: the diff names a path outside the tree: %.200s", f->path);
		return 1;
	}
	if ((r = blob(g, s->rev_a, f->path, &f->at, &f->alen, &f->in_a)) != 0 ||
	    (r = blob(g, s->rev_p, f->path, &f->pt, &f->plen, &f->in_p)) != 0)
		return r;
	if ((r = dise_lines_split(f->at, f->alen, &f->la)) < 0 || (r = dise_lines_split(f->pt, f->plen, &f->lp)) < 0)
		return r;
	r = dise_diff_hunks(&f->la, &f->lp, &f->h, &f->nh);
	if (r == -E2BIG) {
		snprintf(g->why, sizeof(g->why), "the diff of %.200s is too large to search", f->path);
		return 1;
	}
	return r;
}

/* The files the diff A -> P changes, loaded, their hunks numbered; 0, 1 (why), -errno. */
static int files(struct rg *g)
{
	struct rg_src *s = g->src;
	size_t len, i, n = 0;
	char *list, *c;
	int r;

	unlink(s->out);
	r = sh(GIT "diff --no-ext-diff --no-textconv --no-renames --name-only -z \"$2\" \"$3\" > \"$4\"", GIT_MS,
	       s->sp->repo, s->rev_a, s->rev_p, s->out);
	if (r > 0)
		snprintf(g->why, sizeof(g->why), "git diff between the two revisions failed in %.200s", s->sp->repo);
	if (r != 0 || (r = dise__regen_read_max(s->out, MAX_FILE, &list, &len)) < 0)
		return r;
	for (i = 0; i < len; i++)
		n += list[i] == '\0';
	s->f = calloc(n + 1, sizeof(*s->f));
	for (c = list, i = 0; s->f && c < list + len && r == 0; c += strlen(c) + 1) {
		struct rg_file *f = &s->f[s->nf++];

		f->path = strdup(c);
		r = f->path ? file_load(g, f) : -ENOMEM;
		f->first = g->nh;
		g->nh += f->nh;
		if (r == 0 && g->nh > DISE_DIFF_MAX_HUNKS) {
			snprintf(g->why, sizeof(g->why), "the diff is too large to search (more than %d hunks)",
				 DISE_DIFF_MAX_HUNKS);
			r = 1;
		}
	}
	free(list);
	return s->f ? r : -ENOMEM;
}

int dise__regen_source_prepare(struct rg *g)
{
	const struct dise_source_policy *sp = g->p ? &g->p->source : NULL;
	struct rg_src *s;
	char home[PATH_MAX];
	int r;

	if (!sp || !sp->repo) {
		snprintf(g->why, sizeof(g->why), "rollback only: a compiled tool, and no source known for it (dise.json "
						 "\"source\"; a #! script is its own source)");
		return 0;
	}
	if ((r = dise_sandbox_check(g->why, sizeof(g->why))) < 0)
		return 0;
	if (!(s = g->src = calloc(1, sizeof(*s))))
		return -ENOMEM;
	s->sp = sp;
	if ((r = dise_home(home, sizeof(home))) < 0)
		return r;
	if ((size_t)snprintf(s->dir, sizeof(s->dir), "%s/regen-src-XXXXXX", home) >= sizeof(s->dir) || !mkdtemp(s->dir)) {
		s->dir[0] = '\0';
		return -ENAMETOOLONG;
	}
	snprintf(s->base, sizeof(s->base), "%s/base", s->dir);
	snprintf(s->tree, sizeof(s->tree), "%s/tree", s->dir);
	snprintf(s->out, sizeof(s->out), "%s/out", s->dir);
	if ((r = rev_of(g, g->ancestor, s->rev_a)) <= 0 || (r = rev_of(g, g->pruned, s->rev_p)) <= 0)
		return r;
	if ((r = files(g)) != 0)
		return r < 0 ? r : 0;
	if (!g->nh) {
		snprintf(g->why, sizeof(g->why), "the pruned version's source is its ancestor's (%.12s): nothing to keep",
			 s->rev_a);
		return 0;
	}
	r = sh(GIT "archive --format=tar \"$2\" > \"$3/p.tar\" && mkdir \"$4\" && tar -xf \"$3/p.tar\" -C \"$4\" && rm -f "
		   "\"$3/p.tar\"",
	       GIT_MS, sp->repo, s->rev_p, s->dir, s->base);
	if (r > 0)
		snprintf(g->why, sizeof(g->why), "the tree of revision %.12s could not be exported from %.200s", s->rev_p,
			 sp->repo);
	return r < 0 ? r : !r;
}

/* path (in the candidate's tree) with len bytes of text, its directories made. 0 or -errno. */
static int put(const char *path, const char *text, size_t len)
{
	char *dir = strdup(path), *c;
	int fd, r = 0;

	if (!dir)
		return -ENOMEM;
	for (c = strchr(dir + 1, '/'); c; c = strchr(c + 1, '/')) {
		*c = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			r = -errno;
		*c = '/';
	}
	free(dir);
	fd = r ? -1 : open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return r ? r : -errno;
	if (write(fd, text, len) != (ssize_t)len)
		r = -EIO;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	return r;
}

/* The candidate's tree: P's, each file with its hunks of mask reverted; with diff: the unified diff A -> it. */
static int write_tree(struct rg *g, uint64_t mask, char **diff)
{
	struct rg_src *s = g->src;
	size_t i, dl = 0;
	int r = sh("rm -rf \"$1\" && cp -a \"$2\" \"$1\"", GIT_MS, s->tree, s->base, NULL, NULL);

	if (r != 0)
		return r < 0 ? r : -EIO;
	for (i = 0; i < s->nf && r == 0; i++) {
		struct rg_file *f = &s->f[i];
		uint64_t all = f->nh >= 64 ? ~(uint64_t)0 : (((uint64_t)1 << f->nh) - 1);
		uint64_t sub = f->nh ? (mask >> f->first) & all : 0;
		char *text, *u = NULL, path[PATH_MAX + 300];
		size_t len;

		text = dise_diff_apply(&f->la, &f->lp, f->h, f->nh, sub, &len, f->path, diff ? &u : NULL);
		if (!text)
			return -ENOMEM;
		snprintf(path, sizeof(path), "%s/%s", s->tree, f->path);
		if (!f->in_a && sub == all)
			r = unlink(path) < 0 && errno != ENOENT ? -errno : 0; /* added by P, reverted: gone */
		else if (f->in_p || sub)
			r = put(path, text, len);
		free(text);
		if (u && r == 0) {
			size_t ul = strlen(u);
			char *d = realloc(*diff, dl + ul + 1);

			if (!d)
				r = -ENOMEM;
			else
				memcpy(d + dl, u, ul + 1), *diff = d, dl += ul;
		}
		free(u);
	}
	return r;
}

/* The build in the sandbox, then its artifact into *text; 1, 0 (the candidate fails: g->fail), -errno. */
static int build(struct rg *g, char **text, size_t *len)
{
	struct rg_src *s = g->src;
	char *argv[] = { "sh", "-c", s->sp->build, NULL }, path[PATH_MAX + 300], real[PATH_MAX], top[PATH_MAX];
	size_t n;
	int64_t wall;
	int st = 0, r = dise_sandbox_run(s->tree, "/bin/sh", argv, NULL, NULL, (unsigned)s->sp->build_timeout_s * 1000u,
					 &st, &wall);

	if (r == -ETIMEDOUT || (r == 0 && !(WIFEXITED(st) && WEXITSTATUS(st) == 0))) {
		snprintf(g->fail, sizeof(g->fail), "the build %s", r ? "timed out" : "failed");
		if (!r)
			snprintf(g->fail + strlen(g->fail), sizeof(g->fail) - strlen(g->fail), " (exit %d%s%s)",
				 WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), dise_sandbox_last_limit() ? ": " : "",
				 dise_sandbox_last_limit() ? dise_sandbox_last_limit() : "");
		return 0;
	}
	if (r < 0)
		return r;
	snprintf(path, sizeof(path), "%s/%s", s->tree, s->sp->artifact);
	/* made in the sandbox: it may be a link to anything; only a file inside the tree is read */
	n = realpath(s->tree, top) ? strlen(top) : 0;
	r = n && realpath(path, real) && !strncmp(real, top, n) && real[n] == '/' ? dise__regen_read_max(real, MAX_ARTIFACT, text, len)
										  : -ENOENT;
	if (r == -ENOENT || r == -E2BIG || r == -ELOOP || r == -EINVAL || (r == 0 && !*len)) {
		snprintf(g->fail, sizeof(g->fail), "the build left no artifact at %.200s%s", s->sp->artifact,
			 r == -E2BIG ? " (over 64 MiB)" : r == 0 ? " (empty)" : "");
		if (r == 0)
			free(*text);
		return 0;
	}
	return r < 0 ? r : 1;
}

int dise__regen_source_candidate(struct rg *g, uint64_t mask, char **text, size_t *len, char **diff)
{
	int r;

	if (diff)
		*diff = NULL;
	r = write_tree(g, mask, diff);
	if (r == 0)
		r = build(g, text, len);
	if (r <= 0 && diff) {
		free(*diff);
		*diff = NULL;
	}
	if (r > 0 && diff && !*diff)
		*diff = strdup("");
	return r;
}

void dise__regen_source_free(struct rg *g)
{
	struct rg_src *s = g->src;
	size_t i;

	if (!s)
		return;
	if (s->dir[0])
		sh("rm -rf \"$1\"", GIT_MS, s->dir, NULL, NULL, NULL);
	for (i = 0; i < s->nf; i++) {
		free(s->f[i].path);
		free(s->f[i].at);
		free(s->f[i].pt);
		free(s->f[i].h);
		dise_lines_free(&s->f[i].la);
		dise_lines_free(&s->f[i].lp);
	}
	free(s->f);
	free(s);
	g->src = NULL;
}
