/* SPDX-License-Identifier: MIT */
/* Crash signatures: what a CRASH record's stack is, stably, and its frames as JSON. */
#ifndef DISE_CRASH_SIG_H
#define DISE_CRASH_SIG_H

#include "decode.h"

/*
 * Unwinds a CRASH record offline and returns its signature (16 hex digits:
 * stable across ASLR and across hosts that run the same binaries) in sig,
 * and its frames as a JSON array (module, offset, function, ...) in
 * *ret_frames (to free; NULL when it could not be made). An unwinding that
 * fails gives the signature of no frames, never an error.
 */
void dise_crash_signature(const struct dise_record *rec, char sig[24], char **ret_frames);

#endif
