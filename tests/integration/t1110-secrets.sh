#!/bin/bash
test_description='secrets: SOPS envfiles decrypted in memory, secret values in no label nor output (issue 14)'

. "$(dirname "$0")/test-lib.sh"

test_require_parts docker image
command -v age-keygen >/dev/null 2>&1 || test_skip_or_die "missing: age (scripts/install-deps.sh)"

S1=
# the manifests of app.example.com: $1 is DB_PASSWORD, $2 is PLAIN
write_app () {
	mkdir -p tree/app.example.com &&
	cat >tree/app.example.com/maestro.yaml <<-EOF
	__maestro: {schema: 2}
	name: app
	ships:
	  ship1: {ip: 127.0.0.1, socket_path: $S1}
	services:
	  web:
	    image: reconcile-test/app:1
	    envfile: secrets.sops.env
	    env:
	      DB_PASSWORD: "$1"
	      DATABASE_CONN: "postgres://app:pgpass-$1@db/app"
	      PLAIN: "$2"
	    instances:
	      web-1: {ship: ship1, command: sleep 86400, stop_timeout: 1}
	EOF
}

# the SOPS envfile, encrypted for key.txt by our encoder
write_secrets () {
	printf 'SOPS_TOKEN=tok-%s\nGREETING=sops-greeting-%s\n' "$1" "$1" |
	"$TRASH/sops-encrypt" dotenv "$(age-keygen -y key.txt)" >tree/app.example.com/secrets.sops.env
}

R () {
	DOCKER_CONFIG="$TRASH/no-docker-config" "$RECONCILE" --state-dir "$TRASH/state" "$@"
}

# nothing of a secret value in $1
no_secret_in () {
	! grep -E "hunter2|swordfish|pgpass|sops-greeting|tok-one|tok-two" "$1"
}

test_expect_success 'setup: a ship, an image, age keys, the SOPS encoder' '
	parts_start_dockerd ship1 &&
	S1=${DOCKER_HOST_SHIP1#unix://} &&
	parts_make_image ship1 reconcile-test/app:1 -v one &&
	mkdir -p "$TRASH/no-docker-config" &&
	cp "$SRC_ROOT/tests/tools/sops-encrypt" "$TRASH/sops-encrypt" &&
	age-keygen -o key.txt 2>/dev/null &&
	age-keygen -o wrong.txt 2>/dev/null &&
	write_app hunter2 one &&
	write_secrets one &&
	no_secret_in tree/app.example.com/secrets.sops.env
'

test_expect_success 'SOPS envfile: the decrypted values reach the container, not its labels' '
	R --manifests tree --age-identity key.txt --output json >out.json &&
	jq -e ".summary.create == 1 and .summary.errors == 0" out.json &&
	no_secret_in out.json &&
	parts_docker ship1 inspect -f "{{json .Config.Env}}" web-1 >env.json &&
	grep -q "GREETING=sops-greeting-one" env.json &&
	grep -q "SOPS_TOKEN=tok-one" env.json &&
	grep -q "DB_PASSWORD=hunter2" env.json &&
	parts_docker ship1 inspect -f "{{json .Config.Labels}}" web-1 >labels.json &&
	grep -q "hmac-sha256:" labels.json &&
	no_secret_in labels.json &&
	jq -e ".\"reconcile.spec\" | fromjson | .env.PLAIN == \"one\"" labels.json
'

test_expect_success 'the key of the hashes is kept in the state directory, mode 0600' '
	test "$(stat -c %a:%s "$TRASH/state/secret.key")" = 600:32
'

test_expect_success 'a second run changes nothing' '
	R --manifests tree --age-identity key.txt --dry-run --exit-code -v >out &&
	test_grep "app.example.com: ok" out
'

test_expect_success 'render masks secret values unless --show-secrets' '
	R render tree --age-identity key.txt >render.json &&
	no_secret_in render.json &&
	jq -e "[.environments[].containers[].create.Env[]] | index(\"DB_PASSWORD=(secret)\") != null" render.json &&
	jq -e "[.environments[].containers[].create.Env[]] | index(\"GREETING=(secret)\") != null" render.json &&
	jq -e "[.environments[].containers[].create.Env[]] | index(\"PLAIN=one\") != null" render.json &&
	R render tree --age-identity key.txt --show-secrets >shown.json &&
	grep -q "DB_PASSWORD=hunter2" shown.json &&
	grep -q "GREETING=sops-greeting-one" shown.json &&
	test_must_fail R validate tree --show-secrets 2>err &&
	test_grep "show-secrets goes with render" err
'

test_expect_success 'a secret change is detected and named, its values never shown' '
	write_app swordfish one &&
	write_secrets two &&
	R --manifests tree --age-identity key.txt --dry-run -v >plan.txt &&
	test_grep "env.DB_PASSWORD changed" plan.txt &&
	test_grep "env.GREETING changed" plan.txt &&
	test_grep "env.DB_PASSWORD: (sensitive)" plan.txt &&
	no_secret_in plan.txt &&
	R --manifests tree --age-identity key.txt --dry-run --output json >plan.json &&
	jq -e "[.environments[].actions[].reasons[]] | index(\"env.DB_PASSWORD changed\") != null" plan.json &&
	no_secret_in plan.json &&
	RECONCILE_AGE_IDENTITY=key.txt R --manifests tree -v >apply.txt &&
	no_secret_in apply.txt &&
	parts_docker ship1 inspect -f "{{json .Config.Env}}" web-1 >env.json &&
	grep -q "DB_PASSWORD=swordfish" env.json &&
	grep -q "GREETING=sops-greeting-two" env.json &&
	parts_docker ship1 inspect -f "{{json .Config.Labels}}" web-1 >labels.json &&
	no_secret_in labels.json
'

# $1: what the run is given; the environment must be invalid, the container untouched
invalid_untouched () {
	local before after
	before=$(parts_docker ship1 inspect -f "{{.Id}}" web-1) &&
	write_app swordfish two &&
	test_expect_code 1 R --manifests tree "$@" >out 2>err &&
	test_grep "app.example.com: invalid" out &&
	test_grep "secrets.sops.env" out &&
	after=$(parts_docker ship1 inspect -f "{{.Id}}" web-1) &&
	test "$before" = "$after" &&
	test "$(parts_state ship1 web-1)" = running &&
	no_secret_in out && no_secret_in err
}

test_expect_success 'a missing identity: invalid, untouched' '
	invalid_untouched &&
	test_grep "no age identity is configured" out
'

test_expect_success 'a wrong key: invalid, untouched' '
	invalid_untouched --age-identity wrong.txt &&
	test_grep "cannot be decrypted with the age identity .wrong.txt." out
'

test_expect_success 'a tampered file: invalid, untouched' '
	cp tree/app.example.com/secrets.sops.env good.env &&
	test_when_finished "cp good.env tree/app.example.com/secrets.sops.env" &&
	f=tree/app.example.com/secrets.sops.env &&
	c=$(sed -n "s/^GREETING=ENC\[AES256_GCM,data:\(.\).*/\1/p" $f) &&
	if test "$c" = A; then n=B; else n=A; fi &&
	sed -i "s/^GREETING=ENC\[AES256_GCM,data:./GREETING=ENC[AES256_GCM,data:$n/" $f &&
	! cmp -s good.env tree/app.example.com/secrets.sops.env &&
	invalid_untouched --age-identity key.txt &&
	test_grep "tampered" out
'

test_expect_success 'a plain secret: no label, -v nor JSON holds it' '
	write_app swordfish three &&
	R --manifests tree --age-identity key.txt -v --output json >out.json &&
	no_secret_in out.json &&
	parts_docker ship1 inspect web-1 >inspect.json &&
	jq -e ".[0].Config.Labels | tostring | test(\"swordfish|pgpass\") | not" inspect.json
'

test_done
