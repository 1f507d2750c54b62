#ifndef RC_BASE_HTTP_H
#define RC_BASE_HTTP_H
/*
 * http: what every user of libcurl in lib/ shares (the Docker client, the
 * registry client, the http checks), so that each does not keep its own
 * copy.
 *
 *     rc_http_body body = { &buf, false };
 *
 *     if ((ret = rc_http_global_init(err)) < 0)
 *             return ret;
 *     curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
 *     curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, rc_http_body_write);
 *     curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
 *     cc = curl_easy_perform(c);
 *     if (body.over)
 *             the answer was larger than buf's cap;
 *     else if (cc != CURLE_OK)
 *             report rc_http_why(cc, errbuf), with
 *             RC_EUNREACHABLE when rc_http_unreachable(cc);
 */
#include "base/compat.h"
#include "base/buf.h"
#include "base/error.h"
#include <curl/curl.h>
#include <stdbool.h>

/*
 * curl_global_init(), once per process, whichever thread comes first.
 * 0, or RC_ERROR "cannot initialize libcurl: <why>" (every call, when it
 * failed).
 */
int rc_http_global_init(rc_error *err);

/*
 * A body into an rc_buf, up to its cap. With rc_http_body_write() as the
 * CURLOPT_WRITEFUNCTION and an rc_http_body as its CURLOPT_WRITEDATA, a
 * body past `buf`'s cap stops the transfer (CURLE_WRITE_ERROR) and sets
 * `over`: an answer is never silently truncated. A NULL `buf` drops the
 * body.
 */
typedef struct rc_http_body {
	rc_buf *buf;
	bool over;
} rc_http_body;
size_t rc_http_body_write(char *ptr, size_t size, size_t nmemb, void *data);

/*
 * What went wrong with a transfer, in one line: curl's error buffer
 * (CURLOPT_ERRORBUFFER) when it says something, else curl's text for `cc`.
 */
const char *rc_http_why(CURLcode cc, const char *errbuf);

/*
 * Whether `cc` means the server could not be reached at all: no
 * connection, no name, or a TLS setup that failed (RC_EUNREACHABLE).
 */
bool rc_http_unreachable(CURLcode cc);

#endif
