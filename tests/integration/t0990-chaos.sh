#!/bin/bash
test_description='chaos: kill -9, SIGTERM and a dockerd kill -9 and restart at random moments of a health-gated recreate of ten instances; a plain run recovers with no duplicate, lost or stopped container, no lost volume data, no good commit quarantined'

. "$(dirname "$0")/test-lib.sh"

test_require_parts docker

# CHAOS_TRIALS (default 6 of each kind) and CHAOS_SEED replay a failure; the
# seed of every run is in the output. Bounded for CI (about 3.5 minutes): five
# replaces at a time, a 0.2 s gate (tests/bench/bench-chaos.sh runs more).
# CHAOS_KINDS picks the kinds (kill9, sigterm, dockerd: kill -9 of the
# dockerd, restarted on its data root; the delays follow from the seed and
# the kinds in order).
test_expect_success 'chaos trials: every count is 0' '
	bash "$SRC_ROOT/tests/lib/chaos.sh" --trials "${CHAOS_TRIALS:-6}" \
		--kinds "${CHAOS_KINDS:-kill9,sigterm,dockerd}" --instances 10 --parallelism 5 --gate 0.2 \
		${CHAOS_SEED:+--seed "$CHAOS_SEED"} --keep "$TRASH/failed" -v >table &&
	cat table
'

# The dockerd kind found a bug (seed 1003144833 with kill9,sigterm,dockerd: 5
# of 10 trials failed): without live-restore a restarting dockerd kills every
# container, the new one under its gate too; the attempt was rolled back and
# quarantined although the commit was good. Fixed (run/apply.c: a rollback
# during which the daemon went away is not quarantined); t0991 is its
# focused test.

test_done
