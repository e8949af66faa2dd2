/* SPDX-License-Identifier: MIT */
/*
 * The shim's entry: a constructor records START before the program's own
 * constructors and main run, and EXIT is recorded on the way out (return
 * from main and exit through on_exit; _exit and _Exit interposed).
 *
 * Invariant: the shim is a guest. Every path saves and restores errno, never
 * prints (unless DISE_DEBUG is set), never exits, and when anything it needs
 * is missing (no ring, a corrupt ring, no /dev/shm) it records nothing and
 * lets every call through untouched.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/resource.h>
#if defined(__GLIBC__) && __has_include(<sys/rseq.h>)
#include <sys/rseq.h> /* __rseq_offset: glibc 2.35+ */
#define DISE_HAVE_RSEQ_OFFSET 1
#endif
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "dise/rawsys.h"

struct dise_shim dise__shim;
struct dise_real dise__real;

/* The slots a short process's START and EXIT usually take (a START with a short argv and cwd, an EXIT) */
#define DISE_START_EXIT_SLOTS 4

static char preload_buf[DISE_PATH_MAX + 16]; /* "LD_PRELOAD=<absolute shim path>", built on first exec */
static char exe_buf[DISE_PATH_MAX];	   /* /proc/self/exe for START, rarely needed (exe_path) */

void dise__debug(const char *msg, int err)
{
	char buf[256];
	size_t n = 0, m;

	if (!dise__shim.debug)
		return;
	m = strlen(msg);
	if (m > 200)
		m = 200;
	memcpy(buf, "dise-shim: ", 11);
	n = 11;
	memcpy(buf + n, msg, m);
	n += m;
	if (err) {
		const char *e = strerrorname_np(err);

		if (e) {
			size_t k = strlen(e);

			buf[n++] = ':';
			buf[n++] = ' ';
			if (k > 40)
				k = 40;
			memcpy(buf + n, e, k);
			n += k;
		}
	}
	buf[n++] = '\n';
	(void)!write(STDERR_FILENO, buf, n);
}

void *dise__resolve(void **slot, const char *name)
{
	void *p = __atomic_load_n(slot, __ATOMIC_ACQUIRE);

	if (!p) {
		p = dlsym(RTLD_NEXT, name);
		__atomic_store_n(slot, p, __ATOMIC_RELEASE);
	}
	return p;
}

/*
 * The calling thread's tid when this process is the one the state belongs
 * to, else 0. The main thread's tid is the pid: one system call. A tid that
 * is not our pid is another thread of ours, or another process sharing our
 * memory (a vfork or clone child, whose tid is never our live pid): only
 * then a getpid tells which.
 */
uint32_t dise__active_tid(void)
{
	uint32_t tid;

	if (!dise__shim.ring.hdr || dise__shim.disabled)
		return 0;
	tid = (uint32_t)dise_sys0(SYS_gettid);
	return tid == dise__shim.pid || (uint32_t)dise_sys0(SYS_getpid) == dise__shim.pid ? tid : 0;
}

static int ring_reserve(struct dise_rec_sink *s, uint32_t len)
{
	return dise_ring_reserve(&dise__shim.ring, len, &((struct dise__ring_sink *)s)->v);
}

static void ring_write(struct dise_rec_sink *s, uint32_t off, const void *src, uint32_t n)
{
	dise_ring_write(&dise__shim.ring, &((struct dise__ring_sink *)s)->v, off, src, n);
}

void dise__ring_sink_init(struct dise__ring_sink *rs)
{
	rs->sink.reserve = ring_reserve;
	rs->sink.write = ring_write;
}

void dise__ring_sink_commit(struct dise__ring_sink *rs, int urgent)
{
	dise_ring_commit(&dise__shim.ring, &rs->v);
	dise_ring_notify_record(&dise__shim.ring, urgent);
}

static void file_id(const struct stat *st, struct dise_file_id *id)
{
	id->dev = st->st_dev;
	id->ino = st->st_ino;
	id->size = (uint64_t)st->st_size;
	id->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

/*
 * The path of the executable for START. AT_EXECFN names what was executed
 * (for a #! script, the script: that is what a version is), so the costly
 * first readlink of /proc/self/exe (10-25 us: it instantiates /proc/<pid>)
 * is only paid when AT_EXECFN is no usable path (fexecve, execveat).
 */
static const char *exe_path(char *buf)
{
	const char *fn = dise__shim.execfn;
	ssize_t n;
	int saved;

	if (fn && fn[0] && !dise__has_prefix(fn, "/dev/fd/") && !dise__has_prefix(fn, "/proc/"))
		return NULL;
	saved = errno; /* a fork child's START leaves errno alone */
	n = readlink("/proc/self/exe", buf, DISE_PATH_MAX - 1);
	errno = saved;
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

/*
 * The cwd by the system call, inline (each libc function the shim calls
 * is often a page of libc a short program never touches: libc-lite.c);
 * glibc's getcwd for what the system call cannot answer (a cwd not
 * reachable from our root, a path too long).
 */
static const char *cwd_now(char *buf, size_t size)
{
	long n = dise_sys3(SYS_getcwd, (long)buf, (long)size, 0);
	int saved;

	if (n > 0 && buf[0] == '/')
		return buf;
	saved = errno; /* a fork child's START touches errno only here (rawsys.h) */
	n = getcwd(buf, size) != NULL;
	errno = saved;
	return n ? buf : "";
}

void dise__record_start(uint32_t extra_flags)
{
	struct dise_shim *S = &dise__shim;
	struct dise_rec_start_in in;
	struct dise__ring_sink rs;

	memset(&in, 0, sizeof(in));
	/* a redirected script runs the copy under the original's name: the copy is what ran */
	in.exe = atomic_load_explicit(&S->script_redirect, memory_order_relaxed) ? dise__script_redirect_to()
										 : exe_path(exe_buf);
	in.cwd = cwd_now(S->scratch, sizeof(S->scratch));
	in.argv.v = S->argv;
	in.wall_ns = S->start_wall_ns;
	in.ppid = S->ppid ? S->ppid : (uint32_t)dise_sys0(SYS_getppid);
	in.uid = S->uid;
	in.flags = S->start_flags | extra_flags;
	in.exe_id = S->exe_id;
	in.script_id = S->script_id;
	in.execfn = S->execfn;
	/* START is written by the only thread there is (init, or a fork child): tid == pid */
	in.who = dise__who(S->pid);
	in.mono_ns = S->run_start_ns; /* read a moment ago: the header's time too */
	dise__ring_sink_init(&rs);
	if (dise_rec_start_write(&in, &rs.sink) >= 0)
		dise__ring_sink_commit(&rs, 0);
}

void dise__record_exit(int status, unsigned how)
{
	struct dise_rec_exit e;
	struct dise_rec_who who;
	struct rusage ru;
	uint32_t tid = dise__active_tid();

	if (!tid)
		return;
	if (atomic_exchange(&dise__shim.exited, 1))
		return;
	who = dise__who(tid);
	dise_rec_exit_init(&e, &who, status, how);
	/*
	 * The first process-wide CPU time read of a fresh process costs ~40 us
	 * on some kernels (measured: RUSAGE_SELF, times() and
	 * CLOCK_PROCESS_CPUTIME_ID alike) against ~0.5 us for RUSAGE_THREAD.
	 * While the process never had a second thread the two are the same.
	 */
	if (dise_sys3(SYS_getrusage, atomic_load(&dise__shim.threaded) ? RUSAGE_SELF : RUSAGE_THREAD, (long)&ru, 0) == 0) {
		e.user_ns = (uint64_t)ru.ru_utime.tv_sec * 1000000000u + (uint64_t)ru.ru_utime.tv_usec * 1000u;
		e.sys_ns = (uint64_t)ru.ru_stime.tv_sec * 1000000000u + (uint64_t)ru.ru_stime.tv_usec * 1000u;
		e.maxrss_kb = (uint64_t)ru.ru_maxrss;
	}
	dise_ring_put_record(&dise__shim.ring, &e, sizeof(e)); /* urgent when the status may be a strike (ring.h) */
	if (dise__shim.arm_key) /* its arm ends with it (an exec keeps it: no EXIT there) */
		dise_arm_clear(&dise__shim.ring, dise__shim.pid);
}

/* The absolute path of this library, for LD_PRELOAD in children. */
static void find_self(void)
{
	static const char key[] = "LD_PRELOAD=";
	Dl_info info;
	char abs[PATH_MAX];
	const char *p = NULL;
	size_t n;

	if (dladdr((void *)find_self, &info) && info.dli_fname && info.dli_fname[0]) {
		p = info.dli_fname;
		if (p[0] != '/' && realpath(p, abs))
			p = abs;
	}
	if (!p || p[0] != '/')
		return;
	n = strlen(p);
	if (n + sizeof(key) > sizeof(preload_buf))
		return;
	memcpy(preload_buf, key, sizeof(key) - 1);
	memcpy(preload_buf + sizeof(key) - 1, p, n + 1);
}

const char *dise__preload_env(void)
{
	static atomic_int done;

	/* dladdr takes the loader lock: only on the first exec or spawn, never in init */
	if (!atomic_load(&done)) {
		int saved = errno; /* callers keep errno without saving it (child-env.c) */

		find_self();
		atomic_store(&done, 1);
		errno = saved;
	}
	return preload_buf[0] ? preload_buf : NULL;
}

/*
 * Routing: when this executable is a pruned version and the collector
 * published a route for it, run the routed version instead, with the same
 * argv, environment and cwd, before the program's own constructors ran.
 *
 * Nothing is looked up unless the ring says routes exist (one load). The
 * route comes from the route file (ring.h: written only by the collector,
 * checked to be owned by our euid or root and writable by no one else),
 * never from the ring, which every producer can write. The target is run
 * only when it is a regular executable file owned by our euid or root,
 * writable by no one (the collector made it 0555 after checking its
 * content against the version's hash), in a directory no one else can
 * change (or a sticky one), and its identity (dev, ino, size, mtime) and
 * its ctime are the ones the collector published: a copy overwritten in
 * place since (chmod u+w, write, chmod back, even with its mtime set back)
 * has another ctime, which no unprivileged process can set. All of it
 * from one stat of the target. Such a copy is not run: the program goes on
 * as the file it executed, the pruned version, as if no route existed.
 * Running it would record unknown content as the healthy version, and
 * refusing the exec would change what the program does. The same when
 * anything else fails. One hop at most: a target that is itself routed is
 * refused.
 *
 * A #! script: the kernel handed the interpreter
 * [interpreter, optional argument, script path, the caller's argv[1..]].
 * Executing the target with the argv from the script path on makes the
 * kernel build [interpreter, optional argument, target, the caller's
 * argv[1..]]: the arguments the script sees are exactly the original ones.
 */
static int safe_target(const char *path, const struct dise_file_id *want, int64_t want_ctime, uint32_t owner)
{
	return dise_routes_target_ok(path, want, want_ctime, owner);
}

/* For a #! script, the index of the script path in argv (1 or 2); 0 for an ELF; -1 when unsure. */
static int script_argv_index(void)
{
	struct dise_shim *S = &dise__shim;
	char head[2];
	int fd, i;
	ssize_t n;

	fd = open(S->execfn, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -1;
	n = read(fd, head, sizeof(head));
	close(fd);
	if (n != 2)
		return -1;
	if (head[0] != '#' || head[1] != '!')
		return 0;
	for (i = 1; i <= 2 && i < S->argc && S->argv[i]; i++)
		if (strcmp(S->argv[i], S->execfn) == 0)
			return i;
	return -1;
}

/* The first line of path (a #! line) into buf, NUL-terminated; its length, or -1 when none fits. */
static ssize_t first_line(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	ssize_t n;
	char *nl;

	if (fd < 0)
		return -1;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	if (!(nl = memchr(buf, '\n', (size_t)n)))
		return -1;
	*nl = '\0';
	return nl - buf;
}

/*
 * Whether this interpreter reads the script itself (so intercept-open.c can
 * hand it the routed copy under the original's name) and the copy is for
 * the same interpreter line. Known readers only: one that executes another
 * program (env) would let that one read the original.
 */
static int redirectable(const char *target)
{
	const char *interp = dise__shim.argv[0], *base = strrchr(interp, '/');
	char a[256], b[256];
	int known;

	base = base ? base + 1 : interp;
	known = dise_route_script_reader(base);
	return known && first_line(dise__shim.execfn, a, sizeof(a)) > 2 && first_line(target, b, sizeof(b)) > 2 &&
	       strcmp(a, b) == 0;
}

/*
 * The arm of a weighted route (a canary rollout) this process takes: 1 the
 * canary (its own file), 0 the stable target. An exec chain keeps the arm
 * its first process took, so a wrapper and its child never mix versions:
 * the arm goes with the shim's state to a fork child, and through the
 * ring's arm table (ring.h) to what this process executes (its own pid)
 * and spawns (whose parent it is), never through the environment, which
 * the program sees. An arm of another route is replaced.
 */
static int take_arm(const struct dise_file_id *from, uint32_t canary_pct)
{
	struct dise_shim *S = &dise__shim;
	uint64_t key = dise_route_key(from);

	if (S->arm_key == key)
		return S->arm;
	S->arm_key = key;
	S->arm = dise_route_arm(key, S->pid, S->run_start_ns, canary_pct);
	dise_arm_put(&S->ring, S->pid, key, S->arm);
	return S->arm;
}

/*
 * At start, while routes exist: the arm this process inherits, left in the
 * arm table by its own pid's previous image (an exec) or by its parent (a
 * posix_spawn, a vfork: no shim state of the parent came along). One from
 * the parent is left under our pid too, for what we execute and spawn.
 * The parent's pid is the one START records (asked here instead).
 */
static void inherit_arm(void)
{
	struct dise_shim *S = &dise__shim;
	uint64_t key;
	int arm;

	if (dise_arm_get(&S->ring, S->pid, &key, &arm)) {
		S->arm_key = key;
		S->arm = arm;
		return;
	}
	if (!S->ppid)
		S->ppid = (uint32_t)dise_sys0(SYS_getppid);
	if (dise_arm_get(&S->ring, S->ppid, &key, &arm)) {
		S->arm_key = key;
		S->arm = arm;
		dise_arm_put(&S->ring, S->pid, key, arm);
	}
}

/*
 * The canary arm of a route whose canary is another file (a regenerated
 * version rolled out over a pruned one's route): 1 with that file in
 * target and *to when it may run, checked as the stable target is (a
 * refused one: the stable target runs, the other version the route
 * allows); 0 when the canary is this file itself.
 */
static int canary_target(const char *rpath, uint32_t owner, char *target, size_t size, struct dise_file_id *to)
{
	char canary[DISE_PATH_MAX];
	struct dise_file_id cid, again;
	int64_t cctime = 0;

	if (dise_routes_canary(rpath, owner, &dise__shim.script_id, canary, sizeof(canary), &cid, &cctime) != 1)
		return 0;
	if (strlen(canary) < size && safe_target(canary, &cid, cctime, owner) &&
	    /* size 0: only whether the canary is routed itself (one hop at most) */
	    dise_routes_lookup(rpath, owner, &cid, target, 0, &again, NULL, NULL, NULL) == 0) {
		memcpy(target, canary, strlen(canary) + 1);
		*to = cid;
	} else {
		dise__debug("canary target refused: the stable target runs", 0);
	}
	return 1;
}

/*
 * Finds the route of this executable (0: none, 1: target and *ret_to set);
 * init asks only when the ring says routes exist (one load).
 * A script whose interpreter can be handed the copy is redirected here
 * (2): nothing is executed, the run is the copy's from its START on.
 */
static int route_find(const char *ring_path, char *target, size_t size, struct dise_file_id *ret_to, int *ret_k)
{
	struct dise_shim *S = &dise__shim;
	struct dise_file_id tid2;
	int64_t tctime = 0;
	char rpath[DISE_PATH_MAX + 8], again[DISE_PATH_MAX];
	uint32_t owner = (uint32_t)getauxval(AT_EUID), canary_pct = 0;

	if (dise_routes_path(ring_path, rpath, sizeof(rpath)) < 0 ||
	    dise_routes_lookup(rpath, owner, &S->script_id, target, size, ret_to, &tctime, NULL, &canary_pct) != 1)
		return 0;
	if (!safe_target(target, ret_to, tctime, owner)) {
		dise__debug("route target refused", 0);
		return 0;
	}
	if (dise_routes_lookup(rpath, owner, ret_to, again, sizeof(again), &tid2, NULL, NULL, NULL) != 0)
		return 0; /* a route to a routed version: a loop, or a table gone wrong */
	if (canary_pct && take_arm(&S->script_id, canary_pct) && !canary_target(rpath, owner, target, size, ret_to))
		return 0; /* the canary arm: this file runs */
	if (!S->argv || !S->argv[0] || (*ret_k = script_argv_index()) < 0)
		return 0;
	if (*ret_k > 0 && redirectable(target)) {
		dise__script_redirect_arm(S->execfn, &S->script_id, target, ret_to);
		return 2;
	}
	return 1;
}

static void route_exec(const char *target, int k)
{
	extern char **environ;

	dise__record_exec(DISE_EXEC_ROUTE, target, dise__shim.argv + k);
	DISE_REAL(execve)(target, dise__shim.argv + k, environ);
}

/*
 * START, and the route when the collector published any: its buffers are
 * in this frame only then (every page of stack the start goes down is a
 * fault in a short process).
 */
static __attribute__((noinline)) void start_routed(const char *ring_path)
{
	char target[DISE_PATH_MAX];
	struct dise_file_id to;
	int k = 0, how = route_find(ring_path, target, sizeof(target), &to, &k);

	if (how == 2) /* a redirected script: the run is the copy's, under the original's name */
		dise__shim.script_id = dise__shim.exe_id = to;
	dise__record_start(0);
	if (how == 1)
		route_exec(target, k);
}

/* stat, inline where glibc's struct stat is the kernel's (libc's stat is one more page of code: rawsys.h) */
static int stat_sys(const char *path, struct stat *st)
{
#if defined(SYS_newfstatat) && defined(__x86_64__)
	return dise_sys6(SYS_newfstatat, AT_FDCWD, (long)path, (long)st, 0, 0, 0) == 0 ? 0 : -1;
#else
	return stat(path, st);
#endif
}

/*
 * Our pid. The main thread's tid is the pid, and glibc keeps it in the
 * thread's descriptor (set_tid_address at its start), where fork children
 * find their pid too (intercept-fork.c): read from there without a system
 * call where glibc's rseq offset says the layout is the known one, else
 * asked (and the place checked against the answer). *ret_at_tp: the place
 * holds our tid.
 */
static uint32_t pid_at_start(int *ret_at_tp)
{
	uint32_t pid;
#if DISE_TID_AT_TP
	uint32_t at_tp = *(volatile uint32_t *)((char *)__builtin_thread_pointer() + DISE_TID_AT_TP);

#ifdef DISE_HAVE_RSEQ_OFFSET
	if (__rseq_offset == DISE_TID_AT_TP_RSEQ && at_tp) {
		*ret_at_tp = 1;
		return at_tp;
	}
#endif
	pid = (uint32_t)dise_sys0(SYS_getpid);
	*ret_at_tp = at_tp == pid;
#else
	pid = (uint32_t)dise_sys0(SYS_getpid);
	*ret_at_tp = 0;
#endif
	return pid;
}

static void init(int argc, char **argv)
{
	struct dise_shim *S = &dise__shim;
	char *path = S->scratch; /* the ring's path, then START's cwd */
	struct stat st;
	const char *env;
	int r;

	S->debug = getenv("DISE_DEBUG") != NULL;
	S->secure = getauxval(AT_SECURE) != 0;
	if (S->secure)
		return; /* setuid/setgid: the loader should not even have loaded us */
	env = getenv("DISE_RING");
	if (env && env[0] && strlen(env) < DISE_PATH_MAX)
		S->ring_env = env - sizeof("DISE_RING=") + 1; /* the environ entry itself */
	env = getenv("DISE_DISABLE");
	if (env && env[0] && strcmp(env, "0") != 0) {
		S->disabled = 1;
		return;
	}

	/*
	 * DISE_PTRACER=any|PID: where Yama's ptrace_scope is 1, let `dise attach`
	 * (any process of this user, or PID and its descendants) attach later
	 * without privilege. Asked for by the operator; a kernel without Yama
	 * says EINVAL, which changes nothing (errno is restored by our caller).
	 */
	env = getenv("DISE_PTRACER");
	if (env && env[0]) {
		unsigned long who = strcmp(env, "any") == 0 ? (unsigned long)PR_SET_PTRACER_ANY : strtoul(env, NULL, 10);

		if (who)
			prctl(PR_SET_PTRACER, who, 0, 0, 0);
	}

	S->pid = pid_at_start(&S->tid_at_tp);
	S->ppid = 0; /* asked at START */
	S->uid = (uint32_t)getauxval(AT_UID);
	S->argc = argc;
	S->argv = argv;
	S->run_start_ns = dise__now_ns();
	S->start_wall_ns = dise__clock_ns(CLOCK_REALTIME);

	/* the default ring, or the per-user fallback when someone else holds the default path (ring.h) */
	env = getenv("DISE_RING_SLOTS");
	/* the slots as a window of the next few, next to the header's page (ring.h: DISE_RING_WINDOW) */
	r = dise_ring_map_default(DISE_RING_WRITE | DISE_RING_CREATE | DISE_RING_SPLIT | DISE_RING_WINDOW,
				  env ? (uint32_t)strtoul(env, NULL, 0) : 0, 0, &S->ring, path, sizeof(S->scratch));
	if (r < 0) {
		dise__debug("no usable ring, recording nothing", -r);
		return;
	}
	/* START and EXIT go to the next few slots: their page mapped in now, not by a read fault (ring.h) */
	dise_ring_populate_next(&S->ring, DISE_START_EXIT_SLOTS); /* nothing to do for a window */

	/*
	 * One stat: of what was executed. For an ELF that is the executable
	 * (exe_id == script_id); for a #! script it is the script, and the
	 * interpreter is named by its first line.
	 */
	S->execfn = (const char *)getauxval(AT_EXECFN);
	if (S->execfn && stat_sys(S->execfn, &st) == 0) {
		file_id(&st, &S->script_id);
		S->exe_id = S->script_id;
	} else {
		S->start_flags |= DISE_START_NO_SCRIPT | DISE_START_NO_EXE;
	}

	if (atomic_load_explicit(&S->ring.hdr->nroutes, memory_order_acquire)) {
		inherit_arm();
		if (!(S->start_flags & DISE_START_NO_SCRIPT))
			start_routed(path);
		else
			dise__record_start(0);
	} else {
		dise__record_start(0);
	}
	dise__signals_init();
	dise__threads_init();
}

/*
 * EXIT for exit() and return from main: on_exit handlers get the status,
 * and ours, registered before the program could register any, runs last.
 * (It cannot tell the two apart: both are recorded as DISE_EXIT_EXIT.)
 */
static void on_exit_handler(int status, void *arg)
{
	int saved = errno;

	(void)arg;
	dise__record_exit(status, DISE_EXIT_EXIT);
	errno = saved;
}

/*
 * The shim starts as an ELF constructor: the loader runs a preloaded
 * library's constructors after libc's and before the program's own, and
 * glibc hands them argc and argv. (Wrapping __libc_start_main would need a
 * dlsym, the first of which costs a process 3-5 us, and would put a shim
 * frame under main in every stack.)
 */
__attribute__((constructor)) static void dise_shim_init(int argc, char **argv, char **envp)
{
	int saved = errno;

	dise__shim.envp0 = envp;
	dise__auxv_init(envp); /* getauxval without libc's (libc-lite.c) */
	init(argc, argv);
	if (dise__shim.ring.hdr)
		on_exit(on_exit_handler, NULL);
	errno = saved;
}

/* _exit and _Exit run no handlers: record here, then do what glibc's _exit does. */
static _Noreturn void exit_now(int status)
{
	for (;;) {
		syscall(SYS_exit_group, status);
		syscall(SYS_exit, status);
	}
}

DISE_EXPORT void _exit(int status)
{
	dise__record_exit(status, DISE_EXIT__EXIT);
	exit_now(status);
}

DISE_EXPORT void _Exit(int status)
{
	dise__record_exit(status, DISE_EXIT__EXIT2);
	exit_now(status);
}
