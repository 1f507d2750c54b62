#ifndef RC_BASE_ENCODE_H
#define RC_BASE_ENCODE_H
/*
 * encode: base64 and URL percent-encoding.
 */
#include "base/compat.h"
#include "base/buf.h"
#include <stdbool.h>
#include <stddef.h>

/* Percent-encode `s` onto `out`, keeping unreserved characters and those in `keep`. */
int rc_docker_url_escape(rc_buf *out, const char *s, const char *keep);
/* Base64, standard or URL alphabet, padded; decoding rejects anything malformed. */
char *rc_base64_encode(const void *data, size_t len, bool url);
int rc_base64_decode(rc_buf *out, const char *s, size_t len);
#endif
