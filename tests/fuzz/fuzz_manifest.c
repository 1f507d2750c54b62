/*
 * Fuzz the whole manifest path: the bytes are an environment's
 * maestro.yaml (beside a fixed envfile and include), rendered, parsed,
 * built into the model, turned into desired containers, and planned
 * against empty Docker hosts. Nothing may crash, leak or hang.
 */
#include "base/compat.h"
#include "manifest/load.h"
#include "plan/plan.h"
#include "plan/report.h"
#include "source/source.h"
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const envp[] = { "HOME=/root", "REGISTRY=r.example.com", NULL };
	rc_source_file files[] = {
		{ "f.example.com/maestro.yaml", (const char *)data, size },
		{ "f.example.com/a.env", "A=1\nB = two\n# c\n", 16 },
		{ "f.example.com/inc.yaml", "ships: {vm1: {ip: 10.0.0.1}}\n", 29 },
	};
	rc_source *src;
	rc_manifests m;
	rc_error err = RC_ERROR_INIT;
	rc_load_opts lo = { .envp = envp };

	rc_source_open_memory(&src, files, RC_ARRAY_SIZE(files));
	if (rc_manifests_load(&m, src, NULL, &lo, &err) == 0) {
		rc_plan_input_env *in = calloc(m.nr ? m.nr : 1, sizeof(*in));
		rc_observed_ship *ships = calloc(8, sizeof(*ships));
		size_t nships = 0;
		rc_plan_opts po;
		rc_plan plan;
		for (size_t i = 0; i < m.nr; i++) {
			in[i].name = m.v[i].name;
			in[i].env = m.v[i].env;
			in[i].diags = &m.v[i].diags;
			/* every ship of the environment observed empty and reachable */
			for (size_t s = 0; m.v[i].env && s < m.v[i].env->ships_nr && nships < 8; s++) {
				ships[nships].endpoint = rc_ship_endpoint(&m.v[i].env->ships[s]);
				ships[nships].reachable = true;
				nships++;
			}
		}
		memset(&po, 0, sizeof(po));
		rc_plan_compute(&plan, in, m.nr, ships, nships, &po);
		json_decref(rc_plan_to_json(&plan, false));
		rc_plan_release(&plan);
		for (size_t s = 0; s < nships; s++)
			rc_observed_ship_release(&ships[s]);
		free(ships);
		free(in);
		rc_manifests_release(&m);
	}
	rc_source_free(src);
	return 0;
}
