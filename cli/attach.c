/* SPDX-License-Identifier: MIT */
/*
 * `dise attach PID`: watch a process that runs without the shim, by ptrace.
 *
 * Every thread is seized (PTRACE_SEIZE: the target is not stopped by the
 * attach) with clone, fork, vfork, exec and exit events. What the shim would
 * have written goes into the ring, in its own record formats, so the
 * collector needs nothing new:
 *   - START (flag ATTACHED) built from /proc/PID: AT_EXECFN and its
 *     identity as the shim records them (or /proc/PID/exe's), argv, cwd,
 *     uid, ppid; run_start_ns is the process's start time from
 *     /proc/PID/stat moved onto CLOCK_MONOTONIC;
 *   - START (flag FORK) for each child forked after attaching, and EXEC then
 *     START for each execve, as the shim records them;
 *   - CRASH when a signal that dumps core is about to be delivered and the
 *     program neither catches nor ignores it: registers (PTRACE_GETREGS), up
 *     to 24 KiB of the thread's stack (process_vm_readv), the module map of
 *     /proc/PID/maps with build-ids read from the mapped ELF headers. The
 *     collector unwinds it offline exactly like a shim CRASH. The signal is
 *     then delivered as it was going to be: the process dies as it would have,
 *     core dump included;
 *   - EXIT (how TRACED) with the raw wait status and the CPU times read at
 *     the last PTRACE_EVENT_EXIT stop.
 * Any other signal passes through untouched; group-stops are kept with
 * PTRACE_LISTEN. SIGINT, SIGTERM or --detach-after detach: each thread is
 * interrupted and detached, a signal it was about to receive is handed back.
 *
 * --stack: every thread stopped once, its stack captured as a CRASH-like
 * record, unwound and symbolized by collector/unwind.c, printed; detach.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <elf.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "decode.h"
#include "proc.h"
#include "dise/event.h"
#include "dise/ring.h"
#include "record-json.h"
#include "unwind.h"

#define STACK_GAP (1u << 20) /* a fault may be this far below its stack: the kernel's guard gap */

struct thr {
	pid_t tid, tgid;
};

struct proc {
	pid_t pid;
	uint64_t run_start_ns;
	uint64_t user_ns, sys_ns, maxrss_kb; /* at the last exit stop seen */
	int exit_msg, have_exit_msg;	     /* the status an exit stop told (for a leader we do not trace) */
};

static struct {
	struct thr *t;
	size_t nt, capt;
	struct proc *p;
	size_t np, capp;
	dise_ring ring;
	int have_ring;
	int quiet;
	pid_t pid;	 /* the process attached to */
	int last_status; /* its wait status, once it ended */
	int zombie_leader; /* its main thread had ended before the attach */
} A;

static volatile sig_atomic_t stop_asked;

static void on_stop_signal(int sig)
{
	(void)sig;
	stop_asked = 1;
	alarm(1); /* waitpid() may have been entered just before: interrupt it again, until the loop sees the flag */
}

static uint64_t clock_ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The value of the "Name:" line of /proc/pid/status (read into buf), or NULL. */
static const char *status_value(pid_t pid, const char *name, char *buf, size_t size)
{
	char path[64], *p;
	size_t len = strlen(name);

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (dise_read_small(path, buf, size) < 0)
		return NULL;
	for (p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, name, len) && p[len] == ':')
			return p + len + 1;
	return NULL;
}

/* A number of /proc/pid/status (Tgid, Uid, TracerPid, VmHWM); -1 when absent. */
static long long status_field(pid_t pid, const char *name, int base)
{
	char buf[4096];
	const char *v = status_value(pid, name, buf, sizeof(buf));

	return v ? strtoll(v, NULL, base) : -1;
}

/* A signal mask of /proc/pid/status (SigCgt, SigIgn; 64 bits, so unsigned); all set when absent. */
static unsigned long long status_mask(pid_t pid, const char *name)
{
	char buf[4096];
	const char *v = status_value(pid, name, buf, sizeof(buf));

	return v ? strtoull(v, NULL, 16) : ~0ull;
}

/* The state letter of /proc/pid/stat (R, S, Z, ...), or 0. */
static char task_state(pid_t pid)
{
	struct dise_proc_stat ps;

	return dise_proc_stat(pid, &ps) == 0 ? ps.state : 0;
}

static struct thr *thr_find(pid_t tid)
{
	for (size_t i = 0; i < A.nt; i++)
		if (A.t[i].tid == tid)
			return &A.t[i];
	return NULL;
}

static struct thr *thr_add(pid_t tid, pid_t tgid)
{
	struct thr *t = thr_find(tid);

	if (t)
		return t;
	if (A.nt == A.capt) {
		size_t cap = A.capt ? A.capt * 2 : 64;
		struct thr *n = realloc(A.t, cap * sizeof(*n));

		if (!n)
			return NULL;
		A.t = n;
		A.capt = cap;
	}
	A.t[A.nt] = (struct thr){ tid, tgid };
	return &A.t[A.nt++];
}

static void thr_del(pid_t tid)
{
	for (size_t i = 0; i < A.nt; i++)
		if (A.t[i].tid == tid) {
			A.t[i] = A.t[--A.nt];
			return;
		}
}

/*
 * The task through which /proc tells about process pid: pid itself, or,
 * when its main thread ended before the attach, one of its live threads
 * (/proc/PID's maps, exe, cwd, cmdline and auxv are empty for a zombie leader).
 */
static pid_t live_task(pid_t pid)
{
	if (A.zombie_leader && pid == A.pid)
		for (size_t i = 0; i < A.nt; i++)
			if (A.t[i].tgid == pid && A.t[i].tid != pid)
				return A.t[i].tid;
	return pid;
}

static struct proc *proc_find(pid_t pid)
{
	for (size_t i = 0; i < A.np; i++)
		if (A.p[i].pid == pid)
			return &A.p[i];
	return NULL;
}

static struct proc *proc_add(pid_t pid, uint64_t run_start_ns)
{
	if (A.np == A.capp) {
		size_t cap = A.capp ? A.capp * 2 : 16;
		struct proc *n = realloc(A.p, cap * sizeof(*n));

		if (!n)
			return NULL;
		A.p = n;
		A.capp = cap;
	}
	A.p[A.np] = (struct proc){ .pid = pid, .run_start_ns = run_start_ns };
	return &A.p[A.np++];
}

static void put(const void *rec, uint32_t len)
{
	if (A.have_ring && dise_ring_put(&A.ring, rec, len) == 0)
		dise_ring_notify(&A.ring);
}

static void fill_hdr(struct dise_rec_hdr *h, unsigned type, uint32_t size, const struct proc *p, pid_t tid)
{
	h->size = size;
	h->type = (uint16_t)type;
	h->hdr_size = sizeof(*h);
	h->mono_ns = clock_ns(CLOCK_MONOTONIC);
	h->run_start_ns = p->run_start_ns;
	h->pid = (uint32_t)p->pid;
	h->tid = (uint32_t)tid;
}

/* Appends /proc/pid/cmdline (cut at DISE_ARGV_MAX) at b + *off; sets the counts. Returns 1 when cut. */
static int put_argv(pid_t pid, uint8_t *b, size_t *off, uint16_t *ret_len, uint32_t *ret_count, uint32_t *ret_argc)
{
	static char buf[1 << 17];
	char path[64];
	ssize_t n;
	size_t i, used = 0, start = 0;
	uint32_t count = 0, argc = 0;
	int cut = 0;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	n = dise_read_small(path, buf, sizeof(buf));
	for (i = 0; n > 0 && i < (size_t)n; i++) {
		if (buf[i])
			continue;
		argc++;
		if (!cut && used + (i - start + 1) <= DISE_ARGV_MAX) {
			memcpy(b + *off + used, buf + start, i - start + 1);
			used += i - start + 1;
			count++;
		} else {
			cut = 1;
		}
		start = i + 1;
	}
	*off += used;
	*ret_len = (uint16_t)used;
	*ret_count = count;
	*ret_argc = argc;
	return cut;
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

static ssize_t peek(pid_t pid, uint64_t addr, void *buf, size_t len);

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

/*
 * START of process p, from /proc. flags: DISE_START_ATTACHED, DISE_START_FORK,
 * or 0 after an exec. Like the shim's: execfn is AT_EXECFN, exe is left
 * empty and both identities are execfn's; when AT_EXECFN no longer names the
 * running file (deleted, replaced, a relative path after a chdir), exe and
 * execfn are /proc/PID/exe's path and identity.
 */
static void record_start(const struct proc *p, uint32_t flags, uint64_t wall_ns)
{
	static uint8_t b[DISE_RECORD_MAX];
	struct dise_rec_start s;
	char exe[DISE_PATH_MAX], fn[DISE_PATH_MAX], cwd[DISE_PATH_MAX], path[64];
	struct stat st;
	size_t off = sizeof(s);
	pid_t task = live_task(p->pid);
	struct dise_proc_stat ps;

	memset(&s, 0, sizeof(s));
	s.wall_ns = wall_ns;
	s.ppid = dise_proc_stat(task, &ps) == 0 ? (uint32_t)ps.f[4] : 0;
	s.uid = (uint32_t)status_field(task, "Uid", 10);
	s.flags = flags;
	proc_link(task, "cwd", cwd, sizeof(cwd));
	if (execfn_of(task, cwd, fn, sizeof(fn), &st) == 0) {
		exe[0] = '\0';
		dise_cli_start_identity(fn, &s);
	} else {
		snprintf(path, sizeof(path), "/proc/%d/exe", (int)task);
		dise_cli_start_identity(path, &s);
		proc_link(task, "exe", exe, sizeof(exe));
		snprintf(fn, sizeof(fn), "%s", exe);
	}
	dise_cli_put_str(b, &off, exe, &s.exe_len);
	dise_cli_put_str(b, &off, fn, &s.execfn_len);
	dise_cli_put_str(b, &off, cwd, &s.cwd_len);
	if (put_argv(task, b, &off, &s.argv_len, &s.argv_count, &s.argc))
		s.flags |= DISE_START_ARGV_TRUNC;
	fill_hdr(&s.h, DISE_REC_START, (uint32_t)off, p, p->pid);
	memcpy(b, &s, sizeof(s));
	put(b, (uint32_t)off);
}

/* EXEC of p's old image, to the image it runs now. */
static void record_exec(const struct proc *p)
{
	static uint8_t b[DISE_RECORD_MAX];
	struct dise_rec_exec e;
	char exe[DISE_PATH_MAX];
	size_t off = sizeof(e);

	memset(&e, 0, sizeof(e));
	e.call = DISE_EXEC_EXECVE;
	proc_link(live_task(p->pid), "exe", exe, sizeof(exe));
	dise_cli_put_str(b, &off, exe, &e.path_len);
	if (put_argv(live_task(p->pid), b, &off, &e.argv_len, &e.argv_count, &e.argc))
		e.flags |= DISE_START_ARGV_TRUNC;
	fill_hdr(&e.h, DISE_REC_EXEC, (uint32_t)off, p, p->pid);
	e.elapsed_ns = e.h.mono_ns - p->run_start_ns;
	memcpy(b, &e, sizeof(e));
	put(b, (uint32_t)off);
}

static void record_exit(const struct proc *p, int status)
{
	struct dise_rec_exit e;

	memset(&e, 0, sizeof(e));
	fill_hdr(&e.h, DISE_REC_EXIT, sizeof(e), p, p->pid);
	e.status = status;
	e.how = DISE_EXIT_TRACED;
	e.elapsed_ns = e.h.mono_ns - p->run_start_ns;
	e.user_ns = p->user_ns;
	e.sys_ns = p->sys_ns;
	e.maxrss_kb = p->maxrss_kb;
	put(&e, sizeof(e));
}

/* The run of p goes on unwatched: its end will not be known (not a failure, not "vanished"). */
static void record_detached(const struct proc *p)
{
	struct dise_rec_exit e;

	memset(&e, 0, sizeof(e));
	fill_hdr(&e.h, DISE_REC_EXIT, sizeof(e), p, p->pid);
	e.how = DISE_EXIT_DETACHED;
	e.elapsed_ns = e.h.mono_ns - p->run_start_ns;
	put(&e, sizeof(e));
}

/* CPU times and peak RSS of p now (an exit stop: /proc still has them). */
static void proc_times(struct proc *p)
{
	long tck = sysconf(_SC_CLK_TCK);
	long long rss = status_field(p->pid, "VmHWM", 10);
	struct dise_proc_stat ps;

	if (dise_proc_stat(p->pid, &ps) == 0 && tck > 0) {
		p->user_ns = (uint64_t)ps.f[14] * (1000000000u / (uint64_t)tck);
		p->sys_ns = (uint64_t)ps.f[15] * (1000000000u / (uint64_t)tck);
	}
	if (rss >= 0)
		p->maxrss_kb = (uint64_t)rss;
}

/* ---- capture: registers, stack and modules of one stopped thread, as a CRASH record ---- */

struct mapping {
	uint64_t start, end, offset, ino;
	int readable, executable;
	char path[DISE_PATH_MAX];
};

static int parse_mapping(const char *line, struct mapping *m)
{
	char perms[8] = "";
	int n = 0;

	m->path[0] = '\0';
	if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %7s %" SCNx64 " %*x:%*x %" SCNu64 " %n", &m->start, &m->end, perms,
		   &m->offset, &m->ino, &n) < 5)
		return -1;
	snprintf(m->path, sizeof(m->path), "%s", line + n);
	m->path[strcspn(m->path, "\n")] = '\0';
	m->readable = perms[0] == 'r';
	m->executable = perms[2] == 'x';
	return 0;
}

static ssize_t peek(pid_t pid, uint64_t addr, void *buf, size_t len)
{
	struct iovec l = { buf, len }, r = { (void *)(uintptr_t)addr, len };

	return process_vm_readv(pid, &l, 1, &r, 1, 0);
}

/* The GNU build-id of the ELF image mapped at [lo, hi) in pid, read from its memory as the shim reads its own. */
static uint8_t build_id(pid_t pid, uint64_t lo, uint64_t hi, uint8_t *out)
{
	static uint8_t img[16384];
	size_t len = hi - lo < sizeof(img) ? (size_t)(hi - lo) : sizeof(img);
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)img;
	const Elf64_Phdr *ph;
	uint64_t bias = 0;
	int i, have_bias = 0;

	if (len < sizeof(*eh) || peek(pid, lo, img, len) != (ssize_t)len)
		return 0;
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phnum > 256 ||
	    eh->e_phoff + (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr) > len)
		return 0;
	ph = (const Elf64_Phdr *)(img + eh->e_phoff);
	for (i = 0; i < eh->e_phnum && !have_bias; i++)
		if (ph[i].p_type == PT_LOAD && ph[i].p_offset == 0) {
			bias = lo - (ph[i].p_vaddr & ~(uint64_t)4095);
			have_bias = 1;
		}
	for (i = 0; have_bias && i < eh->e_phnum; i++) {
		uint64_t a = bias + ph[i].p_vaddr - lo, e = a + ph[i].p_filesz;

		if (ph[i].p_type != PT_NOTE || bias + ph[i].p_vaddr < lo || e > len || e < a)
			continue;
		while (a + sizeof(Elf64_Nhdr) <= e) {
			const Elf64_Nhdr *n = (const Elf64_Nhdr *)(img + a);
			uint64_t name = a + sizeof(*n), desc = name + ((n->n_namesz + 3u) & ~3u);
			uint64_t next = desc + ((n->n_descsz + 3u) & ~3u);

			if (next > e || next <= a)
				break;
			if (n->n_type == NT_GNU_BUILD_ID && n->n_namesz == 4 && !memcmp(img + name, "GNU", 4) &&
			    n->n_descsz > 0) {
				uint32_t k = n->n_descsz > DISE_BUILD_ID_MAX ? DISE_BUILD_ID_MAX : n->n_descsz;

				memcpy(out, img + desc, k);
				return (uint8_t)k;
			}
			a = next;
		}
	}
	return 0;
}

struct module_acc {
	int open, executable;
	uint64_t base, end, ino, first_start, first_end;
	char path[DISE_PATH_MAX];
};

/* Appends the module in acc (when it holds code and fits) at b[*off], below limit. */
static void flush_module(pid_t pid, struct module_acc *acc, uint8_t *b, uint32_t *off, uint32_t limit,
			 struct dise_rec_crash *rec)
{
	struct dise_module m;
	uint32_t plen = (uint32_t)strlen(acc->path) + 1, size = ((uint32_t)sizeof(m) + plen + 7u) & ~7u;

	if (!acc->open || !acc->executable)
		goto out;
	if (*off + size > limit) {
		rec->flags |= DISE_CRASH_MODULES_TRUNC;
		goto out;
	}
	memset(&m, 0, sizeof(m));
	m.size = (uint16_t)size;
	m.base = acc->base;
	m.end = acc->end;
	m.ino = acc->ino;
	m.path_len = plen;
	if (acc->first_start)
		m.build_id_len = build_id(pid, acc->first_start, acc->first_end, m.build_id);
	memset(b + *off, 0, size);
	memcpy(b + *off, &m, sizeof(m));
	memcpy(b + *off + sizeof(m), acc->path, plen);
	*off += size;
	rec->nmodules++;
	rec->modules_len += size;
out:
	acc->open = 0;
}

/*
 * Builds in b a CRASH record of thread tid of p, stopped: signal sig with
 * siginfo si (may be NULL). Maps and memory are read through tid: when the
 * main thread has ended, /proc/PID/maps is empty and its memory unreadable.
 * Returns its length, or 0.
 */
static uint32_t capture(const struct proc *p, pid_t tid, int sig, const siginfo_t *si, uint8_t *b)
{
	static const size_t dwarf[DISE_CRASH_NREGS] = {
		offsetof(struct user_regs_struct, rax), offsetof(struct user_regs_struct, rdx),
		offsetof(struct user_regs_struct, rcx), offsetof(struct user_regs_struct, rbx),
		offsetof(struct user_regs_struct, rsi), offsetof(struct user_regs_struct, rdi),
		offsetof(struct user_regs_struct, rbp), offsetof(struct user_regs_struct, rsp),
		offsetof(struct user_regs_struct, r8),	offsetof(struct user_regs_struct, r9),
		offsetof(struct user_regs_struct, r10), offsetof(struct user_regs_struct, r11),
		offsetof(struct user_regs_struct, r12), offsetof(struct user_regs_struct, r13),
		offsetof(struct user_regs_struct, r14), offsetof(struct user_regs_struct, r15),
		offsetof(struct user_regs_struct, rip),
	};
	struct user_regs_struct u;
	struct dise_rec_crash rec;
	struct module_acc acc = { 0 };
	struct mapping m;
	char path[64], *line = NULL;
	size_t cap = 0;
	uint64_t sp, stack_addr = 0, stack_end = 0, above = 0, above_end = 0;
	uint32_t off, i;
	ssize_t got;
	FILE *f;

	if (ptrace(PTRACE_GETREGS, tid, NULL, &u) < 0)
		return 0;
	memset(&rec, 0, sizeof(rec));
	for (i = 0; i < DISE_CRASH_NREGS; i++)
		memcpy(&rec.regs[i], (const char *)&u + dwarf[i], sizeof(uint64_t));
	sp = rec.regs[DISE_REG_SP];
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)tid);
	if (!(f = fopen(path, "re")))
		return 0;
	/* pass 1: the stack mapping (or, past a stack overflow, the nearest one above sp) */
	while (getline(&line, &cap, f) > 0)
		if (parse_mapping(line, &m) == 0 && m.readable) {
			if (sp >= m.start && sp < m.end)
				stack_end = m.end;
			else if (m.start > sp && m.start - sp <= STACK_GAP && (!above || m.start < above))
				above = m.start, above_end = m.end;
		}
	stack_addr = sp;
	if (!stack_end && above)
		stack_addr = above, stack_end = above_end;
	rec.stack_addr = stack_addr;
	if (stack_end > stack_addr) {
		uint64_t avail = stack_end - stack_addr;

		rec.stack_len = avail > DISE_CRASH_STACK_MAX ? DISE_CRASH_STACK_MAX : (uint32_t)avail;
		if (avail > DISE_CRASH_STACK_MAX)
			rec.flags |= DISE_CRASH_STACK_TRUNC;
	}
	got = rec.stack_len ? peek(tid, stack_addr, b + sizeof(rec), rec.stack_len) : 0;
	rec.stack_len = got > 0 ? (uint32_t)got : 0;
	off = (uint32_t)sizeof(rec) + rec.stack_len;
	/* pass 2: the modules, mappings of one file grouped */
	rewind(f);
	while (getline(&line, &cap, f) > 0) {
		if (parse_mapping(line, &m) < 0 || m.path[0] != '/')
			continue;
		if (acc.open && (strcmp(acc.path, m.path) || acc.ino != m.ino))
			flush_module(tid, &acc, b, &off, DISE_RECORD_MAX, &rec);
		if (!acc.open) {
			acc = (struct module_acc){ .open = 1, .base = m.start - m.offset, .end = m.end, .ino = m.ino };
			snprintf(acc.path, sizeof(acc.path), "%s", m.path);
		}
		if (m.offset == 0 && !acc.first_start && m.readable) {
			acc.base = m.start;
			acc.first_start = m.start;
			acc.first_end = m.end;
		}
		if (m.end > acc.end)
			acc.end = m.end;
		acc.executable |= m.executable;
	}
	flush_module(tid, &acc, b, &off, DISE_RECORD_MAX, &rec);
	free(line);
	fclose(f);
	fill_hdr(&rec.h, DISE_REC_CRASH, off, p, tid);
	if (tid != p->pid)
		rec.flags |= DISE_CRASH_OTHER_THREAD;
	rec.signo = sig;
	rec.si_code = si ? si->si_code : 0;
	rec.fault_addr = si ? (uint64_t)(uintptr_t)si->si_addr : 0;
	rec.arch = DISE_ARCH_X86_64;
	rec.nregs = DISE_CRASH_NREGS;
	rec.elapsed_ns = rec.h.mono_ns - p->run_start_ns;
	memcpy(b, &rec, sizeof(rec));
	return off;
}

/* Prints the symbolized stack of a captured record, eu-stack style. */
static void print_stack(FILE *out, const uint8_t *b, uint32_t len, pid_t tid)
{
	struct dise_record rec;
	struct dise_frame fr[DISE_MAX_FRAMES];
	const char *why = NULL;
	int n, i;

	fprintf(out, "TID %d:\n", (int)tid);
	if (dise_record_decode(b, len, &rec, &why) < 0) {
		fprintf(out, "  (no stack: %s)\n", why ? why : "bad capture");
		return;
	}
	n = dise_unwind_crash(&rec, fr, DISE_MAX_FRAMES);
	for (i = 0; i < n; i++) {
		const char *mod = fr[i].module ? strrchr(fr[i].module, '/') : NULL;

		fprintf(out, "#%-2d 0x%016" PRIx64 " %s", i, fr[i].ip, fr[i].symbol[0] ? fr[i].symbol : "??");
		if (fr[i].symbol[0] && fr[i].symbol_off)
			fprintf(out, "+0x%" PRIx64, fr[i].symbol_off);
		if (fr[i].module)
			fprintf(out, " (%s+0x%" PRIx64 ")", mod ? mod + 1 : fr[i].module, fr[i].module_off);
		fputc('\n', out);
	}
	if (n < 0)
		fprintf(out, "  (no stack: %s)\n", strerror(-n));
}

/* ---- attach and detach ---- */

static int is_core_signal(int sig)
{
	return sig == SIGSEGV || sig == SIGBUS || sig == SIGFPE || sig == SIGILL || sig == SIGABRT || sig == SIGSYS ||
	       sig == SIGTRAP;
}

/*
 * Whether sig, about to be delivered to thread tid, ends its process
 * (neither caught nor ignored: the dispositions are the process's, read
 * through the thread, whose /proc entry lives on when the leader is gone).
 */
static int fatal(pid_t tid, int sig)
{
	unsigned long long bit = 1ull << (sig - 1);

	return !(status_mask(tid, "SigCgt") & bit) && !(status_mask(tid, "SigIgn") & bit);
}

/* Seizes every thread of pid, re-reading the task list until it stops growing. Returns 0 or an exit code. */
static int seize_all(pid_t pid, long options)
{
	char path[64];
	int grew = 1;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	while (grew) {
		DIR *d = opendir(path);
		struct dirent *e;

		grew = 0;
		if (!d)
			break;
		while ((e = readdir(d))) {
			pid_t tid = (pid_t)atoi(e->d_name);

			if (tid <= 0 || thr_find(tid))
				continue;
			if (ptrace(PTRACE_SEIZE, tid, NULL, (void *)options) < 0) {
				int err = errno;

				if (err == ESRCH && tid != pid)
					continue; /* the thread ended meanwhile */
				if (err == EPERM && tid == pid && task_state(pid) == 'Z') {
					A.zombie_leader = 1; /* the main thread ended; the others are the process */
					continue;
				}
				closedir(d);
				return -err;
			}
			thr_add(tid, pid);
			grew = 1;
		}
		closedir(d);
	}
	return 0;
}

/*
 * Interrupts tid and waits for its next wait status (the interrupt stop, or
 * whatever stop or end came first). A task that cannot stop — a zombie
 * thread-group leader whose other threads still run, a task already gone —
 * is given up after a second instead of hanging: the kernel detaches what is
 * left when dise attach exits. Returns 1 with *st, or 0.
 */
static int interrupt_and_wait(pid_t tid, int *st)
{
	struct timespec ms = { 0, 1000000 };
	int i;

	if (ptrace(PTRACE_INTERRUPT, tid, NULL, NULL) < 0 && errno == ESRCH)
		return 0;
	for (i = 0; i < 1000; i++) {
		pid_t w = waitpid(tid, st, __WALL | WNOHANG);

		if (w == tid)
			return 1;
		if (w < 0 && errno != EINTR)
			return 0;
		if (i == 0 || i % 100 == 0) {
			char state = task_state(tid);

			if (!state || state == 'Z' || state == 'X')
				return 0; /* dead, and its status comes only when the whole group is */
		}
		nanosleep(&ms, NULL);
	}
	return 0;
}

/* Stops every traced thread and detaches it; a signal it was about to get is handed back. */
static void detach_all(void)
{
	while (A.nt) {
		pid_t tid = A.t[0].tid;
		int st, sig = 0;

		for (;;) {
			if (!interrupt_and_wait(tid, &st)) {
				thr_del(tid);
				break;
			}
			if (WIFEXITED(st) || WIFSIGNALED(st)) {
				struct proc *p = proc_find(tid);

				if (p) {
					record_exit(p, st);
					*p = A.p[--A.np]; /* ended: not "detached" */
				}
				thr_del(tid);
				break;
			}
			if (!WIFSTOPPED(st))
				continue;
			if ((st >> 16) == 0)
				sig = WSTOPSIG(st); /* a signal-delivery-stop: deliver it on the way out */
			else if ((st >> 16) == PTRACE_EVENT_FORK || (st >> 16) == PTRACE_EVENT_VFORK ||
				 (st >> 16) == PTRACE_EVENT_CLONE) {
				unsigned long child = 0;

				/* a new task is traced too: detach it as well */
				if (ptrace(PTRACE_GETEVENTMSG, tid, NULL, &child) == 0 && child)
					thr_add((pid_t)child, (pid_t)child);
			}
			ptrace(PTRACE_DETACH, tid, NULL, (void *)(long)sig);
			thr_del(tid);
			break;
		}
	}
}

static void handle(pid_t tid, int st, int nested);

/*
 * The stacks of the other threads of q, whose thread crashing is about to
 * die: each is interrupted, its stack printed, and its stop handled as
 * usual (an interrupt is resumed; any other stop, e.g. a signal or an event
 * that came first, goes through handle()).
 */
static void other_stacks(struct proc *q, pid_t crashing)
{
	static uint8_t b[DISE_RECORD_MAX];
	pid_t *tids = calloc(A.nt + 1, sizeof(*tids));
	size_t n = 0, i;

	if (!tids)
		return;
	for (i = 0; i < A.nt; i++)
		if (A.t[i].tgid == q->pid && A.t[i].tid != crashing)
			tids[n++] = A.t[i].tid;
	if (n)
		fprintf(stderr, "dise attach: the other %zu thread%s of process %d:\n", n, n == 1 ? "" : "s", (int)q->pid);
	for (i = 0; i < n; i++) {
		struct proc *p = proc_find(tids[i]) ? proc_find(tids[i]) : proc_find(q->pid);
		int st;

		if (!interrupt_and_wait(tids[i], &st))
			continue;
		if (WIFSTOPPED(st) && p) {
			uint32_t len = capture(p, tids[i], SIGSTOP, NULL, b);

			if (len)
				print_stack(stderr, b, len, tids[i]);
		}
		handle(tids[i], st, 1);
	}
	free(tids);
}

/*
 * One wait status of a traced task: new tasks and processes, exec, exit
 * stops, group-stops, and signals about to be delivered (a fatal one that
 * dumps core is recorded first). Every stop is resumed before returning.
 * nested: called while the other threads of a crashing process are stopped
 * for their stacks (their own crash does not stop the others again).
 */
static void handle(pid_t tid, int st, int nested)
{
	static uint8_t b[DISE_RECORD_MAX];
	int sig, ev;
	struct thr *t;

	t = thr_find(tid);
	if (!t) /* a new task's first stop can come before its parent's event */
		t = thr_add(tid, (pid_t)status_field(tid, "Tgid", 10));
	if (!t)
		return;
	if (WIFEXITED(st) || WIFSIGNALED(st)) {
		struct proc *q = proc_find(tid);

		if (q) {
			record_exit(q, st);
			if (tid == A.pid)
				A.last_status = st;
			*q = A.p[--A.np];
		}
		thr_del(tid);
		return;
	}
	if (!WIFSTOPPED(st))
		return;
	sig = WSTOPSIG(st);
	ev = st >> 16;
	if (ev == PTRACE_EVENT_STOP) {
		/* a group-stop stays a stop; otherwise the first stop of a new task, or an interrupt */
		if (t->tgid == tid && !proc_find(tid) && t->tgid > 0) {
			struct proc *q = proc_add(tid, clock_ns(CLOCK_MONOTONIC));

			if (q)
				record_start(q, DISE_START_FORK, clock_ns(CLOCK_REALTIME));
		}
		if (sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU)
			ptrace(PTRACE_LISTEN, tid, NULL, NULL);
		else
			ptrace(PTRACE_CONT, tid, NULL, NULL);
		return;
	}
	if (ev == PTRACE_EVENT_FORK || ev == PTRACE_EVENT_VFORK || ev == PTRACE_EVENT_CLONE) {
		unsigned long child = 0;

		if (ptrace(PTRACE_GETEVENTMSG, tid, NULL, &child) == 0 && child) {
			pid_t c = (pid_t)child, tg = ev == PTRACE_EVENT_CLONE ? (pid_t)status_field(c, "Tgid", 10) : c;

			if (tg <= 0)
				tg = ev == PTRACE_EVENT_CLONE ? t->tgid : c;
			thr_add(c, tg);
			if (tg == c && !proc_find(c)) {
				struct proc *q = proc_add(c, clock_ns(CLOCK_MONOTONIC));

				if (q)
					record_start(q, DISE_START_FORK, clock_ns(CLOCK_REALTIME));
			}
		}
		ptrace(PTRACE_CONT, tid, NULL, NULL);
		return;
	}
	if (ev == PTRACE_EVENT_EXEC) {
		unsigned long former = 0;
		struct proc *q = proc_find(t->tgid);
		size_t k;

		/* the other threads are gone; a non-leader that exec'd now has the leader's id */
		if (ptrace(PTRACE_GETEVENTMSG, tid, NULL, &former) == 0 && (pid_t)former != tid)
			thr_del((pid_t)former);
		for (k = 0; k < A.nt;)
			if (A.t[k].tgid == t->tgid && A.t[k].tid != tid)
				A.t[k] = A.t[--A.nt];
			else
				k++;
		if (q) {
			record_exec(q);
			q->run_start_ns = clock_ns(CLOCK_MONOTONIC);
			q->user_ns = q->sys_ns = q->maxrss_kb = 0;
			record_start(q, 0, clock_ns(CLOCK_REALTIME));
		}
		ptrace(PTRACE_CONT, tid, NULL, NULL);
		return;
	}
	if (ev == PTRACE_EVENT_EXIT) {
		struct proc *q = proc_find(t->tgid);
		unsigned long msg;

		if (q) {
			proc_times(q);
			if (ptrace(PTRACE_GETEVENTMSG, tid, NULL, &msg) == 0)
				q->exit_msg = (int)msg, q->have_exit_msg = 1;
		}
		ptrace(PTRACE_CONT, tid, NULL, NULL);
		return;
	}
	if (ev) {
		ptrace(PTRACE_CONT, tid, NULL, NULL);
		return;
	}
	/* a signal-delivery-stop: the signal is about to be delivered */
	if (is_core_signal(sig) && fatal(tid, sig)) {
		struct proc *q = proc_find(t->tgid);
		siginfo_t si;
		uint32_t len;

		if (ptrace(PTRACE_GETSIGINFO, tid, NULL, &si) < 0)
			memset(&si, 0, sizeof(si));
		if (q && (len = capture(q, tid, sig, &si, b)) > 0) {
			put(b, len);
			if (!A.quiet) {
				fprintf(stderr, "dise attach: process %d gets %s on thread %d; recorded:\n",
					(int)t->tgid, dise_signal_name(sig), (int)tid);
				print_stack(stderr, b, len, tid);
				if (!nested)
					other_stacks(q, tid);
			}
		}
	}
	ptrace(PTRACE_CONT, tid, NULL, (void *)(long)sig);
}

/* A process that pid traces (a debugger, strace, a sandbox), or 0. */
static int tracee_of(pid_t pid)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int found = 0;

	while (d && !found && (e = readdir(d))) {
		pid_t p = (pid_t)atoi(e->d_name);

		if (p > 0 && p != pid && status_field(p, "TracerPid", 10) == pid)
			found = p;
	}
	if (d)
		closedir(d);
	return found;
}

/*
 * Whether the shim is mapped in pid: every line of its maps (large programs
 * have long ones), read through its first task that has any (a zombie
 * leader's are empty).
 */
static int has_shim(pid_t pid)
{
	char path[300], *line = NULL;
	size_t cap = 0;
	int found = 0, lines = 0;
	struct dirent *e;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	if (!(d = opendir(path)))
		return 0;
	while (!found && !lines && (e = readdir(d))) {
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/maps", (int)pid, e->d_name);
		if (!(f = fopen(path, "re")))
			continue;
		while (!found && getline(&line, &cap, f) > 0) {
			lines++;
			found = strstr(line, "/libdise_shim.so") != NULL;
		}
		fclose(f);
	}
	closedir(d);
	free(line);
	return found;
}

/* One line saying why pid cannot be attached, from errno err. Returns the exit code. */
static int attach_error(pid_t pid, int err)
{
	char buf[64];
	long long tracer = status_field(pid, "TracerPid", 10);

	if (err == ESRCH && kill(pid, 0) < 0) {
		fprintf(stderr, "dise attach: process %d exited during attach\n", (int)pid);
		return 1;
	}
	if (tracer > 0) {
		fprintf(stderr, "dise attach: process %d is already traced by process %lld (a debugger?); dise does not "
			"interfere\n", (int)pid, tracer);
		return 1;
	}
	if (err == EPERM) {
		int scope = dise_read_small("/proc/sys/kernel/yama/ptrace_scope", buf, sizeof(buf)) > 0 ? atoi(buf) : 0;

		if (scope >= 3)
			fprintf(stderr, "dise attach: permission denied for process %d: Yama's ptrace_scope is 3, ptrace is "
				"disabled on this system until reboot\n", (int)pid);
		else if (scope == 2)
			fprintf(stderr, "dise attach: permission denied for process %d: Yama's ptrace_scope is 2, only a "
				"process with CAP_SYS_PTRACE may attach (run as root)\n", (int)pid);
		else if (scope == 1 && geteuid() != 0)
			fprintf(stderr,
				"dise attach: permission denied for process %d: Yama's ptrace_scope is %d, so attaching to "
				"a process that is not your child needs CAP_SYS_PTRACE (run as root), or start the program "
				"under the shim with DISE_PTRACER=any\n",
				(int)pid, scope);
		else
			fprintf(stderr,
				"dise attach: permission denied for process %d: it belongs to another user or is not "
				"dumpable; run as root\n",
				(int)pid);
		return 1;
	}
	fprintf(stderr, "dise attach: cannot attach to process %d: %s\n", (int)pid, strerror(err));
	return 1;
}

/* --stack: every thread stopped once, its stack printed, then detached. */
static int snapshot(struct proc *p)
{
	static uint8_t b[DISE_RECORD_MAX];
	char comm[64], path[64];
	size_t i;

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)p->pid);
	if (dise_read_small(path, comm, sizeof(comm)) < 0)
		comm[0] = '\0';
	comm[strcspn(comm, "\n")] = '\0';
	printf("PID %d - process %s\n", (int)p->pid, comm);
	for (i = 0; i < A.nt;) {
		pid_t tid = A.t[i].tid;
		int st, sig = 0;
		uint32_t len;

		if (!interrupt_and_wait(tid, &st) || !WIFSTOPPED(st)) {
			thr_del(tid);
			continue;
		}
		if ((st >> 16) == 0)
			sig = WSTOPSIG(st);
		len = capture(p, tid, SIGSTOP, NULL, b); /* stopped by us: never written to the ring */
		if (len)
			print_stack(stdout, b, len, tid);
		ptrace(PTRACE_DETACH, tid, NULL, (void *)(long)sig);
		thr_del(tid);
	}
	fflush(stdout);
	return 0;
}

int dise_cli_attach(int argc, char **argv, const struct dise_cli_cmd *cmd)
{
	enum { OPT_STACK = DISE_CLI_OPT_FIRST, OPT_QUIET, OPT_DETACH_AFTER };
	static const struct option opts[] = { { "stack", no_argument, NULL, OPT_STACK },
					      { "quiet", no_argument, NULL, OPT_QUIET },
					      { "detach-after", required_argument, NULL, OPT_DETACH_AFTER },
					      DISE_CLI_OPT_END };
	const long options = PTRACE_O_TRACECLONE | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK | PTRACE_O_TRACEEXEC |
			     PTRACE_O_TRACEEXIT;
	struct sigaction sa;
	char ring_path[DISE_PATH_MAX] = "", *operand;
	long detach_after = 0;
	int stack = 0, c, r, rc = 0;
	long long tick, now_boot, start_boot;
	pid_t pid = 0;
	struct proc *p;
	struct dise_proc_stat ps;

	/* options anywhere: `dise attach PID --stack` */
	while ((c = dise_cli_getopt(argc, argv, opts, DISE_CLI_PERMUTE, cmd)) != -1) {
		switch (c) {
		case OPT_STACK: stack = 1; break;
		case OPT_QUIET: A.quiet = 1; break;
		case OPT_DETACH_AFTER:
			detach_after = (long)dise_cli_number(optarg, 1, 86400 * 365, "--detach-after", cmd);
			break;
		}
	}
	operand = dise_cli_operands(argc, argv, 1, 1, cmd)[0];
	pid = (pid_t)dise_cli_number(operand, 1, INT_MAX, "PID", cmd);
	A.pid = pid;
	if (pid == getpid()) {
		fprintf(stderr, "dise attach: %d is dise attach itself\n", (int)pid);
		return 1;
	}
	if (kill(pid, 0) < 0 && errno == ESRCH) {
		fprintf(stderr, "dise attach: no such process: %d\n", (int)pid);
		return 1;
	}
	if (status_field(pid, "Tgid", 10) != pid) {
		fprintf(stderr, "dise attach: %d is a thread of process %lld; attach to the process\n", (int)pid,
			status_field(pid, "Tgid", 10));
		return 1;
	}
	if (!stack && (r = tracee_of(pid)) > 0) {
		fprintf(stderr, "dise attach: process %d traces process %d itself (a debugger or tracer); following it "
			"would take its children from it, so dise does not attach\n", (int)pid, r);
		return 1;
	}
	if (!stack && has_shim(pid)) {
		fprintf(stderr, "dise attach: process %d is already watched by the dise shim (LD_PRELOAD); its runs are "
			"recorded\n", (int)pid);
		return 1;
	}
	/* its start, moved from CLOCK_BOOTTIME ticks onto the clocks the records use */
	tick = sysconf(_SC_CLK_TCK);
	start_boot = dise_proc_stat(pid, &ps) == 0 ? ps.f[22] : -1;
	now_boot = (long long)clock_ns(CLOCK_BOOTTIME);
	if (start_boot < 0 || tick <= 0) {
		fprintf(stderr, "dise attach: no such process: %d\n", (int)pid);
		return 1;
	}
	start_boot = start_boot * (1000000000LL / tick);
	if (start_boot > now_boot)
		start_boot = now_boot;
	p = proc_add(pid, clock_ns(CLOCK_MONOTONIC) - (uint64_t)(now_boot - start_boot));
	if (!p)
		return dise_cli_error(-ENOMEM, "attach");
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal; /* no SA_RESTART: waitpid() returns EINTR */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGALRM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN); /* `dise attach PID | head`: a closed pipe must not end the watch, and with it a signal in flight */

	if ((r = seize_all(pid, stack ? 0 : options)) < 0) {
		rc = attach_error(pid, -r);
		detach_all();
		goto out;
	}
	if (stack) {
		rc = snapshot(p);
		goto out;
	}
	/*
	 * As `dise run` does: a collector turns what is recorded into runs and
	 * crashes. Started once attaching worked (permission errors come first),
	 * before any event is handled; its launcher is reaped by pid.
	 */
	if (dise_cli_collector_ensure() != 0)
		fprintf(stderr, "dise attach: no collector runs; the records wait in the ring\n");
	r = dise_ring_path(ring_path, sizeof(ring_path));
	if (r == 0)
		r = dise_ring_map(ring_path, DISE_RING_WRITE | DISE_RING_CREATE, 0, 0, &A.ring);
	if (r < 0) {
		detach_all();
		rc = dise_cli_error(r, "cannot open the ring '%s'", r == -ENAMETOOLONG ? "(path too long)" : ring_path);
		goto out;
	}
	A.have_ring = 1;
	record_start(p, DISE_START_ATTACHED,
		     clock_ns(CLOCK_REALTIME) - (uint64_t)(now_boot - start_boot));
	if (!A.quiet)
		fprintf(stderr, "dise attach: watching process %d (%zu thread%s); Ctrl-C detaches\n", (int)pid, A.nt,
			A.nt == 1 ? "" : "s");
	if (detach_after)
		alarm((unsigned)detach_after);

	while (A.np) {
		int st;
		pid_t tid;

		if (stop_asked) {
			alarm(0);
			detach_all();
			/* what still runs goes on unwatched (what ended meanwhile was recorded and dropped) */
			for (size_t k = 0; k < A.np; k++)
				record_detached(&A.p[k]);
			if (!A.quiet && proc_find(pid))
				fprintf(stderr, "dise attach: detached from process %d; it runs on\n", (int)pid);
			A.np = 0;
			break;
		}
		tid = waitpid(-1, &st, __WALL);
		if (tid < 0) {
			if (errno == EINTR)
				continue;
			break; /* ECHILD: nothing traced is left */
		}
		handle(tid, st, 0);
	}
	/*
	 * A process whose main thread had ended before the attach: its leader
	 * (a zombie) could not be traced, so its end came as no wait status;
	 * the last exit stop of its threads told it.
	 */
	for (size_t k = 0; !stop_asked && k < A.np; k++)
		if (A.p[k].have_exit_msg) {
			record_exit(&A.p[k], A.p[k].exit_msg);
			if (A.p[k].pid == pid)
				A.last_status = A.p[k].exit_msg;
		}
	if (!stop_asked && !A.quiet) {
		if (WIFEXITED(A.last_status))
			fprintf(stderr, "dise attach: process %d exited with status %d\n", (int)pid, WEXITSTATUS(A.last_status));
		else if (WIFSIGNALED(A.last_status))
			fprintf(stderr, "dise attach: process %d was killed by %s%s\n", (int)pid,
				dise_signal_name(WTERMSIG(A.last_status)), WCOREDUMP(A.last_status) ? " (core dumped)" : "");
	}
out:
	if (A.have_ring)
		dise_ring_unmap(&A.ring);
	free(A.t);
	free(A.p);
	return rc;
}
