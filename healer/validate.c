/* SPDX-License-Identifier: MIT */
/*
 * Validating a candidate before it becomes a route: the tool's test command,
 * and the replay of every rule of the tool that carries an invocation.
 *
 * Both run a program from the collector, so both are bounded: stdin, stdout
 * and stderr on /dev/null, a process group of their own that is SIGKILLed
 * at the time limit, and DISE_DISABLE=1 so that a replayed crash is not
 * recorded as a run (it would count as a strike of the candidate).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <jansson.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "record-json.h"
#include "sha256.h"
#include "validate.h"

extern char **environ;

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* environ, minus LD_PRELOAD and DISE_DISABLE, plus DISE_DISABLE=1 and extra (may be NULL) */
static char **child_env(const char *extra)
{
	size_t n = 0, k = 0, i;
	char **e;

	while (environ[n])
		n++;
	e = calloc(n + 3, sizeof(*e));
	if (!e)
		return NULL;
	for (i = 0; i < n; i++)
		if (strncmp(environ[i], "LD_PRELOAD=", 11) && strncmp(environ[i], "DISE_DISABLE=", 13))
			e[k++] = environ[i];
	e[k++] = "DISE_DISABLE=1";
	if (extra)
		e[k++] = (char *)extra;
	return e;
}

int dise_validate_spawn(const char *path, char *const argv[], const char *cwd, const char *extra_env,
			unsigned timeout_ms, int *status)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	char **env = child_env(extra_env);
	int64_t deadline;
	unsigned nap_us = 200;
	pid_t pid;
	int r;

	if (!env)
		return -ENOMEM;
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&at);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	if (cwd)
		posix_spawn_file_actions_addchdir_np(&fa, cwd);
	posix_spawnattr_setpgroup(&at, 0);
	{
		sigset_t none;

		sigemptyset(&none);
		posix_spawnattr_setsigmask(&at, &none);
		posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
		sigaddset(&none, SIGPIPE), sigaddset(&none, SIGINT), sigaddset(&none, SIGTERM);
		posix_spawnattr_setsigdefault(&at, &none);
	}
	r = posix_spawn(&pid, path, &fa, &at, argv, env);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	free(env);
	if (r)
		return -r;
	deadline = mono_ms() + timeout_ms;
	for (;;) {
		pid_t w = waitpid(pid, status, WNOHANG);

		if (w == pid)
			return 0;
		if (w < 0 && errno != EINTR)
			return -errno;
		if (mono_ms() >= deadline) {
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			while (waitpid(pid, status, 0) < 0 && errno == EINTR)
				;
			return -ETIMEDOUT;
		}
		usleep(nap_us);
		if (nap_us < 20000)
			nap_us *= 2;
	}
}

/*
 * The name the test command gets for the candidate. Users write
 * `$DISE_CANDIDATE --self-test` unquoted, and sh splits and globs an
 * unquoted expansion: a copy under a DISE_HOME with a space (or a tab, a
 * newline, '*', '?', '[') in it would be another command. Such a path gets a
 * symlink to it of a plain name, in a directory of this process's own under
 * /tmp (not $TMPDIR, which may have a space too), into alias; *dir receives
 * that directory (to remove), "" when the candidate's own path is plain or
 * no alias could be made (the path is then given as is).
 */
static void plain_alias(const char *candidate, char dir[64], char *alias, size_t size)
{
	const char *base = strrchr(candidate, '/');

	dir[0] = '\0';
	snprintf(alias, size, "%s", candidate);
	if (!strpbrk(candidate, " \t\n*?[") || candidate[0] != '/')
		return;
	base = base && !strpbrk(base + 1, " \t\n*?[") && base[1] ? base + 1 : "candidate";
	snprintf(dir, 64, "/tmp/dise-candidate-XXXXXX");
	if (!mkdtemp(dir)) {
		dir[0] = '\0';
		return;
	}
	if ((size_t)snprintf(alias, size, "%s/%s", dir, base) >= size || symlink(candidate, alias) < 0) {
		rmdir(dir);
		dir[0] = '\0';
		snprintf(alias, size, "%s", candidate);
	}
}

int dise_validate_test(const struct dise_tool_policy *p, const char *candidate, char *why, size_t size)
{
	char *argv[] = { "sh", "-c", p->test_command, NULL }, *env = NULL, dir[64], alias[PATH_MAX];
	int st, r = -ENOMEM;

	plain_alias(candidate, dir, alias, sizeof(alias));
	if (asprintf(&env, "DISE_CANDIDATE=%s", alias) < 0)
		env = NULL;
	else
		r = dise_validate_spawn("/bin/sh", argv, NULL, env, (unsigned)p->test_timeout_s * 1000u, &st);
	free(env);
	if (dir[0]) {
		unlink(alias);
		rmdir(dir);
	}
	if (r == -ETIMEDOUT) {
		snprintf(why, size, "test command timed out after %d s", p->test_timeout_s);
		return 1;
	}
	if (r < 0)
		return r;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
		snprintf(why, size, "test command passed");
		return 0;
	}
	if (WIFSIGNALED(st))
		snprintf(why, size, "test command killed by signal %d", WTERMSIG(st));
	else
		snprintf(why, size, "test command exited %d", WEXITSTATUS(st));
	return 1;
}

char **dise_validate_argv(const char *js)
{
	json_error_t err;
	json_t *a = json_loads(js, 0, &err);
	char **v = NULL;
	size_t i;

	if (!json_is_array(a) || !json_array_size(a))
		goto out;
	v = calloc(json_array_size(a) + 1, sizeof(*v));
	for (i = 0; v && i < json_array_size(a); i++) {
		v[i] = dise_json_text_bytes(json_array_get(a, i)); /* the exact bytes that ran */
		if (!v[i]) {
			dise_validate_argv_free(v);
			v = NULL;
		}
	}
out:
	json_decref(a);
	return v;
}

/* The base name of path. */
static const char *base_of(const char *path)
{
	const char *b = strrchr(path, '/');

	return b ? b + 1 : path;
}

char *const *dise_validate_script_args(char *const *rv, const char *candidate)
{
	char line[512], *interp, *opt, *end;
	size_t skip;
	ssize_t n;
	int fd;

	if (!rv[0] || !rv[1] || (fd = open(candidate, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) < 0)
		return rv;
	n = read(fd, line, sizeof(line) - 1);
	close(fd);
	if (n < 3 || line[0] != '#' || line[1] != '!')
		return rv;
	line[n] = '\0';
	line[strcspn(line, "\n")] = '\0';
	interp = line + 2 + strspn(line + 2, " \t");
	end = interp + strcspn(interp, " \t");
	opt = *end ? end + 1 + strspn(end + 1, " \t") : end;
	*end = '\0';
	for (end = opt + strlen(opt); end > opt && (end[-1] == ' ' || end[-1] == '\t');)
		*--end = '\0';
	/* #!/usr/bin/env NAME: what ran (and was recorded) is NAME's [NAME, script, args...] */
	if (!strcmp(base_of(interp), "env") && *opt && strcmp(base_of(rv[0]), "env")) {
		opt[strcspn(opt, " \t")] = '\0';
		return !strcmp(base_of(rv[0]), base_of(opt)) ? rv + 1 : rv;
	}
	if (strcmp(rv[0], interp) && strcmp(base_of(rv[0]), base_of(interp)))
		return rv; /* run some other way: as recorded */
	skip = *opt ? 2 : 1; /* the kernel's [interp, (its one optional argument), script, args...] */
	for (size_t i = 0; i < skip; i++)
		if (!rv[i + 1])
			return rv;
	return rv + skip;
}

int dise_validate_fails_like(const struct dise_replay *t, int status)
{
	return (t->signal && WIFSIGNALED(status) && WTERMSIG(status) == t->signal) ||
	       (t->exit_code >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == t->exit_code);
}

void dise_validate_argv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

int dise_validate_rules(dise_store *st, const char *tool, int64_t only_rule, const char *candidate, unsigned timeout_ms,
			char *why, size_t size)
{
	struct dise_replay *t = NULL;
	size_t n = 0, i;
	int r, replayed = 0;

	/* read whole first: the replays run with no statement open */
	r = dise_store_rules_replayable(st, tool, only_rule, &t, &n);
	for (i = 0; r == 0 && i < n; i++) {
		char **argv = dise_validate_argv(t[i].argv);
		const char *cwd = t[i].cwd;
		int status, s;

		if (!argv)
			continue;
		/* the rule's cwd may be gone: then the replay runs where the collector is */
		if (cwd && access(cwd, X_OK) < 0)
			cwd = NULL;
		/* a script's run was recorded as its interpreter's: the replay runs the candidate script itself */
		s = dise_validate_spawn(candidate, dise_validate_script_args(argv, candidate), cwd, NULL, timeout_ms, &status);
		dise_validate_argv_free(argv);
		if (s == -ETIMEDOUT)
			continue; /* did not fail the same way: it did not end at all; the detectors will judge */
		if (s < 0) {
			r = s;
			break;
		}
		replayed++;
		if (dise_validate_fails_like(&t[i], status)) {
			snprintf(why, size, "fails like rule %lld: %s", (long long)t[i].rule,
				 t[i].description ? t[i].description : "");
			r = 1;
		}
	}
	dise_replays_free(t, n);
	if (r == 0)
		snprintf(why, size, "%d rule%s replayed, none failed the same way", replayed, replayed == 1 ? "" : "s");
	return r;
}

/* SHA-256 of the file at fd, hex; 0 or -errno */
static int hash_fd(int fd, char hex[65])
{
	struct dise_sha256 s;
	uint8_t buf[65536], d[32];
	ssize_t n;

	int r = dise_sha256_init(&s), k;

	while ((n = read(fd, buf, sizeof(buf))) > 0)
		dise_sha256_update(&s, buf, (size_t)n);
	k = n < 0 ? -errno : 0;
	r = dise_sha256_final(&s, d); /* always: it releases what init took */
	if (k < 0)
		return k;
	if (r < 0)
		return r;
	dise_sha256_hex(d, hex);
	return 0;
}

int dise_restore_in_place(const char *path, const char *expect_sha, const char *from, char *why, size_t size)
{
	char tmp[4200], hex[65], real[PATH_MAX];
	const char *link = NULL;
	struct stat st;
	int in = -1, out = -1, dir, r;
	ssize_t n;

	/*
	 * A path that is a symlink (/usr/local/bin/app -> ../app/current/bin/app)
	 * is restored through it: the file it names is what ran, and what is
	 * replaced (the link stays a link). Only once resolved, then with
	 * O_NOFOLLOW: a link changed meanwhile is refused, not followed.
	 */
	if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode)) {
		if (!realpath(path, real)) {
			r = -errno;
			snprintf(why, size, "'%s': a symlink that does not resolve: %s", path, strerror(errno));
			goto out;
		}
		link = path;
		path = real;
	}
	in = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (in < 0 || fstat(in, &st) < 0 || !S_ISREG(st.st_mode)) {
		r = in < 0 ? -errno : -EINVAL;
		snprintf(why, size, "'%s': %s", path, in < 0 ? strerror(errno) : "not a regular file");
		goto out;
	}
	/* only the broken content is replaced: never a newer deploy that came since */
	if ((r = hash_fd(in, hex)) < 0 || strcmp(hex, expect_sha)) {
		snprintf(why, size, "'%s' no longer holds the pruned content: left alone", path);
		r = r < 0 ? r : -ESTALE;
		goto out;
	}
	close(in);
	in = open(from, O_RDONLY | O_CLOEXEC);
	if (in < 0) {
		r = -errno;
		snprintf(why, size, "the healthy copy '%s': %s", from, strerror(errno));
		goto out;
	}
	if (snprintf(tmp, sizeof(tmp), "%s.dise-restore.%d", path, (int)getpid()) >= (int)sizeof(tmp)) {
		r = -ENAMETOOLONG;
		snprintf(why, size, "path too long");
		goto out;
	}
	out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0) {
		r = -errno;
		snprintf(why, size, "'%s': %s", tmp, strerror(errno));
		goto out;
	}
	{
		char buf[65536];

		while ((n = read(in, buf, sizeof(buf))) > 0)
			if (write(out, buf, (size_t)n) != n) {
				n = -1;
				break;
			}
	}
	/* the mode and the owner the file had (the owner only where we may: root, or ours already) */
	if (n < 0 || fchmod(out, st.st_mode & 07777) < 0 || (fchown(out, st.st_uid, st.st_gid) < 0 && errno != EPERM) ||
	    fsync(out) < 0 || rename(tmp, path) < 0) {
		r = -errno;
		snprintf(why, size, "writing '%s': %s", path, strerror(errno));
		unlink(tmp);
		goto out;
	}
	{
		/* the rename itself durable: fsync the directory */
		char d[4200], *slash;

		snprintf(d, sizeof(d), "%s", path);
		slash = strrchr(d, '/');
		if (slash == d)
			slash[1] = '\0';
		else if (slash)
			*slash = '\0';
		dir = open(slash ? d : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dir >= 0) {
			fsync(dir);
			close(dir);
		}
	}
	if (link)
		snprintf(why, size, "'%s' (through the symlink '%s') restored from '%s', mode %04o kept", path, link, from,
			 (unsigned)(st.st_mode & 07777));
	else
		snprintf(why, size, "'%s' restored from '%s', mode %04o kept", path, from, (unsigned)(st.st_mode & 07777));
	r = 0;
out:
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	return r;
}
