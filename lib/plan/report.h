#ifndef RC_REPORT_H
#define RC_REPORT_H
#include "base/compat.h"
#include "plan/plan.h"
#include <jansson.h>

/*
 * The plan as DESIGN §7's JSON document (new reference); `applied` adds
 * each action's "result". Each environment also has "warnings", shaped
 * like "errors" (as `reconcile validate` prints them). The fingerprint covers the actions and their
 * reasons and the desired spec hashes, not the results, so a dry run's
 * fingerprint equals the following apply's when the hosts did not move.
 */
json_t *rc_plan_to_json(const rc_plan *plan, bool applied);

/*
 * "ships" of that document (and of `status`): per observed ship, the run's
 * owner and what it holds: "managed" (ours), "foreign" (another owner's,
 * never touched) and "unmanaged" (no labels of ours) containers.
 */
json_t *rc_plan_ships_to_json(const rc_plan *plan);

#endif
