/* SPDX-License-Identifier: MIT */
/*
 * `dise core install | uninstall | status`: dise-coredump as the kernel's
 * core_pattern handler, chaining to the one it replaces.
 *
 * install remembers kernel.core_pattern and kernel.core_pipe_limit in the
 * state file (coredump/state.h) before it changes anything, then sets the
 * pattern to `|HANDLER %P %i ...` and core_pipe_limit to 16 when it was 0
 * (so that the kernel keeps /proc/PID until the handler is done, as
 * systemd's sysctl.d snippet does). uninstall puts both back exactly, unless
 * someone changed the pattern since (then it says so and changes nothing).
 * The kernel runs the handler as root: install refuses a handler file or
 * directory that anyone but root could write. $DISE_CORE_SYSCTL: a
 * directory standing in for /proc/sys/kernel (tests).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "state.h"

#define HANDLER_ARGS " %P %i %I %s %t %u %g %c %d %p %h %C %e %f %E"

static void sysctl_path(const char *name, char *buf, size_t size)
{
	const char *dir = getenv("DISE_CORE_SYSCTL");

	snprintf(buf, size, "%s/%s", dir && dir[0] ? dir : "/proc/sys/kernel", name);
}

static int get(const char *name, char *buf, size_t size)
{
	char path[PATH_MAX];

	sysctl_path(name, path, sizeof(path));
	return dise_core_sysctl_get(path, buf, size);
}

static int set(const char *name, const char *value)
{
	char path[PATH_MAX];

	sysctl_path(name, path, sizeof(path));
	return dise_core_sysctl_set(path, value);
}

/*
 * Root's alone: a file or directory no one else can write or replace (the
 * kernel runs the handler as root); a sticky directory (/tmp) lets no one
 * replace root's entries in it.
 */
static int root_only(const char *path)
{
	struct stat st;

	if (lstat(path, &st) < 0 || st.st_uid != 0)
		return 0;
	return !(st.st_mode & 022) || (S_ISDIR(st.st_mode) && (st.st_mode & S_ISVTX));
}

static int handler_path(const char *given, char *buf, size_t size)
{
	char self[PATH_MAX], dir[PATH_MAX], *d;
	ssize_t n;

	if (given) {
		if (!realpath(given, buf))
			return dise_cli_error(errno, "%s", given);
	} else {
		if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) < 0)
			return dise_cli_error(errno, "/proc/self/exe");
		self[n] = '\0';
		snprintf(buf, size, "%s/dise-coredump", dirname(self));
	}
	if (access(buf, X_OK) < 0)
		return dise_cli_error(errno, "the handler %s", buf);
	snprintf(dir, sizeof(dir), "%s", buf);
	for (d = dir; strcmp(d, "/"); d = dirname(d))
		if (!root_only(d))
			return dise_cli_error(0, "%s can be written by someone other than root: the kernel would run "
					      "whatever they put there as root (install dise-coredump in a root-owned place)", d);
	return 0;
}

static int install(const char *given)
{
	char handler[PATH_MAX], cur[DISE_CORE_PATTERN_MAX * 2], limit[32];
	struct dise_core_state s;
	int r;

	if ((r = handler_path(given, handler, sizeof(handler))) != 0)
		return r;
	memset(&s, 0, sizeof(s));
	if ((size_t)snprintf(s.installed, sizeof(s.installed), "|%s%s", handler, HANDLER_ARGS) >= DISE_CORE_PATTERN_MAX)
		return dise_cli_error(0, "the pattern '%s' is longer than the kernel's %d bytes: install dise-coredump "
				      "at a shorter path (--handler)", s.installed, DISE_CORE_PATTERN_MAX - 1);
	if ((r = get("core_pattern", cur, sizeof(cur))) < 0 || (r = get("core_pipe_limit", limit, sizeof(limit))) < 0)
		return dise_cli_error(r, "reading kernel.core_pattern");
	if (!strcmp(cur, s.installed)) {
		dise_cli_print(stdout, "already installed: %s\n", cur);
		return 0;
	}
	if (!strncmp(cur, "|", 1) && strstr(cur, "/dise-coredump "))
		return dise_cli_error(0, "another dise-coredump is installed (%s): dise core uninstall first", cur);
	snprintf(s.previous, sizeof(s.previous), "%s", cur);
	s.previous_pipe_limit = strtol(limit, NULL, 10);
	if ((r = dise_core_state_write(dise_core_state_path(), &s)) < 0)
		return dise_cli_error(r, "saving the previous pattern to %s", dise_core_state_path());
	if (s.previous_pipe_limit == 0 && (r = set("core_pipe_limit", "16")) < 0)
		return dise_cli_error(r, "setting kernel.core_pipe_limit");
	if ((r = set("core_pattern", s.installed)) < 0) {
		if (s.previous_pipe_limit == 0)
			set("core_pipe_limit", "0");
		unlink(dise_core_state_path());
		return dise_cli_error(r, "setting kernel.core_pattern");
	}
	dise_cli_print(stdout, "installed: %s\nchaining to: %s\n", s.installed, s.previous);
	return 0;
}

static int uninstall(void)
{
	char cur[DISE_CORE_PATTERN_MAX * 2], limit[32];
	struct dise_core_state s;
	int r;

	if ((r = dise_core_state_read(dise_core_state_path(), &s)) == -ENOENT)
		return dise_cli_error(0, "not installed (no %s)", dise_core_state_path());
	if (r < 0)
		return dise_cli_error(r, "%s", dise_core_state_path());
	if ((r = get("core_pattern", cur, sizeof(cur))) < 0)
		return dise_cli_error(r, "reading kernel.core_pattern");
	if (strcmp(cur, s.installed))
		return dise_cli_error(0, "kernel.core_pattern was changed since the install (now '%s'): left as it is; "
				      "remove %s to forget the install", cur, dise_core_state_path());
	if ((r = set("core_pattern", s.previous)) < 0)
		return dise_cli_error(r, "restoring kernel.core_pattern");
	snprintf(limit, sizeof(limit), "%ld", s.previous_pipe_limit);
	if (s.previous_pipe_limit >= 0 && (r = set("core_pipe_limit", limit)) < 0)
		return dise_cli_error(r, "restoring kernel.core_pipe_limit");
	unlink(dise_core_state_path());
	dise_cli_print(stdout, "restored: %s\n", s.previous);
	return 0;
}

static int status(int json)
{
	char cur[DISE_CORE_PATTERN_MAX * 2], limit[32] = "";
	struct dise_core_state s;
	int r = dise_core_state_read(dise_core_state_path(), &s), installed;

	if (get("core_pattern", cur, sizeof(cur)) < 0 || get("core_pipe_limit", limit, sizeof(limit)) < 0)
		return dise_cli_error(errno, "reading kernel.core_pattern");
	installed = r == 0 && !strcmp(cur, s.installed);
	if (json) {
		json_t *o = json_pack("{s:b, s:s, s:s}", "installed", installed, "core_pattern", cur, "core_pipe_limit", limit);

		if (o && r == 0)
			json_object_set_new(o, "previous", json_string(s.previous));
		r = o ? dise_cli_json_print(o) : -1;
		json_decref(o);
		return r < 0;
	}
	dise_cli_print(stdout, "kernel.core_pattern: %s\nkernel.core_pipe_limit: %s\n", cur, limit);
	if (installed)
		dise_cli_print(stdout, "dise-coredump: installed, chaining to: %s\n", s.previous);
	else if (r == 0)
		dise_cli_print(stdout, "dise-coredump: not in place (installed as '%s', changed since)\n", s.installed);
	else
		dise_cli_print(stdout, "dise-coredump: not installed\n");
	return 0;
}

int dise_cli_core(int argc, char **argv, const struct dise_cli_cmd *cmd)
{
	enum { OPT_HANDLER = DISE_CLI_OPT_FIRST };
	static const struct option opts[] = { { "handler", required_argument, NULL, OPT_HANDLER }, DISE_CLI_JSON,
					      DISE_CLI_OPT_END };
	const char *handler = NULL;
	char **op;
	int c, json = 0;

	while ((c = dise_cli_getopt(argc, argv, opts, DISE_CLI_PERMUTE, cmd)) != -1) {
		if (c == OPT_HANDLER)
			handler = optarg;
		else if (c == DISE_CLI_OPT_JSON)
			json = 1;
	}
	op = dise_cli_operands(argc, argv, 1, 1, cmd);
	if (!strcmp(op[0], "status"))
		return status(json);
	if (strcmp(op[0], "install") && strcmp(op[0], "uninstall")) {
		dise_cli_print(stderr, "dise core: unknown action '%s'\n%s", op[0], cmd->usage);
		return 2;
	}
	if (geteuid() != 0 && !getenv("DISE_CORE_SYSCTL"))
		return dise_cli_error(0, "dise core %s changes kernel.core_pattern: run it as root", op[0]);
	return !strcmp(op[0], "install") ? install(handler) : uninstall();
}
