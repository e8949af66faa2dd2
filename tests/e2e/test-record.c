/* SPDX-License-Identifier: MIT */
/*
 * The same crash captured from inside and from outside gives the same
 * record. record/ is the one builder of CRASH for every producer; this test
 * holds it to its promise: a child crashes while traced, the tracer captures
 * at the signal-delivery-stop with the attach path (PTRACE_GETREGS,
 * process_vm_readv, /proc/TID/maps), lets the signal go on, and the child's
 * own handler captures the same fault from inside (its ucontext, its memory
 * in place, /proc/thread-self/maps). The two records must be equal byte for
 * byte but for when they were written (mono_ns, elapsed_ns, and for the
 * shim, which started its run itself, run_start_ns).
 *   - record: the child's handler calls record/ itself and sends the record
 *     through a pipe;
 *   - shim: the crasher runs under the shim, whose CRASH is read from the ring.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "attach.h"
#include "dise/event.h"
#include "harness.h"
#include "record.h"

#define NOINLINE __attribute__((noinline))

static int out_fd = -1;
static uint8_t child_rec[DISE_RECORD_MAX];
static char altstack[64 * 1024] __attribute__((aligned(64)));

/* In the child: the crash from inside, through record/ with the in-place reader, sent to out_fd. */
static void on_segv(int sig, siginfo_t *si, void *uc)
{
	struct dise_rec_crash_in in;
	struct dise_rec_buf b;
	uint32_t len;
	int r;

	memset(&in, 0, sizeof(in));
	in.who.pid = (uint32_t)getpid();
	in.who.tid = (uint32_t)syscall(SYS_gettid);
	in.signo = sig;
	in.si_code = si->si_code;
	in.fault_addr = (uint64_t)(uintptr_t)si->si_addr;
	dise_rec_regs_from_ucontext(uc, in.regs);
	in.mem = dise_rec_mem_self;
	dise_rec_buf_init(&b, child_rec, sizeof(child_rec));
	r = dise_rec_crash_write(&in, &b.sink);
	len = r > 0 ? (uint32_t)r : 0;
	if (write(out_fd, &len, sizeof(len)) != sizeof(len) || write(out_fd, child_rec, len) != (ssize_t)len)
		_exit(3);
	_exit(42);
}

volatile int zero;

NOINLINE static void crash_here(void)
{
	volatile int *p = (volatile int *)(uintptr_t)(zero + 0x10);

	*p = 42;
}

NOINLINE static int a_few_frames(int n)
{
	volatile char pad[200];

	pad[0] = (char)n;
	if (n)
		return a_few_frames(n - 1) + pad[0];
	crash_here();
	return pad[0];
}

/* Reads exactly n bytes, or fails the test. */
static void read_all(int fd, void *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(fd, (char *)buf + got, n - got);

		if (r < 0 && errno == EINTR)
			continue;
		assert_true(r > 0);
		got += (size_t)r;
	}
}

/* Zeroes the fields that say when a CRASH was written; also run_start_ns when asked. */
static void mask_times(uint8_t *rec, int run_start)
{
	static const uint64_t zero64;

	memcpy(rec + offsetof(struct dise_rec_crash, h.mono_ns), &zero64, 8);
	memcpy(rec + offsetof(struct dise_rec_crash, elapsed_ns), &zero64, 8);
	if (run_start)
		memcpy(rec + offsetof(struct dise_rec_crash, h.run_start_ns), &zero64, 8);
}

/* The two records are one: same length, same bytes (times masked), and a capture worth the name. */
static void assert_same_crash(uint8_t *inside, uint32_t in_len, uint8_t *outside, uint32_t out_len, int run_start)
{
	struct dise_record rec;
	struct dise_module_view m;
	uint32_t off = 0, i, with_build_id = 0;

	assert_int_equal(in_len, out_len);
	mask_times(inside, run_start);
	mask_times(outside, run_start);
	for (i = 0; i < in_len; i++)
		if (inside[i] != outside[i]) {
			print_error("first difference at byte %u of %u (CRASH fixed part: %zu bytes)\n", i, in_len,
				    sizeof(struct dise_rec_crash));
			break;
		}
	assert_memory_equal(inside, outside, in_len);

	/* what was compared is a real capture: registers, stack, modules with build-ids */
	assert_int_equal(dise_record_decode(outside, out_len, &rec, NULL), 0);
	assert_int_equal(rec.u.crash.signo, SIGSEGV);
	assert_true(rec.u.crash.stack_len > 1024);
	assert_true(rec.u.crash.regs[DISE_REG_IP] != 0);
	assert_true(rec.nmodules >= 2);
	while (dise_record_next_module(&rec, &off, &m) == 0)
		with_build_id += m.build_id_len > 0;
	assert_true(with_build_id >= 2);
}

/*
 * Follows child (seized) until it ends: the first SIGSEGV about to be
 * delivered is captured into out (the attach path), every signal is
 * delivered, event stops resumed. Returns the child's wait status.
 */
static int trace_and_capture(pid_t child, uint8_t *out, uint32_t *out_len)
{
	int st, captured = 0;

	for (;;) {
		assert_int_equal(waitpid(child, &st, __WALL), child);
		if (WIFEXITED(st) || WIFSIGNALED(st))
			break;
		assert_true(WIFSTOPPED(st));
		if ((st >> 16) != 0) { /* an event stop (exec) */
			assert_int_equal(ptrace(PTRACE_CONT, child, NULL, NULL), 0);
			continue;
		}
		if (WSTOPSIG(st) == SIGSEGV && !captured) {
			siginfo_t si;
			int r;

			assert_int_equal(ptrace(PTRACE_GETSIGINFO, child, NULL, &si), 0);
			r = dise_tracer_capture(child, 0, child, SIGSEGV, si.si_code, (uint64_t)(uintptr_t)si.si_addr,
						out, DISE_RECORD_MAX);
			assert_true(r > 0);
			*out_len = (uint32_t)r;
			captured = 1;
		}
		assert_int_equal(ptrace(PTRACE_CONT, child, NULL, (void *)(long)WSTOPSIG(st)), 0);
	}
	assert_true(captured);
	return st;
}

/* record/ from inside a handler of the program's own, against the attach path. */
static void test_record_inside_outside(void **state)
{
	static uint8_t outside[DISE_RECORD_MAX], inside[DISE_RECORD_MAX];
	int go[2], res[2], st;
	uint32_t out_len = 0, in_len = 0;
	pid_t child;
	char c;

	(void)state;
	assert_int_equal(pipe2(go, O_CLOEXEC), 0);
	assert_int_equal(pipe2(res, O_CLOEXEC), 0);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		struct sigaction sa;
		stack_t ss = {.ss_sp = altstack, .ss_size = sizeof(altstack)};

		close(go[1]);
		close(res[0]);
		out_fd = res[1];
		sigaltstack(&ss, NULL);
		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = on_segv;
		sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
		sigaction(SIGSEGV, &sa, NULL);
		if (read(go[0], &c, 1) != 1) /* the parent has seized us */
			_exit(2);
		a_few_frames(5);
		_exit(1);
	}
	close(go[0]);
	close(res[1]);
	assert_int_equal(ptrace(PTRACE_SEIZE, child, NULL, NULL), 0);
	assert_int_equal(write(go[1], "g", 1), 1);
	close(go[1]);

	/* up to the SIGSEGV about to be delivered: captured from outside, then delivered to the handler on detach */
	{
		int captured = 0;

		for (;;) {
			assert_int_equal(waitpid(child, &st, __WALL), child);
			assert_true(WIFSTOPPED(st));
			if ((st >> 16) == 0 && WSTOPSIG(st) == SIGSEGV) {
				siginfo_t si;
				int r;

				assert_int_equal(ptrace(PTRACE_GETSIGINFO, child, NULL, &si), 0);
				r = dise_tracer_capture(child, 0, child, SIGSEGV, si.si_code,
							(uint64_t)(uintptr_t)si.si_addr, outside, sizeof(outside));
				assert_true(r > 0);
				out_len = (uint32_t)r;
				captured = 1;
			}
			/* after the capture, detached: whatever the child does next cannot leave it stopped for us */
			assert_int_equal(
			    ptrace(captured ? PTRACE_DETACH : PTRACE_CONT, child, NULL, (void *)(long)WSTOPSIG(st)), 0);
			if (captured)
				break;
		}
	}
	/* read before waiting: a record larger than the pipe keeps the child in write() */
	read_all(res[0], &in_len, sizeof(in_len));
	assert_true(in_len > 0 && in_len <= sizeof(inside));
	read_all(res[0], inside, in_len);
	close(res[0]);
	assert_int_equal(waitpid(child, &st, __WALL), child);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 42);

	assert_same_crash(inside, in_len, outside, out_len, 0);
}

/* The shim's CRASH (read from the ring) against the attach path, for the crasher's SIGSEGV. */
static void test_record_shim_and_attach(void **state)
{
	static uint8_t outside[DISE_RECORD_MAX], inside[DISE_RECORD_MAX];
	char *dir = test_dir(), *ring = test_ring(dir), env_ring[4200], env_pre[4200];
	char *argv[] = {(char *)prog_path("crasher"), "segv", NULL};
	char *envp[] = {env_pre, env_ring, NULL};
	struct rec_list l;
	const struct dise_record *c;
	uint32_t out_len = 0, in_len;
	int go[2], st;
	size_t i;
	pid_t child;
	char g;

	(void)state;
	snprintf(env_ring, sizeof(env_ring), "DISE_RING=%s", ring);
	snprintf(env_pre, sizeof(env_pre), "LD_PRELOAD=%s", shim_path());
	assert_int_equal(pipe2(go, O_CLOEXEC), 0);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		int null = open("/dev/null", O_WRONLY);

		close(go[1]);
		if (null >= 0)
			dup2(null, STDOUT_FILENO);
		if (read(go[0], &g, 1) != 1)
			_exit(2);
		execve(argv[0], argv, envp);
		_exit(127);
	}
	close(go[0]);
	assert_int_equal(ptrace(PTRACE_SEIZE, child, NULL, (void *)(long)PTRACE_O_TRACEEXEC), 0);
	assert_int_equal(write(go[1], "g", 1), 1);
	close(go[1]);
	st = trace_and_capture(child, outside, &out_len);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGSEGV);

	read_ring(ring, &l);
	c = find_rec(&l, child, DISE_REC_CRASH);
	assert_non_null(c);
	for (i = 0; i < l.n && &l.recs[i] != c; i++)
		;
	assert_true(i < l.n);
	in_len = c->hdr.size;
	memcpy(inside, l.bufs[i], in_len);
	rec_list_free(&l);
	assert_same_crash(inside, in_len, outside, out_len, 1);
	test_dir_remove(dir);
	free(ring);
	free(dir);
}

/*
 * argv as the shim has it (an array) and as attach reads it (/proc/PID/cmdline,
 * packed) gives the same START, also when it is cut at DISE_ARGV_MAX.
 */
static void test_record_argv_array_and_packed(void **state)
{
	static uint8_t a[DISE_RECORD_MAX], b[DISE_RECORD_MAX];
	static char args[300][40], packed[300 * 40];
	char *v[301];
	struct dise_rec_start_in in;
	struct dise_rec_buf ba, bb;
	struct dise_record rec;
	size_t plen = 0, i;
	int la, lb;

	(void)state;
	for (i = 0; i < 300; i++) {
		snprintf(args[i], sizeof(args[i]), "argument-%zu-%s", i, i % 7 ? "x" : "a-longer-one");
		v[i] = args[i];
		memcpy(packed + plen, args[i], strlen(args[i]) + 1);
		plen += strlen(args[i]) + 1;
	}
	v[300] = NULL;
	memset(&in, 0, sizeof(in));
	in.who = (struct dise_rec_who){12345, 42, 42};
	in.execfn = "/usr/bin/tool";
	in.cwd = "/tmp";
	in.argv.v = v;
	dise_rec_buf_init(&ba, a, sizeof(a));
	la = dise_rec_start_write(&in, &ba.sink);
	in.argv.v = NULL;
	in.argv.packed = packed;
	in.argv.packed_len = plen;
	dise_rec_buf_init(&bb, b, sizeof(b));
	lb = dise_rec_start_write(&in, &bb.sink);
	assert_true(la > 0);
	assert_int_equal(la, lb);
	memset(a + offsetof(struct dise_rec_hdr, mono_ns), 0, 8);
	memset(b + offsetof(struct dise_rec_hdr, mono_ns), 0, 8);
	assert_memory_equal(a, b, (size_t)la);
	assert_int_equal(dise_record_decode(a, (size_t)la, &rec, NULL), 0);
	assert_int_equal(rec.u.start.argc, 300);
	assert_true(rec.u.start.flags & DISE_START_ARGV_TRUNC);
	assert_true(rec.argv_count < 300 && rec.argv_len <= DISE_ARGV_MAX);
	assert_string_equal(rec.execfn, "/usr/bin/tool");
	assert_string_equal(rec.exe, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_record_argv_array_and_packed),
	    cmocka_unit_test(test_record_inside_outside),
	    cmocka_unit_test(test_record_shim_and_attach),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
