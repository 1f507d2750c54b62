#ifndef RC_TEMPLATE_H
#define RC_TEMPLATE_H
/*
 * Templates: the Jinja2 subset Maestro-NG manifests are written in.
 *
 * Maestro-NG renders every maestro.yaml as a Jinja2 template, with one
 * variable, `env` (the process environment), before it parses the YAML.
 * rc_template_render() does the same for the subset in MAESTRO.md
 * (TEMPLATES), with Jinja2's default settings: no autoescape,
 * trim_blocks and lstrip_blocks off, "\r\n" and "\r" read as "\n", and
 * the one trailing newline of the template dropped (keep_trailing_newline
 * is off). A text without "{{", "{%" or "{#" comes out as it went in,
 * minus that newline.
 *
 *     rc_template_opts o = { 0 };
 *     rc_buf out = RC_BUF_INIT;
 *     o.reader = read_from_env_dir;
 *     o.reader_ctx = src;
 *     o.display_dir = "api.example.com";
 *     if (rc_template_render(&out, text, len, "api.example.com/maestro.yaml",
 *                            &o, &diags) < 0)
 *             ... every problem is in diags, with file:line:col ...
 *     rc_yaml_load(&doc, out.ptr, out.len, ...);
 *     rc_buf_release(&out);
 *
 * Errors. A template that does not parse gets every parse error that can
 * be told apart (the parser resumes after the tag in error); a template
 * that parses is then rendered, and rendering stops at the first runtime
 * error ("division by zero", "'x' is undefined" when an attribute of an
 * undefined value is read, an unknown method, a wrong operand type, a
 * missing include). Each is an RC_DIAG_ERROR in `diags` with the name of
 * the file it is in (the included file for an error inside an include)
 * and the 1-based line and column (in characters) of the construct.
 *
 * Limits. Hostile input cannot hang or exhaust us: the output size, the
 * include depth (which also stops an include including itself), the
 * nesting of expressions and blocks, the total number of loop iterations
 * (and includes) of a render are set in rc_template_opts; from them, a
 * string built by an operation is at most max_output bytes, a list at
 * most max_iterations items, a render uses at most 16 * max_output bytes
 * of memory (16 MiB at least) and 100 * max_iterations steps. Past a
 * bound the render stops with an error at the construct that crossed it.
 *
 * Beyond MAESTRO.md's subset, because manifests in the wild use them:
 * `range()`, the tests `is defined`, `undefined`, `none`, `number`,
 * `string`, `mapping`, `iterable`, `sequence`, `even`, `odd`, the methods
 * `dict.get()`, `str.strip()`, `str.replace()`, `str.startswith()`,
 * `str.endswith()`, `{% set x %}...{% endset %}`, `{% include ... ignore
 * missing %}`, `without context`, a list of names to include, and
 * `loop.revindex`, `revindex0`, `previtem`, `nextitem`. Known departures
 * from Jinja2: lower/upper change ASCII letters only; str.format() takes
 * no format specifications ("{:>5}" is an error); `**` with a float is
 * computed by squaring and a fractional power is an error; ints are
 * 64-bit (overflow is an error); printing range(3) gives [0, 1, 2].
 */
#include "base/compat.h"
#include "base/buf.h"
#include "base/error.h"

/*
 * Reads an included file for `{% include %}`. `relpath` is relative to the
 * environment's directory (Jinja2 resolves include names against the
 * loader's directory, not the including file's), non-empty, without `.`,
 * `..` or empty components and not absolute: the engine has checked it.
 * The reader appends the file's bytes to `out` and returns 0,
 * RC_ENOTFOUND when there is no such file, or another negative code with
 * `err` set. Refusing a symlink that leads out of the directory is the
 * reader's job.
 */
typedef int (*rc_template_reader)(void *ctx, const char *relpath, rc_buf *out, rc_error *err);

#define RC_TEMPLATE_MAX_OUTPUT ((size_t)4 << 20)   /* 4 MiB */
#define RC_TEMPLATE_MAX_INCLUDE_DEPTH 16
#define RC_TEMPLATE_MAX_DEPTH 256
#define RC_TEMPLATE_MAX_ITERATIONS ((size_t)1000000)

typedef struct rc_template_opts {
	/*
	 * "KEY=VALUE" strings, NULL-terminated, bound as the dict `env`
	 * (an entry without '=' is skipped; for a repeated key the last
	 * value wins). NULL: the process environment (`environ`).
	 */
	const char *const *envp;
	/* For `{% include %}`; NULL makes every include an error. */
	rc_template_reader reader;
	void *reader_ctx;
	/*
	 * Put in front of an included file's path in diagnostics
	 * ("api.example.com" gives "api.example.com/common.yaml"); NULL or
	 * "": the bare path.
	 */
	const char *display_dir;
	/* 0 means the RC_TEMPLATE_* default. */
	size_t max_output;         /* bytes of output */
	size_t max_include_depth;  /* includes within includes */
	size_t max_depth;          /* nesting of expressions and of blocks, per file */
	size_t max_iterations;     /* loop iterations (and includes) in one render */
} rc_template_opts;

/*
 * Render `len` bytes of `text`, named `file` in diagnostics, appending
 * the result to `out`. `opts` may be NULL (process environment, no
 * includes, default limits). Returns 0, or RC_EINVALID with the errors in
 * `diags` and `out` as it was before the call.
 */
int rc_template_render(rc_buf *out, const char *text, size_t len, const char *file,
		       const rc_template_opts *opts, rc_diags *diags);

#endif
