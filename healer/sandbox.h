/* SPDX-License-Identifier: MIT */
/*
 * The validation sandbox of regenerated candidates (sandbox.c): bubblewrap
 * with no network, the system read-only, only the scratch tree writable, a
 * private /tmp (the replay's cwd bound back in read-only), its own pid
 * namespace, and CPU-time, memory and file-size limits. Where bwrap cannot
 * make a sandbox, nothing generated is run.
 */
#ifndef DISE_SANDBOX_H
#define DISE_SANDBOX_H

#include <stddef.h>
#include <stdint.h>

/* 0 when a sandbox can be made here; else -errno, why says why in one line. */
int dise_sandbox_check(char *why, size_t size);

/*
 * Runs exe with argv[1..] (argv[0] unused: a script's $0 is its path) in
 * the sandbox: cwd (NULL or gone: scratch), scratch writable, extra_env
 * ("K=V", may be NULL) added, killed at timeout_ms. Returns 0 with the
 * wait status in *status and the wall time in *wall_ns, -ETIMEDOUT, or
 * -errno (bwrap could not run). bwrap reports a child killed by signal N
 * as exit 128 + N: dise_sandbox_ended_like() reads both.
 */
int dise_sandbox_run(const char *scratch, const char *exe, char *const argv[], const char *cwd, const char *extra_env,
		     unsigned timeout_ms, int *status, int64_t *wall_ns);
/* The same, with directory ro (NULL: none) bound read-only too: the private /tmp would hide one under it. */
int dise_sandbox_run_ro(const char *scratch, const char *ro, const char *exe, char *const argv[], const char *cwd,
			const char *extra_env, unsigned timeout_ms, int *status, int64_t *wall_ns);

/* Whether a pids cgroup (the process-count limit) can be made for a run here: 1 or 0. */
int dise_sandbox_has_pids_limit(void);

/*
 * The limit the calling thread's last dise_sandbox_run() reached, in words
 * ("the process limit (512 tasks) was reached"), or NULL: none seen.
 */
const char *dise_sandbox_last_limit(void);

/* Whether a sandboxed run's status ended like rule t: as is, or as the signal bwrap's 128 + N stands for. */
struct dise_replay;
int dise_sandbox_ended_like(const struct dise_replay *t, int status);

#endif
