#ifndef RC_POLICY_H
#define RC_POLICY_H
/*
 * What a manifest may ask of a host: the config's `policy:` section
 * (reconcile.yaml(5)).
 *
 * Whoever can push a manifest must not become root on a ship: a
 * privileged container, the host's network namespace, a bind mount of `/`
 * or of the Docker socket, an added capability such as SYS_ADMIN, or a
 * weakened confinement (seccomp=unconfined) each give the container the
 * host. A policy is a list of rules; each names environments by globs
 * (fnmatch(3) over the environment's directory name) and lists what they
 * may ask. The first rule that matches applies. When a policy is
 * configured, an environment no rule matches gets the default: nothing
 * allowed (rc_policy_default()).
 *
 * rc_policy_check() is a pure function: rules and an environment in,
 * diagnostics out. With a policy, each request the rule denies is an
 * error at the key that asks for it, naming the rule and where it is
 * written ("policy 'apps' (reconcile.yaml:12) denies privileged"), so the
 * environment is invalid and nothing of it is touched. Without one
 * (`policy` NULL) everything Maestro-NG allowed stays allowed, and each
 * use of a host-escaping feature is a warning.
 *
 * What a manifest can ask for, and what a rule checks:
 *  - `privileged: true`                      rule `privileged`
 *  - `net: host`                             rule `host_namespaces` (net)
 *  - `volumes` with a host path (a bind)     rule `bind_mounts`: host path
 *    prefixes, compared by path component. A path that is or contains the
 *    Docker or containerd socket, and `/` itself, is allowed only when the
 *    rule lists that exact path; a path with a `..` component never is.
 *  - `cap_add`                               rule `capabilities` (ALL: any)
 *  - `security_opt` that changes confinement: all but no-new-privileges
 *    and apparmor=docker-default (seccomp=unconfined, a seccomp profile
 *    given inline, which may allow every call, another AppArmor profile,
 *    an SELinux label, systempaths=unconfined)
 *                                            rule `security_opt` (globs)
 *  - lifecycle `exec` checks (they run on the reconciler's host)
 *                                            rule `exec_checks`
 *  - `devices` (ours): a host device node in the container (/dev/sda,
 *    /dev/mem: the host's disks and memory)   rule `devices`: host path
 *    prefixes, compared as bind_mounts' are (a `..` never passes). Without
 *    a policy, a device other than those every container has anyway
 *    (/dev/null, zero, full, random, urandom, tty) is a warning.
 *  - `device_requests` (ours): devices a runtime hook maps (GPUs, with
 *    the host's driver files)                rule `device_requests`
 *  - `net: container:NAME` of a container that is not an instance of the
 *    same environment: its network namespace may be the host's, or
 *    another environment's                   rule `host_namespaces` (net)
 *  - `net: NAME`, or an external network NAME joined, where NAME is all
 *    lowercase hex: Docker takes a network by a prefix of its ID, and the
 *    host network's may start so ("4")        rule `host_namespaces` (net)
 * What never reaches Docker needs no rule: Maestro-NG and our compose keys
 * have no key for the host's pid, ipc, uts or user namespace, a cgroup
 * parent, device cgroup rules or a runtime (such keys are unknown instance
 * keys, warned about and ignored; a rule may still list pid and ipc in
 * host_namespaces). `sysctls` need none: Docker takes only the namespaced
 * ones (kernel IPC, net.*) and refuses them in a host namespace.
 * `volumes_from` names an instance of the same environment on the same
 * ship (the loader checks), whose binds this same rule checks.
 */
#include "base/compat.h"
#include "base/error.h"
#include "manifest/manifest.h"

typedef struct rc_policy_rule {
	char *name;                 /* for messages: `name:`, else "#N" */
	int line;                   /* where the rule is written in the policy's file */
	rc_strlist environments;    /* fnmatch(3) globs over environment names */
	bool privileged;
	bool host_net, host_pid, host_ipc;
	rc_strlist bind_mounts;     /* host path prefixes */
	rc_strlist capabilities;    /* upper case, without CAP_; "ALL": any */
	rc_strlist security_opt;    /* globs over the confinement-lifting options allowed */
	bool exec_checks;
	rc_strlist devices;         /* host device path prefixes */
	bool device_requests;
} rc_policy_rule;

typedef struct rc_policy {
	char *file;                 /* the config file the rules come from */
	rc_policy_rule *v;
	size_t nr, alloc;
	rc_policy_rule fallback;    /* what rc_policy_default() returns: allows nothing */
} rc_policy;

/* Start an empty policy read from `file`. */
void rc_policy_init(rc_policy *p, const char *file);
/* Append a rule (everything denied, no environments) and return it; `name` NULL: "#N". */
rc_policy_rule *rc_policy_add(rc_policy *p, const char *name, int line);
void rc_policy_release(rc_policy *p);

/* A capability as Docker's CapAdd takes it, canonical: upper case, "CAP_" dropped. free() it. */
char *rc_policy_cap_name(const char *cap);

/* The rule for environment `env_name`: the first that matches, else the default. */
const rc_policy_rule *rc_policy_match(const rc_policy *p, const char *env_name);
/* The rule that applies where no rule matches: nothing is allowed. */
const rc_policy_rule *rc_policy_default(const rc_policy *p);

/*
 * Check what `env` asks of its ships against `p` (NULL: no policy), into
 * `out`: errors for denied requests, warnings for host-escaping features
 * used without a policy, each at the position of the key that asks,
 * in `env->file`. Returns the number of errors added.
 */
size_t rc_policy_check(const rc_policy *p, const rc_environment *env, rc_diags *out);

#endif
