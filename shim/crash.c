/* SPDX-License-Identifier: MIT */
/*
 * Capturing a crash from inside the signal handler.
 *
 * The handler does not unwind. Unwinding here would mean linking libunwind
 * into every process (its loader cost alone is ~14% of a short process) and
 * risking the known deadlocks: dl_iterate_phdr takes the loader lock, the
 * unwinder's caches take a mutex on first use, and either may be held by the
 * very code that crashed. Instead, as minidump-style reporters do, the
 * handler copies what an unwinder needs, and the consumer unwinds later with
 * libunwind's remote interface (collector/unwind.c):
 *   - the registers of the faulting context,
 *   - the stack from the stack pointer upwards (bounded), taken only from a
 *     mapping /proc/self/maps says is readable,
 *   - the module map: every file with code mapped, its mappings grouped
 *     (load address, extent, inode, build-id read from the mapped ELF notes).
 *
 * Only raw system calls (syscall(2)), stack buffers and the ring are used:
 * no malloc, no stdio, no locks, no lazy binding of anything new.
 * /proc/self/maps is read twice: once to size the record, once to write it.
 * Mappings that change in between are cut to the reserved size.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <fcntl.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

#define LINE_MAX_BYTES (DISE_PATH_MAX + 128)

struct maps_reader {
	int fd;
	char buf[4096];
	size_t len, off;
	char line[LINE_MAX_BYTES];
};

struct mapping {
	uint64_t start, end, offset, ino;
	int readable, executable;
	const char *path; /* inside the reader's line buffer */
};

struct module_acc {
	int open;
	uint64_t base, end, ino;
	uint64_t first_start, first_end; /* the mapping at file offset 0, if seen */
	int first_readable;
	int executable; /* only files with code can hold frames: not data files, not the ring */
	char path[DISE_PATH_MAX];
	uint32_t path_len;
};

static int maps_open(struct maps_reader *m)
{
	/* thread-self: when the main thread has ended, /proc/self (its) maps are empty; before 3.17, self */
	m->fd = (int)syscall(SYS_openat, AT_FDCWD, "/proc/thread-self/maps", O_RDONLY | O_CLOEXEC);
	if (m->fd < 0)
		m->fd = (int)syscall(SYS_openat, AT_FDCWD, "/proc/self/maps", O_RDONLY | O_CLOEXEC);
	m->len = m->off = 0;
	return m->fd;
}

static void maps_close(struct maps_reader *m)
{
	if (m->fd >= 0)
		syscall(SYS_close, m->fd);
	m->fd = -1;
}

/* Reads one line into m->line; returns its length, or -1 at the end. */
static long maps_line(struct maps_reader *m)
{
	size_t n = 0;
	int overlong = 0;

	for (;;) {
		if (m->off == m->len) {
			long r = syscall(SYS_read, m->fd, m->buf, sizeof(m->buf));

			if (r <= 0)
				return n ? (long)n : -1;
			m->len = (size_t)r;
			m->off = 0;
		}
		while (m->off < m->len) {
			char c = m->buf[m->off++];

			if (c == '\n') {
				if (overlong)
					return 0; /* skipped */
				m->line[n] = '\0';
				return (long)n;
			}
			if (n + 1 < sizeof(m->line))
				m->line[n++] = c;
			else
				overlong = 1;
		}
	}
}

static uint64_t parse_hex(const char **p)
{
	uint64_t v = 0;

	for (;; (*p)++) {
		char c = **p;

		if (c >= '0' && c <= '9')
			v = v * 16 + (uint64_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v * 16 + (uint64_t)(c - 'a' + 10);
		else
			return v;
	}
}

static uint64_t parse_dec(const char **p)
{
	uint64_t v = 0;

	while (**p >= '0' && **p <= '9')
		v = v * 10 + (uint64_t)(*(*p)++ - '0');
	return v;
}

/* "start-end perms offset dev inode   path" */
static int parse_mapping(char *line, struct mapping *ret)
{
	const char *p = line;

	ret->start = parse_hex(&p);
	if (*p++ != '-')
		return -1;
	ret->end = parse_hex(&p);
	if (*p++ != ' ')
		return -1;
	ret->readable = p[0] == 'r';
	ret->executable = p[0] && p[1] && p[2] == 'x';
	while (*p && *p != ' ')
		p++;
	while (*p == ' ')
		p++;
	ret->offset = parse_hex(&p);
	while (*p == ' ')
		p++;
	while (*p && *p != ' ') /* dev */
		p++;
	while (*p == ' ')
		p++;
	ret->ino = parse_dec(&p);
	while (*p == ' ')
		p++;
	ret->path = p;
	return 0;
}

static uint32_t module_entry_size(uint32_t path_len)
{
	return ((uint32_t)sizeof(struct dise_module) + path_len + 7u) & ~7u;
}

/* Reads the GNU build-id from the ELF image mapped at acc->first_start. */
static uint8_t read_build_id(const struct module_acc *acc, uint8_t *out)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)(uintptr_t)acc->first_start;
	uint64_t lo = acc->first_start, hi = acc->first_end, bias = 0;
	const Elf64_Phdr *ph;
	int i, have_bias = 0;

	if (!acc->first_readable || hi - lo < sizeof(*eh))
		return 0;
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64)
		return 0;
	if (eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phnum > 256 ||
	    eh->e_phoff + (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr) > hi - lo)
		return 0;
	ph = (const Elf64_Phdr *)(uintptr_t)(lo + eh->e_phoff);
	for (i = 0; i < eh->e_phnum; i++)
		if (ph[i].p_type == PT_LOAD && ph[i].p_offset == 0) {
			bias = lo - (ph[i].p_vaddr & ~(uint64_t)4095);
			have_bias = 1;
			break;
		}
	if (!have_bias)
		return 0;
	for (i = 0; i < eh->e_phnum; i++) {
		uint64_t a, e;

		if (ph[i].p_type != PT_NOTE)
			continue;
		a = bias + ph[i].p_vaddr;
		e = a + ph[i].p_filesz;
		if (a < lo || e > hi || e < a)
			continue;
		while (a + sizeof(Elf64_Nhdr) <= e) {
			const Elf64_Nhdr *n = (const Elf64_Nhdr *)(uintptr_t)a;
			uint64_t name = a + sizeof(*n);
			uint64_t desc = name + ((n->n_namesz + 3u) & ~3u);
			uint64_t next = desc + ((n->n_descsz + 3u) & ~3u);

			if (next > e || next <= a)
				break;
			if (n->n_type == NT_GNU_BUILD_ID && n->n_namesz == 4 &&
			    memcmp((const void *)(uintptr_t)name, "GNU", 4) == 0 && n->n_descsz > 0) {
				uint32_t k = n->n_descsz > DISE_BUILD_ID_MAX ? DISE_BUILD_ID_MAX : n->n_descsz;

				memcpy(out, (const void *)(uintptr_t)desc, k);
				return (uint8_t)k;
			}
			a = next;
		}
	}
	return 0;
}

struct crash_ctx {
	dise_ring_resv v;
	uint32_t off, limit; /* where modules go, and how far they may go */
	uint32_t nmodules, modules_len;
	int truncated;
	int writing;
	uint64_t sp, stack_end; /* pass 1: end of the readable mapping holding sp */
	uint64_t above_start, above_end; /* else the nearest readable mapping above sp */
};

/* How far below a stack mapping a fault may be (the kernel's stack guard gap is 1 MiB). */
#define STACK_GAP (1u << 20)

static void flush_module(struct crash_ctx *c, struct module_acc *acc)
{
	struct dise_module m;
	uint32_t size;

	if (!acc->open)
		return;
	acc->open = 0;
	if (!acc->executable)
		return;
	size = module_entry_size(acc->path_len);
	if (c->modules_len + size > c->limit) {
		c->truncated = 1;
		return;
	}
	if (c->writing) {
		memset(&m, 0, sizeof(m));
		m.size = (uint16_t)size;
		m.base = acc->base;
		m.end = acc->end;
		m.ino = acc->ino;
		m.path_len = acc->path_len;
		m.build_id_len = read_build_id(acc, m.build_id);
		dise_ring_write(&dise__shim.ring, &c->v, c->off + c->modules_len, &m, sizeof(m));
		dise_ring_write(&dise__shim.ring, &c->v, c->off + c->modules_len + sizeof(m), acc->path, acc->path_len);
	}
	c->modules_len += size;
	c->nmodules++;
}

static void walk_maps(struct crash_ctx *c, struct maps_reader *mr, struct module_acc *acc)
{
	struct mapping mp;
	long n;

	acc->open = 0;
	if (maps_open(mr) < 0)
		return;
	while ((n = maps_line(mr)) >= 0) {
		size_t plen;

		if (n == 0 || parse_mapping(mr->line, &mp) < 0)
			continue;
		if (!c->writing && mp.readable && c->sp >= mp.start && c->sp < mp.end)
			c->stack_end = mp.end;
		/* Stack overflow: sp already points into the guard gap below the stack. */
		if (!c->writing && mp.readable && mp.start > c->sp && mp.start - c->sp <= STACK_GAP &&
		    (!c->above_start || mp.start < c->above_start)) {
			c->above_start = mp.start;
			c->above_end = mp.end;
		}
		if (mp.path[0] != '/')
			continue; /* anonymous, [stack], [vdso], ... */
		plen = strnlen(mp.path, DISE_PATH_MAX - 1);
		if (acc->open && (plen + 1 != acc->path_len || memcmp(acc->path, mp.path, plen) != 0 ||
				  mp.ino != acc->ino))
			flush_module(c, acc);
		if (!acc->open) {
			acc->open = 1;
			acc->base = mp.start - mp.offset;
			acc->end = mp.end;
			acc->ino = mp.ino;
			acc->first_start = acc->first_end = 0;
			acc->first_readable = 0;
			acc->executable = 0;
			memcpy(acc->path, mp.path, plen);
			acc->path[plen] = '\0';
			acc->path_len = (uint32_t)plen + 1;
		}
		if (mp.offset == 0 && !acc->first_start) {
			acc->base = mp.start;
			acc->first_start = mp.start;
			acc->first_end = mp.end;
			acc->first_readable = mp.readable;
		}
		if (mp.end > acc->end)
			acc->end = mp.end;
		acc->executable |= mp.executable;
	}
	flush_module(c, acc);
	maps_close(mr);
}

static const int greg_of_dwarf[DISE_CRASH_NREGS] = {
	REG_RAX, REG_RDX, REG_RCX, REG_RBX, REG_RSI, REG_RDI, REG_RBP, REG_RSP, REG_R8,
	REG_R9,  REG_R10, REG_R11, REG_R12, REG_R13, REG_R14, REG_R15, REG_RIP,
};

void dise__capture_crash(int sig, const siginfo_t *si, const ucontext_t *uc)
{
	struct dise_shim *S = &dise__shim;
	struct dise_rec_crash rec;
	struct crash_ctx c;
	struct maps_reader mr;
	struct module_acc acc;
	uint32_t fixed = sizeof(rec), stack_len, len, i;
	uint64_t stack_addr;

	if (!S->ring.hdr)
		return;
	memset(&rec, 0, sizeof(rec));
	memset(&c, 0, sizeof(c));
	for (i = 0; i < DISE_CRASH_NREGS; i++)
		rec.regs[i] = (uint64_t)uc->uc_mcontext.gregs[greg_of_dwarf[i]];
	c.sp = rec.regs[DISE_REG_SP];

	/* Pass 1: size everything. */
	c.limit = DISE_RECORD_MAX;
	walk_maps(&c, &mr, &acc);
	stack_addr = c.sp;
	if (!c.stack_end && c.above_start) {
		stack_addr = c.above_start;
		c.stack_end = c.above_end;
	}
	stack_len = 0;
	if (c.stack_end > stack_addr) {
		uint64_t avail = c.stack_end - stack_addr;

		stack_len = avail > DISE_CRASH_STACK_MAX ? DISE_CRASH_STACK_MAX : (uint32_t)avail;
		if (avail > DISE_CRASH_STACK_MAX)
			rec.flags |= DISE_CRASH_STACK_TRUNC;
	}
	len = fixed + stack_len + c.modules_len;
	if (len > DISE_RECORD_MAX) {
		len = DISE_RECORD_MAX;
		rec.flags |= DISE_CRASH_MODULES_TRUNC;
	}
	if (dise_ring_reserve(&S->ring, len, &c.v) < 0)
		return;

	/* Stack bytes, straight from the stack into the ring. */
	dise_ring_write(&S->ring, &c.v, fixed, (const void *)(uintptr_t)stack_addr, stack_len);

	/* Pass 2: the modules, cut at what was reserved. */
	c.writing = 1;
	c.off = fixed + stack_len;
	c.limit = len - c.off;
	c.modules_len = 0;
	c.nmodules = 0;
	c.truncated = 0;
	walk_maps(&c, &mr, &acc);
	if (c.truncated)
		rec.flags |= DISE_CRASH_MODULES_TRUNC;

	dise__fill_hdr(&rec.h, DISE_REC_CRASH, len);
	if ((uint32_t)rec.h.tid != S->pid)
		rec.flags |= DISE_CRASH_OTHER_THREAD;
	rec.signo = sig;
	rec.si_code = si->si_code;
	rec.fault_addr = (uint64_t)(uintptr_t)si->si_addr;
	rec.arch = DISE_ARCH_X86_64;
	rec.nregs = DISE_CRASH_NREGS;
	rec.stack_addr = stack_addr;
	rec.stack_len = stack_len;
	rec.nmodules = c.nmodules;
	rec.modules_len = c.modules_len;
	rec.elapsed_ns = rec.h.mono_ns - S->run_start_ns;
	dise_ring_write(&S->ring, &c.v, 0, &rec, fixed);
	dise_ring_commit(&S->ring, &c.v);
	dise_ring_notify(&S->ring);
}
