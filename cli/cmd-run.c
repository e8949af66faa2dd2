/* SPDX-License-Identifier: MIT */
/*
 * `dise run TOOL [ARGS...]`: runs TOOL with the shim preloaded (an absolute
 * path, so children find it from any directory), starts the collector when
 * none runs, and gives back exactly what TOOL gave: its exit code, or its
 * fatal signal (re-raised on itself, with core dumps off for dise so that
 * only TOOL's core is written).
 *
 * Signals: like system(), dise ignores SIGINT and SIGQUIT while TOOL runs,
 * so Ctrl-C, which the terminal sends to the whole foreground group, acts
 * on TOOL alone; SIGTERM and SIGHUP sent to dise are passed on to TOOL.
 *
 * It reaps TOOL with wait4 and records what it saw itself (record/ builds
 * the records, as for the shim and `dise attach`), after TOOL ended:
 * a WRAPPED START (path, argv, cwd, identity), used only when the shim did
 * not record this process (a static or setuid binary), and a TRACED EXIT
 * with the raw wait status and the kernel's resource use, which ends the
 * latest run of that pid unless the shim already ended it (so a SIGKILL is
 * known at once).
 *
 * Routes: the shim follows a route from inside the process; a tool no shim
 * can load into (a static or set-id binary) is routed here, with the same
 * checks of the target, and recorded as the shim records a route.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "dise/ring.h"
#include "record.h"

extern char **environ;

static volatile pid_t child;

static void forward(int sig)
{
	if (child > 0)
		kill(child, sig);
}

/*
 * The file TOOL names: as given when it has a slash (made absolute, but not
 * through symlinks: a tool is named by the path it was run from, python3 is
 * not python3.11), else the first executable match in PATH.
 */
static int find_tool(const char *tool, char *out, size_t size)
{
	const char *path = getenv("PATH");
	char *copy, *dir, *save = NULL, cwd[PATH_MAX];

	if (strchr(tool, '/')) {
		int n;

		if (tool[0] != '/' && getcwd(cwd, sizeof(cwd)))
			n = snprintf(out, size, "%s/%s", cwd, tool);
		else
			n = snprintf(out, size, "%s", tool);
		return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
	}
	copy = strdup(path && path[0] ? path : "/usr/local/bin:/usr/bin:/bin");
	for (dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		snprintf(out, size, "%s/%s", dir[0] ? dir : ".", tool);
		if (access(out, X_OK) == 0) {
			free(copy);
			return 0;
		}
	}
	free(copy);
	return -ENOENT;
}

/*
 * The environment for TOOL: ours, with the shim in LD_PRELOAD. The array
 * and *ret_owned (the LD_PRELOAD entry when it had to be made) are the
 * caller's to free.
 */
static char **child_env(const char *shim, char **ret_owned)
{
	size_t n = 0, i, k = 0;
	char **env, *pre = NULL;

	*ret_owned = NULL;
	while (environ[n])
		n++;
	env = calloc(n + 2, sizeof(char *));
	if (!env)
		return NULL;
	for (i = 0; i < n; i++) {
		if (strncmp(environ[i], "LD_PRELOAD=", 11))
			env[k++] = environ[i];
		else if (strstr(environ[i], "libdise_shim"))
			pre = environ[i]; /* already there */
		else if (!*ret_owned && asprintf(ret_owned, "%s:%s", environ[i], shim) < 0)
			*ret_owned = NULL;
	}
	if (!pre && !*ret_owned && asprintf(ret_owned, "LD_PRELOAD=%s", shim) < 0)
		*ret_owned = NULL;
	if (!pre)
		pre = *ret_owned;
	if (pre)
		env[k++] = pre;
	env[k] = NULL;
	return env;
}

/* A WRAPPED START of path (its identity now) for run (pid, t0), into the ring. */
static void start_wrapped(dise_ring *ring, pid_t pid, const char *path, char **argv, uint64_t t0, uint64_t wall0)
{
	static uint8_t b[DISE_RECORD_MAX];
	char cwd[DISE_PATH_MAX];
	struct dise_rec_start_in in;
	struct dise_rec_buf buf;
	struct stat st;
	int len;

	memset(&in, 0, sizeof(in));
	in.who = (struct dise_rec_who){ t0, (uint32_t)pid, (uint32_t)pid };
	in.wall_ns = wall0;
	in.ppid = (uint32_t)getpid();
	in.uid = (uint32_t)getuid();
	in.flags = DISE_START_WRAPPED;
	if (stat(path, &st) == 0) {
		in.exe_id.dev = st.st_dev;
		in.exe_id.ino = st.st_ino;
		in.exe_id.size = (uint64_t)st.st_size;
		in.exe_id.mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
		in.script_id = in.exe_id;
	} else {
		in.flags |= DISE_START_NO_EXE | DISE_START_NO_SCRIPT;
	}
	in.execfn = path;
	in.cwd = getcwd(cwd, sizeof(cwd)) ? cwd : "";
	in.argv.v = argv;
	dise_rec_buf_init(&buf, b, sizeof(b));
	if ((len = dise_rec_start_write(&in, &buf.sink)) > 0)
		dise_ring_put(ring, b, (uint32_t)len);
}

/*
 * WRAPPED START, then TRACED EXIT, built by record/ into the ring; with a
 * route (target), the records the shim writes when it routes: START of
 * path, EXEC (ROUTE) to target, START of target. Best effort: the child's
 * fate is what matters.
 */
static void record(pid_t pid, const char *path, const char *target, char **argv, uint64_t t0, uint64_t wall0,
		   int status, const struct rusage *ru)
{
	static uint8_t b[DISE_RECORD_MAX];
	char ring_path[DISE_PATH_MAX];
	struct dise_rec_who who = { t0, (uint32_t)pid, (uint32_t)pid };
	struct dise_rec_exit e;
	dise_ring ring;

	if (dise_cli_ring_path(ring_path, sizeof(ring_path), 0) < 0 ||
	    dise_ring_map(ring_path, DISE_RING_WRITE | DISE_RING_CREATE, 0, 0, &ring) < 0)
		return;
	start_wrapped(&ring, pid, path, argv, t0, wall0);
	if (target) {
		struct dise_rec_argv a = { .v = argv };
		struct dise_rec_buf buf;
		int len;

		dise_rec_buf_init(&buf, b, sizeof(b));
		if ((len = dise_rec_exec_write(&who, DISE_EXEC_ROUTE, target, &a, &buf.sink)) > 0)
			dise_ring_put(&ring, b, (uint32_t)len);
		who.run_start_ns = t0 + 1; /* the routed image: a run of its own, as after the shim's exec */
		start_wrapped(&ring, pid, target, argv, who.run_start_ns, wall0);
	}
	dise_rec_exit_init(&e, &who, status, DISE_EXIT_TRACED);
	e.user_ns = (uint64_t)ru->ru_utime.tv_sec * 1000000000u + (uint64_t)ru->ru_utime.tv_usec * 1000u;
	e.sys_ns = (uint64_t)ru->ru_stime.tv_sec * 1000000000u + (uint64_t)ru->ru_stime.tv_usec * 1000u;
	e.maxrss_kb = (uint64_t)ru->ru_maxrss;
	dise_ring_put_record(&ring, &e, sizeof(e)); /* wakes a gathering collector only for an end that may be a strike */
	dise_ring_unmap(&ring);
}

/* Whether no shim can load into path: set-id (the loader drops LD_PRELOAD), or an ELF with no interpreter. */
static int unwatchable(const char *path, const struct stat *st)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	int fd, r = 1;
	unsigned i;

	if (st->st_mode & (S_ISUID | S_ISGID))
		return 1;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	if (pread(fd, &eh, sizeof(eh), 0) != (ssize_t)sizeof(eh) || memcmp(eh.e_ident, ELFMAG, SELFMAG) ||
	    eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_phentsize != sizeof(ph))
		r = 0; /* a script, or not ours to judge: the shim's */
	for (i = 0; r && i < eh.e_phnum; i++)
		if (pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff + i * sizeof(ph))) != (ssize_t)sizeof(ph) ||
		    ph.p_type == PT_INTERP)
			r = 0;
	close(fd);
	return r;
}

/*
 * The route of a tool no shim can watch (a static or set-id binary): the
 * shim routes the others itself, in the process. 1 with the target in
 * target, or 0: none, or one the shim's checks refuse.
 */
static int route_of(const char *path, char *target, size_t size)
{
	char ring_path[DISE_PATH_MAX], rpath[DISE_PATH_MAX + 8], again[DISE_PATH_MAX];
	struct dise_file_id id, to, to2;
	int64_t ctime = 0;
	struct stat st;
	uint32_t owner = (uint32_t)geteuid(), canary_pct = 0;

	if (stat(path, &st) < 0 || !unwatchable(path, &st))
		return 0;
	id.dev = st.st_dev;
	id.ino = st.st_ino;
	id.size = (uint64_t)st.st_size;
	id.mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	if (dise_cli_ring_path(ring_path, sizeof(ring_path), 0) < 0 ||
	    dise_routes_path(ring_path, rpath, sizeof(rpath)) < 0 ||
	    dise_routes_lookup(rpath, owner, &id, target, size, &to, &ctime, NULL, &canary_pct) != 1 ||
	    !dise_routes_target_ok(target, &to, ctime, owner))
		return 0;
	/* a route to a routed version: a loop, or a table gone wrong */
	if (dise_routes_lookup(rpath, owner, &to, again, sizeof(again), &to2, NULL, NULL, NULL) != 0)
		return 0;
	/* a canary's weighted route: this file (the canary) for canary_pct runs in a hundred, drawn per run */
	if (canary_pct) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		if ((uint32_t)(((uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() * 2654435761u)) % 100) < canary_pct)
			return 0;
	}
	return 1;
}

int dise_cli_run(int argc, char **argv, const struct dise_cli_cmd *cmd)
{
	char shim[PATH_MAX + 64], abs_shim[PATH_MAX], path[PATH_MAX], target[DISE_PATH_MAX], *owned, **env;
	posix_spawnattr_t attr;
	struct sigaction ign, fwd, old_int, old_quit;
	sigset_t defaults;
	struct rusage ru;
	uint64_t t0, wall0;
	pid_t pid;
	int r, routed, status = 0;

	/* options stop at TOOL: what follows is TOOL's, passed through untouched */
	while (dise_cli_getopt(argc, argv, NULL, DISE_CLI_STOP, cmd) != -1)
		;
	argv = dise_cli_operands(argc, argv, 1, -1, cmd); /* argv[0]: TOOL */
	if (dise_cli_shim_path(abs_shim, sizeof(abs_shim), shim, sizeof(shim)) < 0) {
		dise_cli_print(stderr, "dise: the shim is not where it should be: %s\n", shim);
		return 1;
	}
	if (find_tool(argv[0], path, sizeof(path)) < 0) {
		dise_cli_print(stderr, "dise: %s: command not found\n", argv[0]);
		return 127;
	}
	{
		char ring_path[DISE_PATH_MAX];

		if (dise_cli_ring_path(ring_path, sizeof(ring_path), 1) < 0) /* a fallback said in one line */
			dise_cli_print(stderr, "dise: no usable ring: '%s' runs unrecorded\n", argv[0]);
	}
	routed = route_of(path, target, sizeof(target));
	r = dise_cli_collector_ensure();
	if (r)
		dise_cli_print(stderr, "dise: running '%s' without a collector\n", argv[0]); /* the records wait in the ring */

	/*
	 * The tool must inherit the dispositions and mask dise inherited (under
	 * nohup SIGHUP stays ignored): only what dise itself starts ignoring is
	 * set back to default for the tool; a signal dise found ignored stays
	 * ignored and is not forwarded; the mask passes through untouched.
	 */
	memset(&ign, 0, sizeof(ign));
	ign.sa_handler = SIG_IGN;
	memset(&fwd, 0, sizeof(fwd));
	fwd.sa_handler = forward;
	sigemptyset(&defaults);
	sigaction(SIGINT, &ign, &old_int);
	if (old_int.sa_handler != SIG_IGN)
		sigaddset(&defaults, SIGINT);
	sigaction(SIGQUIT, &ign, &old_quit);
	if (old_quit.sa_handler != SIG_IGN)
		sigaddset(&defaults, SIGQUIT);
	for (int k = 0; k < 2; k++) {
		int sig = k ? SIGHUP : SIGTERM;
		struct sigaction cur;

		if (sigaction(sig, NULL, &cur) == 0 && cur.sa_handler != SIG_IGN)
			sigaction(sig, &fwd, NULL); /* a caught signal is default again across exec */
	}

	posix_spawnattr_init(&attr);
	posix_spawnattr_setsigdefault(&attr, &defaults);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF);
	t0 = dise_rec_clock_ns(CLOCK_MONOTONIC);
	wall0 = dise_rec_clock_ns(CLOCK_REALTIME);
	env = child_env(abs_shim, &owned);
	r = env ? posix_spawn(&pid, routed ? target : path, NULL, &attr, argv, env) : ENOMEM;
	posix_spawnattr_destroy(&attr);
	free(env);
	free(owned);
	if (r != 0) {
		dise_cli_print(stderr, "dise: cannot run '%s': %s\n", path, strerror(r));
		return r == ENOENT ? 127 : 126;
	}
	child = pid;
	while (wait4(pid, &status, 0, &ru) < 0) {
		if (errno != EINTR) {
			dise_cli_print(stderr, "dise: waiting for '%s': %s\n", path, strerror(errno));
			return 1;
		}
	}
	child = 0;
	record(pid, path, routed ? target : NULL, argv, t0, wall0, status, &ru);

	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status)) {
		/* die the same way; the core, if any, was TOOL's */
		struct rlimit no_core = { 0, 0 };
		struct sigaction dfl;
		sigset_t one;

		setrlimit(RLIMIT_CORE, &no_core);
		memset(&dfl, 0, sizeof(dfl));
		dfl.sa_handler = SIG_DFL;
		sigaction(WTERMSIG(status), &dfl, NULL);
		sigemptyset(&one);
		sigaddset(&one, WTERMSIG(status));
		sigprocmask(SIG_UNBLOCK, &one, NULL);
		raise(WTERMSIG(status));
		return 128 + WTERMSIG(status);
	}
	return 1;
}
