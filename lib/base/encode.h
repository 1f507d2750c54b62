#ifndef RC_BASE_ENCODE_H
#define RC_BASE_ENCODE_H
/*
 * encode: base64 (for registry credentials and SSH host keys) and URL
 * percent-encoding (for request paths and queries). Pure functions, no I/O.
 */
#include "base/compat.h"
#include "base/buf.h"
#include <stdbool.h>
#include <stddef.h>

/*
 * Percent-encode `s` onto `out`, keeping the unreserved characters of
 * RFC 3986 and those in `keep` (may be NULL). RC_ELIMIT past out's cap.
 */
int rc_url_escape(rc_buf *out, const char *s, const char *keep);

/*
 * Base64, standard or URL alphabet, padded; decoding takes either
 * alphabet, padding optional, and rejects anything malformed (RC_EINVALID).
 * rc_base64_encode() returns a string to free().
 */
char *rc_base64_encode(const void *data, size_t len, bool url);
int rc_base64_decode(rc_buf *out, const char *s, size_t len);

#endif
