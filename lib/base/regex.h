#ifndef RC_BASE_REGEX_H
#define RC_BASE_REGEX_H
/*
 * regex: regular expressions as Python's `re` reads them, over PCRE2.
 *
 * Maestro-NG compiles an http check's `match_regex` with
 * `re.compile(pattern, re.DOTALL)` and passes when `.search(response.text)`
 * finds it anywhere in a non-empty body. This module gives the same
 * meaning to the same text:
 *
 *  - searched, not anchored: `ok` matches "all ok\n";
 *  - Unicode, as a Python 3 str pattern: `\d`, `\w`, `\s`, `\b` and `(?i)`
 *    know non-ASCII letters and digits (PCRE2_UTF | PCRE2_UCP); a subject
 *    that is not valid UTF-8 is still searched, its bad bytes match
 *    nothing (PCRE2_MATCH_INVALID_UTF);
 *  - `.` matches a newline too (re.DOTALL); `^` and `$` are the start and
 *    end of the whole body (`$` also before a final newline), unless the
 *    pattern says `(?m)`;
 *  - inline flags `(?i)`, `(?m)`, `(?s)`, `(?x)`, non-greedy `*?`, `+?`,
 *    `??`, `{m,n}?`, groups `(?P<name>...)`, `(?P=name)`, lookarounds,
 *    and the escapes `\xhh`, `\uhhhh` (PCRE2_ALT_BSUX) mean what they mean
 *    in Python.
 *
 * Known differences: Python's `\Z` (the very end) is PCRE2's `\z`, and
 * PCRE2's `\Z` also matches before a final newline; `{,n}` is a literal in
 * PCRE2 10.42 but {0,n} in Python; PCRE2 accepts some syntax Python
 * refuses (possessive quantifiers, `\K`, recursion).
 *
 * Matching is bounded: a pattern longer than RC_REGEX_MAX_PATTERN is
 * refused, and a search that backtracks past a fixed budget stops with
 * RC_ELIMIT instead of running for minutes.
 *
 * A compiled rc_regex is read-only: any number of threads may search with
 * it at once.
 */
#include "base/compat.h"
#include "base/error.h"
#include <stddef.h>

#define RC_REGEX_MAX_PATTERN 4096

typedef struct rc_regex rc_regex;

/*
 * Compile `pattern` (NUL-terminated UTF-8) into `*out`. A bad pattern is
 * RC_EINVALID with PCRE2's reason and the offset it stopped at
 * ("missing closing parenthesis at offset 9"), without the pattern itself,
 * so that the caller can say where it came from.
 */
int rc_regex_compile(rc_regex **out, const char *pattern, rc_error *err);

/*
 * Search `len` bytes of `subject` for the pattern: 1 when found, 0 when
 * not, RC_ELIMIT when the search ran out of its budget, RC_ERROR (out of
 * memory, or an error of PCRE2) otherwise.
 */
int rc_regex_search(const rc_regex *re, const char *subject, size_t len, rc_error *err);

void rc_regex_free(rc_regex *re);

#endif
