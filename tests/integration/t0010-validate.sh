#!/bin/bash
test_description='reconcile validate and render: every error with its position, exit codes, hostile input'

. "$(dirname "$0")/test-lib.sh"

# a fresh tree with one environment whose maestro.yaml is given on stdin
make_env () {
	mkdir -p "tree/$1" && cat >"tree/$1/maestro.yaml"
}

good='__maestro: {schema: 2}
name: good
ships: {vm1: {ip: 10.0.0.1}}
services:
  web:
    image: web:1
    ports: {http: "80:8080"}
    instances:
      web-1: {ship: vm1}'

test_expect_success 'the example repository validates clean' '
	"$RECONCILE" validate "$SRC_ROOT/manifests-example" >out &&
	test_grep "^api.example.com: ok (2 services, 2 instances, 1 ship)$" out &&
	test_grep "^www.example.com: ok" out &&
	test_grep ! "warning" out
'

test_expect_success 'a valid tree exits 0; README and dot directories are ignored' '
	# over TLS: a plain-TCP ship on another machine is a warning (t1100)
	rm -rf tree && echo "$good" | sed "s/ip: 10.0.0.1}/ip: 10.0.0.1, tls: true}/" | make_env good.example.com &&
	echo readme >tree/README.md && mkdir tree/.git &&
	"$RECONCILE" validate tree >out &&
	test_grep "^good.example.com: ok" out &&
	test_line_count = 1 out
'

test_expect_success 'a non-FQDN directory with maestro.yaml gets a warning' '
	echo "$good" | make_env staging &&
	"$RECONCILE" validate tree >out &&
	test_grep "staging: warning: directory .staging. holds maestro.yaml but its name is not an FQDN" out
'

test_expect_success 'every error of a file, as file:line:col, exit 1; other environments still checked' '
	rm -rf tree && echo "$good" | make_env good.example.com &&
	make_env bad.example.com <<-\EOF &&
	name: bad
	ships: {vm1: {ip: 10.0.0.1}}
	services:
	  web:
	    image: web:1
	    requires: [db]
	    ports: {http: "127.0.0.1:80:80", dns: "53/sctp"}
	    instances:
	      web-1: {ship: vm9, restart: sometimes}
	EOF
	test_expect_code 1 "$RECONCILE" validate tree >out &&
	test_grep "^bad.example.com/maestro.yaml:6:16: error: service .web. requires unknown service .db.$" out &&
	test_grep "^bad.example.com/maestro.yaml:7:19: error: invalid port spec .127.0.0.1:80:80." out &&
	test_grep "^bad.example.com/maestro.yaml:7:43: error: invalid port spec .53/sctp." out &&
	test_grep "^bad.example.com/maestro.yaml:9:21: error: instance .web-1. names unknown ship .vm9.$" out &&
	test_grep "^bad.example.com/maestro.yaml:9:35: error: unknown restart policy .sometimes." out &&
	test_grep "^bad.example.com: invalid (5 errors)$" out &&
	test_grep "^good.example.com: ok" out
'

test_expect_success 'validate --output json: errors and warnings per environment, no actions' '
	test_expect_code 1 "$RECONCILE" validate tree --output json >out.json &&
	jq -e ".format_version == 1 and .changes == false" out.json &&
	jq -e ".environments[0].name == \"bad.example.com\" and .environments[0].status == \"invalid\"" out.json &&
	jq -e ".environments[0].errors | length == 5" out.json &&
	jq -e ".environments[0].errors[0] == {file: \"bad.example.com/maestro.yaml\", line: 6, column: 16, message: \"service '\''web'\'' requires unknown service '\''db'\''\"}" out.json &&
	jq -e ".environments[0].warnings[0].line == 1 and (.environments[0].warnings[0].message | startswith(\"no __maestro.schema\"))" out.json &&
	jq -e ".environments[1].status == \"ok\" and (.environments[1] | has(\"actions\") | not)" out.json &&
	jq -e ".summary.errors == 5" out.json
'

test_expect_success 'render prints the create bodies of valid environments, errors on stderr' '
	test_expect_code 1 "$RECONCILE" render tree >out.json 2>err &&
	jq -e ".environments | length == 1" out.json &&
	jq -e ".environments[0].containers[0].name == \"web-1\" and .environments[0].containers[0].endpoint == \"tcp://10.0.0.1:2375\"" out.json &&
	jq -e ".environments[0].containers[0].create.HostConfig.PortBindings[\"80/tcp\"][0].HostPort == \"8080\"" out.json &&
	jq -e ".environments[0].containers[0].create.Labels[\"reconcile.spec-hash\"] == .environments[0].containers[0].spec_hash" out.json &&
	test_grep "bad.example.com/maestro.yaml:6:16: error:" err &&
	"$RECONCILE" render tree --environment good.example.com >one.json &&
	jq -e ".environments[0].name == \"good.example.com\"" one.json
'

test_expect_success 'an unknown --environment is an error' '
	test_expect_code 1 "$RECONCILE" validate tree --environment nope.example.com 2>err &&
	test_grep "no environment .nope.example.com." err
'

test_expect_success 'usage errors exit 64' '
	test_expect_code 64 "$RECONCILE" validate tree --output yaml 2>err &&
	test_grep "output must be text or json" err &&
	test_expect_code 64 "$RECONCILE" --bogus 2>err &&
	test_expect_code 64 "$RECONCILE" frobnicate 2>err &&
	test_grep "unknown command .frobnicate." err &&
	test_expect_code 64 "$RECONCILE" 2>err &&
	test_grep "no manifests given" err
'

hostile () {
	rm -rf tree && mkdir -p tree/h.example.com && cat >tree/h.example.com/maestro.yaml
}

test_expect_success 'binary garbage: a clear error, exit 1' '
	head -c 4096 /dev/urandom | hostile &&
	test_expect_code 1 timeout 10 "$RECONCILE" validate tree >out &&
	test_grep "^h.example.com/maestro.yaml:[0-9]*:[0-9]*: error: " out
'

test_expect_success 'a 10 MB file: refused by size, quickly' '
	yes "# padding padding padding padding padding padding padding" | head -c 10485760 | hostile &&
	test_expect_code 1 timeout 10 "$RECONCILE" validate tree >out &&
	test_grep "larger than" out
'

test_expect_success '100,000 nested brackets: a depth error, no crash' '
	{ printf "name: x\nships: "; head -c 100000 /dev/zero | tr "\0" "["; } | hostile &&
	test_expect_code 1 timeout 10 "$RECONCILE" validate tree >out &&
	test_grep "h.example.com/maestro.yaml:2:[0-9]*: error: .*nest" out
'

test_expect_success 'an alias bomb (billion laughs): an expansion error, fast, bounded memory' '
	hostile <<-\EOF &&
	a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
	b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
	c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
	d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
	e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
	f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
	g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
	h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
	i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
	name: x
	ships: {}
	EOF
	# bounded memory: 1 GB of address space is plenty (ASan reserves far more: no limit there)
	if test -n "$TEST_SANITIZED"; then
		test_expect_code 1 timeout 10 "$RECONCILE" validate tree >out
	else
		(ulimit -v 1000000 && test_expect_code 1 timeout 10 "$RECONCILE" validate tree >out)
	fi &&
	test_grep "expands to more than" out
'

test_expect_success 'a document that is not a mapping' '
	echo "- just a list" | hostile &&
	test_expect_code 1 "$RECONCILE" validate tree >out &&
	test_grep "h.example.com/maestro.yaml:1:1: error: the document is not a mapping" out
'

test_done
