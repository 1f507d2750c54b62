#!/bin/bash
test_description='chaos: kill -9 and SIGTERM at random moments of a health-gated recreate of ten instances; a plain run recovers with no duplicate, lost or stopped container, no lost volume data, no good commit quarantined; the dockerd kind with CHAOS_KINDS (a known bug)'

. "$(dirname "$0")/test-lib.sh"

test_require_parts docker

# CHAOS_TRIALS (default 10 of each kind) and CHAOS_SEED replay a failure; the
# seed of every run is in the output. Bounded for CI: five replaces at a time,
# a 0.2 s gate (tests/bench/bench-chaos.sh runs more). CHAOS_KINDS adds
# dockerd (kill -9 of the dockerd, restarted on its data root), which fails
# until the bug below is fixed.
test_expect_success 'chaos trials: every count is 0' '
	bash "$SRC_ROOT/tests/lib/chaos.sh" --trials "${CHAOS_TRIALS:-10}" \
		--kinds "${CHAOS_KINDS:-kill9,sigterm}" --instances 10 --parallelism 5 --gate 0.2 \
		${CHAOS_SEED:+--seed "$CHAOS_SEED"} --keep "$TRASH/failed" -v >table &&
	cat table
'

# Known bug, found by the dockerd kind (seed 1003144833: 5 of 10 trials fail;
# replay: CHAOS_KINDS=kill9,sigterm,dockerd CHAOS_SEED=1003144833 bash t0990-chaos.sh
# -v; the delays follow from the seed and the kinds in order).
# dockerd runs without live-restore, so when it starts again it kills every
# container it finds running: a new container under its running check exits
# 137, the gate fails ("the container exited (exit code 137)"), the attempt is
# rolled back and QUARANTINED although the commit is good, and plain runs never
# converge again (until --retry-failed or a new commit). A focused test is still
# to write: when the restart is slower than the gate, the check meets
# "connection refused" instead, the result is failed, not quarantined, and the
# next run converges.

test_done
