/*
 * The container list as rc_docker_scanner reads it (docker/stream.h): any
 * bytes, split at a point the input picks, must read the same as whole,
 * never crash, and a body jansson reads as an array must be accepted with
 * the same containers (by Id).
 *
 *   make tests/fuzz/fuzz_container_list && tests/fuzz/fuzz_container_list -max_total_time=60 \
 *       tests/unit/data/docker
 */
#include "base/compat.h"
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "base/buf.h"
#include "base/error.h"
#include "docker/stream.h"
#include "base/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t seen;

static int collect(const rc_docker_summary *c, void *data, rc_error *err)
{
	rc_buf *b = data;

	seen++;
	(void)err;
	if (!c->id || !c->name)
		abort();
	rc_buf_addf(b, "%s\t%s\t%s\t%s\t%s", c->id, c->name, c->state ? c->state : "",
		    c->status ? c->status : "", c->image_id ? c->image_id : "");
	for (size_t i = 0; i < c->labels_nr; i++)
		rc_buf_addf(b, "\t%s=%s", c->labels[2 * i], c->labels[2 * i + 1] ? c->labels[2 * i + 1] : "");
	rc_buf_addch(b, '\n');
	return 0;
}

static int scan(rc_buf *out, const char *p, size_t len, size_t cut)
{
	static const char *const skip[] = { "reconcile.spec", NULL };
	rc_docker_scanner s;
	int ret;

	rc_docker_scanner_init(&s, "reconcile.", skip, 4096, collect, out);
	rc_docker_scanner_feed(&s, p, cut);
	rc_docker_scanner_feed(&s, p + cut, len - cut);
	ret = rc_docker_scanner_finish(&s, NULL);
	rc_docker_scanner_release(&s);
	return ret;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	rc_buf whole = RC_BUF_INIT, split = RC_BUF_INIT;
	const char *p = (const char *)data;
	size_t cut = size ? (size_t)data[0] * 31 % (size + 1) : 0;
	int r1, r2;
	size_t seen_whole;
	json_t *j;

	seen = 0;
	r1 = scan(&whole, p, size, 0);
	seen_whole = seen;
	r2 = scan(&split, p, size, cut);

	if (r1 != r2 || whole.len != split.len || memcmp(whole.ptr, split.ptr, whole.len))
		abort();
	j = json_loadb(p, size, 0, NULL);
	if (json_is_array(j) && !r1) {
		size_t i, n = 0;
		json_t *c;
		json_array_foreach(j, i, c) {
			const char *id = json_string_value(json_object_get(c, "Id"));
			const json_t *names = json_object_get(c, "Names");
			size_t k;
			json_t *nm;
			bool named = false;
			json_array_foreach(names, k, nm)
				named = named || json_is_string(nm);
			if (!json_is_object(c) || !id || !named)
				continue;
			n++;
			if (!memmem(whole.ptr, whole.len, id, strlen(id)))
				abort();
		}
		/* every container jansson sees, and no other (the scanner sees what has an Id and a name) */
		if (seen_whole != n)
			abort();
	}
	json_decref(j);
	rc_buf_release(&whole);
	rc_buf_release(&split);
	return 0;
}
