#include "base/compat.h"
#include "base/http.h"
#include "base/buf.h"
#include "base/error.h"
#include <curl/curl.h>
#include <pthread.h>
#include "base/banned.h"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result;

static void curl_init_once(void)
{
	curl_init_result = curl_global_init(CURL_GLOBAL_ALL);
}

int rc_http_global_init(rc_error *err)
{
	pthread_once(&curl_once, curl_init_once);
	if (curl_init_result != CURLE_OK)
		return rc_error_set(err, RC_ERROR, "cannot initialize libcurl: %s",
				    curl_easy_strerror(curl_init_result));
	return 0;
}

size_t rc_http_body_write(char *ptr, size_t size, size_t nmemb, void *data)
{
	rc_http_body *b = data;
	size_t n = size * nmemb;

	if (!b->buf)
		return n;
	if (rc_buf_add(b->buf, ptr, n) < 0) {
		b->over = true;
		return 0; /* abort the transfer: CURLE_WRITE_ERROR */
	}
	return n;
}

const char *rc_http_why(CURLcode cc, const char *errbuf)
{
	return errbuf && errbuf[0] ? errbuf : curl_easy_strerror(cc);
}

bool rc_http_unreachable(CURLcode cc)
{
	switch (cc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
		return true;
	default:
		return false;
	}
}
