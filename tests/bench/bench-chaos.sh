#!/bin/bash
# tests/bench/bench-chaos.sh: more chaos trials than CI runs (tests/lib/chaos.sh):
# kill -9, SIGTERM and dockerd kills at random moments of a health-gated
# recreate of ten instances, then a recovery run; prints the table of counts
# (all must be 0) and the seed.
#
#   bash tests/bench/bench-chaos.sh [TRIALS] [chaos.sh options...]   (default 50; needs root)
#
# e.g. bash tests/bench/bench-chaos.sh 50 --kinds dockerd --parallelism 1 --gate 1
cd "$(dirname "$0")/../.." || exit 2
make -s -j2 reconciler/reconcile || exit 2
trials=${1:-50}
test $# -eq 0 || shift
exec bash tests/lib/chaos.sh --trials "$trials" --kinds kill9,sigterm,dockerd --instances 10 \
	--parallelism 2 --gate 0.5 "$@"
