/*
 * The YAML loader against PyYAML's safe rules (MAESTRO.md, "Pipeline"
 * step 2): typing of every scalar form, keys, duplicates, aliases, merge
 * keys, tags, positions, Python's str() of values, errors and limits.
 * Expected values were checked against PyYAML 6 and CPython's repr().
 */
#include "base/compat.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "base/buf.h"
#include "base/util.h"
#include "manifest/yaml.h"
#include "base/banned.h"

/* ------------------------------------------------------------------ */
/* Helpers                                                            */

/* Every diagnostic as "file:line:col: message\n", for exact comparison. */
static char *diags_text(const rc_diags *d)
{
	rc_buf b = RC_BUF_INIT;

	for (size_t i = 0; i < d->nr; i++)
		rc_buf_addf(&b, "%s:%d:%d: %s\n", d->items[i].file, d->items[i].line,
			    d->items[i].col, d->items[i].message);
	return rc_buf_detach(&b, NULL);
}

static rc_yaml_doc *load_lim(const char *text, size_t len, const rc_yaml_limits *lim,
			     rc_diags *d)
{
	rc_yaml_doc *doc = (rc_yaml_doc *)(uintptr_t)1;
	int err = rc_yaml_load(&doc, text, len, "f.yaml", lim, d);

	if (err == 0) {
		assert_non_null(doc);
		assert_int_equal(d->errors, 0);
	} else {
		assert_int_equal(err, RC_EINVALID);
		assert_null(doc);
		assert_true(d->errors > 0);
	}
	return doc;
}

/* Load text that must be valid; fails the test with the diagnostics otherwise. */
static rc_yaml_doc *load_ok(const char *text)
{
	rc_diags d = RC_DIAGS_INIT;
	rc_yaml_doc *doc = load_lim(text, strlen(text), NULL, &d);

	if (!doc) {
		char *msg = diags_text(&d);
		print_error("unexpected errors loading '%s':\n%s", text, msg);
		free(msg);
		fail();
	}
	rc_diags_release(&d);
	return doc;
}

/* Load text that must fail; the diagnostics must be exactly `want`. */
static void check_errors_lim(const char *text, size_t len, const rc_yaml_limits *lim,
			     const char *want)
{
	rc_diags d = RC_DIAGS_INIT;
	rc_yaml_doc *doc = load_lim(text, len, lim, &d);
	char *got;

	if (doc)
		fail_msg("'%s' loaded, expected errors:\n%s", text, want);
	got = diags_text(&d);
	if (strcmp(got, want))
		fail_msg("errors for '%s':\n got: %s\nwant: %s", text, got, want);
	free(got);
	rc_diags_release(&d);
}

static void check_errors(const char *text, const char *want)
{
	check_errors_lim(text, strlen(text), NULL, want);
}

static char *pystr(const rc_node *n)
{
	rc_buf b = RC_BUF_INIT;
	assert_int_equal(rc_node_pystr(&b, n), 0);
	return rc_buf_detach(&b, NULL);
}

static void check_pystr(const rc_node *n, const char *want)
{
	char *got = pystr(n);
	assert_string_equal(got, want);
	free(got);
}

struct typing {
	const char *yaml;       /* a whole document: one scalar */
	rc_node_type type;
	const char *str;        /* Python str() of the value */
};

static void check_typing(const struct typing *rows, size_t nr)
{
	for (size_t i = 0; i < nr; i++) {
		rc_yaml_doc *doc = load_ok(rows[i].yaml);
		const rc_node *n = rc_yaml_root(doc);
		char *got = pystr(n);

		if (n->type != rows[i].type || strcmp(got, rows[i].str))
			fail_msg("'%s': got %s '%s', want %s '%s'", rows[i].yaml,
				 rc_node_type_name(n->type), got,
				 rc_node_type_name(rows[i].type), rows[i].str);
		free(got);
		rc_yaml_free(doc);
	}
}

/* ------------------------------------------------------------------ */
/* Typing                                                             */

static void test_bool(void **state)
{
	static const struct typing rows[] = {
		{ "yes", RC_NODE_BOOL, "True" }, { "Yes", RC_NODE_BOOL, "True" },
		{ "YES", RC_NODE_BOOL, "True" }, { "no", RC_NODE_BOOL, "False" },
		{ "No", RC_NODE_BOOL, "False" }, { "NO", RC_NODE_BOOL, "False" },
		{ "true", RC_NODE_BOOL, "True" }, { "True", RC_NODE_BOOL, "True" },
		{ "TRUE", RC_NODE_BOOL, "True" }, { "false", RC_NODE_BOOL, "False" },
		{ "False", RC_NODE_BOOL, "False" }, { "FALSE", RC_NODE_BOOL, "False" },
		{ "on", RC_NODE_BOOL, "True" }, { "On", RC_NODE_BOOL, "True" },
		{ "ON", RC_NODE_BOOL, "True" }, { "off", RC_NODE_BOOL, "False" },
		{ "Off", RC_NODE_BOOL, "False" }, { "OFF", RC_NODE_BOOL, "False" },
		/* not bools in YAML 1.1 as PyYAML reads it */
		{ "y", RC_NODE_STR, "y" }, { "n", RC_NODE_STR, "n" },
		{ "Y", RC_NODE_STR, "Y" }, { "N", RC_NODE_STR, "N" },
		{ "yEs", RC_NODE_STR, "yEs" }, { "tRUE", RC_NODE_STR, "tRUE" },
		{ "oN", RC_NODE_STR, "oN" }, { "yes!", RC_NODE_STR, "yes!" },
	};
	(void)state;
	check_typing(rows, RC_ARRAY_SIZE(rows));
}

static void test_null(void **state)
{
	static const struct typing rows[] = {
		{ "~", RC_NODE_NULL, "None" }, { "null", RC_NODE_NULL, "None" },
		{ "Null", RC_NODE_NULL, "None" }, { "NULL", RC_NODE_NULL, "None" },
		{ "---\n", RC_NODE_NULL, "None" },      /* empty plain scalar */
		{ "", RC_NODE_NULL, "None" },           /* empty stream */
		{ "# only a comment\n", RC_NODE_NULL, "None" },
		{ "nULL", RC_NODE_STR, "nULL" }, { "~~", RC_NODE_STR, "~~" },
		{ "None", RC_NODE_STR, "None" },
	};
	rc_yaml_doc *doc;
	const rc_node *v;
	(void)state;
	check_typing(rows, RC_ARRAY_SIZE(rows));

	doc = load_ok("a:\nb: ~\n");
	v = rc_node_get(rc_yaml_root(doc), "a");
	assert_non_null(v);
	assert_int_equal(v->type, RC_NODE_NULL);
	assert_int_equal(rc_node_get(rc_yaml_root(doc), "b")->type, RC_NODE_NULL);
	rc_yaml_free(doc);
}

static void test_int(void **state)
{
	static const struct typing rows[] = {
		{ "0", RC_NODE_INT, "0" }, { "-0", RC_NODE_INT, "0" }, { "+0", RC_NODE_INT, "0" },
		{ "42", RC_NODE_INT, "42" }, { "-17", RC_NODE_INT, "-17" },
		{ "+17", RC_NODE_INT, "17" }, { "1_000_000", RC_NODE_INT, "1000000" },
		{ "1__0_", RC_NODE_INT, "10" },
		/* octal */
		{ "0755", RC_NODE_INT, "493" }, { "-0755", RC_NODE_INT, "-493" },
		{ "0_7", RC_NODE_INT, "7" }, { "00", RC_NODE_INT, "0" }, { "0_", RC_NODE_INT, "0" },
		/* binary */
		{ "0b101", RC_NODE_INT, "5" }, { "-0b1_0", RC_NODE_INT, "-2" },
		{ "+0b0", RC_NODE_INT, "0" },
		/* hex */
		{ "0x1F", RC_NODE_INT, "31" }, { "0x_ff", RC_NODE_INT, "255" },
		{ "-0xA", RC_NODE_INT, "-10" }, { "0xdeadBEEF", RC_NODE_INT, "3735928559" },
		/* base 60 */
		{ "1:30", RC_NODE_INT, "90" }, { "190:20:30", RC_NODE_INT, "685230" },
		{ "-1:30", RC_NODE_INT, "-90" }, { "1:5", RC_NODE_INT, "65" },
		{ "1_0:59", RC_NODE_INT, "659" },
		/* the int64 range */
		{ "9223372036854775807", RC_NODE_INT, "9223372036854775807" },
		{ "-9223372036854775808", RC_NODE_INT, "-9223372036854775808" },
		{ "0x7fffffffffffffff", RC_NODE_INT, "9223372036854775807" },
		/* strings that look like ints */
		{ "08", RC_NODE_STR, "08" }, { "0b", RC_NODE_STR, "0b" },
		{ "0b102", RC_NODE_STR, "0b102" }, { "0x", RC_NODE_STR, "0x" },
		{ "0xg", RC_NODE_STR, "0xg" }, { "0o17", RC_NODE_STR, "0o17" },
		{ "80:8080", RC_NODE_STR, "80:8080" }, { "1:60", RC_NODE_STR, "1:60" },
		{ "0:30", RC_NODE_STR, "0:30" }, { "1:3:x", RC_NODE_STR, "1:3:x" },
		{ "1e3", RC_NODE_STR, "1e3" }, { "12abc", RC_NODE_STR, "12abc" },
		{ "_1", RC_NODE_STR, "_1" }, { "1 000", RC_NODE_STR, "1 000" },
		{ "--1", RC_NODE_STR, "--1" }, { "0X1F", RC_NODE_STR, "0X1F" },
	};
	(void)state;
	check_typing(rows, RC_ARRAY_SIZE(rows));
}

static void test_float(void **state)
{
	static const struct typing rows[] = {
		{ "1.5", RC_NODE_FLOAT, "1.5" }, { "1.50", RC_NODE_FLOAT, "1.5" },
		{ "1.", RC_NODE_FLOAT, "1.0" }, { ".5", RC_NODE_FLOAT, "0.5" },
		{ "-1.5", RC_NODE_FLOAT, "-1.5" }, { "+1.5", RC_NODE_FLOAT, "1.5" },
		{ "1_000.5", RC_NODE_FLOAT, "1000.5" }, { "1.5_5", RC_NODE_FLOAT, "1.55" },
		{ "1.5e+3", RC_NODE_FLOAT, "1500.0" }, { "1.5E-3", RC_NODE_FLOAT, "0.0015" },
		{ "1.e+3", RC_NODE_FLOAT, "1000.0" }, { ".5e+1", RC_NODE_FLOAT, "5.0" },
		{ "1.0e+16", RC_NODE_FLOAT, "1e+16" }, { "1.5e-5", RC_NODE_FLOAT, "1.5e-05" },
		{ "0.1", RC_NODE_FLOAT, "0.1" }, { "0.0001", RC_NODE_FLOAT, "0.0001" },
		{ "0.00001", RC_NODE_FLOAT, "1e-05" }, { "-0.0", RC_NODE_FLOAT, "-0.0" },
		{ "123456789012345678.0", RC_NODE_FLOAT, "1.2345678901234568e+17" },
		{ "190:20:30.15", RC_NODE_FLOAT, "685230.15" }, { "0:30.5", RC_NODE_FLOAT, "30.5" },
		{ "-1:30.", RC_NODE_FLOAT, "-90.0" },
		{ ".inf", RC_NODE_FLOAT, "inf" }, { ".Inf", RC_NODE_FLOAT, "inf" },
		{ ".INF", RC_NODE_FLOAT, "inf" }, { "-.inf", RC_NODE_FLOAT, "-inf" },
		{ "+.Inf", RC_NODE_FLOAT, "inf" }, { ".nan", RC_NODE_FLOAT, "nan" },
		{ ".NaN", RC_NODE_FLOAT, "nan" }, { ".NAN", RC_NODE_FLOAT, "nan" },
		/* strings: the exponent needs a sign and the number a dot */
		{ "1e3", RC_NODE_STR, "1e3" }, { "1.5e3", RC_NODE_STR, "1.5e3" },
		{ "1e+3", RC_NODE_STR, "1e+3" }, { "-.5", RC_NODE_STR, "-.5" },
		{ "+.5", RC_NODE_STR, "+.5" }, { "-.nan", RC_NODE_STR, "-.nan" },
		{ ".", RC_NODE_STR, "." }, { "1.2.3", RC_NODE_STR, "1.2.3" },
		{ ".nAn", RC_NODE_STR, ".nAn" }, { "inf", RC_NODE_STR, "inf" },
		{ "1.5e+", RC_NODE_STR, "1.5e+" }, { "1:60.5", RC_NODE_STR, "1:60.5" },
	};
	(void)state;
	check_typing(rows, RC_ARRAY_SIZE(rows));
}

static void test_strings(void **state)
{
	static const struct typing rows[] = {
		/* dates stay as written */
		{ "2019-01-02", RC_NODE_STR, "2019-01-02" },
		{ "2001-12-14t21:59:43.10-05:00", RC_NODE_STR, "2001-12-14t21:59:43.10-05:00" },
		/* quoted and block scalars are never typed */
		{ "'yes'", RC_NODE_STR, "yes" }, { "\"123\"", RC_NODE_STR, "123" },
		{ "'1.5'", RC_NODE_STR, "1.5" }, { "\"~\"", RC_NODE_STR, "~" },
		{ "''", RC_NODE_STR, "" }, { "\"80:8080\"", RC_NODE_STR, "80:8080" },
		{ "'null'", RC_NODE_STR, "null" },
		{ "|\n  123\n", RC_NODE_STR, "123\n" }, { ">-\n  yes\n", RC_NODE_STR, "yes" },
		{ "hello world", RC_NODE_STR, "hello world" },
		{ "\"caf\\u00e9\"", RC_NODE_STR, "caf\xc3\xa9" },
	};
	rc_yaml_doc *doc;
	const rc_node *n;
	rc_buf b = RC_BUF_INIT;
	(void)state;
	check_typing(rows, RC_ARRAY_SIZE(rows));

	doc = load_ok("'x'");
	assert_true(rc_yaml_root(doc)->quoted);
	rc_yaml_free(doc);
	doc = load_ok("x");
	assert_false(rc_yaml_root(doc)->quoted);
	rc_yaml_free(doc);

	/* a quoted string may hold a NUL: text and len keep it */
	doc = load_ok("\"a\\0b\"");
	n = rc_yaml_root(doc);
	assert_int_equal(n->len, 3);
	assert_memory_equal(n->text, "a\0b", 4);
	assert_int_equal(rc_node_pystr(&b, n), 0);
	assert_int_equal(b.len, 3);
	assert_memory_equal(b.ptr, "a\0b", 3);
	rc_buf_release(&b);
	rc_yaml_free(doc);
}

/* Keys are typed like values: 1 and "1" are two keys. */
static void test_key_typing(void **state)
{
	rc_yaml_doc *doc = load_ok("1: int\n'1': str\ntrue: bool\n~: none\n1.5: f\n0x10: hex\n");
	const rc_node *root = rc_yaml_root(doc), *k;
	static const rc_node_type types[] = { RC_NODE_INT, RC_NODE_STR, RC_NODE_BOOL,
					      RC_NODE_NULL, RC_NODE_FLOAT, RC_NODE_INT };
	(void)state;

	assert_int_equal(root->type, RC_NODE_MAP);
	assert_int_equal(root->n, 6);
	for (size_t i = 0; i < 6; i++)
		assert_int_equal(root->keys[i]->type, types[i]);
	assert_int_equal(root->keys[0]->v.i, 1);
	assert_int_equal(root->keys[5]->v.i, 16);
	/* rc_node_get matches string keys only */
	assert_string_equal(rc_node_get(root, "1")->text, "str");
	assert_null(rc_node_get(root, "true"));
	assert_null(rc_node_get(root, "0x10"));
	assert_null(rc_node_get(root, "nope"));
	assert_string_equal(rc_node_get_kv(root, "1", &k)->text, "str");
	assert_int_equal(k->line, 2);
	assert_int_equal(k->col, 1);
	assert_null(rc_node_get_kv(root, "nope", &k));
	assert_null(k);
	assert_null(rc_node_get(root->items[0], "x"));   /* not a map */
	assert_null(rc_node_get(NULL, "x"));
	rc_yaml_free(doc);
}

/* ------------------------------------------------------------------ */
/* Explicit tags                                                      */

static void test_tags(void **state)
{
	static const struct typing rows[] = {
		{ "!!str 123", RC_NODE_STR, "123" }, { "!!str yes", RC_NODE_STR, "yes" },
		{ "!!int '0x1F'", RC_NODE_INT, "31" }, { "!!int \"1_000\"", RC_NODE_INT, "1000" },
		{ "!!int 0755", RC_NODE_INT, "493" },
		{ "!<tag:yaml.org,2002:int> 12", RC_NODE_INT, "12" },
		{ "!!float '1'", RC_NODE_FLOAT, "1.0" }, { "!!float 1e3", RC_NODE_FLOAT, "1000.0" },
		{ "!!float .INF", RC_NODE_FLOAT, "inf" }, { "!!float '1:30'", RC_NODE_FLOAT, "90.0" },
		{ "!!bool 'YES'", RC_NODE_BOOL, "True" }, { "!!bool oFf", RC_NODE_BOOL, "False" },
		{ "!!null 'x'", RC_NODE_NULL, "None" }, { "!!null", RC_NODE_NULL, "None" },
		/* PyYAML resolves `!` like no tag at all, even when quoted */
		{ "! 123", RC_NODE_INT, "123" }, { "! \"yes\"", RC_NODE_BOOL, "True" },
	};
	rc_yaml_doc *doc;
	(void)state;
	check_typing(rows, RC_ARRAY_SIZE(rows));

	doc = load_ok("a: !!map {x: 1}\nb: !!seq [1]\nc: ! [1]\n");
	assert_int_equal(rc_node_get(rc_yaml_root(doc), "a")->type, RC_NODE_MAP);
	assert_int_equal(rc_node_get(rc_yaml_root(doc), "b")->type, RC_NODE_SEQ);
	assert_int_equal(rc_node_get(rc_yaml_root(doc), "c")->type, RC_NODE_SEQ);
	rc_yaml_free(doc);

	check_errors("a: !foo x\n", "f.yaml:1:4: unsupported tag '!foo'\n");
	check_errors("a: !!timestamp 2019-01-01\n", "f.yaml:1:4: unsupported tag '!!timestamp'\n");
	check_errors("a: !!python/object:os.system x\n",
		     "f.yaml:1:4: unsupported tag '!!python/object:os.system'\n");
	check_errors("a: !!set {x}\n", "f.yaml:1:4: unsupported tag '!!set'\n");
	check_errors("a: !!int abc\n", "f.yaml:1:4: invalid integer 'abc'\n");
	check_errors("a: !!int 09\n", "f.yaml:1:4: invalid integer '09'\n");
	check_errors("a: !!int ''\n", "f.yaml:1:4: invalid integer ''\n");
	check_errors("a: !!float 0x10\n", "f.yaml:1:4: invalid float '0x10'\n");
	check_errors("a: !!bool y\n", "f.yaml:1:4: invalid bool 'y'\n");
	check_errors("a: !!map x\n", "f.yaml:1:4: scalar with collection tag '!!map'\n");
	check_errors("a: !!seq {x: 1}\n", "f.yaml:1:4: mapping with tag '!!seq'\n");
	check_errors("a: !!str [1]\n", "f.yaml:1:4: sequence with tag '!!str'\n");
	/* all of a file's problems, not the first */
	check_errors("a: !x 1\nb: !y 2\n",
		     "f.yaml:1:4: unsupported tag '!x'\nf.yaml:2:4: unsupported tag '!y'\n");
}

/* ------------------------------------------------------------------ */
/* Mappings                                                           */

static void test_duplicate_keys(void **state)
{
	rc_yaml_doc *doc;
	(void)state;

	check_errors("a: 1\nb: 2\na: 3\n", "f.yaml:3:1: duplicate key 'a' (first at line 1)\n");
	check_errors("yes: 1\ntrue: 2\n", "f.yaml:2:1: duplicate key 'true' (first at line 1)\n");
	check_errors("on: 1\nYES: 2\n", "f.yaml:2:1: duplicate key 'YES' (first at line 1)\n");
	check_errors("~: 1\nnull: 2\n", "f.yaml:2:1: duplicate key 'null' (first at line 1)\n");
	check_errors("0x10: a\n16: b\n", "f.yaml:2:1: duplicate key '16' (first at line 1)\n");
	check_errors("1.0: a\n1.: b\n", "f.yaml:2:1: duplicate key '1.' (first at line 1)\n");
	check_errors("'a': 1\n\"a\": 2\n", "f.yaml:2:1: duplicate key 'a' (first at line 1)\n");
	check_errors("{a: 1, a: 2}\n", "f.yaml:1:8: duplicate key 'a' (first at line 1)\n");
	check_errors("top:\n  x:\n    k: 1\n    k: 2\n",
		     "f.yaml:4:5: duplicate key 'k' (first at line 3)\n");
	/* every duplicate of the file */
	check_errors("a: {x: 1, x: 2}\nb: {y: 1, y: 2}\n",
		     "f.yaml:1:11: duplicate key 'x' (first at line 1)\n"
		     "f.yaml:2:11: duplicate key 'y' (first at line 2)\n");
	/* an aliased key counts where the alias is */
	check_errors("a: &k key\nm:\n  key: 1\n  *k : 2\n",
		     "f.yaml:4:3: duplicate key 'key' (first at line 3)\n");
	check_errors("? [1]\n: x\n", "f.yaml:1:3: found unhashable key (a list)\n");

	/* same text, different types: not duplicates */
	doc = load_ok("1: a\n'1': b\nyes: c\n'yes': d\n1.0: e\n");
	assert_int_equal(rc_yaml_root(doc)->n, 5);
	rc_yaml_free(doc);
	/* the same key in two maps is fine */
	doc = load_ok("a: {k: 1}\nb: {k: 2}\n");
	assert_int_equal(rc_node_get(rc_node_get(rc_yaml_root(doc), "b"), "k")->v.i, 2);
	rc_yaml_free(doc);
}

static void test_aliases(void **state)
{
	rc_yaml_doc *doc;
	const rc_node *root;
	(void)state;

	doc = load_ok("a: &x {p: 1}\nb: *x\nc: [*x, *x]\n");
	root = rc_yaml_root(doc);
	/* an alias is the anchored node, not a copy */
	assert_ptr_equal(rc_node_get(root, "a"), rc_node_get(root, "b"));
	assert_ptr_equal(rc_node_get(root, "c")->items[1], rc_node_get(root, "a"));
	assert_int_equal(rc_node_get(rc_node_get(root, "b"), "p")->v.i, 1);
	rc_yaml_free(doc);

	/* a redefined anchor: the later definition wins from there on */
	doc = load_ok("a: &x 1\nb: *x\nc: &x 2\nd: *x\n");
	root = rc_yaml_root(doc);
	assert_int_equal(rc_node_get(root, "b")->v.i, 1);
	assert_int_equal(rc_node_get(root, "d")->v.i, 2);
	rc_yaml_free(doc);

	/* scalar anchors keep their type */
	doc = load_ok("port: &p 8080\nother: *p\n");
	assert_int_equal(rc_node_get(rc_yaml_root(doc), "other")->type, RC_NODE_INT);
	rc_yaml_free(doc);

	check_errors("a: *nope\n", "f.yaml:1:4: found undefined alias 'nope'\n");
	check_errors("a: *x\nb: &x 1\n", "f.yaml:1:4: found undefined alias 'x'\n");
	check_errors("a: &x [1, *x]\n",
		     "f.yaml:1:11: alias 'x' refers to a collection that contains it\n");
	check_errors("a: &x {b: {c: *x}}\n",
		     "f.yaml:1:15: alias 'x' refers to a collection that contains it\n");
}

static void check_keys(const rc_node *map, const char *const *keys, const int64_t *vals, size_t nr)
{
	assert_int_equal(map->type, RC_NODE_MAP);
	assert_int_equal(map->n, nr);
	for (size_t i = 0; i < nr; i++) {
		assert_int_equal(map->keys[i]->type, RC_NODE_STR);
		assert_string_equal(map->keys[i]->text, keys[i]);
		assert_int_equal(map->items[i]->type, RC_NODE_INT);
		assert_int_equal(map->items[i]->v.i, vals[i]);
	}
}

static void test_merge(void **state)
{
	rc_yaml_doc *doc;
	const rc_node *root;
	(void)state;

	/* single: explicit keys win and come first, then the merged ones */
	doc = load_ok("base: &b {x: 1, y: 2}\n"
		      "d:\n  <<: *b\n  y: 3\n  z: 4\n");
	{
		static const char *const k[] = { "y", "z", "x" };
		static const int64_t v[] = { 3, 4, 1 };
		check_keys(rc_node_get(rc_yaml_root(doc), "d"), k, v, 3);
	}
	rc_yaml_free(doc);

	/* a list: earlier maps win */
	doc = load_ok("a: &a {k: 1, a: 1}\nb: &b {k: 2, b: 2}\n"
		      "c:\n  <<: [*a, *b]\n");
	{
		static const char *const k[] = { "k", "a", "b" };
		static const int64_t v[] = { 1, 1, 2 };
		check_keys(rc_node_get(rc_yaml_root(doc), "c"), k, v, 3);
	}
	rc_yaml_free(doc);

	/* explicit wins over a list; `<<` after the explicit keys changes nothing */
	doc = load_ok("a: &a {k: 1, a: 1}\nb: &b {k: 2, b: 2}\n"
		      "c:\n  b: 9\n  <<: [*b, *a]\n  k: 7\n");
	{
		static const char *const k[] = { "b", "k", "a" };
		static const int64_t v[] = { 9, 7, 1 };
		check_keys(rc_node_get(rc_yaml_root(doc), "c"), k, v, 3);
	}
	rc_yaml_free(doc);

	/* an inline map, and a merge of a map that merged itself */
	doc = load_ok("a: &a {x: 1}\nb: &b {<<: *a, y: 2}\nc: {<<: *b, z: 3}\nd: {<<: {w: 4}}\n");
	root = rc_yaml_root(doc);
	{
		static const char *const k[] = { "z", "y", "x" };
		static const int64_t v[] = { 3, 2, 1 };
		static const char *const k2[] = { "w" };
		static const int64_t v2[] = { 4 };
		check_keys(rc_node_get(root, "c"), k, v, 3);
		check_keys(rc_node_get(root, "d"), k2, v2, 1);
	}
	rc_yaml_free(doc);

	/* a quoted "<<" is an ordinary key */
	doc = load_ok("a: &a {x: 1}\nb: {'<<': *a}\n");
	root = rc_node_get(rc_yaml_root(doc), "b");
	assert_int_equal(root->n, 1);
	assert_ptr_equal(rc_node_get(root, "<<"), rc_node_get(rc_yaml_root(doc), "a"));
	rc_yaml_free(doc);

	check_errors("a: &s x\nb:\n  <<: *s\n",
		     "f.yaml:3:7: expected a mapping or list of mappings for merging, "
		     "but found string\n");
	check_errors("b:\n  <<: [{a: 1}, x]\n",
		     "f.yaml:2:16: expected a mapping for merging, but found string\n");
	check_errors("a: &a {x: 1}\nb: {<<: *a, <<: *a}\n",
		     "f.yaml:2:13: duplicate merge key '<<' (first at line 2)\n");
	check_errors("a: &a {x: 1}\nb: {<<: *a, y: 1, y: 2}\n",
		     "f.yaml:2:19: duplicate key 'y' (first at line 2)\n");
}

/* ------------------------------------------------------------------ */
/* Positions, documents, errors                                       */

static void test_positions(void **state)
{
	rc_yaml_doc *doc = load_ok("# head\na:\n  b:\n    - x\n    - {c: 42}\n");
	const rc_node *root = rc_yaml_root(doc), *b, *m, *k, *v;
	(void)state;

	assert_int_equal(root->line, 2);
	assert_int_equal(root->col, 1);
	b = rc_node_get(rc_node_get(root, "a"), "b");
	assert_int_equal(b->type, RC_NODE_SEQ);
	assert_int_equal(b->line, 4);
	assert_int_equal(b->col, 5);
	assert_int_equal(b->items[0]->line, 4);
	assert_int_equal(b->items[0]->col, 7);
	m = b->items[1];
	assert_int_equal(m->line, 5);
	assert_int_equal(m->col, 7);
	v = rc_node_get_kv(m, "c", &k);
	assert_int_equal(k->line, 5);
	assert_int_equal(k->col, 8);
	assert_int_equal(v->line, 5);
	assert_int_equal(v->col, 11);
	assert_int_equal(v->v.i, 42);
	rc_yaml_free(doc);

	/* columns count characters, not bytes */
	doc = load_ok("\xc3\xa9t\xc3\xa9: 1\n");
	v = rc_node_get(rc_yaml_root(doc), "\xc3\xa9t\xc3\xa9");
	assert_int_equal(v->col, 6);
	rc_yaml_free(doc);
}

static void test_documents(void **state)
{
	rc_yaml_doc *doc;
	(void)state;

	check_errors("a: 1\n---\nb: 2\n",
		     "f.yaml:2:1: expected a single document in the stream, "
		     "but found another document\n");
	check_errors("--- a\n...\n--- b\n",
		     "f.yaml:3:1: expected a single document in the stream, "
		     "but found another document\n");
	doc = load_ok("--- {a: 1}\n...\n");
	assert_int_equal(rc_yaml_root(doc)->type, RC_NODE_MAP);
	rc_yaml_free(doc);
	doc = load_ok("%YAML 1.1\n---\na: 1\n");
	assert_int_equal(rc_node_get(rc_yaml_root(doc), "a")->v.i, 1);
	rc_yaml_free(doc);
	assert_null(rc_yaml_root(NULL));
	rc_yaml_free(NULL);
}

static void test_syntax_errors(void **state)
{
	static const char garbage[] = "\xff\xfe\x00\x01garbage\x80";
	(void)state;

	check_errors("a:\n  b: 1\n c: 2\n",
		     "f.yaml:3:2: did not find expected key "
		     "(while parsing a block mapping at line 1, column 1)\n");
	check_errors("a: \"abc\n",
		     "f.yaml:2:1: found unexpected end of stream "
		     "(while scanning a quoted scalar at line 1, column 4)\n");
	check_errors("a: [1, 2\n",
		     "f.yaml:2:1: did not find expected ',' or ']' "
		     "(while parsing a flow sequence at line 1, column 4)\n");
	check_errors("a: b: c\n", "f.yaml:1:5: mapping values are not allowed in this context\n");
	check_errors("\t- a\n",
		     "f.yaml:1:1: found character that cannot start any token "
		     "(while scanning for the next token at line 1, column 1)\n");
	check_errors("a: !e!x 1\n",
		     "f.yaml:1:4: found undefined tag handle "
		     "(while parsing a node at line 1, column 4)\n");
	/* invalid UTF-8 and binary garbage: a clean, positioned error */
	check_errors("a: 1\nb: \xc3\x28\n",
		     "f.yaml:2:5: invalid trailing UTF-8 octet (byte 0x28)\n");
	check_errors_lim(garbage, sizeof(garbage) - 1, NULL,
			 "f.yaml:1:1: invalid leading UTF-8 octet (byte 0xff)\n");
	check_errors("a: \x01\n", "f.yaml:1:4: control characters are not allowed (byte 0x01)\n");
	/* an int outside int64 is an error, not a wrapped value */
	check_errors("a: 9223372036854775808\n",
		     "f.yaml:1:4: integer '9223372036854775808' out of range\n");
	check_errors("a: -0x8000000000000001\n",
		     "f.yaml:1:4: integer '-0x8000000000000001' out of range\n");
	check_errors("a: !!int 99999999999999999999\n",
		     "f.yaml:1:4: integer '99999999999999999999' out of range\n");
	/* PyYAML's int regex takes these, but there are no digits to construct */
	check_errors("a: 0b_\nb: -0x__\n",
		     "f.yaml:1:4: invalid integer '0b_'\nf.yaml:2:4: invalid integer '-0x__'\n");
	check_errors("a: 999999999999999999:59\n",
		     "f.yaml:1:4: integer '999999999999999999:59' out of range\n");
}

/* ------------------------------------------------------------------ */
/* Limits                                                             */

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_depth(void **state)
{
	rc_yaml_limits lim = { 3, 0, 0 };
	rc_yaml_doc *doc;
	rc_diags d = RC_DIAGS_INIT;
	size_t n = 100000;
	char *deep = rc_xmalloc(n + 1);
	double t0;
	(void)state;

	doc = load_lim("[[[1]]]", 7, &lim, &d);
	assert_non_null(doc);
	rc_yaml_free(doc);
	check_errors_lim("[[[[1]]]]", 9, &lim, "f.yaml:1:4: nesting deeper than 3 levels\n");
	check_errors_lim("a:\n  b:\n    c:\n      d: 1\n", 25, &lim,
			 "f.yaml:4:7: nesting deeper than 3 levels\n");

	/* 100,000 brackets: stopped at the default depth, quickly, no crash */
	memset(deep, '[', n);
	deep[n] = '\0';
	t0 = now();
	check_errors_lim(deep, n, NULL, "f.yaml:1:513: nesting deeper than 512 levels\n");
	assert_true(now() - t0 < 1.0);
	memset(deep, '{', n);
	check_errors_lim(deep, n, NULL, "f.yaml:1:513: nesting deeper than 512 levels\n");
	free(deep);
}

static void test_alias_bomb(void **state)
{
	static const char bomb[] =
		"a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
		"b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
		"c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
		"d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
		"e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
		"f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
		"g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\n"
		"h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]\n"
		"i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]\n";
	rc_yaml_limits small = { 0, 0, 10 };
	double t0 = now();
	(void)state;

	check_errors(bomb, "f.yaml:7:8: document expands to more than 1000000 nodes (alias bomb?)\n");
	assert_true(now() - t0 < 1.0);

	/* the count is of the whole tree: map 1 + key 1 + seq 4, key 1, then 4 more */
	check_errors_lim("a: &a [1, 2, 3]\nb: *a\n", 21, &small,
			 "f.yaml:2:4: document expands to more than 10 nodes (alias bomb?)\n");
	small.max_expanded = 11;
	{
		rc_diags d = RC_DIAGS_INIT;
		rc_yaml_doc *doc = load_lim("a: &a [1, 2, 3]\nb: *a\n", 21, &small, &d);
		assert_non_null(doc);
		rc_yaml_free(doc);
	}
}

static void test_node_limit(void **state)
{
	rc_yaml_limits lim = { 0, 5, 0 };
	rc_yaml_doc *doc;
	rc_diags d = RC_DIAGS_INIT;
	(void)state;

	doc = load_lim("[1, 2, 3, 4]", 12, &lim, &d);
	assert_non_null(doc);
	rc_yaml_free(doc);
	check_errors_lim("[1,2,3,4,5]", 11, &lim, "f.yaml:1:10: document has more than 5 nodes\n");
}

/* 10 MB of valid YAML: loads, or stops at a limit; never crashes. */
static void test_big(void **state)
{
	rc_buf b = RC_BUF_INIT;
	rc_yaml_limits lim = { 0, 10000, 0 };
	rc_diags d = RC_DIAGS_INIT;
	rc_yaml_doc *doc;
	char *filler = rc_xmalloc(1001);
	size_t i;
	(void)state;

	memset(filler, 'x', 1000);
	filler[1000] = '\0';
	for (i = 0; b.len < (size_t)10 << 20; i++)
		assert_int_equal(rc_buf_addf(&b, "k%zu: %s\n", i, filler), 0);
	doc = load_lim(b.ptr, b.len, NULL, &d);
	assert_non_null(doc);
	assert_int_equal(rc_yaml_root(doc)->n, i);
	assert_int_equal(rc_node_get(rc_yaml_root(doc), "k7")->len, 1000);
	rc_yaml_free(doc);

	rc_buf_reset(&b);
	for (i = 0; b.len < (size_t)10 << 20; i++)
		assert_int_equal(rc_buf_addf(&b, "- {a: %zu, b: [yes, 1.5]}\n", i), 0);
	check_errors_lim(b.ptr, b.len, &lim, "f.yaml:1429:13: document has more than 10000 nodes\n");
	rc_buf_release(&b);
	free(filler);
}

/* ------------------------------------------------------------------ */
/* Python formatting                                                  */

static void test_pyfloat_repr(void **state)
{
	static const struct { double f; const char *want; } rows[] = {
		{ 1.5, "1.5" }, { 1500.0, "1500.0" }, { 0.1, "0.1" }, { 1e16, "1e+16" },
		{ 1e15, "1000000000000000.0" }, { 9999999999999998.0, "9999999999999998.0" },
		{ 1.5e-5, "1.5e-05" }, { 0.0001, "0.0001" }, { 0.00001, "1e-05" },
		{ 123456789012345678.0, "1.2345678901234568e+17" }, { -0.0, "-0.0" },
		{ 0.0, "0.0" }, { -2.5e20, "-2.5e+20" }, { 1e100, "1e+100" },
		{ 100.0, "100.0" }, { 0.5, "0.5" }, { 123.456, "123.456" },
		{ 1.0 / 3, "0.3333333333333333" }, { 2.0 / 3, "0.6666666666666666" },
		{ 5e-324, "5e-324" }, { 1.7976931348623157e308, "1.7976931348623157e+308" },
		/* a power of two where the nearest 16 digits do not read back but 16 others do */
		{ 0x1p-1017, "7.120236347223045e-307" },
		{ 1152921504606846976.0, "1.152921504606847e+18" },   /* 2**60 */
		{ -1.5, "-1.5" }, { 1e22, "1e+22" }, { 1e-7, "1e-07" },
	};
	rc_buf b = RC_BUF_INIT;
	(void)state;

	for (size_t i = 0; i < RC_ARRAY_SIZE(rows); i++) {
		rc_buf_reset(&b);
		assert_int_equal(rc_pyfloat_repr(&b, rows[i].f), 0);
		if (strcmp(b.ptr, rows[i].want))
			fail_msg("repr(%.17g): got '%s', want '%s'", rows[i].f, b.ptr, rows[i].want);
	}
	rc_buf_reset(&b);
	assert_int_equal(rc_pyfloat_repr(&b, INFINITY), 0);
	assert_int_equal(rc_pyfloat_repr(&b, -INFINITY), 0);
	assert_int_equal(rc_pyfloat_repr(&b, NAN), 0);
	assert_string_equal(b.ptr, "inf-infnan");

	/* appends, and a full buffer is an error */
	rc_buf_release(&b);
	rc_buf_init(&b, 4);
	assert_int_equal(rc_pyfloat_repr(&b, 1.5), 0);
	assert_int_equal(rc_pyfloat_repr(&b, 1.5), RC_ELIMIT);
	assert_string_equal(b.ptr, "1.5");
	rc_buf_release(&b);
}

static void test_pystr(void **state)
{
	rc_yaml_doc *doc = load_ok("{b: yes, i: 0755, f: 1.5e+3, s: 2019-01-02, n: ~, l: [1], m: {}}");
	const rc_node *root = rc_yaml_root(doc);
	rc_buf b = RC_BUF_INIT;
	(void)state;

	check_pystr(rc_node_get(root, "b"), "True");
	check_pystr(rc_node_get(root, "i"), "493");
	check_pystr(rc_node_get(root, "f"), "1500.0");
	check_pystr(rc_node_get(root, "s"), "2019-01-02");
	check_pystr(rc_node_get(root, "n"), "None");
	assert_int_equal(rc_node_pystr(&b, rc_node_get(root, "l")), RC_EINVALID);
	assert_int_equal(rc_node_pystr(&b, rc_node_get(root, "m")), RC_EINVALID);
	assert_int_equal(b.len, 0);
	rc_yaml_free(doc);

	assert_string_equal(rc_node_type_name(RC_NODE_NULL), "null");
	assert_string_equal(rc_node_type_name(RC_NODE_BOOL), "bool");
	assert_string_equal(rc_node_type_name(RC_NODE_INT), "int");
	assert_string_equal(rc_node_type_name(RC_NODE_FLOAT), "float");
	assert_string_equal(rc_node_type_name(RC_NODE_STR), "string");
	assert_string_equal(rc_node_type_name(RC_NODE_SEQ), "list");
	assert_string_equal(rc_node_type_name(RC_NODE_MAP), "mapping");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bool),
		cmocka_unit_test(test_null),
		cmocka_unit_test(test_int),
		cmocka_unit_test(test_float),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_key_typing),
		cmocka_unit_test(test_tags),
		cmocka_unit_test(test_duplicate_keys),
		cmocka_unit_test(test_aliases),
		cmocka_unit_test(test_merge),
		cmocka_unit_test(test_positions),
		cmocka_unit_test(test_documents),
		cmocka_unit_test(test_syntax_errors),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_alias_bomb),
		cmocka_unit_test(test_node_limit),
		cmocka_unit_test(test_big),
		cmocka_unit_test(test_pyfloat_repr),
		cmocka_unit_test(test_pystr),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
