/* SPDX-License-Identifier: MIT */
/*
 * Headers, strings and argv: the layout of START, EXEC, EXIT and REAP.
 *
 * Invariant: a record is sized once, reserved once at that size, and then
 * written piece by piece at the offsets the size was computed from, so a
 * producer that writes straight into the ring never copies a record twice
 * and never writes past its reservation. Strings are cut at DISE_PATH_MAX - 1
 * and always end in a NUL written here (a cut string too); argv keeps the
 * first arguments that fit in DISE_ARGV_MAX whole, counts them all (argc),
 * and says DISE_START_ARGV_TRUNC when any was left out.
 *
 * Costs, for the shim's fast path: one clock read per header (a system call
 * in a process's first reads, the vDSO later: dise_rec_clock_ns says why),
 * none for START (the run's start, read a moment before), no other system
 * call, no allocation.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "dise/rawsys.h"
#include "record.h"

/*
 * A process's first DISE_CLOCK_SYSCALLS reads are system calls, the rest go
 * through the vDSO. The first vDSO read of a process faults in the vDSO's
 * code and data pages: ~90 000 cycles on this project's VM kind against
 * ~2 500 for one clock_gettime system call (measured in fresh processes,
 * issue 11), so a short process (a START and an EXIT: most processes) is
 * cheaper by system call, and a long one (a shell reaping its children)
 * cheaper once it paid for the pages. Switching after about as many system
 * calls as the pages cost is never worse than twice the better choice
 * (a ski rental). A fork child starts counting again (dise_rec_clock_reset):
 * its vDSO code page is not copied by the fork. A relaxed count: threads
 * may switch a read or two late. In .data: a page every process touches.
 */
#define DISE_CLOCK_SYSCALLS 32u
static _Atomic unsigned clock_reads __attribute__((section(".data.dise_hot")));

uint64_t dise_rec_clock_ns(int clock)
{
	struct timespec ts;
	unsigned n = atomic_load_explicit(&clock_reads, memory_order_relaxed);

	if (n < DISE_CLOCK_SYSCALLS) {
		atomic_store_explicit(&clock_reads, n + 1, memory_order_relaxed);
		if (dise_sys3(SYS_clock_gettime, clock, (long)&ts, 0) != 0)
			return 0;
	} else if (clock_gettime(clock, &ts) != 0) {
		return 0;
	}
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void dise_rec_clock_reset(void)
{
	atomic_store_explicit(&clock_reads, 0, memory_order_relaxed);
}

void dise_rec_hdr_init_at(struct dise_rec_hdr *h, uint16_t type, uint32_t size, const struct dise_rec_who *who,
			  uint64_t mono_ns)
{
	h->size = size;
	h->type = type;
	h->hdr_size = sizeof(*h);
	h->mono_ns = mono_ns ? mono_ns : dise_rec_clock_ns(CLOCK_MONOTONIC);
	h->run_start_ns = who->run_start_ns;
	h->pid = who->pid;
	h->tid = who->tid;
}

void dise_rec_hdr_init(struct dise_rec_hdr *h, uint16_t type, uint32_t size, const struct dise_rec_who *who)
{
	dise_rec_hdr_init_at(h, type, size, who, 0);
}

static int buf_reserve(struct dise_rec_sink *s, uint32_t len)
{
	struct dise_rec_buf *b = (struct dise_rec_buf *)s;

	if (len > b->size)
		return -ENOSPC;
	b->len = len;
	return 0;
}

#if defined(__SANITIZE_ADDRESS__)
/*
 * A crash captured in place copies a stack as it is, the redzones an
 * instrumented program keeps around its locals included: bytes, not
 * objects. Copied unchecked (a volatile loop, so it does not become a
 * checked memcpy); the destination is bounded by the caller.
 */
__attribute__((no_sanitize("address"))) static void copy_raw(uint8_t *dst, const void *src, uint32_t n)
{
	const volatile uint8_t *p = src;
	uint32_t i;

	for (i = 0; i < n; i++)
		dst[i] = p[i];
}
#else
#define copy_raw memcpy
#endif

static void buf_write(struct dise_rec_sink *s, uint32_t off, const void *src, uint32_t n)
{
	struct dise_rec_buf *b = (struct dise_rec_buf *)s;

	if (off <= b->len && n <= b->len - off)
		copy_raw(b->mem + off, src, n);
}

void dise_rec_buf_init(struct dise_rec_buf *b, void *mem, uint32_t size)
{
	b->sink.reserve = buf_reserve;
	b->sink.write = buf_write;
	b->mem = mem;
	b->size = size;
	b->len = 0;
}

uint16_t dise_rec_str_len(const char *s)
{
	return s && s[0] ? (uint16_t)(dise_strnlen(s, DISE_PATH_MAX - 1) + 1) : 0;
}

/* Writes a string of len bytes (dise_rec_str_len) with an explicit NUL, so a cut string still ends in one. */
static uint32_t write_str(struct dise_rec_sink *out, uint32_t off, const char *s, uint16_t len)
{
	if (!len)
		return off;
	out->write(out, off, s, len - 1u);
	out->write(out, off + len - 1u, "", 1);
	return off + len;
}

/* How many arguments and bytes of argv fit in DISE_ARGV_MAX. */
struct argv_plan {
	uint32_t argc, count, bytes;
	int truncated;
};

static void argv_plan(const struct dise_rec_argv *a, struct argv_plan *ret)
{
	uint32_t i;

	memset(ret, 0, sizeof(*ret));
	if (a->v) {
		for (i = 0; a->v[i] && i < INT32_MAX; i++) {
			if (!ret->truncated) {
				size_t room = DISE_ARGV_MAX - ret->bytes;
				size_t n = dise_strnlen(a->v[i], room);

				if (n + 1 > room)
					ret->truncated = 1;
				else {
					ret->bytes += (uint32_t)n + 1;
					ret->count++;
				}
			}
		}
		ret->argc = i;
	} else if (a->packed) {
		size_t start = 0, k;

		for (k = 0; k < a->packed_len; k++) {
			if (a->packed[k])
				continue;
			ret->argc++;
			if (!ret->truncated && k - start + 1 <= DISE_ARGV_MAX - ret->bytes) {
				ret->bytes += (uint32_t)(k - start + 1);
				ret->count++;
			} else {
				ret->truncated = 1;
			}
			start = k + 1;
		}
	}
}

static void argv_write(struct dise_rec_sink *out, uint32_t off, const struct dise_rec_argv *a,
		       const struct argv_plan *plan)
{
	uint32_t i;

	if (!a->v) {
		if (plan->bytes) /* the kept strings are the first plan->bytes bytes */
			out->write(out, off, a->packed, plan->bytes);
		return;
	}
	for (i = 0; i < plan->count; i++) {
		uint32_t n = (uint32_t)dise_strnlen(a->v[i], DISE_ARGV_MAX) + 1;

		out->write(out, off, a->v[i], n);
		off += n;
	}
}

int dise_rec_start_write(const struct dise_rec_start_in *in, struct dise_rec_sink *out)
{
	struct dise_rec_start s;
	struct argv_plan plan;
	uint32_t off, len;
	int r;

	memset(&s, 0, sizeof(s));
	argv_plan(&in->argv, &plan);
	s.wall_ns = in->wall_ns;
	s.ppid = in->ppid;
	s.uid = in->uid;
	s.flags = in->flags | (plan.truncated ? DISE_START_ARGV_TRUNC : 0);
	s.argc = plan.argc;
	s.exe = in->exe_id;
	s.script = in->script_id;
	s.exe_len = dise_rec_str_len(in->exe);
	s.execfn_len = dise_rec_str_len(in->execfn);
	s.cwd_len = dise_rec_str_len(in->cwd);
	s.argv_len = (uint16_t)plan.bytes;
	s.argv_count = plan.count;
	len = (uint32_t)sizeof(s) + s.exe_len + s.execfn_len + s.cwd_len + s.argv_len;
	dise_rec_hdr_init_at(&s.h, DISE_REC_START, len, &in->who, in->mono_ns);
	if ((r = out->reserve(out, len)) < 0)
		return r;
	out->write(out, 0, &s, sizeof(s));
	off = sizeof(s);
	off = write_str(out, off, in->exe, s.exe_len);
	off = write_str(out, off, in->execfn, s.execfn_len);
	off = write_str(out, off, in->cwd, s.cwd_len);
	argv_write(out, off, &in->argv, &plan);
	return (int)len;
}

int dise_rec_exec_write(const struct dise_rec_who *who, unsigned call, const char *path,
			const struct dise_rec_argv *argv, struct dise_rec_sink *out)
{
	struct dise_rec_exec e;
	struct argv_plan plan;
	uint32_t len;
	int r;

	memset(&e, 0, sizeof(e));
	argv_plan(argv, &plan);
	e.call = call;
	e.flags = plan.truncated ? DISE_START_ARGV_TRUNC : 0;
	e.argc = plan.argc;
	e.path_len = dise_rec_str_len(path);
	e.argv_len = (uint16_t)plan.bytes;
	e.argv_count = plan.count;
	len = (uint32_t)sizeof(e) + e.path_len + e.argv_len;
	dise_rec_hdr_init(&e.h, DISE_REC_EXEC, len, who);
	e.elapsed_ns = e.h.mono_ns - who->run_start_ns;
	if ((r = out->reserve(out, len)) < 0)
		return r;
	out->write(out, 0, &e, sizeof(e));
	argv_write(out, write_str(out, sizeof(e), path, e.path_len), argv, &plan);
	return (int)len;
}

void dise_rec_exit_init(struct dise_rec_exit *e, const struct dise_rec_who *who, int status, unsigned how)
{
	memset(e, 0, sizeof(*e));
	dise_rec_hdr_init(&e->h, DISE_REC_EXIT, sizeof(*e), who);
	e->status = status;
	e->how = how;
	e->elapsed_ns = e->h.mono_ns - who->run_start_ns;
}

void dise_rec_reap_init(struct dise_rec_reap *w, const struct dise_rec_who *who, uint32_t child_pid, int status)
{
	memset(w, 0, sizeof(*w));
	dise_rec_hdr_init(&w->h, DISE_REC_REAP, sizeof(*w), who);
	w->child_pid = child_pid;
	w->status = status;
}
