#include "base/compat.h"
#include "docker/stream.h"
#include "base/buf.h"
#include "base/error.h"
#include "base/util.h"
#include <stdlib.h>
#include <string.h>
#include "base/banned.h"

#define STREAM_MAX_LINE ((size_t)1 << 20)

/* ---- JSON streams ---- */

void rc_docker_stream_init(rc_docker_stream *s, size_t max_line, rc_docker_stream_fn fn, void *data)
{
	memset(s, 0, sizeof(*s));
	rc_buf_init(&s->line, max_line ? max_line : STREAM_MAX_LINE);
	s->fn = fn;
	s->data = data;
}

void rc_docker_stream_release(rc_docker_stream *s)
{
	rc_buf_release(&s->line);
}

/* Parse one line: usually one object, but be lenient about several. */
static int stream_line(rc_docker_stream *s, const char *p, size_t len)
{
	json_error_t jerr;
	size_t off = 0;

	for (;;) {
		json_t *j;
		int ret;

		while (off < len && (p[off] == ' ' || p[off] == '\t' || p[off] == '\r' || p[off] == '\n'))
			off++;
		if (off == len)
			return 0;
		j = json_loadb(p + off, len - off, JSON_DISABLE_EOF_CHECK, &jerr);
		if (!j) {
			s->failed = rc_error_set(&s->err, RC_ERROR, "malformed JSON in stream: %s",
						 jerr.text);
			return s->failed;
		}
		off += jerr.position;
		s->objects++;
		ret = s->fn ? s->fn(j, s->data, &s->err) : 0;
		json_decref(j);
		if (ret < 0) {
			s->failed = ret;
			return ret;
		}
		if (jerr.position == 0)
			return 0; /* cannot happen; never loop forever */
	}
}

int rc_docker_stream_feed(rc_docker_stream *s, const char *data, size_t len)
{
	while (len && !s->failed) {
		const char *nl = memchr(data, '\n', len);
		size_t n = nl ? (size_t)(nl - data) : len;

		if (rc_buf_add(&s->line, data, n) < 0) {
			s->failed = rc_error_set(&s->err, RC_ELIMIT,
						 "a line of the stream is longer than %zu bytes",
						 s->line.cap);
			break;
		}
		if (!nl)
			break;
		stream_line(s, s->line.ptr, s->line.len);
		rc_buf_reset(&s->line);
		data += n + 1;
		len -= n + 1;
	}
	return s->failed;
}

int rc_docker_stream_finish(rc_docker_stream *s, rc_error *err)
{
	if (!s->failed && s->line.len) {
		stream_line(s, s->line.ptr, s->line.len);
		rc_buf_reset(&s->line);
	}
	if (s->failed && err) {
		err->code = s->failed;
		memcpy(err->msg, s->err.msg, sizeof(err->msg));
	}
	return s->failed;
}
/* ---- multiplexed output (exec, logs) ---- */

/*
 * Without a TTY the daemon frames stdout and stderr: a header of 8 bytes
 * (stream 0-3, three zero bytes, the payload's length big-endian), then
 * the payload. Frames may be split across reads anywhere.
 */
/* Add what fits of `data`; RC_ELIMIT when not all of it did. */
int rc_docker_add_capped(rc_buf *b, const char *data, size_t n)
{
	size_t cap = b->cap ? b->cap : RC_BUF_DEFAULT_CAP;
	size_t room = b->len < cap ? cap - b->len : 0;

	if (n <= room)
		return rc_buf_add(b, data, n);
	rc_buf_add(b, data, room);
	return RC_ELIMIT;
}

void rc_docker_demuxer_feed(rc_docker_demuxer *m, const char *data, size_t len)
{
	while (len && m->failed != RC_ERROR) {
		if (m->left) {
			size_t n = len < m->left ? len : m->left;
			if (m->out && !m->failed)
				m->failed = rc_docker_add_capped(m->out, data, n); /* keep reading: the exit code matters */
			m->left -= (uint32_t)n;
			data += n;
			len -= n;
			continue;
		}
		m->hdr[m->hdr_len++] = (unsigned char)*data++;
		len--;
		if (m->hdr_len < 8)
			continue;
		m->hdr_len = 0;
		if (m->hdr[0] > 3 || m->hdr[1] || m->hdr[2] || m->hdr[3]) {
			m->failed = RC_ERROR;
			break;
		}
		m->left = (uint32_t)m->hdr[4] << 24 | (uint32_t)m->hdr[5] << 16 |
			  (uint32_t)m->hdr[6] << 8 | m->hdr[7];
	}
}

int rc_docker_demuxer_finish(rc_docker_demuxer *m)
{
	if (!m->failed && (m->hdr_len || m->left))
		m->failed = RC_ERROR; /* cut in the middle of a frame */
	return m->failed;
}

int rc_docker_demux(rc_buf *out, const char *data, size_t len)
{
	rc_docker_demuxer m = RC_DOCKER_DEMUXER_INIT(out);

	rc_docker_demuxer_feed(&m, data, len);
	return rc_docker_demuxer_finish(&m);
}

/* ---- pull progress ---- */

static struct rc_docker_layer *layer_get(rc_docker_layers *l, const char *id)
{
	for (size_t i = 0; i < l->nr; i++)
		if (!strcmp(l->v[i].id, id))
			return &l->v[i];
	if (l->nr >= RC_DOCKER_LAYERS_MAX)
		return NULL;
	if (l->nr == l->alloc) {
		l->alloc = l->alloc ? 2 * l->alloc : 16;
		l->v = rc_xrealloc(l->v, l->alloc * sizeof(*l->v));
	}
	memset(&l->v[l->nr], 0, sizeof(l->v[0]));
	l->v[l->nr].id = rc_xstrdup(id);
	return &l->v[l->nr++];
}

static uint64_t detail(const json_t *obj, const char *key)
{
	json_int_t v = json_integer_value(json_object_get(json_object_get(obj, "progressDetail"), key));
	return v > 0 ? (uint64_t)v : 0;
}

int rc_docker_layers_update(rc_docker_layers *l, const json_t *obj)
{
	const char *id = json_string_value(json_object_get(obj, "id"));
	const char *st = json_string_value(json_object_get(obj, "status"));
	struct rc_docker_layer *y;
	size_t before;
	uint64_t cur, tot;

	if (!id || !st)
		return 0;
	/* the lines that name a layer; "Pulling from <repo>" names the tag */
	if (strcmp(st, "Pulling fs layer") && strcmp(st, "Waiting") && strcmp(st, "Downloading") &&
	    strcmp(st, "Verifying Checksum") && strcmp(st, "Download complete") &&
	    strcmp(st, "Extracting") && strcmp(st, "Pull complete") && strcmp(st, "Already exists"))
		return 0;
	before = l->nr;
	if (!(y = layer_get(l, id)))
		return 0;
	cur = y->current;
	tot = y->total;
	if (!strcmp(st, "Downloading")) {
		if (detail(obj, "total"))
			y->total = detail(obj, "total");
		if (detail(obj, "current") > y->current)
			y->current = detail(obj, "current");
	} else if (!strcmp(st, "Download complete") || !strcmp(st, "Verifying Checksum") ||
		   !strcmp(st, "Extracting") || !strcmp(st, "Pull complete")) {
		if (y->total)
			y->current = y->total;
		if (!strcmp(st, "Pull complete") && !y->done) {
			y->done = true;
			return 1;
		}
	} else if (!strcmp(st, "Already exists") && !y->done) {
		y->done = true;
		return 1;
	}
	return before != l->nr || cur != y->current || tot != y->total;
}

void rc_docker_layers_count(const rc_docker_layers *l, size_t *layers, size_t *done, uint64_t *bytes,
			    uint64_t *total)
{
	*layers = l->nr;
	*done = 0;
	*bytes = *total = 0;
	for (size_t i = 0; i < l->nr; i++) {
		*done += l->v[i].done;
		*bytes += l->v[i].current;
		*total += l->v[i].total;
	}
}

void rc_docker_layers_release(rc_docker_layers *l)
{
	for (size_t i = 0; i < l->nr; i++)
		free(l->v[i].id);
	free(l->v);
	memset(l, 0, sizeof(*l));
}
