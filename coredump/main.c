/* SPDX-License-Identifier: MIT */
/*
 * dise-coredump: the kernel's core_pattern handler (`dise core install`).
 *
 *   |dise-coredump %P %i %I %s %t %u %g %c %d %p %h %C %e %f %E
 *
 * The kernel runs it as root in the init namespaces, the core on stdin,
 * while the crashing process waits in its dump. It
 *   1. starts the previous pipe handler (as root, as the kernel would have);
 *   2. reads /proc/PID (as root: only data from here on);
 *   3. opens the previous file pattern's core as the process's filesystem
 *      identity, then drops every privilege to the crashing user's;
 *   4. maps that user's ring (O_NOFOLLOW, owned by the user, private:
 *      ring/'s checks), never creating one;
 *   5. streams the core: every byte on to the chain, the few the record
 *      needs kept (core.c);
 *   6. writes START and CRASH (flags CORE) into the ring: the collector
 *      keeps them only when no shim or tracer recorded this process.
 * Run by hand with a core file on stdin (the process gone: /proc/PID is not
 * its dump), it records from the core alone: argv from the core's psargs,
 * the executable from %E, DISE_RING and the like from its own environment,
 * and a core with the shim mapped is left to the shim's records.
 * Whatever fails in dise, the core still goes on to the chain; what is not
 * done is said in one line (stderr and syslog).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "chain.h"
#include "core.h"
#include "dise/ring.h"
#include "dumping.h"
#include "record.h"
#include "state.h"

#define NARGS 15
#define CHUNK (1u << 20)

static char comm[64] = "?";
static long the_pid;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "dise-coredump: pid %ld (%s): %s\n", the_pid, comm, msg);
	syslog(LOG_NOTICE, "pid %ld (%s): %s", the_pid, comm, msg);
}

static int parse_args(int argc, char **argv, struct dise_core_args *a)
{
	if (argc != NARGS + 1)
		return -1;
	a->P = argv[1];
	a->i = argv[2];
	a->I = argv[3];
	a->s = argv[4];
	a->t = argv[5];
	a->u = argv[6];
	a->g = argv[7];
	a->c = argv[8];
	a->d = argv[9];
	a->p = argv[10];
	a->h = argv[11];
	a->C = argv[12];
	a->e = argv[13];
	a->f = argv[14];
	a->E = argv[15];
	a->F[0] = '\0';
	return 0;
}

static int read_uses_pid(void)
{
	char v[16];

	return dise_core_sysctl_get("/proc/sys/kernel/core_uses_pid", v, sizeof(v)) == 0 && atoi(v) != 0;
}

/* Step 1 (root): the previous pipe handler. */
static void chain_pipe(const struct dise_core_state *s, const struct dise_core_args *a, struct dise_chain *ch)
{
	int r;

	if (s->previous[0] != '|')
		return;
	if (!strcmp(a->c, "1")) { /* fs/coredump.c: RLIMIT_CORE 1 asks for no pipe dump */
		say("RLIMIT_CORE is 1: the core is not passed to the previous handler, as the kernel would not");
		return;
	}
	if ((r = dise_chain_pipe(ch, s->previous + 1, a)) < 0)
		say("cannot start the previous handler '%s': %s", s->previous + 1, strerror(-r));
}

/* Step 3: the previous file pattern's core, as the process's filesystem identity would write it. */
static void chain_file(const struct dise_core_state *s, const struct dise_core_args *a,
		       const struct dise_core_proc *pr, struct dise_chain *ch)
{
	char path[4096];
	unsigned long long limit = strtoull(a->c, NULL, 10);
	int suid_safe = !strcmp(a->d, "2"), r;

	if (!s->previous[0] || s->previous[0] == '|')
		return;
	if (dise_core_expand(s->previous, a, 0, read_uses_pid(), path, sizeof(path)) < 0) {
		say("the previous pattern '%s' expands too long: no core file", s->previous);
		return;
	}
	if (path[0] != '/' && (suid_safe || pr->cwdfd < 0)) {
		say("no core file '%s': %s", path,
		    suid_safe ? "a suid-safe dump goes only to an absolute path" : "the process's cwd is not known");
		return;
	}
	r = dise_chain_file(ch, path, pr->cwdfd, pr->rootfd >= 0 ? pr->rootfd : AT_FDCWD, limit, suid_safe);
	if (r == -EFBIG)
		return; /* RLIMIT_CORE under a page: the kernel writes no file either */
	if (r < 0)
		say("no core file '%s': %s", path, strerror(-r));
}

/* Step 3 then the drop: the file as fsuid/fsgid, everything after as the real uid/gid. */
static int drop_privileges(const struct dise_core_state *s, const struct dise_core_args *a,
			   const struct dise_core_proc *pr, struct dise_chain *file)
{
	uid_t uid = pr->live ? pr->ruid : (uid_t)strtoul(a->u, NULL, 10);
	gid_t gid = pr->live ? pr->rgid : (gid_t)strtoul(a->g, NULL, 10);
	uid_t fsuid = pr->live ? pr->fsuid : uid;
	gid_t fsgid = pr->live ? pr->fsgid : gid;

	if (geteuid() != 0) { /* run by hand by a user: only its own crashes */
		if (uid != geteuid())
			return -EPERM;
		chain_file(s, a, pr, file);
		return 0;
	}
	if (!strcmp(a->d, "2")) { /* suid-safe: the kernel writes such a core as root */
		chain_file(s, a, pr, file);
	} else {
		if (setgroups((size_t)pr->ngroups, pr->groups) < 0)
			return -errno;
		setfsgid(fsgid);
		setfsuid(fsuid);
		chain_file(s, a, pr, file);
	}
	if (uid == 0)
		return setgroups(0, NULL) < 0 ? -errno : 0;
	if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
		return -errno;
	if (getuid() != uid || geteuid() != uid || getegid() != gid)
		return -EPERM;
	return 0;
}

/* Step 4: the user's ring, found as the user's own programs find it (their environment when live). */
static int map_ring(const struct dise_core_proc *pr, dise_ring *ring, char *path, size_t size)
{
	static const char *const vars[] = {"DISE_RING", "DISE_HOME", "XDG_RUNTIME_DIR", "XDG_STATE_HOME", "HOME"};
	size_t i;

	if (pr->live) {
		for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
			const char *v = dise_core_proc_env(pr, vars[i]);

			if (v)
				setenv(vars[i], v, 1);
			else
				unsetenv(vars[i]);
		}
	}
	return dise_ring_map_default(DISE_RING_WRITE, 0, 0, ring, path, size);
}

/* argv from the core's psargs (80 bytes of it, space-separated) when /proc had none. */
static size_t psargs_packed(const char *psargs, char *out, size_t size)
{
	size_t n = 0;
	const char *p;

	for (p = psargs; *p && n + 1 < size; p++)
		out[n++] = *p == ' ' ? '\0' : *p;
	if (n && n < size)
		out[n++] = '\0';
	return n;
}

/*
 * The wall time of a run known only from its core: %t, the dump's second,
 * for a core fed long after; now for a fresh one (within a minute), finer
 * than %t: runs and versions are ordered by it, and a second cut down
 * would put this run before the ones that ended just before it.
 */
static uint64_t dump_wall_ns(const char *t)
{
	uint64_t at = strtoull(t, NULL, 10) * 1000000000ull, now = dise_rec_clock_ns(CLOCK_REALTIME);

	return now >= at && now - at < 60 * 1000000000ull ? now : at;
}

/* Step 6: START then CRASH of the run. */
static int record(dise_core *core, const struct dise_core_args *a, const struct dise_core_proc *pr, dise_ring *ring)
{
	const struct dise_core_info *ci = dise_core_info(core);
	char exe[4096], args[128], *maps;
	static uint8_t rec[DISE_RECORD_MAX];
	struct dise_rec_start_in s;
	struct dise_rec_crash_in c;
	struct dise_rec_buf b;
	struct stat st;
	uint32_t maps_len = 0;
	int len, r;

	memset(&s, 0, sizeof(s));
	s.who.pid = (uint32_t)strtoul(a->P, NULL, 10);
	s.who.tid = s.who.pid;
	s.who.run_start_ns = pr->live ? pr->start_mono_ns : dise_rec_clock_ns(CLOCK_MONOTONIC) - 1;
	s.wall_ns = pr->live ? pr->start_wall_ns : dump_wall_ns(a->t);
	s.ppid = pr->live ? pr->ppid : ci->ppid;
	s.uid = (uint32_t)strtoul(a->u, NULL, 10);
	s.flags = DISE_START_CORE;
	if (pr->live) {
		snprintf(exe, sizeof(exe), "%s", pr->exe);
		st = pr->exe_st;
		r = pr->have_exe_st ? 0 : -1;
	} else { /* %E: the path with '!' for '/' */
		char *q;

		snprintf(exe, sizeof(exe), "%s", a->E);
		for (q = exe; *q; q++)
			if (*q == '!')
				*q = '/';
		r = stat(exe, &st);
	}
	if (r == 0) {
		s.exe_id.dev = st.st_dev;
		s.exe_id.ino = st.st_ino;
		s.exe_id.size = (uint64_t)st.st_size;
		s.exe_id.mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
		s.script_id = s.exe_id;
	} else {
		s.flags |= DISE_START_NO_EXE | DISE_START_NO_SCRIPT;
	}
	s.execfn = exe;
	s.cwd = pr->live ? pr->cwd : "";
	if (pr->live && pr->cmdline_len) {
		s.argv.packed = pr->cmdline;
		s.argv.packed_len = pr->cmdline_len;
	} else {
		s.argv.packed = args;
		s.argv.packed_len = psargs_packed(ci->psargs, args, sizeof(args));
	}
	dise_rec_buf_init(&b, rec, sizeof(rec));
	if ((len = dise_rec_start_write(&s, &b.sink)) < 0 || (r = dise_ring_put(ring, rec, (uint32_t)len)) < 0)
		return len < 0 ? len : r;

	if (!(maps = dise_core_maps(core, &maps_len)))
		return -ENOMEM;
	memset(&c, 0, sizeof(c));
	c.who = s.who;
	c.who.tid = (uint32_t)strtoul(a->I, NULL, 10);
	c.signo = ci->signo ? ci->signo : atoi(a->s);
	c.si_code = ci->si_code;
	c.fault_addr = ci->fault_addr;
	c.flags = DISE_CRASH_CORE;
	memcpy(c.regs, ci->regs, sizeof(c.regs));
	c.maps_text = maps;
	c.maps_len = maps_len;
	c.mem = dise_core_mem;
	c.mem_ctx = core;
	dise_rec_buf_init(&b, rec, sizeof(rec));
	len = dise_rec_crash_write(&c, &b.sink);
	free(maps);
	if (len < 0 || (r = dise_ring_put_record(ring, rec, (uint32_t)len)) < 0) /* a CRASH: wakes the collector */
		return len < 0 ? len : r;
	return 0;
}

/* Step 5: the core, on to the chain and into the reader. */
static void stream(dise_core *core, struct dise_chain *pipe_ch, struct dise_chain *file_ch)
{
	char *buf = malloc(CHUNK);
	ssize_t n;

	if (!buf) {
		say("out of memory: the core is dropped");
		return;
	}
	while ((n = read(0, buf, CHUNK)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			say("reading the core: %s", strerror(errno));
			break;
		}
		dise_chain_write(pipe_ch, buf, (size_t)n);
		dise_chain_write(file_ch, buf, (size_t)n);
		if (core)
			dise_core_feed(core, buf, (size_t)n);
	}
	free(buf);
}

static void set_pidfd(struct dise_core_args *a, const struct dise_core_proc *pr)
{
	int fd = pr->live ? (int)syscall(SYS_pidfd_open, (pid_t)strtol(a->P, NULL, 10), 0) : -1;

	if (fd >= 0) /* %F: inherited by the previous handler */
		snprintf(a->F, sizeof(a->F), "%d", fd);
}

int main(int argc, char **argv)
{
	struct dise_core_args a;
	struct dise_core_state s;
	struct dise_core_proc pr;
	struct dise_chain pipe_ch = {.fd = -1}, file_ch = {.fd = -1};
	dise_core *core = NULL;
	dise_ring ring;
	char ring_path[4096];
	const char *skip = NULL;
	int r, have_ring = 0;

	signal(SIGPIPE, SIG_IGN);
	openlog("dise-coredump", LOG_PID, LOG_DAEMON);
	if (parse_args(argc, argv, &a) < 0) {
		fprintf(stderr, "usage: dise-coredump %%P %%i %%I %%s %%t %%u %%g %%c %%d %%p %%h %%C %%e %%f %%E "
				"(the kernel's core_pattern arguments; see dise core install)\n");
		return 2;
	}
	the_pid = strtol(a.P, NULL, 10);
	snprintf(comm, sizeof(comm), "%s", a.e);
	if ((r = dise_core_state_read(dise_core_state_path(), &s)) < 0) {
		say("no previous handler known (%s: %s): the core is not passed on", dise_core_state_path(),
		    r == -EPERM ? "not a root-owned private file" : strerror(-r));
		memset(&s, 0, sizeof(s));
	}
	r = 0;
	dise_core_proc_read((pid_t)the_pid, &pr);
	set_pidfd(&a, &pr);
	chain_pipe(&s, &a, &pipe_ch);
	if ((r = drop_privileges(&s, &a, &pr, &file_ch)) < 0)
		skip = "cannot take the crashing user's identity";
	else if (pr.live && pr.other_mntns)
		skip = "it runs in another mount namespace (a container): its ring is not ours to find";
	else if ((r = map_ring(&pr, &ring, ring_path, sizeof(ring_path))) < 0)
		skip = "the user has no usable ring (none, or not a private file of theirs)";
	else
		have_ring = 1;
	if (!(core = dise_core_new()) && !skip)
		skip = "out of memory";
	stream(core, &pipe_ch, &file_ch);
	dise_chain_close(&file_ch);
	dise_chain_close(&pipe_ch);
	if (!skip && dise_core_err(core))
		skip = dise_core_err(core);
	/* live, the collector tells (store-core.c); a core fed later has only its maps to say so */
	if (!skip && !pr.live && dise_core_mapped(core, "libdise_shim.so"))
		skip = "the shim was loaded in it: the shim recorded this crash";
	if (!skip && (r = record(core, &a, &pr, &ring)) < 0)
		skip = "the ring refused the records";
	if (skip)
		say("signal %s: not recorded: %s%s%s", a.s, skip, r < 0 ? ": " : "", r < 0 ? strerror(-r) : "");
	else
		say("signal %s: recorded in %s (%llu bytes of core, %u threads)", a.s, ring_path,
		    (unsigned long long)dise_core_size(core), dise_core_info(core)->nthreads);
	if (have_ring)
		dise_ring_unmap(&ring);
	dise_core_free(core);
	dise_core_proc_done(&pr);
	return 0;
}
