/* SPDX-License-Identifier: MIT */
/*
 * SHA-256 through libcrypto's EVP interface: the same digest as FIPS 180-4
 * asks, computed with the CPU's SHA extensions or vector code where
 * libcrypto has them, instead of a hand-written loop. The API stays the
 * streaming one its callers (resolve.c, validate.c) feed 64 KiB at a time.
 */
#include <errno.h>
#include <openssl/evp.h>
#include <string.h>

#include "sha256.h"

int dise_sha256_init(struct dise_sha256 *s)
{
	s->ctx = EVP_MD_CTX_new();
	if (!s->ctx)
		return -ENOMEM;
	if (EVP_DigestInit_ex(s->ctx, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(s->ctx);
		s->ctx = NULL;
		return -EIO;
	}
	return 0;
}

void dise_sha256_update(struct dise_sha256 *s, const void *data, size_t len)
{
	if (s->ctx && EVP_DigestUpdate(s->ctx, data, len) != 1) {
		EVP_MD_CTX_free(s->ctx);
		s->ctx = NULL;
	}
}

int dise_sha256_final(struct dise_sha256 *s, uint8_t out[32])
{
	unsigned int n = 0;
	int r = 0;

	if (!s->ctx) {
		memset(out, 0, 32);
		return -ENOMEM;
	}
	if (EVP_DigestFinal_ex(s->ctx, out, &n) != 1 || n != 32) {
		memset(out, 0, 32);
		r = -EIO;
	}
	EVP_MD_CTX_free(s->ctx);
	s->ctx = NULL;
	return r;
}

void dise_sha256_hex(const uint8_t digest[32], char out[65])
{
	static const char x[] = "0123456789abcdef";
	int i;

	for (i = 0; i < 32; i++) {
		out[2 * i] = x[digest[i] >> 4];
		out[2 * i + 1] = x[digest[i] & 15];
	}
	out[64] = '\0';
}
