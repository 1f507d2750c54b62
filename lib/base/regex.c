/*
 * Python-flavoured regular expressions over PCRE2: see base/regex.h.
 */
#include "base/compat.h"
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>
#include "base/regex.h"
#include "base/banned.h"

/*
 * The budget of one search. The match limit counts calls of PCRE2's
 * internal match() (backtracking points), the heap limit is in KiB.
 * A sane health-check pattern over a body of 1 MiB needs far less; a
 * catastrophic one, such as (a+)+b over a run of a's, stops in well under
 * a second instead of running for minutes.
 */
#define MATCH_LIMIT 2000000u
#define DEPTH_LIMIT 100000u
#define HEAP_LIMIT (64u * 1024u)

struct rc_regex {
	pcre2_code *code;
	pcre2_match_context *mctx;
};

static void set_pcre2_error(rc_error *err, int code, int pcre_rc, const char *what)
{
	PCRE2_UCHAR msg[256];

	if (pcre2_get_error_message(pcre_rc, msg, sizeof(msg)) < 0)
		rc_error_set(err, code, "%s: pcre2 error %d", what, pcre_rc);
	else
		rc_error_set(err, code, "%s: %s", what, (const char *)msg);
}

int rc_regex_compile(rc_regex **out, const char *pattern, rc_error *err)
{
	const uint32_t opts = PCRE2_UTF | PCRE2_UCP | PCRE2_DOTALL | PCRE2_MATCH_INVALID_UTF |
			      PCRE2_ALT_BSUX;
	pcre2_compile_context *cctx = NULL;
	rc_regex *re = NULL;
	PCRE2_SIZE offset = 0;
	size_t len;
	int perr = 0, ret = 0;

	*out = NULL;
	len = strlen(pattern);
	if (len > RC_REGEX_MAX_PATTERN)
		return rc_error_set(err, RC_EINVALID, "longer than %d bytes", RC_REGEX_MAX_PATTERN);
	if (!(re = calloc(1, sizeof(*re))) || !(cctx = pcre2_compile_context_create(NULL)) ||
	    !(re->mctx = pcre2_match_context_create(NULL))) {
		ret = rc_error_set(err, RC_ERROR, "out of memory");
		goto done;
	}
	/* \C (one code unit) can split a UTF-8 character; Python has no such thing */
	re->code = pcre2_compile((PCRE2_SPTR)pattern, len, opts | PCRE2_NEVER_BACKSLASH_C, &perr,
				 &offset, cctx);
	if (!re->code) {
		PCRE2_UCHAR msg[256];

		if (pcre2_get_error_message(perr, msg, sizeof(msg)) < 0)
			ret = rc_error_set(err, RC_EINVALID, "pcre2 error %d at offset %zu", perr, (size_t)offset);
		else
			ret = rc_error_set(err, RC_EINVALID, "%s at offset %zu", (const char *)msg, (size_t)offset);
		goto done;
	}
	pcre2_set_match_limit(re->mctx, MATCH_LIMIT);
	pcre2_set_depth_limit(re->mctx, DEPTH_LIMIT);
	pcre2_set_heap_limit(re->mctx, HEAP_LIMIT);
	*out = re;
	re = NULL;
done:
	pcre2_compile_context_free(cctx);
	rc_regex_free(re);
	return ret;
}

int rc_regex_search(const rc_regex *re, const char *subject, size_t len, rc_error *err)
{
	pcre2_match_data *md = pcre2_match_data_create_from_pattern(re->code, NULL);
	int rc;

	if (!md)
		return rc_error_set(err, RC_ERROR, "out of memory");
	rc = pcre2_match(re->code, (PCRE2_SPTR)(subject ? subject : ""), subject ? len : 0, 0, 0, md,
			 re->mctx);
	pcre2_match_data_free(md);
	if (rc >= 0)
		return 1;
	if (rc == PCRE2_ERROR_NOMATCH)
		return 0;
	if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT || rc == PCRE2_ERROR_HEAPLIMIT) {
		set_pcre2_error(err, RC_ELIMIT, rc, "gave up");
		return RC_ELIMIT;
	}
	set_pcre2_error(err, RC_ERROR, rc, "failed");
	return RC_ERROR;
}

void rc_regex_free(rc_regex *re)
{
	if (!re)
		return;
	pcre2_code_free(re->code);
	pcre2_match_context_free(re->mctx);
	free(re);
}
