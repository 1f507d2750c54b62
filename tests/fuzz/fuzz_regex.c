/*
 * match_regex comes from a manifest (a merge request's author) and is
 * compiled when the manifest is loaded, in the daemon: compiling any
 * pattern must end with a pattern or a one-line error, never a crash, and
 * a search with what compiled must end within its budget whatever the
 * body (lib/base/regex.c).
 *
 * The input is the pattern up to the first NUL, then the body searched.
 *
 *   make tests/fuzz/fuzz_regex && tests/fuzz/fuzz_regex -max_total_time=60 \
 *       tests/fuzz/corpus/regex
 */
#include "base/compat.h"
#include <stdlib.h>
#include <string.h>
#include "base/error.h"
#include "base/regex.h"
#include "base/util.h"
#include "base/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *nul = memchr(data, 0, size);
	size_t plen = nul ? (size_t)(nul - (const char *)data) : size;
	char *pattern = rc_xmalloc(plen + 1);
	rc_error err = RC_ERROR_INIT;
	rc_regex *re = NULL;
	int rc;

	memcpy(pattern, data, plen);
	pattern[plen] = '\0';
	rc = rc_regex_compile(&re, pattern, &err);
	if (rc < 0) {
		if (re || rc != RC_EINVALID || !err.msg[0] || strchr(err.msg, '\n'))
			abort();
	} else {
		const char *body = nul ? nul + 1 : "";
		size_t blen = nul ? size - plen - 1 : 0;

		rc = rc_regex_search(re, body, blen, &err);
		if (rc != 0 && rc != 1 && rc != RC_ELIMIT)
			abort();
		/* the same answer twice: nothing of a search stays behind */
		if (rc_regex_search(re, body, blen, &err) != rc)
			abort();
	}
	rc_regex_free(re);
	free(pattern);
	return 0;
}
