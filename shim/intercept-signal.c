/* SPDX-License-Identifier: MIT */
/*
 * Crash signals: SIGSEGV SIGBUS SIGFPE SIGILL SIGABRT SIGSYS SIGTRAP.
 *
 * Who owns the kernel's disposition: the shim holds it while the program's
 * own disposition is SIG_DFL, i.e. exactly while the signal would kill the
 * process. When the program installs a handler (sigaction, signal,
 * bsd_signal), that handler goes straight into the kernel and runs natively
 * with the program's mask and flags, so a program that uses SIGSEGV for its
 * own purposes (JITs, GCs, guard pages) is neither slowed down nor reported
 * as crashing. When it sets SIG_DFL again (as crash reporters like Python's
 * faulthandler do before re-raising) the shim takes the disposition back.
 * sigaction() answers with the program's view, never with ours.
 *
 * The handler records CRASH (record/crash.c), restores SIG_DFL and lets the signal
 * happen again: a hardware fault by returning and re-executing the faulting
 * instruction, anything else by re-queueing the same siginfo to the same
 * thread. The exit status, the core dump and the siginfo the parent sees are
 * the ones the program would have had without us.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "dise/rawsys.h"

#define ALTSTACK_SIZE (64 * 1024)

/* How long a thread that crashed second waits for the first crash's record: 2 s, as a bound only. */
#define OWNER_WAIT_NS 2000000000ull

static const int crash_sigs[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGSYS, SIGTRAP };

struct sigslot {
	atomic_int ours;       /* our handler is the kernel's disposition */
	struct sigaction prog; /* the program's view while ours */
};
#define NCRASH (sizeof(crash_sigs) / sizeof(crash_sigs[0]))
static struct sigslot slots_by_index[NCRASH] DISE_HOT;

/* The slot of a crash signal (callers check is_crash_sig first). */
static struct sigslot *slot(int sig)
{
	size_t i;

	for (i = 0; i < NCRASH; i++)
		if (crash_sigs[i] == sig)
			return &slots_by_index[i];
	return &slots_by_index[0];
}

static atomic_int crash_owner DISE_HOT; /* tid of the thread recording a crash */
static atomic_int crash_done DISE_HOT;

static char main_altstack[ALTSTACK_SIZE] __attribute__((aligned(64)));

int dise__sigaltstack(const stack_t *ss, stack_t *old)
{
	return (int)dise_sys3(SYS_sigaltstack, (long)ss, (long)old, 0);
}

#if defined(__x86_64__)
/*
 * The crash handlers are installed by the rt_sigaction system call, not by
 * glibc's sigaction: that is a page of libc's code most short programs
 * never touch, a page fault in every process (docs/shim-cost.md, "Fifth
 * pass"). The kernel's struct (x86-64), and a signal return of our own
 * with the bytes of glibc's __restore_rt, which debuggers and unwinders
 * recognise as a signal frame; the nop before it is there for the same
 * reason as glibc's (an unwinder looks up the return address minus one).
 */
#ifndef SA_RESTORER
#define SA_RESTORER 0x04000000 /* the kernel's, not in glibc's public headers */
#endif
struct ksigaction {
	void *handler;
	unsigned long flags;
	void *restorer;
	uint64_t mask;
};
void dise__restore_rt(void);
__asm__(".text\n"
	"\tnop\n"
	".globl dise__restore_rt\n"
	".hidden dise__restore_rt\n"
	".type dise__restore_rt,@function\n"
	"dise__restore_rt:\n"
	"\tmovq $15, %rax\n" /* __NR_rt_sigreturn */
	"\tsyscall\n"
	".size dise__restore_rt, .-dise__restore_rt\n");

/*
 * 0 or -errno; errno untouched. A disposition handed back as the kernel
 * gave it (SIG_IGN, another library's handler) goes back unchanged; a
 * handler without a restorer of its own gets ours.
 */
static int sigaction_sys(int sig, const struct sigaction *act, struct sigaction *old)
{
	struct ksigaction k, ko;
	long r;

	if (act) {
		k.handler = (void *)act->sa_handler;
		k.flags = (unsigned long)(unsigned int)act->sa_flags;
		k.restorer = (void *)act->sa_restorer;
		memcpy(&k.mask, &act->sa_mask, sizeof(k.mask));
		if (act->sa_handler != SIG_DFL && act->sa_handler != SIG_IGN && !(k.flags & SA_RESTORER)) {
			k.flags |= SA_RESTORER;
			k.restorer = (void *)dise__restore_rt;
		}
	}
	r = dise_sys6(SYS_rt_sigaction, sig, act ? (long)&k : 0, old ? (long)&ko : 0, sizeof(k.mask), 0, 0);
	if (r == 0 && old) {
		memset(old, 0, sizeof(*old));
		old->sa_handler = (__sighandler_t)ko.handler;
		old->sa_flags = (int)ko.flags;
		old->sa_restorer = (void (*)(void))ko.restorer;
		memcpy(&old->sa_mask, &ko.mask, sizeof(ko.mask));
	}
	return (int)r;
}
#else
static int sigaction_sys(int sig, const struct sigaction *act, struct sigaction *old)
{
	int saved = errno, r = __sigaction(sig, act, old) == 0 ? 0 : -errno;

	errno = saved;
	return r;
}
#endif

/* The alternate stack the shim gave this thread, hidden from sigaltstack(). */
static __thread void *our_altstack;

void dise__altstack_set(void *sp, size_t size)
{
	stack_t ss;

	memset(&ss, 0, sizeof(ss));
	ss.ss_sp = sp;
	ss.ss_size = size;
	if (dise__sigaltstack(&ss, NULL) == 0)
		our_altstack = sp;
}

int dise__altstack_is_ours(void *sp)
{
	return sp && our_altstack == sp;
}

static int is_crash_sig(int sig)
{
	size_t i;

	for (i = 0; i < sizeof(crash_sigs) / sizeof(crash_sigs[0]); i++)
		if (crash_sigs[i] == sig)
			return 1;
	return 0;
}

static int refaults(int sig, const siginfo_t *si)
{
	/* Generated by the kernel for an instruction: executing it again faults again. */
	return (sig == SIGSEGV || sig == SIGBUS || sig == SIGFPE || sig == SIGILL) && si->si_code > 0;
}

/*
 * A SIGBUS inside the ring's mapping is not the program's: another process
 * of the user truncated the ring file under us. Put anonymous memory where
 * the ring was, stop recording, and let the faulting write retry there.
 */
static int ring_fault(int sig, const siginfo_t *si)
{
	dise_ring *r = &dise__shim.ring;
	uintptr_t a = (uintptr_t)si->si_addr;
	void *p[DISE_RING_MAX_REGIONS];
	size_t n[DISE_RING_MAX_REGIONS];
	int i, k, ours = 0;

	if (sig != SIGBUS)
		return 0;
	k = dise_ring_regions(r, p, n); /* the header's page, the slots' window, the whole file */
	for (i = 0; i < k; i++)
		ours |= a >= (uintptr_t)p[i] && a - (uintptr_t)p[i] < n[i];
	if (!ours)
		return 0;
	for (i = 0; i < k; i++)
		if (mmap(p[i], n[i], PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) ==
		    MAP_FAILED)
			return 0;
	r->writable = 0;
	dise__shim.disabled = 1;
	return 1;
}

/*
 * Whether this process sent itself sig (kill, tgkill, sigqueue: raise())
 * after it reaped a child that died of sig: GNU timeout, and wrappers like
 * it, die of their child's signal to report it; the crash was the child's.
 */
static int reraised(int sig, const siginfo_t *si, int pid)
{
	return (si->si_code == SI_USER || si->si_code == SI_TKILL || si->si_code == SI_QUEUE) && si->si_pid == pid &&
	       dise__reaped_signal() == sig;
}

/*
 * The crash, captured by record/ from inside: this thread's registers, its
 * stack and the module map, read in place (the handler runs on an alternate
 * stack, so the stack above the faulting sp is as the fault left it).
 * Written straight into a ring reservation. Async-signal-safe.
 */
static void capture_crash(int sig, const siginfo_t *si, const ucontext_t *uc, int tid, int pid)
{
	struct dise_rec_crash_in in;
	struct dise__ring_sink rs;

	if (!dise__shim.ring.hdr)
		return;
	memset(&in, 0, sizeof(in));
	in.who = dise__who((uint32_t)tid);
	in.signo = sig;
	in.si_code = si->si_code;
	in.fault_addr = (uint64_t)(uintptr_t)si->si_addr;
	in.flags = reraised(sig, si, pid) ? DISE_CRASH_RERAISED : 0;
	dise_rec_regs_from_ucontext(uc, in.regs);
	in.maps_tid = 0;
	in.mem = dise_rec_mem_self;
	dise__ring_sink_init(&rs);
	if (dise_rec_crash_write(&in, &rs.sink) >= 0)
		dise__ring_sink_commit(&rs, 1);
}

/*
 * Another thread is writing the first crash: let it finish. The waiter
 * sleeps on a futex that nobody wakes: the owner's re-raise ends the whole
 * process, waiters included, and a thousand waiters woken at once would only
 * compete with that exit (measured: bench-masscrash). The bound is for the
 * odd owner that never re-raises (it hangs in the capture, or a handler the
 * program installed meanwhile caught its re-raise): then, as before, each
 * waiter goes on to its own signal. Not a polling sleep: a thousand threads
 * waking every millisecond starved the owner for seconds (issue 10, obs. 12).
 */
static void wait_for_owner(void)
{
	uint64_t end = dise__now_ns() + OWNER_WAIT_NS, now;

	while (!atomic_load(&crash_done) && (now = dise__now_ns()) < end) {
		struct timespec left = { (time_t)((end - now) / 1000000000u), (long)((end - now) % 1000000000u) };

		syscall(SYS_futex, &crash_done, FUTEX_WAIT_PRIVATE, 0, &left, NULL, 0);
	}
}

static void crash_handler(int sig, siginfo_t *si, void *ucv)
{
	int saved = errno;

	if (ring_fault(sig, si)) {
		errno = saved;
		return;
	}
	int tid = (int)syscall(SYS_gettid);
	int pid = (int)syscall(SYS_getpid);
	int expect = 0;
	struct sigaction dfl;

	if ((uint32_t)pid == dise__shim.pid && !dise__shim.disabled) {
		if (atomic_compare_exchange_strong(&crash_owner, &expect, tid)) {
			capture_crash(sig, si, ucv, tid, pid);
			atomic_store(&crash_done, 1);
		} else if (expect != tid) {
			wait_for_owner();
		}
	}

	memset(&dfl, 0, sizeof(dfl)); /* the mask empty too */
	dfl.sa_handler = SIG_DFL;
	sigaction_sys(sig, &dfl, NULL);
	atomic_store(&slot(sig)->ours, 0);
	if (!refaults(sig, si)) {
		/* Pending until we return (sig is blocked in here), then fatal. */
		if (syscall(SYS_rt_tgsigqueueinfo, pid, tid, sig, si) != 0)
			syscall(SYS_tgkill, pid, tid, sig);
	}
	errno = saved;
}

static int install_ours(int sig, struct sigaction *ret_old)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa)); /* the mask empty too: no sigemptyset to bind in every process */
	sa.sa_sigaction = crash_handler;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
	return sigaction_sys(sig, &sa, ret_old);
}

static int is_default(const struct sigaction *sa)
{
	return !(sa->sa_flags & SA_SIGINFO) && sa->sa_handler == SIG_DFL;
}

void dise__altstack_main(void)
{
	stack_t ss, old;

	/*
	 * Installed before anything runs: a stack overflow cannot install it
	 * later. Set and read the old one in one call; another preloaded
	 * library's constructor may have set one already: then it goes back.
	 */
	memset(&ss, 0, sizeof(ss));
	ss.ss_sp = main_altstack;
	ss.ss_size = sizeof(main_altstack);
	if (dise__sigaltstack(&ss, &old) != 0)
		return;
	if (old.ss_flags & SS_DISABLE)
		our_altstack = main_altstack;
	else
		dise__sigaltstack(&old, NULL);
}

/* The program sees no alternate stack where only ours is, and replaces ours freely. */
DISE_EXPORT int sigaltstack(const stack_t *ss, stack_t *old)
{
	stack_t cur;
	int r;

	r = dise__sigaltstack(ss, &cur);
	if (r != 0) {
		errno = -r;
		return -1;
	}
	if (old) {
		*old = cur;
		if (dise__altstack_is_ours(cur.ss_sp) && !(cur.ss_flags & SS_ONSTACK)) {
			old->ss_sp = NULL;
			old->ss_size = 0;
			old->ss_flags = SS_DISABLE;
		}
	}
	if (ss)
		our_altstack = NULL;
	return 0;
}

void dise__signals_init(void)
{
	size_t i;

	dise__altstack_main();
	for (i = 0; i < sizeof(crash_sigs) / sizeof(crash_sigs[0]); i++) {
		int sig = crash_sigs[i];
		struct sigaction old;

		if (install_ours(sig, &old) != 0)
			continue;
		if (!is_default(&old)) {
			/* Someone (a preloaded library's constructor) got there first: theirs stays. */
			sigaction_sys(sig, &old, NULL);
			continue;
		}
		slot(sig)->prog = old;
		atomic_store(&slot(sig)->ours, 1);
	}
	dise__shim.signals_on = 1;
}

void dise__signals_after_fork(void)
{
	/* stored only when set: a write copies the page in the child */
	if (atomic_load(&crash_owner))
		atomic_store(&crash_owner, 0);
	if (atomic_load(&crash_done))
		atomic_store(&crash_done, 0);
}

static int dise_sigaction(int sig, const struct sigaction *act, struct sigaction *oldact)
{
	struct sigaction view, newact;
	int ours = atomic_load(&slot(sig)->ours);
	int r;

	if (act)
		newact = *act; /* act and oldact may be the same object */
	if (ours)
		view = slot(sig)->prog;
	else if (__sigaction(sig, NULL, &view) != 0)
		return -1;
	if (act) {
		if (is_default(&newact)) {
			slot(sig)->prog = newact;
			if (!ours) {
				if (install_ours(sig, NULL) != 0)
					return -1;
				atomic_store(&slot(sig)->ours, 1);
			}
		} else {
			r = __sigaction(sig, &newact, NULL);
			if (r != 0)
				return r;
			atomic_store(&slot(sig)->ours, 0);
		}
	}
	if (oldact)
		*oldact = view;
	return 0;
}

DISE_EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *oldact)
{
	if (!dise__shim.signals_on || sig <= 0 || sig >= NSIG || !is_crash_sig(sig))
		return __sigaction(sig, act, oldact);
	return dise_sigaction(sig, act, oldact);
}

static __sighandler_t bsd_signal_impl(int sig, __sighandler_t handler)
{
	struct sigaction sa, old;

	if (!dise__shim.signals_on || sig <= 0 || sig >= NSIG || !is_crash_sig(sig))
		return DISE_REAL(signal)(sig, handler);
	/* glibc's signal(): BSD semantics. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handler;
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, sig);
	sa.sa_flags = SA_RESTART;
	if (dise_sigaction(sig, &sa, &old) != 0)
		return SIG_ERR;
	return old.sa_handler;
}

DISE_EXPORT __sighandler_t signal(int sig, __sighandler_t handler)
{
	return bsd_signal_impl(sig, handler);
}

__sighandler_t bsd_signal(int sig, __sighandler_t handler); /* glibc declares it only for old standards */
DISE_EXPORT __sighandler_t bsd_signal(int sig, __sighandler_t handler)
{
	return bsd_signal_impl(sig, handler);
}
