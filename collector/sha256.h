/* SPDX-License-Identifier: MIT */
/* SHA-256 (FIPS 180-4): what names a version. Computed by libcrypto (EVP). */
#ifndef DISE_SHA256_H
#define DISE_SHA256_H

#include <stddef.h>
#include <stdint.h>

struct evp_md_ctx_st;

struct dise_sha256 {
	struct evp_md_ctx_st *ctx; /* NULL after a failure: final then returns -ENOMEM */
};

/*
 * init, update*, final: final releases what init took (call it once for
 * every init). init and final return 0 or -ENOMEM (-EIO: libcrypto failed);
 * a failure anywhere makes final fail. Thread-safe on distinct states.
 */
int dise_sha256_init(struct dise_sha256 *s);
void dise_sha256_update(struct dise_sha256 *s, const void *data, size_t len);
int dise_sha256_final(struct dise_sha256 *s, uint8_t out[32]);
/* 64 lowercase hex digits and a NUL. */
void dise_sha256_hex(const uint8_t digest[32], char out[65]);

#endif
