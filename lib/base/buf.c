#include "base/compat.h"
#include "base/buf.h"
#include "base/error.h"
#include "base/util.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "base/banned.h"

char rc_buf_empty[1];

void rc_buf_init(rc_buf *b, size_t cap)
{
	b->ptr = rc_buf_empty;
	b->len = b->alloc = 0;
	b->cap = cap;
}

void rc_buf_release(rc_buf *b)
{
	if (b->alloc)
		free(b->ptr);
	b->ptr = rc_buf_empty;
	b->len = b->alloc = 0;
}

void rc_buf_reset(rc_buf *b)
{
	b->len = 0;
	if (b->alloc)
		b->ptr[0] = '\0';
}

char *rc_buf_detach(rc_buf *b, size_t *len)
{
	char *p;
	if (len)
		*len = b->len;
	p = b->alloc ? b->ptr : rc_xstrdup("");
	b->ptr = rc_buf_empty;
	b->len = b->alloc = 0;
	return p;
}

int rc_buf_grow(rc_buf *b, size_t extra)
{
	size_t cap = b->cap ? b->cap : RC_BUF_DEFAULT_CAP;
	size_t want;

	/* room for the NUL, so that len + extra + 1 and cap + 1 cannot wrap */
	if (cap > SIZE_MAX - 1)
		cap = SIZE_MAX - 1;

	if (extra > cap || b->len > cap - extra)
		return RC_ELIMIT;
	want = b->len + extra + 1;
	if (want <= b->alloc)
		return 0;
	if (want < b->alloc + b->alloc / 2)
		want = b->alloc + b->alloc / 2;
	if (want < 64)
		want = 64;
	if (want > cap + 1)
		want = cap + 1;
	if (!b->alloc) {
		b->ptr = rc_xmalloc(want);
		b->ptr[0] = '\0';
	} else {
		b->ptr = rc_xrealloc(b->ptr, want);
	}
	b->alloc = want;
	return 0;
}

int rc_buf_add(rc_buf *b, const void *data, size_t len)
{
	int err;
	if ((err = rc_buf_grow(b, len)) < 0)
		return err;
	if (!b->alloc)
		return 0; /* len == 0 on an untouched buffer */
	if (len)
		memcpy(b->ptr + b->len, data, len);
	b->len += len;
	b->ptr[b->len] = '\0';
	return 0;
}

int rc_buf_adds(rc_buf *b, const char *s)
{
	return rc_buf_add(b, s, strlen(s));
}

int rc_buf_addch(rc_buf *b, int c)
{
	char ch = (char)c;
	return rc_buf_add(b, &ch, 1);
}

int rc_buf_vaddf(rc_buf *b, const char *fmt, va_list ap)
{
	va_list cp;
	int n, err;

	va_copy(cp, ap);
	n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (n < 0)
		return RC_ERROR;
	if ((err = rc_buf_grow(b, (size_t)n)) < 0)
		return err;
	vsnprintf(b->ptr + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int rc_buf_addf(rc_buf *b, const char *fmt, ...)
{
	va_list ap;
	int err;
	va_start(ap, fmt);
	err = rc_buf_vaddf(b, fmt, ap);
	va_end(ap);
	return err;
}

void rc_buf_setlen(rc_buf *b, size_t len)
{
	if (len < b->len) {
		b->len = len;
		b->ptr[len] = '\0';
	}
}

int rc_buf_read_file(rc_buf *b, const char *path, rc_error *err)
{
	char chunk[65536];
	int fd, ret = 0;
	size_t start = b->len;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return rc_error_set(err, errno == ENOENT ? RC_ENOTFOUND : RC_ERROR,
				    "cannot open '%s': %s", path, strerror(errno));
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = rc_error_set(err, RC_ERROR, "cannot read '%s': %s", path, strerror(errno));
			break;
		}
		if (n == 0)
			break;
		if (rc_buf_add(b, chunk, (size_t)n) < 0) {
			ret = rc_error_set(err, RC_ELIMIT, "'%s' is larger than %zu bytes", path,
					   b->cap ? b->cap : RC_BUF_DEFAULT_CAP);
			break;
		}
	}
	close(fd);
	if (ret < 0)
		rc_buf_setlen(b, start);
	return ret;
}
