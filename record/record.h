/* SPDX-License-Identifier: MIT */
/*
 * The builders of every record: one way to lay out START, EXEC, EXIT and
 * CRASH (include/dise/event.h) for every producer — the shim from inside
 * the process, `dise attach` by ptrace, `dise run` from wait4, a core file
 * later. The same crash seen from inside and from outside gives the same
 * bytes, apart from the time it was written (mono_ns, elapsed_ns).
 *
 * Everything here is libc-only and async-signal-safe: no allocation, no
 * stdio, no locks, raw system calls only (the shim calls it from a SIGSEGV
 * handler on an alternate stack; the deepest call, dise_rec_crash_write,
 * uses under 14 KiB of stack by gcc -fstack-usage, 0.3 KiB more than the
 * shim's own capture did). A builder writes through a sink, so that the
 * shim writes straight into a ring reservation and the others into a buffer.
 * Builders are reentrant; each sink is used by one thread at a time.
 */
#ifndef DISE_RECORD_H
#define DISE_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "dise/event.h"

/* Who a record is about: the run (pid, run_start_ns) and the thread that wrote or crashed. */
struct dise_rec_who {
	uint64_t run_start_ns;
	uint32_t pid, tid;
};

/*
 * Where a record's bytes go. reserve is called once, with the final length,
 * before any write; it returns 0 or -errno (the record is then dropped).
 * write copies n bytes at offset off of the record (off + n <= len).
 */
struct dise_rec_sink {
	int (*reserve)(struct dise_rec_sink *s, uint32_t len);
	void (*write)(struct dise_rec_sink *s, uint32_t off, const void *src, uint32_t n);
};

/* A sink into a flat buffer: reserve fails with -ENOSPC beyond size. */
struct dise_rec_buf {
	struct dise_rec_sink sink;
	uint8_t *mem;
	uint32_t size, len; /* len: the reserved length, once reserved */
};
void dise_rec_buf_init(struct dise_rec_buf *b, void *mem, uint32_t size);

/* CLOCK_*: by system call for a process's first reads, then through the vDSO (record/build.c says why). 0 on failure. Async-signal-safe. */
uint64_t dise_rec_clock_ns(int clock);
/* A fork child: count its reads from 0 again (the vDSO's code page is not copied by fork). */
void dise_rec_clock_reset(void);

/* Fills a header; mono_ns is read now. */
void dise_rec_hdr_init(struct dise_rec_hdr *h, uint16_t type, uint32_t size, const struct dise_rec_who *who);
/* The same with a time the caller already read (0: read now): a START needs no second clock read. */
void dise_rec_hdr_init_at(struct dise_rec_hdr *h, uint16_t type, uint32_t size, const struct dise_rec_who *who,
			  uint64_t mono_ns);

/* Bytes a string takes in a record (with its NUL, cut at DISE_PATH_MAX - 1), 0 for NULL or "". */
uint16_t dise_rec_str_len(const char *s);

/*
 * argv as a process has it: an array (argv[argc] == NULL), or the packed
 * NUL-terminated strings of /proc/PID/cmdline (a last string without its
 * NUL is not counted).
 */
struct dise_rec_argv {
	char *const *v;
	const char *packed;
	size_t packed_len;
};

/* START: the fixed part's fields the caller knows; the lengths and counts are the builder's. */
struct dise_rec_start_in {
	struct dise_rec_who who;
	uint64_t mono_ns; /* the header's time when the caller just read it (the run's start), else 0: read now */
	uint64_t wall_ns;
	uint32_t ppid, uid, flags; /* DISE_START_*; ARGV_TRUNC is added when argv is cut */
	struct dise_file_id exe_id, script_id;
	const char *exe, *execfn, *cwd; /* NULL or "": left out (length 0) */
	struct dise_rec_argv argv;
};

/* Builds START into out. Returns its length, or -errno from the sink. */
int dise_rec_start_write(const struct dise_rec_start_in *in, struct dise_rec_sink *out);

/* Builds EXEC (elapsed since who->run_start_ns) into out. Returns its length, or -errno from the sink. */
int dise_rec_exec_write(const struct dise_rec_who *who, unsigned call, const char *path,
			const struct dise_rec_argv *argv, struct dise_rec_sink *out);

/* EXIT's header, status, how and elapsed time; the caller adds CPU times and peak RSS. */
void dise_rec_exit_init(struct dise_rec_exit *e, const struct dise_rec_who *who, int status, unsigned how);

/* REAP: header, the child's pid and wait status; the caller adds CPU times and peak RSS when it has them. */
void dise_rec_reap_init(struct dise_rec_reap *w, const struct dise_rec_who *who, uint32_t child_pid, int status);

/* ---- CRASH (record/crash.c) ---- */

/*
 * Reads n bytes (n <= DISE_CRASH_STACK_MAX) at addr of the crashed process.
 * Returns a pointer to them, valid until the next call — in place for the
 * process's own memory, or in a buffer of the reader's — or NULL when they
 * cannot be read. The capture asks only for ranges /proc/PID/maps said
 * readable.
 */
typedef const void *(*dise_rec_mem_fn)(void *ctx, uint64_t addr, uint32_t n);

/* The reader of the calling process's own memory (in place: no copy, no system call). */
const void *dise_rec_mem_self(void *ctx, uint64_t addr, uint32_t n);

struct dise_rec_crash_in {
	struct dise_rec_who who; /* who.tid: the crashed thread */
	int signo, si_code;
	uint64_t fault_addr;
	uint32_t flags; /* DISE_CRASH_RERAISED, when the caller knows, DISE_CRASH_CORE; the others are the builder's */
	uint64_t regs[DISE_CRASH_NREGS]; /* DWARF order (event.h) */
	uint32_t maps_tid; /* whose /proc/TID/maps; 0: the calling thread's own (/proc/thread-self/maps) */
	const char *maps_text; /* else, when not NULL: the maps file's text (maps_len bytes), e.g. made from a core */
	uint32_t maps_len;
	dise_rec_mem_fn mem;
	void *mem_ctx;
};

/* The registers of a signal handler's ucontext_t (x86-64), in DWARF order. */
void dise_rec_regs_from_ucontext(const void *ucontext, uint64_t regs[DISE_CRASH_NREGS]);
/* The registers of PTRACE_GETREGS (struct user_regs_struct, x86-64), in DWARF order. */
void dise_rec_regs_from_user(const void *user_regs, uint64_t regs[DISE_CRASH_NREGS]);

/*
 * Builds CRASH into out: the fixed part, up to DISE_CRASH_STACK_MAX bytes of
 * stack from the stack pointer up (or, past a stack overflow, from the
 * nearest readable mapping above it), and the module map of the maps file
 * (every file with code, its mappings grouped, its build-id read through
 * in->mem). The maps file is read twice, to size and then to write; what
 * changed in between is cut to the reserved size. Stack bytes the reader
 * cannot give are zeros; without a maps file the record holds the
 * registers alone. Returns the length, or -errno from the sink.
 * Async-signal-safe.
 */
int dise_rec_crash_write(const struct dise_rec_crash_in *in, struct dise_rec_sink *out);

#endif
