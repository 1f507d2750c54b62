#include "base/compat.h"
#include <stdlib.h>
#include <string.h>
#include "base/buf.h"
#include "base/error.h"
#include "template/template.h"
#include "base/banned.h"

/*
 * Render the input as a template with a fixed environment and two small
 * in-memory files to include (one including the other, one itself).
 * Limits are lowered so that every input renders in well under a second:
 * what is tested is that no input crashes, leaks or hangs, and that a
 * failed render leaves the output buffer as it was.
 */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const fuzz_env[] = { "HOME=/root", "PORT=8080", "LIST=a b c", NULL };

static int reader(void *ctx, const char *relpath, rc_buf *out, rc_error *err)
{
	(void)ctx;
	if (!strcmp(relpath, "a.yaml"))
		return rc_buf_adds(out, "a: {{ env.PORT | int + 1 }}\n{% include 'b.yaml' %}\n");
	if (!strcmp(relpath, "b.yaml"))
		return rc_buf_adds(out, "{% for x in [1, 2] %}{{ x }}{% include 'b.yaml' ignore missing %}{% endfor %}");
	return rc_error_set(err, RC_ENOTFOUND, "'%s' not found", relpath);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	rc_template_opts o = { 0 };
	rc_buf out = RC_BUF_INIT;
	rc_diags d = RC_DIAGS_INIT;
	int r;

	o.envp = fuzz_env;
	o.reader = reader;
	o.display_dir = "fuzz.example.com";
	o.max_output = 64 << 10;
	o.max_iterations = 20000;
	o.max_include_depth = 8;
	o.max_depth = 64;
	rc_buf_adds(&out, "x");
	r = rc_template_render(&out, (const char *)data, size, "fuzz.example.com/maestro.yaml", &o, &d);
	if (r < 0 && (out.len != 1 || d.errors == 0))
		abort();
	if (r == 0 && d.errors)
		abort();
	rc_buf_release(&out);
	rc_diags_release(&d);
	return 0;
}
