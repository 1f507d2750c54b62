#!/bin/bash
test_description='--listen: signed webhooks of each forge, metrics through promtool, the status page in Chromium, pause'

. "$(dirname "$0")/test-lib.sh"

test_require_parts docker image git

S=
SECRET=it-is-a-secret
commit () {
	git -C work add -A &&
	git -C work -c user.name=t -c user.email=t@example.com commit -q -m "$1" &&
	git -C work push -q origin HEAD:main
}

write_app () {
	mkdir -p work/app.example.com &&
	cat >work/app.example.com/maestro.yaml <<-EOF
	__maestro: {schema: 2}
	name: app
	ships: {ship1: {ip: 127.0.0.1, socket_path: $S}}
	services:
	  web:
	    image: reconcile-test/app:1
	    env: {VERSION: "$1"}
	    instances:
	      web-1: {ship: ship1, command: sleep 86400, stop_timeout: 0}
	EOF
}

version_of () {
	parts_docker ship1 inspect -f '{{range .Config.Env}}{{println .}}{{end}}' web-1 2>/dev/null | sed -n "s/^VERSION=//p"
}
wait_version () {
	parts_wait_for 30 sh -c "test \"\$(docker -H unix://$S inspect -f \"{{range .Config.Env}}{{println .}}{{end}}\" web-1 2>/dev/null | sed -n s/^VERSION=//p)\" = $1"
}
hexmac () { openssl dgst -sha256 -hmac "$SECRET" -hex | sed "s/^.*= //"; }
fetches () { grep -c "webhook (.*: fetching" d.err; }
# the log line comes once the daemon's loop takes the request: wait for it
fetches_are () { parts_wait_for 10 sh -c "test \"\$(grep -c \"webhook (.*: fetching\" d.err)\" = $1"; }

# push BRANCH: a GitHub-shaped push payload for our repository
payload () {
	printf '{"ref":"refs/heads/%s","after":"%s","repository":{"full_name":"x/repo","default_branch":"main","clone_url":"git://127.0.0.1:%s/repo.git"}}' \
		"$1" "$(git -C repo.git rev-parse main)" "$GITPORT"
}

test_expect_success 'setup: a dockerd, a repository served by git daemon, two environments' '
	for tool in promtool chromium openssl curl; do
		command -v $tool >/dev/null || { echo "missing $tool (scripts/install-deps.sh installs it)"; return 1; }
	done &&
	parts_start_dockerd ship1 &&
	S=${DOCKER_HOST_SHIP1#unix://} &&
	parts_make_image ship1 reconcile-test/app:1 >/dev/null &&
	git init -q --bare repo.git &&
	git -C repo.git symbolic-ref HEAD refs/heads/main &&
	git clone -q repo.git work 2>/dev/null &&
	write_app one &&
	mkdir -p work/bad.example.com &&
	cat >work/bad.example.com/maestro.yaml <<-EOF &&
	__maestro: {schema: 2}
	name: bad
	ships: {ship1: {ip: 127.0.0.1, socket_path: $S}}
	services:
	  b:
	    image: reconcile-test/app:1
	    lifecycle:
	      running: [{type: rexec, command: "false", attempts: 1}]
	    instances:
	      b-1: {ship: ship1, command: sleep 86400, stop_timeout: 0}
	EOF
	commit one &&
	GITPORT=$(parts_free_port) || return 1
	git daemon --export-all --base-path="$TRASH" --listen=127.0.0.1 --port=$GITPORT --reuseaddr 5>&- 6>&- &
	gitd=$! &&
	parts_wait_for 10 git ls-remote "git://127.0.0.1:$GITPORT/repo.git" &&
	printf "%s\n" "$SECRET" >secret &&
	PORT=$(parts_free_port) &&
	URL=http://127.0.0.1:$PORT
'

test_expect_success '--listen is for --watch only, and wants an address' '
	test_expect_code 64 "$RECONCILE" --listen 127.0.0.1:1 --manifests work 2>err &&
	test_grep "go with --watch" err &&
	test_expect_code 1 "$RECONCILE" --watch --listen nowhere:x --manifests work --state-dir st0 2>err &&
	test_grep "ADDRESS:PORT" err
'

test_expect_success 'the daemon listens; healthz, readyz once the first run is done' '
	"$RECONCILE" --watch --repo "git://127.0.0.1:$GITPORT/repo.git" --state-dir state --interval 3600 --resync 3600 \
		--listen 127.0.0.1:$PORT --webhook-secret-file secret >d.out 2>d.err 5>&- 6>&- &
	daemon=$! &&
	parts_wait_for 30 grep -q "listening on 127.0.0.1:$PORT" d.err &&
	curl -sf $URL/healthz &&
	parts_wait_for 60 curl -sf $URL/readyz &&
	wait_version one &&
	jq -e ".environments[\"bad.example.com\"].quarantine.attempt" state/state.json
'

test_expect_success 'github: a signed push to our branch fetches and converges at once' '
	write_app two && commit two &&
	payload main >p.json &&
	sig=$(hexmac <p.json) &&
	t0=$(date +%s.%N) &&
	curl -s -o r.txt -w "%{http_code}" -H "X-GitHub-Event: push" -H "X-GitHub-Delivery: d-1" \
		-H "X-Hub-Signature-256: sha256=$sig" --data-binary @p.json $URL/hooks/github >code &&
	test "$(cat code)" = 202 &&
	fetches_are 1 &&
	wait_version two &&
	created=$(date -d "$(parts_docker ship1 inspect -f "{{.Created}}" web-1)" +%s.%N) &&
	echo "push to the new container created: $(echo "$created - $t0" | bc -l) s" &&
	# the run it made logs nothing of its own when its only failure is one the
	# daemon already said it waits for (a quarantine): the fetch is what it says
	parts_wait_for 10 grep -q "webhook (github): a push of [0-9a-f]*: fetching" d.err
'

test_expect_success 'github: a replayed delivery is refused (409), a bad signature 401, a big body 413: nothing fetched' '
	sig=$(hexmac <p.json) &&
	test "$(curl -s -o /dev/null -w "%{http_code}" -H "X-GitHub-Event: push" -H "X-GitHub-Delivery: d-1" \
		-H "X-Hub-Signature-256: sha256=$sig" --data-binary @p.json $URL/hooks/github)" = 409 &&
	test "$(curl -s -o /dev/null -w "%{http_code}" -H "X-GitHub-Event: push" -H "X-GitHub-Delivery: d-2" \
		-H "X-Hub-Signature-256: sha256=$(echo nope | hexmac)" --data-binary @p.json $URL/hooks/github)" = 401 &&
	test "$(curl -s -o /dev/null -w "%{http_code}" -H "X-GitHub-Event: push" -H "X-GitHub-Delivery: d-3" \
		--data-binary @p.json $URL/hooks/github)" = 401 &&
	head -c 1100000 /dev/zero | tr "\0" a >big &&
	test "$(curl -s -o /dev/null -w "%{http_code}" -H "X-GitHub-Event: push" -H "X-Hub-Signature-256: sha256=$(hexmac <big)" \
		--data-binary @big $URL/hooks/github)" = 413 &&
	sleep 1 &&
	test "$(fetches)" = 1
'

test_expect_success 'a signed push to another branch is ignored (200, nothing fetched)' '
	payload other >o.json &&
	curl -s -o r.txt -w "%{http_code}" -H "X-GitHub-Event: push" -H "X-GitHub-Delivery: d-4" \
		-H "X-Hub-Signature-256: sha256=$(hexmac <o.json)" --data-binary @o.json $URL/hooks/github >code &&
	test "$(cat code)" = 200 && test_grep "another ref" r.txt &&
	sleep 1 &&
	test "$(fetches)" = 1
'

test_expect_success 'gitlab: the token compared; good is a fetch, wrong is 401' '
	write_app three && commit three &&
	printf "{\"object_kind\":\"push\",\"ref\":\"refs/heads/main\",\"project\":{\"default_branch\":\"main\",\"git_http_url\":\"git://127.0.0.1:%s/repo.git\"}}" $GITPORT >gl.json &&
	test "$(curl -s -o /dev/null -w "%{http_code}" -H "X-Gitlab-Event: Push Hook" -H "X-Gitlab-Token: wrong" \
		-H "X-Gitlab-Event-UUID: g-0" --data-binary @gl.json $URL/hooks/gitlab)" = 401 &&
	test "$(curl -s -o /dev/null -w "%{http_code}" -H "X-Gitlab-Event: Push Hook" -H "X-Gitlab-Token: $SECRET" \
		-H "X-Gitlab-Event-UUID: g-1" --data-binary @gl.json $URL/hooks/gitlab)" = 202 &&
	wait_version three && fetches_are 2
'

test_expect_success 'gitea and forgejo: hex HMAC without prefix' '
	write_app four && commit four &&
	payload main >ge.json &&
	test "$(curl -s -o /dev/null -w "%{http_code}" -H "X-Gitea-Event: push" -H "X-Gitea-Delivery: t-1" \
		-H "X-Gitea-Signature: $(hexmac <ge.json)" --data-binary @ge.json $URL/hooks/gitea)" = 202 &&
	wait_version four && fetches_are 3 &&
	test "$(curl -s -o /dev/null -w "%{http_code}" -H "X-Forgejo-Event: push" -H "X-Forgejo-Delivery: t-2" \
		-H "X-Forgejo-Signature: 00$(hexmac <ge.json | cut -c3-)" --data-binary @ge.json $URL/hooks/gitea)" = 401
'

test_expect_success 'generic (Standard Webhooks): id.timestamp.body signed, base64' '
	write_app five && commit five &&
	printf "{\"ref\":\"refs/heads/main\"}" >gen.json &&
	ts=$(date +%s) &&
	sig=$( { printf "w-1.%s." $ts; cat gen.json; } | openssl dgst -sha256 -hmac "$SECRET" -binary | base64) &&
	test "$(curl -s -o /dev/null -w "%{http_code}" -H "webhook-id: w-1" -H "webhook-timestamp: $ts" \
		-H "webhook-signature: v1,$sig" --data-binary @gen.json $URL/hooks/generic)" = 202 &&
	wait_version five && fetches_are 4 &&
	old=$((ts - 3600)) &&
	sig=$( { printf "w-2.%s." $old; cat gen.json; } | openssl dgst -sha256 -hmac "$SECRET" -binary | base64) &&
	test "$(curl -s -o /dev/null -w "%{http_code}" -H "webhook-id: w-2" -H "webhook-timestamp: $old" \
		-H "webhook-signature: v1,$sig" --data-binary @gen.json $URL/hooks/generic)" = 401
'

test_expect_success 'a peer whose signatures keep failing is slowed down (429)' '
	: >codes &&
	for i in 1 2 3 4 5; do
		curl -s -o /dev/null -w "%{http_code}\n" -H "X-GitHub-Event: push" -H "X-Hub-Signature-256: sha256=00" \
			--data-binary @p.json $URL/hooks/github >>codes || return 1
	done &&
	cat codes &&
	test "$(head -1 codes)" = 401 &&
	test "$(tail -1 codes)" = 429 &&
	test "$(grep -c 401 codes)" -le 3 &&
	sleep 2.2
'

test_expect_success 'metrics pass promtool and count what happened' '
	curl -sf $URL/metrics >metrics &&
	promtool check metrics <metrics &&
	grep -q "^reconcile_webhooks_total{forge=\"github\",result=\"push\"} 1$" metrics &&
	grep -q "^reconcile_webhooks_total{forge=\"github\",result=\"replay\"} 1$" metrics &&
	grep -q "^reconcile_webhooks_total{forge=\"github\",result=\"too_large\"} 1$" metrics &&
	grep -q "^reconcile_webhooks_total{forge=\"github\",result=\"throttled\"} [1-9]$" metrics &&
	grep -q "^reconcile_environment_quarantined{environment=\"bad.example.com\"} 1$" metrics &&
	grep -q "^reconcile_environment_sync_state{environment=\"app.example.com\",state=\"converged\"} 1$" metrics &&
	grep -q "^reconcile_ship_reachable{environment=\"app.example.com\",ship=\"ship1\"} 1$" metrics &&
	grep -q "^reconcile_run_duration_seconds_count [1-9]" metrics &&
	grep -q "^reconcile_run_stage_duration_seconds_count{stage=\"observe\"} [1-9]" metrics &&
	awk "/^reconcile_webhook_last_verified_timestamp_seconds / { exit !(\$2 > 0) }" metrics
'

test_expect_success 'the status page in headless Chromium: the quarantined environment first' '
	chromium --headless --no-sandbox --disable-gpu --disable-background-networking --dump-dom $URL/ >dom.html 2>chromium.err &&
	test_grep "app.example.com" dom.html &&
	test_grep "is quarantined" dom.html &&
	test_grep "id=\"ships\"" dom.html &&
	test_grep "reconcile-test/app:1" dom.html &&
	bad=$(grep -n "id=\"env-bad.example.com\"" dom.html | cut -d: -f1 | head -1) &&
	app=$(grep -n "id=\"env-app.example.com\"" dom.html | cut -d: -f1 | head -1) &&
	test -n "$bad" && test -n "$app" && test "$bad" -lt "$app" &&
	chromium --headless --no-sandbox --disable-gpu --disable-background-networking --window-size=1200,900 \
		--screenshot="$TRASH/page.png" $URL/ 2>>chromium.err &&
	test -s page.png &&
	curl -sf $URL/api/status | jq -e ".environments | map(.name) | index(\"bad.example.com\") != null"
'

test_expect_success 'pause through the daemon: drift left alone, shown; resume repairs it' '
	test "$(curl -s -o /dev/null -w "%{http_code}" -H "Origin: http://evil.example" \
		-X POST "$URL/api/pause?environment=app.example.com")" = 403 &&
	! test -e state/pause.json &&
	test "$(curl -s -o /dev/null -w "%{http_code}" -X POST "$URL/api/pause?environment=app.example.com&for=1h&reason=freeze")" = 202 &&
	parts_wait_for 10 grep -q "app.example.com paused through the front door" d.err &&
	jq -e ".environments[\"app.example.com\"].reason == \"freeze\"" state/pause.json &&
	parts_docker ship1 rm -f web-1 >/dev/null &&
	sleep 3 &&
	! parts_docker ship1 inspect web-1 >/dev/null 2>&1 &&
	curl -sf $URL/metrics | grep -q "^reconcile_environment_paused{environment=\"app.example.com\"} 1$" &&
	curl -sf $URL/ | grep -q "is paused since" &&
	"$RECONCILE" status --repo "git://127.0.0.1:$GITPORT/repo.git" --state-dir state >st.out 2>&1 ;
	test_grep "paused since .*freeze" st.out &&
	test "$(curl -s -o /dev/null -w "%{http_code}" -X POST "$URL/api/resume?environment=app.example.com")" = 202 &&
	wait_version five
'

test_expect_success 'pause and resume on the command line' '
	"$RECONCILE" pause app.example.com --for 30m --reason "release" --state-dir state >out &&
	test_grep "paused for 1800s" out &&
	jq -e ".environments[\"app.example.com\"].until != null" state/pause.json &&
	"$RECONCILE" resume app.example.com --state-dir state >out &&
	test_grep "resumed" out &&
	jq -e ".environments == {}" state/pause.json &&
	test_expect_code 64 "$RECONCILE" pause --state-dir state 2>err &&
	test_expect_code 64 "$RECONCILE" pause x --for soon --state-dir state 2>err
'

test_expect_success 'a unix socket; polling finds a commit no webhook announced, and says so' '
	kill -TERM $daemon && wait $daemon || return 1
	"$RECONCILE" --watch --repo "git://127.0.0.1:$GITPORT/repo.git" --state-dir state --interval 1 --resync 3600 \
		--listen "unix:$TRASH/front.sock" --webhook-secret-file secret >d2.out 2>d2.err 5>&- 6>&- &
	daemon=$! &&
	parts_wait_for 30 curl -sf --unix-socket front.sock http://x/readyz &&
	write_app six && commit six &&
	wait_version six &&
	parts_wait_for 10 grep -q "polling found commit .* that no webhook announced" d2.err &&
	curl -sf --unix-socket front.sock http://x/metrics >m2 &&
	grep -q "^reconcile_webhook_unannounced_commits_total 1$" m2 &&
	curl -sf --unix-socket front.sock http://x/ | grep -q "no webhook announced" &&
	kill -TERM $daemon && wait $daemon &&
	! test -e front.sock
'

test_expect_success 'TLS and basic auth: the pages want the password, healthz does not' '
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout key.pem -out cert.pem \
		-days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 2>/dev/null &&
	echo "admin:pw" >auth &&
	mkdir -p empty &&
	PORT2=$(parts_free_port) || return 1
	"$RECONCILE" --watch --manifests empty --state-dir state3 --listen 127.0.0.1:$PORT2 \
		--listen-tls-cert cert.pem --listen-tls-key key.pem --listen-auth-file auth >d3.out 2>d3.err 5>&- 6>&- &
	daemon=$! &&
	parts_wait_for 30 curl -sf --cacert cert.pem https://127.0.0.1:$PORT2/healthz &&
	test "$(curl -s -o /dev/null -w "%{http_code}" --cacert cert.pem https://127.0.0.1:$PORT2/metrics)" = 401 &&
	test "$(curl -s -o /dev/null -w "%{http_code}" --cacert cert.pem -u admin:nope https://127.0.0.1:$PORT2/)" = 401 &&
	curl -sf --cacert cert.pem -u admin:pw https://127.0.0.1:$PORT2/metrics | promtool check metrics &&
	test "$(curl -s -o /dev/null -w "%{http_code}" -u admin:pw http://127.0.0.1:$PORT2/)" = 000 &&
	kill -TERM $daemon && wait $daemon
'

test_expect_success 'cleanup' '
	kill -TERM $daemon 2>/dev/null; wait $daemon;
	kill $gitd 2>/dev/null; :
'

test_done
