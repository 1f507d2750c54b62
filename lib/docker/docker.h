#ifndef RC_DOCKER_H
#define RC_DOCKER_H
/*
 * docker: a small client for the Docker Engine API.
 *
 * One `rc_docker` talks to one daemon (a *ship*) over a unix socket or
 * TCP (optionally TLS), through libcurl easy handles whose connections
 * are kept alive between requests. Several threads may send requests at
 * once: each gets a connection of its own (made when none is idle, kept
 * for later); over SSH they take turns on one. rc_docker_negotiate() and
 * rc_docker_set_read_only() are for before the threads start.
 *
 *     rc_docker_endpoint ep = { .ship = "vm1", .unix_path = "/run/docker.sock" };
 *     rc_docker *d;
 *     rc_error err = RC_ERROR_INIT;
 *
 *     if (rc_docker_new(&d, &ep, &err) < 0 ||
 *         rc_docker_negotiate(d, &err) < 0 ||
 *         rc_docker_list_containers(d, "reconcile.environment", names, &list, &err) < 0)
 *             report(err.msg);
 *     ...
 *     json_decref(list);
 *     rc_docker_free(d);
 *
 * Errors
 * ------
 * Every function returns 0 or a negative code from error.h, with one
 * line in `err` that names the ship:
 *
 *  - RC_EUNREACHABLE: the daemon could not be reached at all
 *    ("cannot reach docker on 'vm1' (unix:///run/x.sock): No such file or directory"),
 *    and every TLS failure, told in terms of the ship's keys ("TLS handshake with
 *    docker on 'vm1' (https://10.0.0.1:2376) failed: the daemon's certificate is not
 *    signed by a trusted CA (tls_ca_cert: /etc/ca.pem)"; a refused or missing client
 *    certificate, an unreadable tls_cert or tls_ca_cert, plain HTTP on a TLS port);
 *  - RC_ETIMEOUT: a request took longer than the endpoint's timeout;
 *  - RC_ENOTFOUND (404), RC_ECONFLICT (409), RC_EAUTH (401, 403, and a pull
 *    the registry refused for want of credentials), RC_ERROR (any other
 *    status), with the daemon's own message:
 *    "docker on 'vm1': POST /containers/create: 409 Conflict: <message>";
 *  - RC_ELIMIT: a response was larger than the endpoint's `max_response`
 *    (it is never silently truncated);
 *  - RC_EINVALID: a bad argument, or a write request in read-only mode.
 *
 * A daemon that answers with malformed JSON is an RC_ERROR, never a crash.
 *
 * API versions
 * ------------
 * Every request path gets the prefix "/v<major>.<minor>" chosen by
 * rc_docker_negotiate(), which the first request calls when the caller has
 * not. The version is the lowest of the daemon's newest, ours
 * (RC_DOCKER_API_MAX) and the endpoint's `max_api_version`; it must be at
 * least RC_DOCKER_API_MIN and at least the daemon's own minimum.
 */
#include "base/compat.h"
#include "base/error.h"
#include "base/buf.h"
#include <jansson.h>
#include <stdint.h>

/*
 * The oldest API we speak (Docker 1.12, the floor of every current daemon)
 * and the newest we have read the changes of. Docker 29 refuses anything
 * below 1.44, so the newest must stay above that.
 */
#define RC_DOCKER_API_MIN "1.24"
#define RC_DOCKER_API_MAX "1.47"

typedef struct rc_docker rc_docker;

/*
 * SSH tunnels (ssh.h): with `ssh` set, every connection is a channel of
 * one SSH session (opened on the first request, shared with the events
 * stream, opened anew after it failed):
 *  - without `unix_path`, a direct-tcpip channel to 127.0.0.1:`port` on
 *    the SSH server (`host` is then unused);
 *  - with `unix_path`, a command channel running
 *    `docker -H unix://<unix_path> system dial-stdio` there, as the Docker
 *    CLI does for ssh:// hosts: for daemons that listen only on their
 *    socket. The far side needs the docker CLI in the user's PATH.
 * The address in messages is then "ssh://user@host:22/tcp/2375" or
 * "ssh://user@host:22/unix/run/docker.sock", as the ship's endpoint.
 * SSH errors (host key, authentication, a dead host) are RC_EAUTH,
 * RC_ETIMEOUT and RC_EUNREACHABLE with ssh.h's messages.
 */
struct rc_ssh_opts;

typedef struct rc_docker_endpoint {
	const char *ship;           /* ship name, for messages */
	const char *unix_path;      /* unix socket path; wins over TCP when set */
	const char *host;           /* TCP: host name or address (IPv6 without brackets) */
	int port;                   /* 0: 2375, or 2376 with TLS */
	const struct rc_ssh_opts *ssh; /* tunnel through SSH (copied), or NULL; see above */
	bool tls;                   /* https (also implied by tls_verify) */
	bool tls_verify;            /* verify the daemon's certificate and name (implied by a CA) */
	const char *ca_cert;        /* CA bundle for verification, or NULL */
	const char *cert, *key;     /* client certificate pair, or NULL */
	/*
	 * The contents of ca_cert, cert and key when the caller has read them
	 * (PEM text; NULL: libcurl reads the file). The names above are then
	 * only for messages.
	 */
	const char *ca_cert_pem, *cert_pem, *key_pem;
	long timeout_ms;            /* per request; 0: 5000. Pulls have none (see rc_docker_pull) */
	const char *max_api_version;/* e.g. "1.41": the highest to use; NULL: ours */
	size_t max_response;        /* cap on a response body; 0: 64 MiB */
} rc_docker_endpoint;

/*
 * Make a client for `ep` (copied: the caller's strings need not outlive
 * it). Does no I/O; RC_EINVALID for an endpoint without a socket path or
 * host, or with a malformed max_api_version.
 */
int rc_docker_new(rc_docker **out, const rc_docker_endpoint *ep, rc_error *err);
void rc_docker_free(rc_docker *d);

/*
 * Ask the daemon (GET /version, which also tells its oldest version) and
 * choose the API version. A daemon too old for us is refused:
 * "docker on 'vm1' speaks API 1.23, reconcile needs 1.24 or later".
 * Calling it again asks again (after a daemon upgrade, say).
 */
int rc_docker_negotiate(rc_docker *d, rc_error *err);

/* "1.41" once negotiated, NULL before. */
const char *rc_docker_api_version(const rc_docker *d);

/* "unix:///run/docker.sock" or "tcp://host:2375", as used in messages. */
const char *rc_docker_address(const rc_docker *d);

/*
 * Read-only mode, for --dry-run: any request other than GET fails with
 * RC_EINVALID before anything is sent. Defence in depth: the planner
 * already sends none.
 */
void rc_docker_set_read_only(rc_docker *d, bool ro);

/* Upper bounds in seconds of the latency buckets (rc_docker_stats); one more bucket holds the rest. */
#define RC_DOCKER_LATENCY_BUCKETS 10
extern const double rc_docker_latency_bounds[RC_DOCKER_LATENCY_BUCKETS];

/*
 * Requests sent so far (including the negotiation), by method; and
 * `breaks`: how often the daemon was not there for us: a request that
 * could not connect or whose connection broke (no answer, or half of
 * one), or the connection kept between requests found closed by the
 * daemon while idle (a daemon never closes an idle connection of ours
 * unless it exits or restarts; a proxy in between may, on its own
 * timeouts). A change of it across a health gate says the daemon went
 * away meanwhile (run/apply.c).
 */
typedef struct rc_docker_stats {
	unsigned long get, post, delete_, other;
	unsigned long breaks;
	/*
	 * the time of the requests with a buffered or a scanned answer (the
	 * container list; streams such as pulls, logs and events excluded):
	 * how many took at most each bound of rc_docker_latency_bounds and not
	 * less than the one before (latency[i]; latency[RC_DOCKER_LATENCY_BUCKETS]:
	 * longer), their count and their total seconds, transport errors included
	 */
	unsigned long latency[RC_DOCKER_LATENCY_BUCKETS + 1];
	unsigned long timed;
	double seconds;
} rc_docker_stats;
void rc_docker_stats_get(const rc_docker *d, rc_docker_stats *out);

/*
 * Low level. Send `method` to `path` ("/containers/json?all=1"; it must
 * start with '/', and the version prefix is added), with `body` as JSON
 * when not NULL. On any answer from the daemon, *status (when `status` is
 * not NULL) is its HTTP status. On a 2xx answer, *out (when `out` is not
 * NULL) is the parsed body, or NULL when the body is empty; the caller
 * json_decref()s it. Any other status is an error as described above.
 */
int rc_docker_request(rc_docker *d, const char *method, const char *path, json_t *body,
		      long *status, json_t **out, rc_error *err);

/*
 * Containers, in the shape of GET /containers/json?all=1 (an array of
 * summaries with "Id", "Names" ["/web-1"], "Image", "ImageID", "State",
 * "Labels", ...), stopped ones included:
 *  - every container that has the label `label_filter` (any value), when
 *    it is not NULL;
 *  - and every container whose name is exactly one of `names` (a
 *    NULL-terminated list, may be NULL), whatever its labels: this is how
 *    the planner sees an unmanaged container squatting a desired name.
 * Each container appears once. Costs one request for the label and one
 * per hundred names. With neither, lists every container.
 */
int rc_docker_list_containers(rc_docker *d, const char *label_filter, const char *const *names,
			      json_t **out, rc_error *err);

/*
 * The same containers, read as the answer arrives and never held whole
 * (stream.h, rc_docker_scanner): each goes to `fn` with its Id, name, State,
 * Status (the health in it), ImageID and the labels that start with
 * `label_prefix`, those of `skip` present with a NULL value. What rc_docker_list_containers() would
 * return past its response cap is no error here: only one container's
 * entry is capped. A negative return of `fn` stops the list with it.
 */
struct rc_docker_summary;
int rc_docker_scan_containers(rc_docker *d, const char *label_filter, const char *const *names,
			      const char *label_prefix, const char *const *skip,
			      int (*fn)(const struct rc_docker_summary *c, void *data, rc_error *err),
			      void *data, rc_error *err);

/* GET /containers/{id}/json and /images/{ref}/json; RC_ENOTFOUND when absent. */
int rc_docker_inspect_container(rc_docker *d, const char *id_or_name, json_t **out, rc_error *err);
int rc_docker_inspect_image(rc_docker *d, const char *ref, json_t **out, rc_error *err);

/*
 * Pull `image` ("repo", "repo:tag", "host:5000/repo:tag", "repo@sha256:...";
 * no tag means "latest", never every tag). `registry_auth` is the
 * X-Registry-Auth value (rc_docker_auth_header()) or NULL.
 *
 * The daemon answers 200 and then streams progress objects; a failure can
 * come at any point as {"error": ..., "errorDetail": {"message": ...}},
 * which is surfaced as the error. A pull has no overall time limit (a big
 * image takes what it takes) but fails when the daemon sends nothing for
 * RC_DOCKER_PULL_STALL_S seconds.
 */
#define RC_DOCKER_PULL_STALL_S 300
int rc_docker_pull(rc_docker *d, const char *image, const char *registry_auth, rc_error *err);

/*
 * A pull as it goes, for a progress display: the layers seen and finished,
 * bytes downloaded of the layers' known sizes (a layer's size is known once
 * its download starts), seconds since the request. `done` is set on the
 * last call, made once whether the pull succeeded or not (`failed`).
 */
typedef struct rc_docker_pull_progress {
	const char *ship, *image;
	size_t layers, layers_done;
	uint64_t bytes, bytes_total;
	double elapsed_s;
	bool done, failed;
} rc_docker_pull_progress;
typedef void (*rc_docker_pull_progress_fn)(void *ctx, const rc_docker_pull_progress *p);

typedef struct rc_docker_pull_opts {
	const char *registry_auth;              /* as for rc_docker_pull(), may be NULL */
	rc_docker_pull_progress_fn progress;    /* called when something changed; may be NULL */
	void *progress_ctx;
} rc_docker_pull_opts;
/* rc_docker_pull() with options (`o` may be NULL). */
int rc_docker_pull_with(rc_docker *d, const char *image, const rc_docker_pull_opts *o, rc_error *err);

/*
 * POST /containers/create?name=`name` (`name` may be NULL) with `body` (a
 * create body: "Image", "Labels", "HostConfig", ...); *id_out (when not
 * NULL) is the new container's id, to free(). RC_ECONFLICT when the name
 * is taken, RC_ENOTFOUND when the image is absent.
 */
int rc_docker_create(rc_docker *d, const char *name, json_t *body, char **id_out, rc_error *err);

/*
 * Networks. List (GET /networks, with only those that have the label
 * `label_filter` when it is not NULL: summaries without their containers,
 * which only an inspect, GET /networks/{id}, gives); create (POST
 * /networks/create with `body`: Name, Driver, Labels, IPAM...; *id_out
 * the new id); remove (RC_ENOTFOUND: absent; a network that containers
 * are attached to is refused by the daemon, RC_EAUTH for its 403);
 * connect container `container` with EndpointConfig `endpoint` (may be NULL).
 */
int rc_docker_list_networks(rc_docker *d, const char *label_filter, json_t **out, rc_error *err);
int rc_docker_inspect_network(rc_docker *d, const char *id_or_name, json_t **out, rc_error *err);
int rc_docker_create_network(rc_docker *d, json_t *body, char **id_out, rc_error *err);
int rc_docker_remove_network(rc_docker *d, const char *id, rc_error *err);
int rc_docker_connect_network(rc_docker *d, const char *network, const char *container, json_t *endpoint,
			      rc_error *err);

/* Start; a container already running (304) is a success. */
int rc_docker_start(rc_docker *d, const char *id, rc_error *err);

/*
 * Stop, giving the process `timeout_s` seconds after SIGTERM before the
 * daemon kills it (a negative value: the container's own stop timeout).
 * The request's time limit is the endpoint's plus `timeout_s`. A
 * container already stopped (304) is a success.
 */
int rc_docker_stop(rc_docker *d, const char *id, int timeout_s, rc_error *err);

int rc_docker_rename(rc_docker *d, const char *id, const char *new_name, rc_error *err);

/*
 * Remove. `force` kills a running container first; `volumes` also removes
 * its anonymous volumes (named volumes are never removed by the daemon).
 */
int rc_docker_remove(rc_docker *d, const char *id, bool force, bool volumes, rc_error *err);

/*
 * Run `argv` (NULL-terminated) in the running container `id`, as a
 * lifecycle check does, and wait for it: *exit_code is its status.
 * stdout and stderr go, interleaved, to `output` (may be NULL), up to its
 * cap: past it `output` holds the first cap bytes, the command still runs to the end and *exit_code is set,
 * but the result is RC_ELIMIT. `timeout_ms` (0: the endpoint's) bounds
 * the command; RC_ETIMEOUT past it (the command is not killed: Docker has
 * no way to).
 */
int rc_docker_exec(rc_docker *d, const char *id, const char *const *argv, long timeout_ms,
		   int *exit_code, rc_buf *output, rc_error *err);

/*
 * The last `lines` lines of a container's stdout and stderr, interleaved,
 * into `out` (RC_ELIMIT past its cap), for the report of a failed start.
 */
int rc_docker_logs_tail(rc_docker *d, const char *id, unsigned lines, rc_buf *out, rc_error *err);

/*
 * Pieces exposed for the unit tests and the fuzzer
 * ------------------------------------------------
 * They are pure: no I/O, no rc_docker.
 */

/* "1.41" -> 1, 41. -1 unless two decimal numbers joined by a dot. */
int rc_docker_parse_version(int *major, int *minor, const char *s);

/*
 * Choose the version (into `out`, e.g. "1.41") from a GET /version body
 * ("ApiVersion", "MinAPIVersion"), ours and `endpoint_max` (may be NULL).
 */
int rc_docker_choose_version(char out[16], const json_t *version_body, const char *endpoint_max,
			     const char *ship, rc_error *err);

/*
 * The error for a non-2xx answer: code by status, message with the
 * daemon's ({"message": ...}, or the first line of a text body).
 */
int rc_docker_http_error(rc_error *err, const char *ship, const char *method, const char *path,
			 long status, const char *body, size_t len);

/*
 * Check a whole pull progress stream (what rc_docker_pull reads): 0, or
 * the error it carries (RC_EAUTH when the registry wanted credentials).
 */
int rc_docker_pull_check(const char *ship, const char *image, const char *data, size_t len,
			 rc_error *err);

/* "repo:tag" -> "repo", "tag"; "repo" -> "repo", "latest"; "repo@sha256:x" -> "repo", "sha256:x". */
int rc_docker_split_image(char **repo, char **tag, const char *image);

/* rc_url_escape() (base/encode.h), as the client escapes paths and queries. */
int rc_docker_url_escape(rc_buf *out, const char *s, const char *keep);

/*
 * The list query: "/containers/json?all=1&filters=..." with the label
 * and/or exact-name filters (`names` has `nr` entries; regex-escaped and
 * anchored, as the daemon matches them as regular expressions).
 */
int rc_docker_list_query(rc_buf *out, const char *label_filter, const char *const *names, size_t nr);

/*
 * Append to the array `into` each container of the array `from` that is
 * named exactly one of `names` (NULL-terminated) and whose "Id" is not in
 * `into` yet.
 */
void rc_docker_merge_named(json_t *into, const json_t *from, const char *const *names);

#endif
