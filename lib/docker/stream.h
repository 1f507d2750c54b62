#ifndef RC_DOCKER_STREAM_H
#define RC_DOCKER_STREAM_H
/*
 * docker/stream: the bodies the daemon streams: JSON lines (pulls,
 * events), the framed output of exec and logs, and the container list,
 * scanned as it arrives.
 */
#include "base/compat.h"
#include "base/buf.h"
#include "base/error.h"
#include <jansson.h>
#include <stdint.h>

/*
 * A stream of JSON objects, as /images/create and /events send them: one
 * per line, split across reads anywhere. Each complete object goes to
 * `fn` (which must not keep it; a negative return stops the stream with
 * that code). A line over `max_line` bytes (0: 1 MiB) is RC_ELIMIT, one
 * that is not JSON is RC_ERROR.
 */
typedef int (*rc_docker_stream_fn)(json_t *obj, void *data, rc_error *err);
typedef struct rc_docker_stream {
	rc_buf line;
	rc_docker_stream_fn fn;
	void *data;
	int failed;        /* first error code, 0 while all is well */
	rc_error err;      /* its message */
	size_t objects;    /* objects seen */
} rc_docker_stream;
void rc_docker_stream_init(rc_docker_stream *s, size_t max_line, rc_docker_stream_fn fn, void *data);
/* Feed bytes; returns s->failed. */
int rc_docker_stream_feed(rc_docker_stream *s, const char *data, size_t len);
/* End of input: a last line without a newline is parsed too. */
int rc_docker_stream_finish(rc_docker_stream *s, rc_error *err);
void rc_docker_stream_release(rc_docker_stream *s);

/*
 * Take the frames of a non-TTY exec or logs stream apart into `out`:
 * RC_ERROR when it is not such a stream (or ends inside a frame),
 * RC_ELIMIT past out's cap.
 */
int rc_docker_demux(rc_buf *out, const char *data, size_t len);

/*
 * The same, fed in pieces as the body arrives (frames may be split
 * anywhere): RC_DOCKER_DEMUXER_INIT(out), where `out` may be NULL to
 * drop the output; feed; finish returns what rc_docker_demux() would.
 * Past out's cap the rest is read and dropped, so the command's exit
 * code can still be had.
 */
typedef struct rc_docker_demuxer {
	unsigned char hdr[8];
	size_t hdr_len;
	uint32_t left;       /* payload bytes still to come in this frame */
	rc_buf *out;         /* may be NULL: output dropped */
	int failed;          /* RC_ERROR: not a framed stream; RC_ELIMIT: over out's cap */
} rc_docker_demuxer;
#define RC_DOCKER_DEMUXER_INIT(out) { { 0 }, 0, 0, (out), 0 }
void rc_docker_demuxer_feed(rc_docker_demuxer *m, const char *data, size_t len);
int rc_docker_demuxer_finish(rc_docker_demuxer *m);

/*
 * The container list (GET /containers/json), read as it arrives, never
 * held whole: a fleet's list grows with its size (one service of 1,200
 * instances lists 68 MB, mostly our spec labels), and no fleet size may
 * make a ship look unreachable. The scanner keeps of each container its
 * Id, first name, State, ImageID and the labels whose key starts with
 * `label_prefix` (NULL: none), and hands each to `fn` (which must not keep
 * the pointers; a negative return stops the scan with that code). A label
 * of `skip` (NULL-terminated, may be NULL) is reported present with a NULL
 * value and costs nothing to read: its bytes are skipped as they pass.
 *
 * Caps are per entry: the fields kept of one container are at most
 * `entry_cap` bytes (0: 1 MiB) and its whole entry at most 64 MiB, else
 * RC_ELIMIT; a body that is not a JSON array is RC_ERROR. Whatever the
 * number of containers, memory holds one entry's kept fields.
 */
typedef struct rc_docker_summary {
	char *id, *name, *state, *image_id;   /* name as the daemon gives it ("/web-1"); NULL when absent */
	char *status;                         /* "Up 2 minutes (healthy)", ...; NULL when absent */
	char **labels;                        /* key, value, key, value, ...; a value NULL: skipped */
	size_t labels_nr;                     /* pairs */
} rc_docker_summary;
typedef int (*rc_docker_summary_fn)(const rc_docker_summary *c, void *data, rc_error *err);

#define RC_DOCKER_SCAN_DEPTH 64
typedef struct rc_docker_scanner {
	/* the caller's */
	const char *label_prefix;
	const char *const *skip;
	size_t entry_cap;
	rc_docker_summary_fn fn;
	void *data;
	/* the lexer */
	int state, after_string;       /* after_string: what the string being read is */
	unsigned char stack[RC_DOCKER_SCAN_DEPTH];
	size_t depth;
	bool empty_ok;                 /* just after '{' or '[' */
	bool capture;                  /* keep the string being read */
	rc_buf str;
	uint32_t uni, hi;              /* \uXXXX being read, a pending high surrogate */
	int uni_n;
	/* where we are */
	int field;                     /* the key being read at the entry's level */
	bool label_kept;               /* the label whose value comes next is kept */
	int label_skipped;             /* ... is skipped (present, value NULL) */
	char *label_key;
	unsigned long long total, entry_start;
	size_t kept;                   /* bytes kept of this entry */
	rc_docker_summary cur;
	size_t labels_alloc;
	/* the outcome */
	int failed;
	rc_error err;
	size_t objects;                /* containers handed to fn */
} rc_docker_scanner;
void rc_docker_scanner_init(rc_docker_scanner *s, const char *label_prefix, const char *const *skip,
			    size_t entry_cap, rc_docker_summary_fn fn, void *data);
/* Feed bytes; returns s->failed. */
int rc_docker_scanner_feed(rc_docker_scanner *s, const char *data, size_t len);
/* End of the body: RC_ERROR unless one whole array was read. */
int rc_docker_scanner_finish(rc_docker_scanner *s, rc_error *err);
void rc_docker_scanner_release(rc_docker_scanner *s);

/* Add what fits of `data` under b's cap; RC_ELIMIT when not all of it did. */
int rc_docker_add_capped(rc_buf *b, const char *data, size_t n);

/*
 * The layers of a pull, from its progress objects ({"id": layer,
 * "status": "Downloading", "progressDetail": {"current", "total"}}, ...):
 * rc_docker_layers_update() returns 1 when `obj` changed what is known
 * (a layer seen, downloaded bytes, a layer finished), else 0. At most
 * RC_DOCKER_LAYERS_MAX layers are counted. Zero-initialise; release.
 */
#define RC_DOCKER_LAYERS_MAX 512
struct rc_docker_layer {
	char *id;
	uint64_t current, total;
	bool done;
};
typedef struct rc_docker_layers {
	struct rc_docker_layer *v;
	size_t nr, alloc;
} rc_docker_layers;
int rc_docker_layers_update(rc_docker_layers *l, const json_t *obj);
/* Layers seen and finished, bytes downloaded and the sum of known sizes. */
void rc_docker_layers_count(const rc_docker_layers *l, size_t *layers, size_t *done, uint64_t *bytes,
			    uint64_t *total);
void rc_docker_layers_release(rc_docker_layers *l);

#endif
