#ifndef RC_DOCKER_INTERNAL_H
#define RC_DOCKER_INTERNAL_H
/*
 * What the files of the Docker client share and callers need not see:
 * the client's insides, one request, and where its answer goes.
 */
#include "base/compat.h"
#include "base/http.h"
#include "docker/docker.h"
#include "docker/ssh.h"
#include "docker/stream.h"
#include <curl/curl.h>
#include <pthread.h>

/*
 * A request that asks the daemon to do something (create, start, rename,
 * remove) may take longer than the ship's timeout on a loaded host; cutting
 * it off would leave us not knowing whether it happened. The connection
 * itself is still bounded by the ship's timeout, so a dead host fails fast.
 */
#define WORK_MS 60000L
/* what we keep of a streamed body to explain a failed status */
#define ERROR_BODY_CAP ((size_t)64 << 10)

struct rc_docker {
	char *ship;
	char *unix_path;
	char *host;
	int port;
	bool tls, tls_verify;
	char *ca_cert, *cert, *key;
	char *ca_cert_pem, *cert_pem, *key_pem;
	long timeout_ms;
	char *max_api_version;
	size_t max_response;

	char *base_url;      /* "http://localhost", "https://host:2376" */
	char *address;       /* for messages */
	char version[16];    /* negotiated, "" before */
	bool read_only;
	rc_docker_stats stats;

	CURL *curl;
	char errbuf[CURL_ERROR_SIZE];
	curl_socket_t sock;  /* the connection `curl` keeps to the daemon, or CURL_SOCKET_BAD */
	/*
	 * Requests from several threads at once (an apply's workers): the
	 * first takes `curl`, the others a connection of their own from
	 * `idle` (made when none is idle, kept for the next request). Over
	 * SSH they take turns on `curl`: the session is not shared that way.
	 */
	pthread_mutex_t mu;
	pthread_cond_t turn;
	bool busy;                 /* `curl` is in use */
	struct docker_conn *idle;

	/* SSH tunnel: the options (strings owned), the session, and why a channel failed */
	bool has_ssh;
	rc_ssh_opts ssh_opts;
	char *ssh_command;   /* dial-stdio, when unix_path is on the far side */
	rc_ssh *ssh;
	int ssh_listener;
	char *ssh_socket;    /* the listener's socket path */
};

enum sink_mode { SINK_BUF, SINK_STREAM, SINK_DEMUX, SINK_RAW, SINK_SCAN };

struct sink {
	enum sink_mode mode;
	rc_http_body body;        /* SINK_BUF: the body (`over` past its cap); the others: its first bytes */
	rc_docker_stream *stream; /* SINK_STREAM */
	rc_docker_demuxer *demux;      /* SINK_DEMUX, and SINK_RAW (its `out` only) */
	rc_docker_scanner *scan;  /* SINK_SCAN */
	char api_version[16];     /* the answer's API-Version header, "" when none */
};

struct req {
	const char *method;
	const char *path;         /* as given, for messages */
	const char *body;         /* JSON text or NULL */
	size_t body_len;
	const char *auth;         /* X-Registry-Auth or NULL */
	long timeout_ms;          /* 0: none (a stall limit instead) */
	bool versioned;
};

/* docker.c: small helpers */
char *docker_dup_or_null(const char *s);
/* The path as shown in messages: without its query string. */
void docker_short_path(char *out, size_t size, const char *path);
/* Copy at most `max` bytes of the first line of `s` into `out`, trimmed. */
void docker_first_line(rc_buf *out, const char *s, size_t len, size_t max);

/*
 * One connection: the client's own (`curl`, `errbuf`, `sock`) or one more.
 * `sock` points at the socket it keeps between requests (CURL_SOCKET_BAD:
 * none), for rc_docker_stats.breaks.
 */
struct docker_conn {
	CURL *curl;
	char *errbuf;
	struct docker_conn *next;
	char buf[CURL_ERROR_SIZE];
	curl_socket_t *sock;
	curl_socket_t own_sock;
};

/* docker.c: the transport */
int docker_transport_error(rc_docker *d, const struct req *r, CURLcode cc, rc_error *err);
/* RC_EINVALID for anything but GET in read-only mode */
int docker_refuse_write(rc_docker *d, const struct req *r, rc_error *err);
/* A listener on the SSH session for `d`'s connections; the session, opened when needed. */
int docker_ssh_listen(rc_docker *d, rc_error *err);
int docker_ssh_ensure(rc_docker *d, rc_error *err);
/* How a connection to `d` is made: unix socket, TCP or SSH channel; and TLS. */
void docker_set_transport(CURL *c, rc_docker *d, bool stream);
/*
 * Send one request and collect the answer into `sink`: 0 with *status
 * whenever the daemon answered at all.
 */
int docker_send_request(rc_docker *d, const struct req *r, struct sink *sink, long *status,
			rc_error *err);
/* One request with a buffered JSON answer; 2xx (and 304 when `ok_304`) is success. */
int docker_call(rc_docker *d, const struct req *r, bool ok_304, long *status_out, json_t **out,
		rc_error *err);

#endif
