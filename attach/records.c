/* SPDX-License-Identifier: MIT */
/*
 * What a followed process's events become in the ring: the shim's records,
 * built by record/ from what /proc and ptrace tell about it.
 *   - START: AT_EXECFN and its identity as the shim records them (or
 *     /proc/PID/exe's), argv from /proc/PID/cmdline, cwd, uid, ppid;
 *   - EXEC of the old image, then START of the new one;
 *   - EXIT (how TRACED) with the raw wait status and the CPU times read at
 *     the last exit stop; DETACHED for a run that goes on unwatched;
 *   - CRASH: record/'s capture with a process_vm_readv reader, so that a
 *     crash seen from here gives the bytes the shim gives from inside.
 * Invariant: every record is laid out by record/, never here; this file only
 * gathers the facts from outside the process.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "proc.h"

void dise__put(dise_tracer *t, const void *rec, uint32_t len)
{
	if (t->have_ring) /* wakes a gathering collector only for an end that may be a strike, as the shim does */
		dise_ring_put_record(&t->ring, rec, len);
}

static struct dise_rec_who who_of(const struct proc *p, pid_t tid)
{
	struct dise_rec_who w = {p->run_start_ns, (uint32_t)p->pid, (uint32_t)tid};

	return w;
}

static ssize_t peek(pid_t pid, uint64_t addr, void *buf, size_t len)
{
	struct iovec l = {buf, len}, r = {(void *)(uintptr_t)addr, len};

	return process_vm_readv(pid, &l, 1, &r, 1, 0);
}

/* record/'s memory reader from outside: n bytes of the tracee into the reader's buffer. */
static const void *remote_read(void *ctx, uint64_t addr, uint32_t n)
{
	struct remote_mem *m = ctx;

	if (n > sizeof(m->buf) || peek(m->tid, addr, m->buf, n) != (ssize_t)n)
		return NULL;
	return m->buf;
}

/*
 * A link of /proc/pid (exe, cwd); "" when unreadable. A deleted file's
 * " (deleted)" is dropped: the collector checks the file's identity before
 * it hashes what is at that path, so a new file there is never taken for it.
 */
static void proc_link(pid_t pid, const char *what, char *buf, size_t size)
{
	static const char deleted[] = " (deleted)";
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, what);
	n = readlink(path, buf, size - 1);
	buf[n > 0 ? n : 0] = '\0';
	if (n > (ssize_t)sizeof(deleted) && !strcmp(buf + n - (sizeof(deleted) - 1), deleted))
		buf[n - (sizeof(deleted) - 1)] = '\0';
}

/*
 * What pid executed, as the shim names it: AT_EXECFN (for a #! script, the
 * script), read from the process's memory, made absolute with cwd. Kept only
 * when it is still the running file (the same identity as /proc/pid/exe) or
 * a #! script. Returns 0 with the path in out and its stat in st, or -1.
 */
static int execfn_of(pid_t pid, const char *cwd, char *out, size_t size, struct stat *st)
{
	char path[64], fn[DISE_PATH_MAX], head[2];
	uint64_t aux[2 * 64], addr = 0;
	struct stat exe;
	ssize_t n;
	size_t i;
	int fd, script = 0;

	snprintf(path, sizeof(path), "/proc/%d/auxv", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	n = read(fd, aux, sizeof(aux));
	close(fd);
	for (i = 0; n > 0 && i + 1 < (size_t)n / sizeof(uint64_t) && aux[i]; i += 2)
		if (aux[i] == 31 /* AT_EXECFN */)
			addr = aux[i + 1];
	/* the string sits at the top of the stack: a read may stop at its end, the NUL is before it */
	if (!addr || (n = peek(pid, addr, fn, sizeof(fn) - 1)) <= 0)
		return -1;
	fn[n] = '\0';
	if (fn[0] == '/')
		snprintf(out, size, "%s", fn);
	else if ((size_t)snprintf(out, size, "%s/%s", cwd, fn) >= size)
		return -1;
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	if (stat(out, st) < 0 || stat(path, &exe) < 0)
		return -1;
	if (st->st_dev == exe.st_dev && st->st_ino == exe.st_ino)
		return 0;
	if ((fd = open(out, O_RDONLY | O_CLOEXEC)) >= 0) {
		script = read(fd, head, 2) == 2 && head[0] == '#' && head[1] == '!';
		close(fd);
	}
	return script ? 0 : -1;
}

/* START's identities from stat(path): exe and script alike, or the NO_EXE/NO_SCRIPT flags. */
static void identity(const char *path, struct dise_rec_start_in *in)
{
	struct stat st;

	if (stat(path, &st) == 0) {
		in->exe_id.dev = st.st_dev;
		in->exe_id.ino = st.st_ino;
		in->exe_id.size = (uint64_t)st.st_size;
		in->exe_id.mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
		in->script_id = in->exe_id;
	} else {
		in->flags |= DISE_START_NO_EXE | DISE_START_NO_SCRIPT;
	}
}

/* /proc/pid/cmdline into buf (argv packed, as record/ takes it); its length, 0 when unreadable. */
static size_t cmdline(pid_t pid, char *buf, size_t size)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	n = dise_read_small(path, buf, size);
	return n > 0 ? (size_t)n : 0;
}

/*
 * START of process p, from /proc. flags: DISE_START_ATTACHED, DISE_START_FORK,
 * or 0 after an exec. Like the shim's: execfn is AT_EXECFN, exe is left
 * empty and both identities are execfn's; when AT_EXECFN no longer names the
 * running file (deleted, replaced, a relative path after a chdir), exe and
 * execfn are /proc/PID/exe's path and identity.
 */
void dise__record_start(dise_tracer *t, const struct proc *p, uint32_t flags, uint64_t wall_ns)
{
	char exe[DISE_PATH_MAX], fn[DISE_PATH_MAX], cwd[DISE_PATH_MAX], path[64];
	static const size_t argv_max = 1 << 17; /* of /proc/PID/cmdline: the builder keeps DISE_ARGV_MAX */
	struct dise_rec_start_in in;
	struct dise_rec_buf b;
	struct dise_proc_stat ps;
	struct stat st;
	pid_t task = dise__live_task(t, p->pid);
	char *args = malloc(argv_max);
	int len;

	if (!args)
		return;
	memset(&in, 0, sizeof(in));
	in.who = who_of(p, p->pid);
	in.wall_ns = wall_ns;
	in.ppid = dise_proc_stat(task, &ps) == 0 ? (uint32_t)ps.f[4] : 0;
	in.uid = (uint32_t)dise_proc_status_num(task, "Uid", 10);
	in.flags = flags;
	proc_link(task, "cwd", cwd, sizeof(cwd));
	if (execfn_of(task, cwd, fn, sizeof(fn), &st) == 0) {
		exe[0] = '\0';
		identity(fn, &in);
	} else {
		snprintf(path, sizeof(path), "/proc/%d/exe", (int)task);
		identity(path, &in);
		proc_link(task, "exe", exe, sizeof(exe));
		snprintf(fn, sizeof(fn), "%s", exe);
	}
	in.exe = exe;
	in.execfn = fn;
	in.cwd = cwd;
	in.argv.packed = args;
	in.argv.packed_len = cmdline(task, args, argv_max);
	dise_rec_buf_init(&b, t->rec, sizeof(t->rec));
	if ((len = dise_rec_start_write(&in, &b.sink)) > 0)
		dise__put(t, t->rec, (uint32_t)len);
	free(args);
}

/* EXEC of p's old image, to the image it runs now. */
void dise__record_exec(dise_tracer *t, const struct proc *p)
{
	static const size_t argv_max = 1 << 17;
	char exe[DISE_PATH_MAX];
	struct dise_rec_argv a = {0};
	struct dise_rec_who w = who_of(p, p->pid);
	struct dise_rec_buf b;
	char *args = malloc(argv_max);
	int len;

	if (!args)
		return;
	proc_link(dise__live_task(t, p->pid), "exe", exe, sizeof(exe));
	a.packed = args;
	a.packed_len = cmdline(dise__live_task(t, p->pid), args, argv_max);
	dise_rec_buf_init(&b, t->rec, sizeof(t->rec));
	if ((len = dise_rec_exec_write(&w, DISE_EXEC_EXECVE, exe, &a, &b.sink)) > 0)
		dise__put(t, t->rec, (uint32_t)len);
	free(args);
}

/* EXIT: how TRACED with the wait status and the times of the last exit stop, or DETACHED (status 0, no times). */
void dise__record_exit(dise_tracer *t, const struct proc *p, int status, unsigned how)
{
	struct dise_rec_who w = who_of(p, p->pid);
	struct dise_rec_exit e;

	dise_rec_exit_init(&e, &w, status, how);
	if (how == DISE_EXIT_TRACED) {
		e.user_ns = p->user_ns;
		e.sys_ns = p->sys_ns;
		e.maxrss_kb = p->maxrss_kb;
	}
	dise__put(t, &e, sizeof(e));
}

void dise__proc_times(struct proc *p)
{
	long tck = sysconf(_SC_CLK_TCK);
	long long rss = dise_proc_status_num(p->pid, "VmHWM", 10);
	struct dise_proc_stat ps;

	if (dise_proc_stat(p->pid, &ps) == 0 && tck > 0) {
		p->user_ns = (uint64_t)ps.f[14] * (1000000000u / (uint64_t)tck);
		p->sys_ns = (uint64_t)ps.f[15] * (1000000000u / (uint64_t)tck);
	}
	if (rss >= 0)
		p->maxrss_kb = (uint64_t)rss;
}

/* The capture from outside, into buf, reading through mem (whose tid is set here). */
static int capture(struct remote_mem *mem, const struct dise_rec_who *who, int sig, int si_code, uint64_t fault_addr,
		   void *buf, uint32_t size)
{
	struct user_regs_struct u;
	struct dise_rec_crash_in in;
	struct dise_rec_buf b;

	if (ptrace(PTRACE_GETREGS, (pid_t)who->tid, NULL, &u) < 0)
		return -errno;
	memset(&in, 0, sizeof(in));
	in.who = *who;
	in.signo = sig;
	in.si_code = si_code;
	in.fault_addr = fault_addr;
	dise_rec_regs_from_user(&u, in.regs);
	/* maps and memory through the thread: when the main thread has ended, /proc/PID/maps is empty */
	in.maps_tid = who->tid;
	mem->tid = (pid_t)who->tid;
	in.mem = remote_read;
	in.mem_ctx = mem;
	dise_rec_buf_init(&b, buf, size);
	return dise_rec_crash_write(&in, &b.sink);
}

int dise__capture(dise_tracer *t, const struct proc *p, pid_t tid, int sig, const siginfo_t *si)
{
	struct dise_rec_who w = who_of(p, tid);

	return capture(&t->mem, &w, sig, si ? si->si_code : 0, si ? (uint64_t)(uintptr_t)si->si_addr : 0, t->rec,
		       sizeof(t->rec));
}

int dise_tracer_capture(pid_t pid, uint64_t run_start_ns, pid_t tid, int sig, int si_code, uint64_t fault_addr,
			void *buf, uint32_t size)
{
	struct dise_rec_who w = {run_start_ns, (uint32_t)pid, (uint32_t)tid};
	struct remote_mem *mem = malloc(sizeof(*mem));
	int r;

	if (!mem)
		return -ENOMEM;
	r = capture(mem, &w, sig, si_code, fault_addr, buf, size);
	free(mem);
	return r;
}
