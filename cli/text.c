/* SPDX-License-Identifier: MIT */
/*
 * Text is data: tool names, paths, argv and SQLite's messages come from
 * programs and files dise does not control, and a terminal obeys the
 * escape sequences in them (set the title, clear the screen, move the
 * cursor, fake a line). dise_cli_print() is the CLI's printf for text: the
 * format is the program's, and every string argument (%s) is written with
 * its control characters and invalid UTF-8 escaped. JSON output goes
 * through dise_cli_json_print(), which writes text that is not UTF-8 as
 * {"hex": ...} (collector/record-json.h) rather than drop or mangle it.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdint.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "record-json.h"

void dise_cli_escape(FILE *f, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, k;

	while (i < n) {
		if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\') {
			fputc(p[i++], f);
			continue;
		}
		if (p[i] >= 0x80 && (k = dise_utf8_len(p + i, n - i))) {
			fwrite(p + i, 1, k, f);
			i += k;
			continue;
		}
		switch (p[i]) {
		case '\\': fputs("\\\\", f); break;
		case '\n': fputs("\\n", f); break;
		case '\t': fputs("\\t", f); break;
		case '\r': fputs("\\r", f); break;
		default: fprintf(f, "\\x%02x", p[i]);
		}
		i++;
	}
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral" /* spec: one conversion copied from a checked format */
/*
 * One conversion of fmt (at *fmt, after its '%') with its argument from ap:
 * strings escaped, everything else as printf writes it. Advances *fmt.
 */
static void convert(FILE *f, const char **fmt, va_list *ap)
{
	char spec[32] = "%";
	const char *s = *fmt;
	size_t n = 1;
	int longs = 0;
	char mod = 0;

	while (*s && strchr("-+ #0123456789.*hlzjt", *s) && n < sizeof(spec) - 14) {
		longs += *s == 'l';
		if (strchr("zjt", *s))
			mod = *s;
		if (*s == '*') /* a width or precision from the arguments: written into the spec */
			n += (size_t)snprintf(spec + n, sizeof(spec) - n, "%d", va_arg(*ap, int)), s++;
		else
			spec[n++] = *s++;
	}
	spec[n++] = *s;
	spec[n] = '\0';
	*fmt = *s ? s + 1 : s;
	switch (*s) {
	case 's': {
		const char *str = va_arg(*ap, const char *);
		const char *dot = strchr(spec, '.');
		size_t len = str ? strlen(str) : 6;
		int width = (int)strtol(spec + 1 + (spec[1] == '-'), NULL, 10);

		if (!str)
			str = "(null)";
		if (dot)
			len = strnlen(str, (size_t)strtol(dot + 1, NULL, 10));
		if (spec[1] != '-')
			for (; width > (int)len; width--)
				fputc(' ', f);
		dise_cli_escape(f, str, len);
		for (; spec[1] == '-' && width > (int)len; width--)
			fputc(' ', f);
		break;
	}
	case 'd':
	case 'i':
	case 'c':
		if (mod == 'z' || mod == 't')
			fprintf(f, spec, va_arg(*ap, ptrdiff_t));
		else if (mod == 'j')
			fprintf(f, spec, va_arg(*ap, intmax_t));
		else if (longs >= 2)
			fprintf(f, spec, va_arg(*ap, long long));
		else if (longs)
			fprintf(f, spec, va_arg(*ap, long));
		else
			fprintf(f, spec, va_arg(*ap, int));
		break;
	case 'u':
	case 'x':
	case 'X':
	case 'o':
		if (mod == 'z' || mod == 't')
			fprintf(f, spec, va_arg(*ap, size_t));
		else if (mod == 'j')
			fprintf(f, spec, va_arg(*ap, uintmax_t));
		else if (longs >= 2)
			fprintf(f, spec, va_arg(*ap, unsigned long long));
		else if (longs)
			fprintf(f, spec, va_arg(*ap, unsigned long));
		else
			fprintf(f, spec, va_arg(*ap, unsigned));
		break;
	case 'f':
	case 'g':
	case 'e': fprintf(f, spec, va_arg(*ap, double)); break;
	case 'p': fprintf(f, spec, va_arg(*ap, void *)); break;
	case '%': fputc('%', f); break;
	default: fputs(spec, f); /* not a conversion the CLI uses: shown, not guessed */
	}
}

#pragma GCC diagnostic pop

int dise_cli_vprint(FILE *f, const char *fmt, va_list ap)
{
	va_list aq;

	va_copy(aq, ap);
	while (*fmt) {
		const char *pct = strchr(fmt, '%');
		size_t lit = pct ? (size_t)(pct - fmt) : strlen(fmt);

		fwrite(fmt, 1, lit, f);
		fmt += lit;
		if (*fmt == '%') {
			fmt++;
			convert(f, &fmt, &aq);
		}
	}
	va_end(aq);
	return ferror(f) ? -1 : 0;
}

int dise_cli_print(FILE *f, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = dise_cli_vprint(f, fmt, ap);
	va_end(ap);
	return r;
}

int dise_cli_json_print(json_t *v)
{
	dise_json_text_fix(v);
	if (json_dumpf(v, stdout, JSON_COMPACT) < 0)
		return -1;
	return putchar('\n') == EOF ? -1 : 0;
}
