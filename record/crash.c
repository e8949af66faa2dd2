/* SPDX-License-Identifier: MIT */
/*
 * One crash capture for every producer: the registers of the crashed
 * thread, its stack bytes, and the module map of /proc/TID/maps, read
 * through a memory reader — in place in the shim's SIGSEGV handler, by
 * process_vm_readv in `dise attach`, from a core file later.
 *
 * Nothing is unwound here. Unwinding in the handler would mean libunwind in
 * every process (its loader cost alone is ~14% of a short process) and its
 * known deadlocks (dl_iterate_phdr takes the loader lock, the unwinder's
 * caches a mutex, either may be held by the code that crashed). As
 * minidump-style reporters do, the capture copies what an unwinder needs and
 * the collector unwinds later with libunwind's remote interface:
 *   - the registers of the faulting context,
 *   - the stack from the stack pointer upwards (bounded), taken only from a
 *     mapping the maps file says is readable,
 *   - the module map: every file with code mapped, its mappings grouped
 *     (load address, extent, inode, build-id read from the mapped ELF notes).
 *
 * Invariant: the bytes depend only on the process (its registers, memory and
 * maps) and the reader's answers, never on which producer captured it, so
 * the same crash gives the same record from inside and from outside apart
 * from when it was written. Only raw system calls, stack buffers (under
 * 14 KiB) and the sink are used: no malloc, no stdio, no locks.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <fcntl.h>
#include <stddef.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/ucontext.h>
#include <sys/user.h>
#include <unistd.h>

#include "record.h"

#define LINE_MAX_BYTES (DISE_PATH_MAX + 128)

/* How far below a stack mapping a fault may be (the kernel's stack guard gap is 1 MiB). */
#define STACK_GAP (1u << 20)

/* PT_NOTE segments looked at per module. */
#define NOTES_MAX 8u

const void *dise_rec_mem_self(void *ctx, uint64_t addr, uint32_t n)
{
	(void)ctx;
	(void)n;
	return (const void *)(uintptr_t)addr;
}

static const int greg_of_dwarf[DISE_CRASH_NREGS] = {
    REG_RAX, REG_RDX, REG_RCX, REG_RBX, REG_RSI, REG_RDI, REG_RBP, REG_RSP, REG_R8,
    REG_R9,  REG_R10, REG_R11, REG_R12, REG_R13, REG_R14, REG_R15, REG_RIP,
};

void dise_rec_regs_from_ucontext(const void *ucontext, uint64_t regs[DISE_CRASH_NREGS])
{
	const ucontext_t *uc = ucontext;
	uint32_t i;

	for (i = 0; i < DISE_CRASH_NREGS; i++)
		regs[i] = (uint64_t)uc->uc_mcontext.gregs[greg_of_dwarf[i]];
}

void dise_rec_regs_from_user(const void *user_regs, uint64_t regs[DISE_CRASH_NREGS])
{
	static const size_t user_of_dwarf[DISE_CRASH_NREGS] = {
	    offsetof(struct user_regs_struct, rax), offsetof(struct user_regs_struct, rdx),
	    offsetof(struct user_regs_struct, rcx), offsetof(struct user_regs_struct, rbx),
	    offsetof(struct user_regs_struct, rsi), offsetof(struct user_regs_struct, rdi),
	    offsetof(struct user_regs_struct, rbp), offsetof(struct user_regs_struct, rsp),
	    offsetof(struct user_regs_struct, r8),  offsetof(struct user_regs_struct, r9),
	    offsetof(struct user_regs_struct, r10), offsetof(struct user_regs_struct, r11),
	    offsetof(struct user_regs_struct, r12), offsetof(struct user_regs_struct, r13),
	    offsetof(struct user_regs_struct, r14), offsetof(struct user_regs_struct, r15),
	    offsetof(struct user_regs_struct, rip),
	};
	uint32_t i;

	for (i = 0; i < DISE_CRASH_NREGS; i++)
		memcpy(&regs[i], (const char *)user_regs + user_of_dwarf[i], sizeof(uint64_t));
}

/* ---- /proc/TID/maps with raw system calls ---- */

struct maps_reader {
	int fd; /* -2: reading text instead */
	const char *text;
	size_t text_len, text_off;
	char buf[4096];
	size_t len, off;
	char line[LINE_MAX_BYTES];
};

struct mapping {
	uint64_t start, end, offset, ino;
	int readable, executable;
	const char *path; /* inside the reader's line buffer */
};

static int maps_open(struct maps_reader *m, const struct dise_rec_crash_in *in)
{
	char path[32] = "/proc/", digits[12];
	size_t n = 6, k = 0;
	uint32_t tid = in->maps_tid;

	m->len = m->off = 0;
	if (in->maps_text) {
		m->text = in->maps_text;
		m->text_len = in->maps_len;
		m->text_off = 0;
		m->fd = -2;
		return 0;
	}
	if (!tid) {
		/* thread-self: when the main thread has ended, /proc/self (its) maps are empty; before 3.17, self */
		m->fd = (int)syscall(SYS_openat, AT_FDCWD, "/proc/thread-self/maps", O_RDONLY | O_CLOEXEC);
		if (m->fd < 0)
			m->fd = (int)syscall(SYS_openat, AT_FDCWD, "/proc/self/maps", O_RDONLY | O_CLOEXEC);
		return m->fd < 0 ? -1 : 0;
	}
	do
		digits[k++] = (char)('0' + tid % 10);
	while ((tid /= 10) && k < sizeof(digits));
	while (k)
		path[n++] = digits[--k];
	memcpy(path + n, "/maps", sizeof("/maps"));
	m->fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
	return m->fd < 0 ? -1 : 0;
}

static void maps_close(struct maps_reader *m)
{
	if (m->fd >= 0)
		syscall(SYS_close, m->fd);
	m->text = NULL;
	m->fd = -1;
}

/* The next piece of a maps text into m->buf, as a read of the file would give it. */
static long maps_text_read(struct maps_reader *m)
{
	size_t n = m->text_len - m->text_off;

	if (n > sizeof(m->buf))
		n = sizeof(m->buf);
	memcpy(m->buf, m->text + m->text_off, n);
	m->text_off += n;
	return (long)n;
}

/* Reads one line into m->line; returns its length (0: an overlong line, skipped), or -1 at the end. */
static long maps_line(struct maps_reader *m)
{
	size_t n = 0;
	int overlong = 0;

	for (;;) {
		if (m->off == m->len) {
			long r = m->fd == -2 ? maps_text_read(m) : syscall(SYS_read, m->fd, m->buf, sizeof(m->buf));

			if (r <= 0)
				return n ? (long)n : -1;
			m->len = (size_t)r;
			m->off = 0;
		}
		while (m->off < m->len) {
			char c = m->buf[m->off++];

			if (c == '\n') {
				if (overlong)
					return 0;
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
static int parse_mapping(const char *line, struct mapping *ret)
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

/* ---- modules ---- */

struct module_acc {
	int open;
	uint64_t base, end, ino;
	uint64_t first_start, first_end; /* the mapping at file offset 0, if seen */
	int first_readable;
	int executable; /* only files with code can hold frames: not data files, not the ring */
	char path[DISE_PATH_MAX];
	uint32_t path_len;
};

struct crash_ctx {
	const struct dise_rec_crash_in *in;
	struct dise_rec_sink *out;
	uint32_t off, limit; /* where modules go, and how far they may go */
	uint32_t nmodules, modules_len;
	int truncated;
	int writing;
	uint64_t sp, stack_end;		 /* pass 1: end of the readable mapping holding sp */
	uint64_t above_start, above_end; /* else the nearest readable mapping above sp */
};

static uint32_t module_entry_size(uint32_t path_len)
{
	return ((uint32_t)sizeof(struct dise_module) + path_len + 7u) & ~7u;
}

/* The GNU build-id note in the n bytes of notes at p, copied to out; its length or 0. */
static uint8_t find_build_id(const uint8_t *p, uint64_t n, uint8_t *out)
{
	uint64_t a = 0;

	while (a + sizeof(Elf64_Nhdr) <= n) {
		Elf64_Nhdr nh;
		uint64_t name, desc, next;

		memcpy(&nh, p + a, sizeof(nh));
		name = a + sizeof(nh);
		desc = name + ((nh.n_namesz + 3u) & ~3u);
		next = desc + ((nh.n_descsz + 3u) & ~3u);
		if (next > n || next <= a)
			break;
		if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 && memcmp(p + name, "GNU", 4) == 0 &&
		    nh.n_descsz > 0) {
			uint32_t k = nh.n_descsz > DISE_BUILD_ID_MAX ? DISE_BUILD_ID_MAX : nh.n_descsz;

			memcpy(out, p + desc, k);
			return (uint8_t)k;
		}
		a = next;
	}
	return 0;
}

/*
 * Reads the GNU build-id from the ELF image mapped at acc->first_start,
 * within that first mapping, through the reader: the ELF header, the
 * program headers in one read, then each PT_NOTE segment in one read.
 */
static uint8_t read_build_id(const struct crash_ctx *c, const struct module_acc *acc, uint8_t *out)
{
	const struct dise_rec_crash_in *in = c->in;
	uint64_t lo = acc->first_start, hi = acc->first_end, bias = 0, note_at[NOTES_MAX], note_len[NOTES_MAX];
	const uint8_t *p;
	Elf64_Ehdr eh;
	uint32_t i, nnotes = 0, phsize;
	int have_bias = 0;

	if (!acc->first_readable || hi - lo < sizeof(eh))
		return 0;
	if (!(p = in->mem(in->mem_ctx, lo, sizeof(eh))))
		return 0;
	memcpy(&eh, p, sizeof(eh));
	if (memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64)
		return 0;
	phsize = (uint32_t)eh.e_phnum * (uint32_t)sizeof(Elf64_Phdr);
	/* e_phoff is the file's word: compared so that no sum can wrap */
	if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum > 256 || eh.e_phoff > hi - lo ||
	    phsize > hi - lo - eh.e_phoff)
		return 0;
	if (!(p = in->mem(in->mem_ctx, lo + eh.e_phoff, phsize)))
		return 0;
	for (i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;

		memcpy(&ph, p + (size_t)i * sizeof(ph), sizeof(ph));
		if (ph.p_type == PT_LOAD && ph.p_offset == 0 && !have_bias) {
			bias = lo - (ph.p_vaddr & ~(uint64_t)4095);
			have_bias = 1;
		} else if (ph.p_type == PT_NOTE && nnotes < NOTES_MAX) {
			note_at[nnotes] = ph.p_vaddr;
			note_len[nnotes++] = ph.p_filesz;
		}
	}
	if (!have_bias)
		return 0;
	for (i = 0; i < nnotes; i++) {
		uint64_t a = bias + note_at[i], e = a + note_len[i];
		uint8_t k;

		if (a < lo || e > hi || e < a || note_len[i] > DISE_CRASH_STACK_MAX)
			continue;
		if (note_len[i] && (p = in->mem(in->mem_ctx, a, (uint32_t)note_len[i])) &&
		    (k = find_build_id(p, note_len[i], out)) > 0)
			return k;
	}
	return 0;
}

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
		static const uint8_t zeros[8];
		uint32_t at = c->off + c->modules_len;

		memset(&m, 0, sizeof(m));
		m.size = (uint16_t)size;
		m.base = acc->base;
		m.end = acc->end;
		m.ino = acc->ino;
		m.path_len = acc->path_len;
		m.build_id_len = read_build_id(c, acc, m.build_id);
		c->out->write(c->out, at, &m, sizeof(m));
		c->out->write(c->out, at + sizeof(m), acc->path, acc->path_len);
		/* the padding too: the same crash must give the same bytes, whatever the sink held before */
		c->out->write(c->out, at + sizeof(m) + acc->path_len, zeros, size - sizeof(m) - acc->path_len);
	}
	c->modules_len += size;
	c->nmodules++;
}

static void walk_maps(struct crash_ctx *c, struct maps_reader *mr, struct module_acc *acc)
{
	struct mapping mp;
	long n;

	acc->open = 0;
	if (maps_open(mr, c->in) < 0)
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
		if (acc->open &&
		    (plen + 1 != acc->path_len || memcmp(acc->path, mp.path, plen) != 0 || mp.ino != acc->ino))
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

/* Copies the stack: all of it in one read, zeros where the reader has none. */
static void write_stack(const struct crash_ctx *c, uint32_t at, uint64_t addr, uint32_t len)
{
	static const uint8_t zeros[256];
	const void *p = len ? c->in->mem(c->in->mem_ctx, addr, len) : NULL;
	uint32_t k;

	if (p) {
		c->out->write(c->out, at, p, len);
		return;
	}
	for (k = 0; k < len; k += sizeof(zeros))
		c->out->write(c->out, at + k, zeros, len - k < sizeof(zeros) ? len - k : (uint32_t)sizeof(zeros));
}

int dise_rec_crash_write(const struct dise_rec_crash_in *in, struct dise_rec_sink *out)
{
	struct dise_rec_crash rec;
	struct crash_ctx c;
	struct maps_reader mr;
	struct module_acc acc;
	uint32_t fixed = sizeof(rec), stack_len, len;
	uint64_t stack_addr;
	int r;

	memset(&rec, 0, sizeof(rec));
	memset(&c, 0, sizeof(c));
	c.in = in;
	c.out = out;
	memcpy(rec.regs, in->regs, sizeof(rec.regs));
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
	if ((r = out->reserve(out, len)) < 0)
		return r;

	write_stack(&c, fixed, stack_addr, stack_len);

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

	dise_rec_hdr_init(&rec.h, DISE_REC_CRASH, len, &in->who);
	if (in->who.tid != in->who.pid)
		rec.flags |= DISE_CRASH_OTHER_THREAD;
	rec.flags |= in->flags & (DISE_CRASH_RERAISED | DISE_CRASH_CORE);
	rec.signo = in->signo;
	rec.si_code = in->si_code;
	rec.fault_addr = in->fault_addr;
	rec.arch = DISE_ARCH_X86_64;
	rec.nregs = DISE_CRASH_NREGS;
	rec.stack_addr = stack_addr;
	rec.stack_len = stack_len;
	rec.nmodules = c.nmodules;
	rec.modules_len = c.modules_len;
	rec.elapsed_ns = rec.h.mono_ns - in->who.run_start_ns;
	out->write(out, 0, &rec, fixed);
	return (int)len;
}
