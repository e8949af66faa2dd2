/* SPDX-License-Identifier: MIT */
/*
 * `dise service watch|unwatch|status UNIT`: one systemd service's runs
 * watched, through a drop-in that preloads the shim:
 *
 *   /etc/systemd/system/UNIT.d/dise-watch.conf   (--user: ~/.config/systemd/user/UNIT.d/)
 *     [Service]
 *     Environment=LD_PRELOAD=/usr/lib/x86_64-linux-gnu/dise/libdise_shim.so
 *
 * unwatch removes exactly that file, and UNIT.d when dise made it (the
 * marker UNIT.d/.dise-created says so; systemd reads only *.conf there) and
 * nothing else is in it. watch runs the shim's self-test first. Both reload
 * systemd when it runs (systemctl daemon-reload), never restart the unit:
 * that is the admin's call, and the change applies from its next start.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"

#define DROPIN "dise-watch.conf"
#define MARKER ".dise-created"

struct service {
	char unit[256];
	char dir[PATH_MAX], conf[PATH_MAX + 32], marker[PATH_MAX + 32];
	char root[PATH_MAX], entry[PATH_MAX], shim[PATH_MAX + 32]; /* the shim as the unit names it; its file from here */
	int user, live; /* live: the real system's directories, where systemd may run */
};

/* UNIT as systemd names it: a service unit name, ".service" added when it has no suffix. */
static int unit_name(const char *arg, char *buf, size_t size)
{
	const char *dot = strrchr(arg, '.');
	size_t n = strlen(arg);

	if (!n || n > 200 || strspn(arg, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789:-_.@\\") != n)
		return dise_cli_error(0, "'%s' is not a unit name", arg);
	if (dot && strcmp(dot, ".service"))
		return dise_cli_error(0, "'%s' is not a service: only services run programs", arg);
	snprintf(buf, size, "%s%s", arg, dot ? "" : ".service");
	return 0;
}

static int paths(struct service *sv, const char *root_opt)
{
	char root[PATH_MAX], base[PATH_MAX];
	const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
	int r;

	if ((r = dise_cli_sysroot(root_opt, root, sizeof(root))) != 0)
		return r;
	if (sv->user) {
		if (xdg && xdg[0] == '/')
			snprintf(base, sizeof(base), "%s/systemd/user", xdg);
		else if (home && home[0] == '/')
			snprintf(base, sizeof(base), "%s/.config/systemd/user", home);
		else
			return dise_cli_error(0, "--user: neither $XDG_CONFIG_HOME nor $HOME is an absolute path");
		sv->live = 1;
	} else {
		if (dise_cli_syspath(base, sizeof(base), root, "/etc/systemd/system") < 0)
			return dise_cli_error(-ENAMETOOLONG, "system root");
		sv->live = !strcmp(root, "/");
	}
	if ((size_t)snprintf(sv->dir, sizeof(sv->dir), "%s/%s.d", base, sv->unit) >= sizeof(sv->dir))
		return dise_cli_error(-ENAMETOOLONG, "the drop-in directory");
	snprintf(sv->conf, sizeof(sv->conf), "%s/" DROPIN, sv->dir);
	snprintf(sv->marker, sizeof(sv->marker), "%s/" MARKER, sv->dir);
	snprintf(sv->root, sizeof(sv->root), "%s", sv->user ? "/" : root);
	return 0;
}

/* The shim the drop-in names (as the root's programs see it), and its file from here. */
static int shim(struct service *sv, const char *shim_opt)
{
	int r = dise_cli_shim_entry(sv->root, shim_opt, sv->entry, sizeof(sv->entry));

	if (r)
		return r;
	return dise_cli_syspath(sv->shim, sizeof(sv->shim), sv->root, sv->entry) < 0 ? dise_cli_error(-ENAMETOOLONG, "the shim's path")
										      : 0;
}

/* systemctl [--user] daemon-reload when systemd runs here, so that the unit's next start has the change. */
static void reload(const struct service *sv)
{
	char *user_argv[] = { (char *)"systemctl", (char *)"--user", (char *)"daemon-reload", NULL };
	char *system_argv[] = { (char *)"systemctl", (char *)"daemon-reload", NULL };
	const char *rt = getenv("XDG_RUNTIME_DIR"), *flag = sv->user ? " --user" : "";
	char probe[PATH_MAX];
	pid_t pid;
	int st;

	if (!sv->live)
		return;
	/* a running manager: /run/systemd/system for the system's, $XDG_RUNTIME_DIR/systemd for a user's */
	if (sv->user)
		snprintf(probe, sizeof(probe), "%s/systemd", rt && rt[0] == '/' ? rt : "/nonexistent");
	else
		snprintf(probe, sizeof(probe), "/run/systemd/system");
	if (access(probe, F_OK) != 0) {
		dise_cli_print(stdout, "systemd is not running%s: the change applies when it starts %s\n", sv->user ? " for you" : "",
			       sv->unit);
		return;
	}
	if (posix_spawnp(&pid, "systemctl", NULL, NULL, sv->user ? user_argv : system_argv, environ) != 0 ||
	    waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
		dise_cli_print(stderr, "dise: systemctl%s daemon-reload failed: run it, then restart %s\n", flag, sv->unit);
	else
		dise_cli_print(stdout, "restart %s to apply: systemctl%s restart %s\n", sv->unit, flag, sv->unit);
}

static int watch(struct service *sv)
{
	char text[PATH_MAX + 1024];
	int made, r;

	if (access(sv->conf, F_OK) == 0) {
		dise_cli_print(stdout, "already watched: %s\n", sv->conf);
		return 0;
	}
	if (dise_cli_shim_selftest(sv->shim) != 0)
		return dise_cli_error(0, "%s left as it was", sv->unit);
	snprintf(text, sizeof(text),
		 "# Written by `dise service watch %s`; `dise service unwatch %s` removes it.\n"
		 "[Service]\n"
		 "Environment=LD_PRELOAD=%s\n",
		 sv->unit, sv->unit, sv->entry);
	if ((made = dise_cli_make_dirs(sv->dir)) < 0)
		return dise_cli_error(made, "cannot make '%s'", sv->dir);
	if (made) {
		FILE *f = fopen(sv->marker, "we");

		if (!f || fclose(f))
			return dise_cli_error(-errno, "cannot write '%s'", sv->marker);
	}
	if ((r = dise_cli_replace(sv->conf, text, strlen(text), 0644, geteuid(), getegid())) < 0)
		return dise_cli_error(r, "cannot write '%s'", sv->conf);
	dise_cli_print(stdout, "watched: %s preloads %s\n", sv->conf, sv->entry);
	reload(sv);
	return 0;
}

static int unwatch(struct service *sv)
{
	if (unlink(sv->conf) < 0) {
		if (errno != ENOENT)
			return dise_cli_error(-errno, "cannot remove '%s'", sv->conf);
		dise_cli_print(stdout, "not watched: no %s\n", sv->conf);
		return 0;
	}
	if (unlink(sv->marker) == 0 && rmdir(sv->dir) < 0) /* others' drop-ins stay, and so does the directory */
		dise_cli_print(stdout, "kept %s: it holds other files\n", sv->dir);
	dise_cli_print(stdout, "unwatched: removed %s\n", sv->conf);
	reload(sv);
	return 0;
}

int dise_cli_service(int argc, char **argv, const struct dise_cli_cmd *cmd)
{
	enum { OPT_ROOT = DISE_CLI_OPT_FIRST, OPT_USER, OPT_SHIM };
	static const struct option opts[] = { { "root", required_argument, NULL, OPT_ROOT },
					      { "user", no_argument, NULL, OPT_USER },
					      { "shim", required_argument, NULL, OPT_SHIM },
					      DISE_CLI_OPT_END };
	static struct service sv;
	const char *root = NULL, *shim_opt = NULL;
	char **ops;
	int c, r;

	while ((c = dise_cli_getopt(argc, argv, opts, DISE_CLI_PERMUTE, cmd)) != -1)
		if (c == OPT_ROOT)
			root = optarg;
		else if (c == OPT_USER)
			sv.user = 1;
		else if (c == OPT_SHIM)
			shim_opt = optarg;
	ops = dise_cli_operands(argc, argv, 2, 2, cmd);
	if (strcmp(ops[0], "watch") && strcmp(ops[0], "unwatch") && strcmp(ops[0], "status"))
		dise_cli_usage_error(cmd, "unknown service command '%s' (watch, unwatch, status)", ops[0]);
	if (sv.user && root)
		dise_cli_usage_error(cmd, "--user and --root: the user's units are in $HOME");
	if ((r = unit_name(ops[1], sv.unit, sizeof(sv.unit))) != 0 || (r = paths(&sv, root)) != 0)
		return r;
	if (!strcmp(ops[0], "watch"))
		return (r = shim(&sv, shim_opt)) != 0 ? r : watch(&sv);
	if (!strcmp(ops[0], "unwatch"))
		return unwatch(&sv);
	r = access(sv.conf, F_OK) == 0;
	dise_cli_print(stdout, "%s: %s%s\n", r ? "watched" : "not watched", r ? "" : "no ", sv.conf);
	return r ? 0 : 3;
}
