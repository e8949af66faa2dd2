/* SPDX-License-Identifier: MIT */
/* SHA-256 (FIPS 180-4): what names a version. */
#ifndef DISE_SHA256_H
#define DISE_SHA256_H

#include <stddef.h>
#include <stdint.h>

struct dise_sha256 {
	uint32_t h[8];
	uint64_t len;
	uint8_t buf[64];
	size_t n;
};

void dise_sha256_init(struct dise_sha256 *s);
void dise_sha256_update(struct dise_sha256 *s, const void *data, size_t len);
void dise_sha256_final(struct dise_sha256 *s, uint8_t out[32]);
/* 64 lowercase hex digits and a NUL. */
void dise_sha256_hex(const uint8_t digest[32], char out[65]);

#endif
