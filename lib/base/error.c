#include "base/compat.h"
#include "base/error.h"
#include "base/util.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/banned.h"

int rc_error_vset(rc_error *err, int code, const char *fmt, va_list ap)
{
	if (err) {
		err->code = code;
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	}
	return code;
}

int rc_error_set(rc_error *err, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	rc_error_vset(err, code, fmt, ap);
	va_end(ap);
	return code;
}

void rc_error_prefix(rc_error *err, const char *fmt, ...)
{
	char prefix[512], old[sizeof(err->msg)];
	va_list ap;

	if (!err)
		return;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	/* a message too long for the buffer is cut, on purpose */
	if (snprintf(err->msg, sizeof(err->msg), "%s: %s", prefix, old) >= (int)sizeof(err->msg))
		err->msg[sizeof(err->msg) - 1] = '\0';
}

void rc_error_clear(rc_error *err)
{
	if (err) {
		err->code = 0;
		err->msg[0] = '\0';
	}
}

void rc_diags_vadd(rc_diags *d, rc_diag_level level, const char *file, int line, int col,
		   const char *fmt, va_list ap)
{
	size_t limit = d->limit ? d->limit : 1000;
	rc_diag *it;

	if (level == RC_DIAG_ERROR)
		d->errors++;
	else if (level == RC_DIAG_WARNING)
		d->warnings++;
	if (d->nr >= limit) {
		d->dropped++;
		return;
	}
	RC_ALLOC_GROW(d->items, d->nr + 1, d->alloc);
	it = &d->items[d->nr++];
	it->level = level;
	it->file = rc_xstrdup(file ? file : "");
	it->line = line;
	it->col = col;
	it->message = rc_xvstrfmt(fmt, ap);
}

void rc_diags_add(rc_diags *d, rc_diag_level level, const char *file, int line, int col,
		  const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	rc_diags_vadd(d, level, file, line, col, fmt, ap);
	va_end(ap);
}

void rc_diags_append(rc_diags *dst, const rc_diags *src)
{
	size_t errors = 0, warnings = 0;

	for (size_t i = 0; i < src->nr; i++) {
		const rc_diag *s = &src->items[i];
		rc_diags_add(dst, s->level, s->file, s->line, s->col, "%s", s->message);
		errors += s->level == RC_DIAG_ERROR;
		warnings += s->level == RC_DIAG_WARNING;
	}
	/* what src dropped is gone, but it counts: an error past its limit is still an error */
	dst->errors += src->errors - errors;
	dst->warnings += src->warnings - warnings;
	dst->dropped += src->dropped;
}

static int diag_cmp(const void *a, const void *b)
{
	const rc_diag *x = a, *y = b;
	int c = strcmp(x->file, y->file);
	if (c)
		return c;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->col != y->col)
		return x->col < y->col ? -1 : 1;
	return 0;
}

void rc_diags_sort(rc_diags *d)
{
	/* insertion sort keeps equal positions in the order they were found */
	for (size_t i = 1; i < d->nr; i++) {
		rc_diag t = d->items[i];
		size_t j = i;
		while (j > 0 && diag_cmp(&d->items[j - 1], &t) > 0) {
			d->items[j] = d->items[j - 1];
			j--;
		}
		d->items[j] = t;
	}
}

void rc_diags_release(rc_diags *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->nr; i++) {
		free(d->items[i].file);
		free(d->items[i].message);
	}
	free(d->items);
	d->items = NULL;
	d->nr = d->alloc = d->errors = d->warnings = d->dropped = 0;
}
