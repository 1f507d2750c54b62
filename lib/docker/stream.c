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
/* ---- the container list, scanned ---- */

enum { SC_VALUE, SC_AFTER, SC_KEY, SC_COLON, SC_STRING, SC_ESC, SC_UNI, SC_LIT, SC_DONE };
enum { STR_KEY, STR_VALUE };
enum { F_OTHER, F_ID, F_NAMES, F_STATE, F_STATUS, F_IMAGE, F_LABELS };

#define SCAN_KEY_CAP ((size_t)1024)
#define SCAN_ENTRY_RAW_CAP ((unsigned long long)64 << 20)
#define SCAN_ENTRY_CAP ((size_t)1 << 20)

void rc_docker_scanner_init(rc_docker_scanner *s, const char *label_prefix, const char *const *skip,
			    size_t entry_cap, rc_docker_summary_fn fn, void *data)
{
	memset(s, 0, sizeof(*s));
	s->label_prefix = label_prefix;
	s->skip = skip;
	s->entry_cap = entry_cap ? entry_cap : SCAN_ENTRY_CAP;
	s->fn = fn;
	s->data = data;
	rc_buf_init(&s->str, 0);
}

static void summary_clear(rc_docker_scanner *s)
{
	rc_docker_summary *c = &s->cur;

	free(c->id);
	free(c->name);
	free(c->state);
	free(c->status);
	free(c->image_id);
	for (size_t i = 0; i < 2 * c->labels_nr; i++)
		free(c->labels[i]);
	c->id = c->name = c->state = c->status = c->image_id = NULL;
	c->labels_nr = 0;
	free(s->label_key);
	s->label_key = NULL;
	s->kept = 0;
}

void rc_docker_scanner_release(rc_docker_scanner *s)
{
	summary_clear(s);
	free(s->cur.labels);
	s->cur.labels = NULL;
	s->labels_alloc = 0;
	rc_buf_release(&s->str);
}

static int scan_fail(rc_docker_scanner *s, int code, const char *what)
{
	if (!s->failed)
		s->failed = rc_error_set(&s->err, code, "%s", what);
	return s->failed;
}

static bool in_entry(const rc_docker_scanner *s)
{
	return s->depth >= 2 && s->stack[1] == '{';
}

static bool at_labels(const rc_docker_scanner *s)
{
	return s->depth == 3 && s->stack[1] == '{' && s->stack[2] == '{' && s->field == F_LABELS;
}

static bool at_names(const rc_docker_scanner *s)
{
	return s->depth == 3 && s->stack[1] == '{' && s->stack[2] == '[' && s->field == F_NAMES;
}

static int field_of(const char *k)
{
	return !strcmp(k, "Id") ? F_ID : !strcmp(k, "Names") ? F_NAMES : !strcmp(k, "State") ? F_STATE :
	       !strcmp(k, "Status") ? F_STATUS : !strcmp(k, "ImageID") ? F_IMAGE : !strcmp(k, "Labels") ? F_LABELS : F_OTHER;
}

static void push_label(rc_docker_scanner *s, char *key, char *value)
{
	rc_docker_summary *c = &s->cur;

	if (2 * c->labels_nr + 2 > s->labels_alloc) {
		s->labels_alloc = s->labels_alloc ? 2 * s->labels_alloc : 16;
		c->labels = rc_xrealloc(c->labels, s->labels_alloc * sizeof(*c->labels));
	}
	c->labels[2 * c->labels_nr] = key;
	c->labels[2 * c->labels_nr + 1] = value;
	c->labels_nr++;
}

/* A string starts: keep it or let it pass. */
static void string_begin(rc_docker_scanner *s, int what)
{
	s->after_string = what;
	s->state = SC_STRING;
	s->hi = 0;
	rc_buf_reset(&s->str);
	if (what == STR_KEY)
		s->capture = (s->depth == 2 && in_entry(s)) || at_labels(s);
	else if (s->depth == 2 && in_entry(s))
		s->capture = s->field == F_ID || s->field == F_STATE || s->field == F_STATUS ||
			     s->field == F_IMAGE;
	else
		s->capture = at_names(s) || (at_labels(s) && s->label_kept);
}

static int keep_bytes(rc_docker_scanner *s, const char *p, size_t n)
{
	size_t cap = s->after_string == STR_KEY ? SCAN_KEY_CAP : s->entry_cap - s->kept;

	if (s->str.len + n > cap) {
		if (s->after_string == STR_KEY) {
			s->capture = false;     /* a key that long is none we want */
			rc_buf_reset(&s->str);
			return 0;
		}
		return scan_fail(s, RC_ELIMIT, "a container's entry in the list is larger than its cap");
	}
	rc_buf_add(&s->str, p, n);
	return 0;
}

static int keep_cp(rc_docker_scanner *s, uint32_t cp)
{
	char u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | cp >> 6);
		u[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | cp >> 12);
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (char)(0xf0 | cp >> 18);
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return keep_bytes(s, u, n);
}

/* A high surrogate not followed by its low half is U+FFFD, as a lone low one. */
static int flush_hi(rc_docker_scanner *s)
{
	if (!s->hi)
		return 0;
	s->hi = 0;
	return s->capture ? keep_cp(s, 0xfffd) : 0;
}

static bool skipped_label(const rc_docker_scanner *s, const char *key)
{
	for (const char *const *k = s->skip; k && *k; k++)
		if (!strcmp(*k, key))
			return true;
	return false;
}

static void clear_field(rc_docker_scanner *s)
{
	rc_docker_summary *c = &s->cur;
	char **f = s->field == F_ID ? &c->id : s->field == F_STATE ? &c->state : s->field == F_IMAGE ? &c->image_id :
		   s->field == F_NAMES ? &c->name : NULL;

	if (f) {
		free(*f);
		*f = NULL;
	} else if (s->field == F_LABELS) {
		for (size_t i = 0; i < 2 * c->labels_nr; i++)
			free(c->labels[i]);
		c->labels_nr = 0;
	}
}

static bool own_name(const char *n)
{
	return n[0] == '/' && !strchr(n + 1, '/');
}

static int string_end(rc_docker_scanner *s)
{
	char *v;

	if (flush_hi(s) < 0)
		return s->failed;
	s->state = s->after_string == STR_KEY ? SC_COLON : SC_AFTER;
	if (s->after_string == STR_KEY && s->depth == 2) {
		s->field = s->capture ? field_of(s->str.ptr) : F_OTHER;
		clear_field(s);     /* a key given twice: the last one counts, as for jansson */
		return 0;
	}
	if (s->after_string == STR_KEY) {
		bool ours = s->capture && s->label_prefix && !strncmp(s->str.ptr, s->label_prefix, strlen(s->label_prefix));
		free(s->label_key);
		s->label_key = NULL;
		s->label_kept = false;
		if (ours && skipped_label(s, s->str.ptr))
			push_label(s, rc_xstrdup(s->str.ptr), NULL);
		else if (ours && s->kept + s->str.len > s->entry_cap)
			return scan_fail(s, RC_ELIMIT, "a container's entry in the list is larger than its cap");
		else if (ours) {
			s->label_kept = true;
			s->label_key = rc_xstrdup(s->str.ptr);
			s->kept += s->str.len;
		}
		return 0;
	}
	if (!s->capture)
		return 0;
	s->kept += s->str.len;
	v = rc_xmemdup(s->str.ptr, s->str.len + 1);
	if (s->depth == 2) {
		char **f = s->field == F_ID ? &s->cur.id : s->field == F_STATE ? &s->cur.state :
			   s->field == F_STATUS ? &s->cur.status : &s->cur.image_id;
		free(*f);
		*f = v;
	} else if (at_names(s)) {
		/* a legacy link adds names ("/web/db"): the container's own has one slash */
		if (!s->cur.name || (!own_name(s->cur.name) && own_name(v))) {
			free(s->cur.name);
			s->cur.name = v;
		} else {
			free(v);
		}
	} else {
		push_label(s, s->label_key, v);
		s->label_key = NULL;
		s->label_kept = false;
	}
	return 0;
}

static int scan_open(rc_docker_scanner *s, unsigned char c)
{
	if (!s->depth && c != '[')
		return scan_fail(s, RC_ERROR, "not a list");
	if (s->depth == RC_DOCKER_SCAN_DEPTH)
		return scan_fail(s, RC_ERROR, "malformed JSON: nested too deep");
	if (s->depth == 1 && c == '{') {
		summary_clear(s);
		s->entry_start = s->total;
		s->field = F_OTHER;
	}
	s->stack[s->depth++] = c;
	s->empty_ok = true;
	s->state = c == '{' ? SC_KEY : SC_VALUE;
	return 0;
}

static int scan_close(rc_docker_scanner *s, unsigned char c)
{
	int ret;

	if (!s->depth || s->stack[s->depth - 1] != (c == '}' ? '{' : '['))
		return scan_fail(s, RC_ERROR, "malformed JSON: unbalanced brackets");
	s->depth--;
	s->empty_ok = false;
	s->state = s->depth ? SC_AFTER : SC_DONE;
	if (s->depth == 2 && s->stack[1] == '{')
		s->field = F_OTHER;     /* out of Labels or Names */
	if (s->depth == 1 && c == '}') {
		if (s->cur.id && s->cur.name) {
			s->objects++;
			if (s->fn && (ret = s->fn(&s->cur, s->data, &s->err)) < 0)
				s->failed = ret;
		}
		summary_clear(s);
	}
	return s->failed;
}

static bool is_ws(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int hexval(unsigned char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
	       c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static int scan_escape(rc_docker_scanner *s, unsigned char c)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	const char *p = c ? strchr(from, c) : NULL;

	if (c == 'u') {
		s->state = SC_UNI;
		s->uni = 0;
		s->uni_n = 0;
		return 0;
	}
	if (!p)
		return scan_fail(s, RC_ERROR, "malformed JSON: bad escape in a string");
	s->state = SC_STRING;
	if (!s->capture)
		return 0;
	if (flush_hi(s) < 0)
		return s->failed;
	return keep_bytes(s, &to[p - from], 1);
}

static int scan_unicode(rc_docker_scanner *s, unsigned char c)
{
	int h = hexval(c);
	uint32_t cp;

	if (h < 0)
		return scan_fail(s, RC_ERROR, "malformed JSON: bad \\u escape in a string");
	s->uni = s->uni << 4 | (uint32_t)h;
	if (++s->uni_n < 4)
		return 0;
	s->state = SC_STRING;
	if (!s->capture)
		return 0;
	cp = s->uni;
	if (s->hi && cp >= 0xdc00 && cp <= 0xdfff) {
		cp = 0x10000 + ((s->hi - 0xd800) << 10) + (cp - 0xdc00);
		s->hi = 0;
		return keep_cp(s, cp);
	}
	if (flush_hi(s) < 0)
		return s->failed;
	if (cp >= 0xd800 && cp <= 0xdbff) {
		s->hi = cp;
		return 0;
	}
	return keep_cp(s, cp >= 0xdc00 && cp <= 0xdfff ? 0xfffd : cp);
}

/* One byte outside a string. */
static int scan_token(rc_docker_scanner *s, unsigned char c)
{
	if (is_ws(c))
		return 0;
	switch (s->state) {
	case SC_KEY:
		if (c == '"') {
			s->empty_ok = false;
			string_begin(s, STR_KEY);
			return 0;
		}
		if (c == '}' && s->empty_ok)
			return scan_close(s, c);
		break;
	case SC_COLON:
		if (c == ':') {
			s->state = SC_VALUE;
			return 0;
		}
		break;
	case SC_VALUE:
		if (c == ']' && s->empty_ok)
			return scan_close(s, c);
		s->empty_ok = false;
		if (c == '{' || c == '[')
			return scan_open(s, c);
		if (c == '"') {
			if (!s->depth)
				return scan_fail(s, RC_ERROR, "not a list");
			string_begin(s, STR_VALUE);
			return 0;
		}
		if (c == '-' || (c >= '0' && c <= '9') || c == 't' || c == 'f' || c == 'n') {
			if (!s->depth)
				return scan_fail(s, RC_ERROR, "not a list");
			s->state = SC_LIT;
			return 0;
		}
		break;
	case SC_AFTER:
		if (c == ',') {
			s->state = s->stack[s->depth - 1] == '{' ? SC_KEY : SC_VALUE;
			return 0;
		}
		if (c == '}' || c == ']')
			return scan_close(s, c);
		break;
	default:
		break;
	}
	return scan_fail(s, RC_ERROR, "malformed JSON in the answer");
}

static bool is_lit(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' ||
	       c == '+' || c == '-';
}

int rc_docker_scanner_feed(rc_docker_scanner *s, const char *data, size_t len)
{
	const unsigned char *p = (const unsigned char *)data;
	size_t i = 0;

	while (i < len && !s->failed) {
		unsigned char c = p[i];
		switch (s->state) {
		case SC_STRING: {
			size_t j = i;
			while (j < len && p[j] != '"' && p[j] != '\\')
				j++;
			if (s->capture && j > i && (flush_hi(s) < 0 || keep_bytes(s, data + i, j - i) < 0))
				break;
			if (j < len && p[j] == '"')
				string_end(s);
			else if (j < len)
				s->state = SC_ESC;
			s->total += j < len ? j + 1 - i : j - i;
			i = j < len ? j + 1 : j;
			continue;
		}
		case SC_ESC:
			scan_escape(s, c);
			break;
		case SC_UNI:
			scan_unicode(s, c);
			break;
		case SC_LIT:
			if (is_lit(c))
				break;
			s->state = SC_AFTER;
			continue;       /* this byte again, after the literal */
		case SC_DONE:
			if (!is_ws(c))
				scan_fail(s, RC_ERROR, "malformed JSON: bytes after the list");
			break;
		default:
			scan_token(s, c);
			break;
		}
		s->total++;
		i++;
	}
	if (!s->failed && s->depth >= 2 && s->total - s->entry_start > SCAN_ENTRY_RAW_CAP)
		scan_fail(s, RC_ELIMIT, "a container's entry in the list is larger than 64 MiB");
	return s->failed;
}

int rc_docker_scanner_finish(rc_docker_scanner *s, rc_error *err)
{
	if (!s->failed && s->state != SC_DONE)
		scan_fail(s, RC_ERROR, s->depth || s->state == SC_LIT ? "malformed JSON: the list is cut short"
								      : "not a list");
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
