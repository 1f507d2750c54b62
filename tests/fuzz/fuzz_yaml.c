/*
 * libFuzzer target for the YAML loader: manifests come from git
 * repositories we do not control. Loads the bytes, walks the tree
 * without recursion (aliases make it a DAG: the walk is bounded by the
 * loader's expanded-size limit, which is set low here so each input
 * stays cheap), and formats every scalar as Python would.
 */
#include "base/compat.h"
#include "base/buf.h"
#include "base/error.h"
#include "base/util.h"
#include "manifest/yaml.h"
#include <stdlib.h>
#include <string.h>
#include "base/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void walk(const rc_node *root)
{
	const rc_node **stack = NULL;
	size_t nr = 0, alloc = 0;
	rc_buf b = RC_BUF_INIT;

	RC_ALLOC_GROW(stack, nr + 1, alloc);
	stack[nr++] = root;
	while (nr) {
		const rc_node *n = stack[--nr];

		if (n->type == RC_NODE_SEQ || n->type == RC_NODE_MAP) {
			if (rc_node_pystr(&b, n) != RC_EINVALID)
				abort();
			for (size_t i = 0; i < n->n; i++) {
				RC_ALLOC_GROW(stack, nr + 2, alloc);
				stack[nr++] = n->items[i];
				if (n->type == RC_NODE_MAP) {
					stack[nr++] = n->keys[i];
					(void)rc_node_get(n, "name");
				}
			}
			continue;
		}
		if (n->line < 1 || n->col < 1 || !n->text || n->text[n->len] != '\0')
			abort();
		rc_buf_reset(&b);
		if (rc_node_pystr(&b, n) < 0)
			abort();
		(void)rc_node_type_name(n->type);
	}
	rc_buf_release(&b);
	free(stack);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	rc_yaml_limits lim = { 64, 20000, 20000 };
	rc_diags d = RC_DIAGS_INIT;
	rc_yaml_doc *doc = NULL;
	int err = rc_yaml_load(&doc, (const char *)data, size, "fuzz.yaml", &lim, &d);

	if (err == 0) {
		if (!doc || d.errors)
			abort();
		walk(rc_yaml_root(doc));
	} else if (doc || !d.errors) {
		abort();
	}
	for (size_t i = 0; i < d.nr; i++)
		if (!d.items[i].message[0])
			abort();
	rc_yaml_free(doc);
	rc_diags_release(&d);
	return 0;
}
