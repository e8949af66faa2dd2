/* SPDX-License-Identifier: MIT */
/*
 * State shared between the shim's files. Nothing here is exported: the
 * shim is built with hidden visibility and a version script that lists only
 * the interposed libc symbols (shim/shim.map).
 */
#ifndef DISE_SHIM_INTERNAL_H
#define DISE_SHIM_INTERNAL_H

#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <ucontext.h>

#include "dise/event.h"
#include "dise/ring.h"
#include "record.h"

#define DISE_EXPORT __attribute__((visibility("default")))
/*
 * Small state every process writes: in .data, the page the loader has
 * written already (relocations), not in a .bss page of its own beside the
 * big buffers. Each page a process touches is a fault.
 */
#define DISE_HOT __attribute__((section(".data.dise_hot")))

struct dise_shim {
	dise_ring ring;       /* hdr == NULL: no ring, record nothing */
	int secure;           /* AT_SECURE: stay out of the way entirely */
	int disabled;         /* DISE_DISABLE set */
	int signals_on;       /* crash handlers installed */
	int debug;            /* DISE_DEBUG set: say why we are silent */
	uint32_t pid;         /* pid this state belongs to (a vfork child differs) */
	uint32_t ppid;        /* the parent's pid when known without asking (a fork child: the forker), else 0 */
	uint32_t uid;         /* AT_UID, for START */
	int tid_at_tp;        /* glibc keeps the thread's tid at DISE_TID_AT_TP from the thread pointer (checked at init) */
	uint64_t run_start_ns;
	uint64_t start_wall_ns;
	int argc;
	char **argv;
	atomic_int exited;   /* an EXIT (or EXEC) was written for this run */
	atomic_int threaded; /* a second thread was ever created in this process */
	struct dise_file_id exe_id, script_id;
	uint32_t start_flags;
	const char *execfn;
	const char *ring_env; /* the "DISE_RING=..." entry of the initial environment, if any */
	char **envp0;         /* the environment the process started with (child-env.c compares with it) */
	atomic_int script_redirect; /* a routed script: opens of its path open the copy (intercept-open.c) */
	uint64_t arm_key;     /* the route whose canary arm this process (or what it came from) took; 0: none */
	int arm;              /* 1 the canary, 0 the stable: the arm table keeps it for what it executes and spawns */
	/*
	 * Last: the ring's path at init, then the cwd START records (init and
	 * a fork child's handler: one thread each). Only the bytes written are
	 * touched, in the page of the fields above, which both write anyway.
	 */
	char scratch[DISE_PATH_MAX];
};
/*
 * Everything the shim touches in every process lives in this one small
 * struct: each page a process touches is a page fault, and page faults are
 * most of what a preloaded library costs a short process. Large buffers
 * are on the stack at init, or static and touched only on rare paths.
 */

extern struct dise_shim dise__shim;

/*
 * Where glibc keeps a thread's tid, from the thread pointer (struct
 * pthread's tid, x86-64 glibc 2.36: the place glibc's fork has the kernel
 * write a fork child's pid). Not glibc's interface: init checks that our
 * pid is there before anything relies on it (intercept-fork.c). 0: not used.
 */
#if defined(__x86_64__) && defined(__GLIBC__)
#define DISE_TID_AT_TP 0x2d0
/*
 * __rseq_offset (glibc 2.35+: struct pthread's rseq_area, which follows
 * the tid) in the layout where the tid is at DISE_TID_AT_TP: x86-64 glibc
 * 2.35-2.36. Where glibc says this offset, init takes its pid from there
 * without a getpid; any other layout moves rseq_area too, and init asks
 * the kernel (and checks the place) as before.
 */
#define DISE_TID_AT_TP_RSEQ 0x920
#else
#define DISE_TID_AT_TP 0
#endif

/* glibc's own sigaction under its exported internal name: no dlsym needed. */
extern int __sigaction(int, const struct sigaction *, struct sigaction *);

/* The real functions the shim cannot reach otherwise, resolved on first use with dlsym(RTLD_NEXT). */
struct dise_real {
	__sighandler_t (*signal)(int, __sighandler_t);
	int (*execve)(const char *, char *const[], char *const[]);
	int (*execvpe)(const char *, char *const[], char *const[]);
	int (*fexecve)(int, char *const[], char *const[]);
	int (*posix_spawn)(pid_t *, const char *, const void *, const void *, char *const[], char *const[]);
	int (*posix_spawnp)(pid_t *, const char *, const void *, const void *, char *const[], char *const[]);
	int (*pthread_create)(void *, const void *, void *(*)(void *), void *);
	pid_t (*wait4)(pid_t, int *, int, struct rusage *);
	int (*waitid)(idtype_t, id_t, siginfo_t *, int);
	int (*daemon)(int, int);
	pid_t (*forkpty)(int *, char *, const struct termios *, const struct winsize *);
};
int dise__sigaltstack(const stack_t *ss, stack_t *old); /* the system call, not our interposer: 0 or -errno, errno untouched */
extern struct dise_real dise__real;
/* Resolves one real function on first use (dlsym(RTLD_NEXT)): most processes need few of them. */
void *dise__resolve(void **slot, const char *name);
#define DISE_REAL(name) \
	((__typeof__(dise__real.name))dise__resolve((void **)&dise__real.name, #name))
/* "LD_PRELOAD=<absolute path of the shim>", found on first use; NULL if unknown. */
const char *dise__preload_env(void);

/* Whether s starts with p. A loop, not strncmp: see child-env.c (nothing bound lazily in a fork child). */
static inline int dise__has_prefix(const char *s, const char *p)
{
	while (*p && *s == *p) {
		s++;
		p++;
	}
	return !*p;
}

/* The clocks: system calls first, then the vDSO (record/build.c says why). Async-signal-safe. */
static inline uint64_t dise__clock_ns(int clock)
{
	return dise_rec_clock_ns(clock);
}
static inline uint64_t dise__now_ns(void)
{
	return dise_rec_clock_ns(CLOCK_MONOTONIC);
}
void dise__debug(const char *msg, int err);
/* libc-lite.c: the auxiliary vector after the initial environment, for the shim's own getauxval */
void dise__auxv_init(char **envp0);
/* Routes every read-only open of the path string from (naming from_id) to the copy to (to_id): intercept-open.c. */
void dise__script_redirect_arm(const char *from, const struct dise_file_id *from_id, const char *to,
			       const struct dise_file_id *to_id);
/* The copy a redirected script reads (valid once armed). */
const char *dise__script_redirect_to(void);
uint32_t dise__active_tid(void); /* ring mapped and this is the state's process: the caller's tid, else 0 */
/* The run's identity for a record written by thread tid. */
static inline struct dise_rec_who dise__who(uint32_t tid)
{
	struct dise_rec_who w = { dise__shim.run_start_ns, dise__shim.pid, tid };

	return w;
}

/* A record/ sink into a reservation of the shim's ring; commit publishes it and wakes the collector (urgent: dise_ring_urgent). */
struct dise__ring_sink {
	struct dise_rec_sink sink;
	dise_ring_resv v;
};
void dise__ring_sink_init(struct dise__ring_sink *rs);
void dise__ring_sink_commit(struct dise__ring_sink *rs, int urgent);

/* Writes START (init, a fork child): uses dise__shim.scratch. */
void dise__record_start(uint32_t extra_flags);
void dise__record_exec(unsigned call, const char *path, char *const argv[]);
void dise__record_exit(int status, unsigned how);

/*
 * child-env.c: the environment a child is executed with. The copy lives on
 * the caller's stack, which may be a small thread stack or a vfork child's
 * borrowed one: at most 512 pointers and a 2 KiB LD_PRELOAD (~6 KiB). A
 * larger environment is passed on untouched.
 */
#define DISE_ENV_MAX_ENTRIES 512
#define DISE_ENV_VALUE_MAX 2048
struct dise__env_plan {
	long n;	     /* entries of envp */
	long preload;    /* index of envp's LD_PRELOAD entry (the last: ld.so's), -1: none */
	int add_ring;    /* append our DISE_RING entry */
	size_t vlen;     /* bytes of the new LD_PRELOAD entry with its NUL; 0: unchanged */
};
/* 1: the child needs a copy of envp, built by dise__env_build; 0: envp goes on untouched. */
int dise__env_plan(char *const envp[], struct dise__env_plan *ret);
/* Builds the copy into copy (p->n + 3 pointers) and val (p->vlen bytes, when not 0). */
void dise__env_build(char *const envp[], const struct dise__env_plan *p, char **copy, char *val);

/* intercept-signal.c */
void dise__signals_init(void);
void dise__signals_after_fork(void);
void dise__altstack_main(void);
void dise__altstack_set(void *sp, size_t size); /* installs and remembers it as ours */
int dise__altstack_is_ours(void *sp);

/* intercept-wait.c: the fatal signal of the last child this process reaped (0: it exited) */
int dise__reaped_signal(void);

/* intercept-thread.c */
void dise__threads_init(void);

#endif
