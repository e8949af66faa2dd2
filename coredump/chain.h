/* SPDX-License-Identifier: MIT */
/*
 * Chaining: the core goes on, byte for byte, where the previous
 * core_pattern would have sent it — a pipe handler run with the arguments
 * the kernel would have given it, or a file written as the kernel writes it.
 */
#ifndef DISE_COREDUMP_CHAIN_H
#define DISE_COREDUMP_CHAIN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The kernel's expansions for this dump: the handler's arguments, in core_pattern's order (main.c). */
struct dise_core_args {
	const char *P, *i, *I, *s, *t, *u, *g, *c, *d, *p, *h, *C, *e, *f, *E;
	char F[16]; /* %F: a pidfd of the process, when the handler has one ("" otherwise) */
};

struct dise_chain {
	int fd;		/* the pipe to the previous handler, or the core file; -1: none */
	pid_t child;	/* the previous handler */
	int is_file;
	uint64_t limit; /* a file: RLIMIT_CORE */
	uint64_t written;
	int failed; /* a write failed: the rest is not written */
};

/*
 * Expands a core_pattern template (without its leading '|') as the kernel
 * does into out: for a file, '/' in %h %e %f becomes '!', and ".%p" is
 * added when the pattern has no %p and uses_pid is set. Returns 0 or
 * -ENAMETOOLONG.
 */
int dise_core_expand(const char *tmpl, const struct dise_core_args *a, int ispipe, int uses_pid, char *out,
		     size_t size);

/*
 * Starts the previous pipe handler (pattern without '|'), its argv split on
 * the pattern's spaces before expansion, as the kernel does; stdin the pipe,
 * the kernel's environment. Call as root, before dropping privileges.
 * Returns 0 or -errno.
 */
int dise_chain_pipe(struct dise_chain *ch, const char *pattern, const struct dise_core_args *a);

/*
 * Opens the previous file pattern's core as the kernel would: relative to
 * dirfd (the process's cwd; its root for an absolute path, resolved inside
 * it), O_NOFOLLOW, owned by the caller, one link, emptied. Call with the
 * identity the file is to be written as. limit: RLIMIT_CORE (the kernel
 * writes nothing under a page). Returns 0, or -errno.
 */
int dise_chain_file(struct dise_chain *ch, const char *path, int cwdfd, int rootfd, uint64_t limit, int excl);

/* Writes the next bytes of the core (a file: whole zero pages as holes, cut at the limit). */
void dise_chain_write(struct dise_chain *ch, const void *buf, size_t n);

/* Ends the chain: closes, waits for the handler. Returns its wait status, or 0 for a file. */
int dise_chain_close(struct dise_chain *ch);

#endif
