#ifndef RC_MANIFEST_H
#define RC_MANIFEST_H
/*
 * The Maestro-NG environment model (shared MAESTRO.md).
 *
 * rc_environment_load() reads one environment directory of a source:
 * `maestro.yaml` is rendered as a template, parsed as YAML 1.1 and built
 * into the model below, and the model is validated as a whole. Every
 * problem is reported in `diags` as file:line:col, not only the first; an
 * environment with any error is not returned at all, so nothing
 * downstream can act on half of a broken manifest (DESIGN §6).
 *
 * Everything in the model is resolved: ship_defaults are applied,
 * instance values are merged over service values, env holds the final
 * variables (envfiles, injected and link variables), ports hold numbers.
 * The desired container of each instance is computed from this (spec.h).
 */
#include "base/compat.h"
#include "base/error.h"
#include "base/regex.h"
#include "source/source.h"

typedef enum {
	RC_STATE_RUNNING,   /* default */
	RC_STATE_CREATED,   /* data-only container: create, never start */
	RC_STATE_STOPPED,
	RC_STATE_ABSENT,
} rc_state;

const char *rc_state_name(rc_state s);

/* An ordered string map (env, labels, log options). `value` NULL: a bare KEY (env only). */
typedef struct rc_kv {
	char *key;
	char *value;
} rc_kv;

typedef struct rc_kvlist {
	rc_kv *v;
	size_t nr, alloc;
	/*
	 * A hash index over the keys (slot = position + 1, 0 empty), built once
	 * the list grows past a few entries: an instance of a 300-instance
	 * service has 300+ link variables, set one by one.
	 */
	size_t *index;
	size_t index_cap;
} rc_kvlist;

/* Set `key` (replacing an earlier value in place, keeping its position). Reordering `v` by hand drops the index: call rc_kvlist_reindex(). */
void rc_kvlist_set(rc_kvlist *l, const char *key, const char *value);
const rc_kv *rc_kvlist_find(const rc_kvlist *l, const char *key);
void rc_kvlist_release(rc_kvlist *l);
void rc_kvlist_reindex(rc_kvlist *l);
/* Room for `extra` more keys, the index included: merging a long list grows nothing twice. */
void rc_kvlist_reserve(rc_kvlist *l, size_t extra);

typedef struct rc_strlist {
	char **v;
	size_t nr, alloc;
} rc_strlist;

void rc_strlist_push(rc_strlist *l, const char *s);
bool rc_strlist_has(const rc_strlist *l, const char *s);
void rc_strlist_release(rc_strlist *l);

typedef struct rc_port {
	char *name;
	int exposed;            /* container port */
	char proto[4];          /* "tcp" or "udp" */
	char *host_ip;          /* "0.0.0.0" unless bound to an address */
	int external_lo;        /* host port, or the first of a range */
	int external_hi;        /* == external_lo unless a range */
	int line, col;
} rc_port;

typedef struct rc_volume {
	char *host;             /* host path, or a named volume */
	char *target;           /* path in the container */
	char *mode;             /* "rw" unless given ("ro", "ro,Z", ...) */
	int line, col;          /* the host side as written */
} rc_volume;

/* Where a key is written (0: not written). */
typedef struct rc_pos {
	int line, col;
} rc_pos;

typedef struct rc_ulimit {
	char *name;
	int64_t soft, hard;
} rc_ulimit;

typedef enum {
	RC_LC_PRE_START,
	RC_LC_RUNNING,
	RC_LC_PRE_STOP,
	RC_LC_STOPPED,
	RC_LC_NR,
} rc_lifecycle_state;

const char *rc_lifecycle_state_name(rc_lifecycle_state s);

typedef enum { RC_CHECK_TCP, RC_CHECK_HTTP, RC_CHECK_EXEC, RC_CHECK_REXEC, RC_CHECK_SLEEP } rc_check_type;

typedef struct rc_check {
	rc_check_type type;
	int line, col;
	char *port_name;        /* tcp, http: the named port (NULL when http names a number) */
	int port;               /* tcp, http: the port to connect to on the ship (host side) */
	char *host;             /* http: default the ship's ip; tcp: the ship's ip */
	char *path, *scheme, *method, *match_regex;   /* http */
	rc_regex *match_re;     /* http: match_regex compiled at load (base/regex.h), or NULL */
	int max_wait;           /* tcp: attempts 1 s apart (180); http: seconds (300) */
	bool verify;            /* http requests_options.verify (true) */
	double timeout;         /* http requests_options.timeout, seconds (0: none given) */
	char **argv;            /* exec, rexec: NULL-terminated */
	int attempts;           /* exec, rexec (180) */
	char *envfrom;          /* exec: NULL, "env" or "stdin" */
	double wait;            /* sleep: seconds */
} rc_check;

typedef struct rc_checklist {
	rc_check *v;
	size_t nr, alloc;
} rc_checklist;

typedef struct rc_ship {
	char *name;
	char *ip;
	char *endpoint;         /* = ip unless given */
	int docker_port;        /* 2375, or 2376 with tls */
	char *socket_path;      /* without the unix:// prefix; NULL: TCP */
	char *api_version;      /* as written, NULL: negotiate freely */
	double timeout;         /* seconds, 5 when 0 or unset */
	char *ssh_user, *ssh_key;   /* ssh_tunnel; NULL: none */
	int ssh_port;
	bool tls, tls_verify;
	char *tls_ca_cert, *tls_cert, *tls_key;
	/*
	 * A relative tls_* or ssh_tunnel key path names a file of the
	 * environment's directory in the manifests: it is read at load time
	 * (a missing one is a manifest error), the path above becomes
	 * "<env>/<path>" (for messages) and the text is here. NULL for
	 * absolute and ~/ paths, which are read when connecting.
	 */
	char *tls_ca_cert_data, *tls_cert_data, *tls_key_data, *ssh_key_data;
	int line, col;
} rc_ship;

typedef struct rc_registry {
	char *key;
	char *url;              /* as written */
	char *host;             /* host[:port] of the URL */
	char *username, *password, *email;
	int retry_attempts;
	int *retry_when;
	size_t retry_when_nr;
} rc_registry;

typedef struct rc_audit {
	char *type;             /* log http exec slack hipchat */
	char *level;
	bool ignore_errors;
	char *config_json;      /* the sink's keys as compact JSON, for the notifier */
	int line, col;
} rc_audit;

typedef struct rc_service rc_service;
typedef struct rc_instance rc_instance;

/* One ipam.config entry of a network (ours, compose's syntax). */
typedef struct rc_ipam_config {
	char *subnet, *gateway, *ip_range;   /* NULL: not written */
} rc_ipam_config;

/*
 * A user-defined network, from `networks:` at the top of an environment
 * file (ours, compose's syntax; manifest/network.c). Created on every ship
 * where an instance joins it, labelled as ours, pruned when unused.
 */
typedef struct rc_network {
	char *name;
	char *driver;           /* NULL: the daemon's default (bridge) */
	rc_ipam_config *ipam;
	size_t ipam_nr;
	bool internal;
	bool external;          /* made by someone else: never created nor removed */
	rc_kvlist labels;
	int line, col;
} rc_network;

/* A network an instance joins (its `networks:`), with its endpoint settings. */
typedef struct rc_net_attach {
	char *name;
	rc_strlist aliases;
	char *ipv4_address;     /* NULL: Docker picks */
} rc_net_attach;

/* `healthcheck` (ours, compose's syntax): what Docker's Config.Healthcheck gets. */
typedef struct rc_healthcheck {
	bool set;               /* written: enters the spec */
	char **test;            /* NULL-terminated: "CMD" args, "CMD-SHELL" cmd, "NONE"; NULL: the image's */
	int64_t interval_ns, timeout_ns, start_period_ns;   /* 0: the image's */
	int64_t start_interval_ns; /* 0: the image's; sent to API 1.44 and later only */
	int retries;            /* 0: the image's */
} rc_healthcheck;

/* One `device_requests` entry (ours, compose's deploy.resources.reservations.devices item). */
typedef struct rc_device_request {
	char *driver;           /* NULL: any */
	int64_t count;          /* -1: all; 0: not written (device_ids given) */
	rc_strlist device_ids, capabilities;
	rc_kvlist options;
} rc_device_request;

struct rc_instance {
	char *name;
	rc_service *service;
	rc_ship *ship;
	int line, col;
	char *image;            /* as written */
	char **cmd;             /* NULL-terminated argv; NULL when not set */
	rc_port *ports;
	size_t ports_nr;
	rc_kvlist env;          /* the final environment, in precedence order */
	rc_strlist secret_env;  /* names of env variables read from SOPS files (secret) */
	rc_volume *volumes;
	size_t volumes_nr;
	rc_strlist container_volumes;
	rc_strlist volumes_from;    /* instance names */
	rc_kvlist links;        /* instance -> alias, sorted */
	char *username;
	bool privileged;
	rc_strlist cap_add, cap_drop, dns, security_opt;
	rc_kvlist extra_hosts;  /* host -> ip */
	char *net;              /* NetworkMode; NULL: the daemon's default */
	char *restart_name;     /* "no", "always", "on-failure", "unless-stopped" */
	int restart_retries;
	int stop_timeout;
	int64_t cpu_shares, memory, memory_swap;   /* 0: unset */
	char *log_driver;
	rc_kvlist log_opt;
	char *workdir;
	rc_kvlist labels;
	rc_ulimit *ulimits;
	size_t ulimits_nr;
	/* ours, compose's syntax (manifest/compose.c): in the spec only when written */
	rc_healthcheck healthcheck;
	int init;               /* -1: not written, else 0 or 1 */
	bool read_only;
	rc_strlist tmpfs;       /* "path" or "path:options" */
	char **entrypoint;      /* NULL: the image's; empty (only the NULL): none */
	rc_strlist devices;     /* "host[:container[:perms]]" as written */
	int64_t nano_cpus;      /* cpus x 1e9; 0: not written */
	int64_t pids_limit;     /* 0: not written; -1: unlimited (0 written becomes -1) */
	int64_t shm_size;       /* bytes; 0: not written */
	rc_strlist group_add;
	rc_kvlist sysctls;
	char *stop_signal;
	rc_device_request *device_requests;
	size_t device_requests_nr;
	rc_net_attach *networks;    /* as written; the first is the container's NetworkMode */
	size_t networks_nr;
	rc_checklist lifecycle[RC_LC_NR];
	rc_state state;
	/* where the keys a policy looks at are written (manifest/policy.h) */
	rc_pos privileged_at, net_at, cap_add_at, security_opt_at, devices_at, device_requests_at;
};

struct rc_service {
	char *name;
	int line, col;
	char *image;
	bool omit;
	rc_strlist requires;        /* direct */
	rc_strlist wants_info;
	rc_strlist depends;         /* requires + services of volumes_from, direct: the start order */
	rc_instance **instances;
	size_t instances_nr;
	/*
	 * `update` (ours): instances replaced at once (1), seconds between
	 * batches (0), seconds a started container must keep running (1)
	 */
	int update_parallelism;
	double update_delay, update_monitor;
};

typedef struct rc_environment {
	char *dir;              /* the FQDN directory */
	char *file;             /* "<dir>/maestro.yaml" */
	char *name;             /* `name:` */
	int schema;
	rc_ship *ships;
	size_t ships_nr;
	rc_registry *registries;
	size_t registries_nr;
	rc_audit *audit;
	size_t audit_nr;
	rc_network *networks;   /* `networks:` (ours), in file order */
	size_t networks_nr;
	rc_service **services;  /* in dependency order: a service after everything it depends on */
	size_t services_nr;
	/*
	 * The key of the keyed hashes that stand for secret values in the
	 * reconcile.spec label (rc_load_opts.secret_key, else random).
	 */
	unsigned char secret_key[32];
	/*
	 * The policy's warnings (host-escaping features used while no policy
	 * is configured, manifest/policy.h), also in the load's diagnostics:
	 * the plan shows them.
	 */
	rc_diags policy_warnings;
} rc_environment;

typedef struct rc_load_opts {
	/* "KEY=VALUE" strings bound as the template's `env`; NULL: the process environment */
	const char *const *envp;
	/* the config's checks: {exec: false}: an exec check makes its environment invalid */
	bool no_exec_checks;
	/*
	 * The age identities SOPS-encrypted envfiles are decrypted with (in
	 * memory only); NULL or empty: none configured, and such a file is an
	 * error. Named in errors as `age_identity_name` (e.g. the file).
	 */
	const struct rc_age_identities *age_ids;
	const char *age_identity_name;
	/*
	 * 32 bytes: the key of the spec label's hashes of secret values (kept
	 * in the state directory, see rc_state_secret_key()); NULL: a random
	 * key, good for one run (render, validate).
	 */
	const unsigned char *secret_key;
	/*
	 * What the manifests may ask of a host (manifest/policy.h): a request
	 * the environment's rule denies is an error; NULL: no policy, every
	 * host-escaping feature is allowed with a warning.
	 */
	const struct rc_policy *policy;
} rc_load_opts;

/*
 * Load environment `dir` of `src`. 0 and the model in `*out`, or
 * RC_EINVALID with every problem in `diags` (warnings are added either
 * way). Other negative codes (the source could not be read) come with `err`.
 */
int rc_environment_load(rc_environment **out, rc_source *src, const char *dir,
			const rc_load_opts *opts, rc_diags *diags, rc_error *err);
void rc_environment_free(rc_environment *env);

const rc_ship *rc_environment_ship(const rc_environment *env, const char *name);
const rc_instance *rc_environment_instance(const rc_environment *env, const char *name);
const rc_service *rc_environment_service(const rc_environment *env, const char *name);
const rc_network *rc_environment_network(const rc_environment *env, const char *name);

/* N(x): every character not alphanumeric or '_' replaced by '_', upper-cased. */
char *rc_link_name(const char *x);

/* Split `s` like Python's shlex.split (POSIX mode): NULL-terminated argv, or NULL with `*errmsg` set (static string). */
char **rc_shlex_split(const char *s, const char **errmsg);

/* A Go duration as compose writes it ("1m30s", "500ms"; units ns us µs ms s m h): nanoseconds, or -1. */
int64_t rc_duration_parse(const char *s);

/* Parse an envfile's text into `out` (later lines win); problems into diags, positioned in `file`. */
int rc_envfile_parse(rc_kvlist *out, const char *text, size_t len, const char *file, rc_diags *diags);

#endif
