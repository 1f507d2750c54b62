#ifndef RC_BUF_H
#define RC_BUF_H
/*
 * rc_buf: a growable byte buffer with a hard size cap.
 *
 * Every byte that comes from outside (a Docker response, a git blob, a
 * manifest, a rendered template) is collected in an rc_buf, so that
 * nothing can grow without bound: an append that would take the buffer
 * past its cap fails with RC_ELIMIT and leaves the buffer as it was.
 *
 * `ptr` is always NUL-terminated (an initialized, empty buffer points at
 * a static ""), so it can be handed to string functions as it is; `len`
 * does not count the NUL. Binary data may contain NULs of its own.
 *
 *     rc_buf b = RC_BUF_INIT;
 *     if (rc_buf_addf(&b, "%s:%d", host, port) < 0) ...
 *     use(b.ptr);
 *     rc_buf_release(&b);
 */
#include "base/compat.h"
#include <stdarg.h>

#define RC_BUF_DEFAULT_CAP ((size_t)64 << 20)   /* 64 MiB */

typedef struct rc_buf {
	char *ptr;
	size_t len;
	size_t alloc;
	size_t cap;     /* 0 means RC_BUF_DEFAULT_CAP */
} rc_buf;

extern char rc_buf_empty[];
#define RC_BUF_INIT { rc_buf_empty, 0, 0, 0 }

void rc_buf_init(rc_buf *b, size_t cap);
/* Free the contents; the buffer is empty and usable again (same cap). */
void rc_buf_release(rc_buf *b);
/* Keep the memory, drop the contents. */
void rc_buf_reset(rc_buf *b);
/* Hand the contents to the caller (free() it); the buffer is left empty. */
char *rc_buf_detach(rc_buf *b, size_t *len);

/* Make room for `extra` more bytes; RC_ELIMIT past the cap. */
int rc_buf_grow(rc_buf *b, size_t extra);
int rc_buf_add(rc_buf *b, const void *data, size_t len);
int rc_buf_adds(rc_buf *b, const char *s);
int rc_buf_addch(rc_buf *b, int c);
int rc_buf_addf(rc_buf *b, const char *fmt, ...) RC_PRINTF(2, 3);
int rc_buf_vaddf(rc_buf *b, const char *fmt, va_list ap) RC_PRINTF(2, 0);
/* Shorten to `len` bytes (no-op when already shorter). */
void rc_buf_setlen(rc_buf *b, size_t len);

/*
 * Read the whole file at `path` into `b` (appending). RC_ELIMIT when it
 * is larger than the cap, RC_ENOTFOUND when it does not exist, RC_ERROR
 * otherwise; `err` says which file and why.
 */
struct rc_error;
int rc_buf_read_file(rc_buf *b, const char *path, struct rc_error *err);

#endif
