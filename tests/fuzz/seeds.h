/* SPDX-License-Identifier: MIT */
/* Valid records of every type, built the way the shim builds them: seeds for tests and the fuzzer. */
#ifndef DISE_TEST_SEEDS_H
#define DISE_TEST_SEEDS_H

#include <stdint.h>
#include <string.h>

#include "dise/event.h"

static inline size_t seed_put(uint8_t *b, size_t off, const void *p, size_t n)
{
	memcpy(b + off, p, n);
	return off + n;
}

static inline void seed_hdr(struct dise_rec_hdr *h, unsigned type, size_t size)
{
	h->size = (uint32_t)size;
	h->type = (uint16_t)type;
	h->hdr_size = sizeof(*h);
	h->mono_ns = 1000;
	h->run_start_ns = 500;
	h->pid = 42;
	h->tid = 42;
}

/* How many seeds there are: one per record type (START, EXEC, EXIT, CRASH, REAP). */
#define SEED_COUNT 5u

/* Writes seed number k (0..SEED_COUNT - 1) into b; returns its size. */
static inline size_t seed_record(unsigned k, uint8_t *b)
{
	size_t off;

	switch (k % SEED_COUNT) {
	case 0: {
		struct dise_rec_start s;
		static const char argv[] = "prog\0--flag\0x";

		memset(&s, 0, sizeof(s));
		s.argc = 3;
		s.exe_len = sizeof("/usr/bin/prog");
		s.execfn_len = sizeof("./prog");
		s.cwd_len = sizeof("/tmp");
		s.argv_len = sizeof(argv);
		s.argv_count = 3;
		off = sizeof(s);
		off = seed_put(b, off, "/usr/bin/prog", s.exe_len);
		off = seed_put(b, off, "./prog", s.execfn_len);
		off = seed_put(b, off, "/tmp", s.cwd_len);
		off = seed_put(b, off, argv, sizeof(argv));
		seed_hdr(&s.h, DISE_REC_START, off);
		memcpy(b, &s, sizeof(s));
		return off;
	}
	case 1: {
		struct dise_rec_exec e;
		static const char argv[] = "sh\0-c\0true";

		memset(&e, 0, sizeof(e));
		e.call = DISE_EXEC_EXECVE;
		e.argc = 3;
		e.path_len = sizeof("/bin/sh");
		e.argv_len = sizeof(argv);
		e.argv_count = 3;
		off = sizeof(e);
		off = seed_put(b, off, "/bin/sh", e.path_len);
		off = seed_put(b, off, argv, sizeof(argv));
		seed_hdr(&e.h, DISE_REC_EXEC, off);
		memcpy(b, &e, sizeof(e));
		return off;
	}
	case 2: {
		struct dise_rec_exit x;

		memset(&x, 0, sizeof(x));
		x.status = 3;
		x.how = DISE_EXIT_EXIT;
		seed_hdr(&x.h, DISE_REC_EXIT, sizeof(x));
		memcpy(b, &x, sizeof(x));
		return sizeof(x);
	}
	case 4: {
		struct dise_rec_reap w;

		memset(&w, 0, sizeof(w));
		w.child_pid = 43;
		w.status = 11 | 0x80; /* killed by SIGSEGV, core dumped */
		w.user_ns = 2000;
		seed_hdr(&w.h, DISE_REC_REAP, sizeof(w));
		memcpy(b, &w, sizeof(w));
		return sizeof(w);
	}
	default: {
		struct dise_rec_crash c;
		struct dise_module m;
		static const char path[] = "/usr/lib/libfoo.so";
		uint8_t stack[64];
		uint32_t msize = ((uint32_t)sizeof(m) + sizeof(path) + 7u) & ~7u;

		memset(&c, 0, sizeof(c));
		memset(stack, 0x11, sizeof(stack));
		c.signo = 11;
		c.si_code = 1;
		c.arch = DISE_ARCH_X86_64;
		c.nregs = DISE_CRASH_NREGS;
		c.regs[DISE_REG_IP] = 0x1000;
		c.regs[DISE_REG_SP] = 0x7000;
		c.stack_addr = 0x7000;
		c.stack_len = sizeof(stack);
		c.nmodules = 2;
		c.modules_len = 2 * msize;
		off = sizeof(c);
		off = seed_put(b, off, stack, sizeof(stack));
		for (int i = 0; i < 2; i++) {
			memset(&m, 0, sizeof(m));
			m.size = (uint16_t)msize;
			m.base = 0x1000 * (uint64_t)(i + 1);
			m.end = m.base + 0x800;
			m.build_id_len = 20;
			m.path_len = sizeof(path);
			memcpy(b + off, &m, sizeof(m));
			memset(b + off + sizeof(m), 0, msize - sizeof(m));
			memcpy(b + off + sizeof(m), path, sizeof(path));
			off += msize;
		}
		seed_hdr(&c.h, DISE_REC_CRASH, off);
		memcpy(b, &c, sizeof(c));
		return off;
	}
	}
}

#endif
