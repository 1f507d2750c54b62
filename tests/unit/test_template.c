#include "base/compat.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>
#include "base/buf.h"
#include "base/error.h"
#include "template/template.h"
#include "base/banned.h"

/*
 * Expected texts are written by hand from Jinja2's documented rules
 * (default Environment: no autoescape, trim_blocks and lstrip_blocks off,
 * keep_trailing_newline off) and Python's str()/repr().
 */

static const char *const test_env[] = {
	"HOME=/home/maestro", "MAESTRO_ENV=kafka-test", "ZK_HEAP=1g", "EMPTY=", "EQ=a=b", "NOEQUALS",
	NULL
};

struct mem_file {
	const char *path;
	const char *text;
};

static const struct mem_file mem_files[] = {
	{ "common.yaml", "port: {{ port }}\n" },
	{ "sets.yaml", "{% set leaked = 'no' %}{{ leaked }}" },
	{ "sub/part.yaml", "[{{ env.HOME }}]" },
	{ "self.yaml", "x{% include 'self.yaml' %}" },
	{ "bad.yaml", "line one\n{{ 1 +* 2 }}" },
	{ "runtime.yaml", "a\nb {{ 1 // 0 }}" },
	{ "loopvar.yaml", "{{ item }}:{{ loop.index }}" },
	{ "ctx.yaml", "{{ 'yes' if env is defined else 'no' }}" },
	{ NULL, NULL }
};

static int mem_reader(void *ctx, const char *relpath, rc_buf *out, rc_error *err)
{
	const struct mem_file *f = ctx;
	for (; f->path; f++)
		if (!strcmp(f->path, relpath))
			return rc_buf_adds(out, f->text);
	return rc_error_set(err, RC_ENOTFOUND, "'%s' not found", relpath);
}

static int render(rc_buf *out, rc_diags *d, const char *text, size_t len, rc_template_opts *o)
{
	rc_template_opts def = { 0 };
	if (!o) {
		o = &def;
		def.envp = test_env;
		def.reader = mem_reader;
		def.reader_ctx = (void *)mem_files;
		def.display_dir = "env.example.com";
	}
	return rc_template_render(out, text, len, "env.example.com/maestro.yaml", o, d);
}

static void dump_diags(const rc_diags *d)
{
	for (size_t i = 0; i < d->nr; i++)
		print_error("  diag: %s:%d:%d: %s\n", d->items[i].file, d->items[i].line,
			    d->items[i].col, d->items[i].message);
}

/* Whether `text` renders, without any diagnostic, to exactly `expected`. */
static bool renders_as(const char *text, const char *expected)
{
	rc_buf out = RC_BUF_INIT;
	rc_diags d = RC_DIAGS_INIT;
	int r = render(&out, &d, text, strlen(text), NULL);
	bool ok = r == 0 && d.nr == 0 && out.len == strlen(expected) && !memcmp(out.ptr, expected, out.len);

	if (!ok) {
		print_error("template: %s\n  expected: [%s]\n  got:      [%s] (ret %d)\n", text, expected,
			    out.ptr, r);
		dump_diags(&d);
	}
	rc_buf_release(&out);
	rc_diags_release(&d);
	return ok;
}

/* Whether `text` fails with exactly one error, at line:col, whose message is `msg`. */
static bool fails_with(const char *text, const char *file, int line, int col, const char *msg)
{
	rc_buf out = RC_BUF_INIT;
	rc_diags d = RC_DIAGS_INIT;
	int r = render(&out, &d, text, strlen(text), NULL);
	bool ok = r == RC_EINVALID && d.nr == 1 && d.errors == 1 && out.len == 0 &&
		  d.items[0].level == RC_DIAG_ERROR && d.items[0].line == line && d.items[0].col == col &&
		  !strcmp(d.items[0].message, msg) &&
		  !strcmp(d.items[0].file, file ? file : "env.example.com/maestro.yaml");

	if (!ok) {
		print_error("template: %s\n  expected error %d:%d: %s\n  got ret %d, output [%s], %zu diags\n",
			    text, line, col, msg, r, out.ptr, d.nr);
		dump_diags(&d);
	}
	rc_buf_release(&out);
	rc_diags_release(&d);
	return ok;
}

#define RENDERS(text, expected) assert_true(renders_as(text, expected))
#define FAILS(text, line, col, msg) assert_true(fails_with(text, NULL, line, col, msg))
#define FAILS_IN(text, file, line, col, msg) assert_true(fails_with(text, file, line, col, msg))

static void test_plain_text(void **state)
{
	(void)state;
	RENDERS("", "");
	RENDERS("a: 1\n", "a: 1");
	RENDERS("a: 1\n\n", "a: 1\n");
	RENDERS("a: {b: 1}\n", "a: {b: 1}");
	RENDERS("x: '{'\ny: '{ {'\n", "x: '{'\ny: '{ {'");
	/* Jinja2 reads "\r\n" and "\r" as "\n" */
	RENDERS("a\r\nb\rc\r\n", "a\nb\nc");
	RENDERS("a {{ 1 }}\r\n", "a 1");
	RENDERS("{", "{");
	RENDERS("}}", "}}");
	RENDERS("%}", "%}");
}

static void test_whitespace_control(void **state)
{
	(void)state;
	/* no trim_blocks: the newline after a block tag stays */
	RENDERS("{% if true %}\nyes\n{% endif %}\n", "\nyes\n");
	RENDERS("a\n  {%- if true %}b{% endif %}", "ab");
	RENDERS("{% if true -%}\n\n   b   {%- endif %}|", "b|");
	RENDERS("x  {{- 1 }}  ", "x1  ");
	RENDERS("x  {{ 1 -}}  \n y", "x  1y");
	RENDERS("x \n {{- 1 -}} \n y", "x1y");
	RENDERS("a  {#- comment #}  b", "a  b");
	RENDERS("a  {# comment -#}  b", "a  b");
	RENDERS("a  {#- comment -#}  b", "ab");
	RENDERS("a\t\n{#-x-#}\n\tb", "ab");
	/* "-" must touch the delimiter: "{{ -1 }}" is minus one */
	RENDERS("a {{ -1 }} b", "a -1 b");
	RENDERS("a {{ 5 -}} b", "a 5b");
	RENDERS("{%+ if true +%} x{% endif %}", " x");
	RENDERS("{% for i in [1, 2] %}\n  - {{ i }}\n{%- endfor %}\n", "\n  - 1\n  - 2");
}

static void test_comments(void **state)
{
	(void)state;
	RENDERS("a{# {{ x }} {% if %} #}b", "ab");
	RENDERS("a{#\nmulti\nline\n#}b", "ab");
	RENDERS("{# a #}{# b #}", "");
	FAILS("x\n  {# open", 2, 3, "unclosed comment (missing '#}')");
}

static void test_literals(void **state)
{
	(void)state;
	RENDERS("{{ 'a' }}{{ \"b\" }}{{ 'c' \"d\" }}", "abcd");
	RENDERS("{{ 'tab\\there\\nnl \\\\ \\' \\x41\\u00e9\\101 \\q' }}", "tab\there\nnl \\ ' A\xc3\xa9" "A \\q");
	RENDERS("{{ 42 }} {{ 1_000 }} {{ 0x1F }} {{ 0o17 }} {{ 0b101 }} {{ -3 }}", "42 1000 31 15 5 -3");
	RENDERS("{{ 1.5 }} {{ 2.0 }} {{ 1e3 }} {{ 1.5e-3 }} {{ 1_0.5 }}", "1.5 2.0 1000.0 0.0015 10.5");
	RENDERS("{{ true }} {{ True }} {{ false }} {{ False }} {{ none }} {{ None }}",
		"True True False False None None");
	RENDERS("{{ [1, 'a', none, true, 1.5] }}", "[1, 'a', None, True, 1.5]");
	RENDERS("{{ [] }} {{ {} }} {{ () }} {{ (1,) }} {{ (1, 2) }} {{ 1, 2 }}", "[] {} () (1,) (1, 2) (1, 2)");
	RENDERS("{{ {'b': 1, 'a': [2, (3,)], 1: {}} }}", "{'b': 1, 'a': [2, (3,)], 1: {}}");
	RENDERS("{{ [1, 2,] }} {{ {'a': 1,} }}", "[1, 2] {'a': 1}");
	/* a repeated key keeps its first place and takes the last value; True == 1 */
	RENDERS("{{ {'a': 1, 'b': 2, 'a': 3} }} {{ {1: 'x', true: 'y'} }}", "{'a': 3, 'b': 2} {1: 'y'}");
	/* repr quoting as Python's */
	RENDERS("{{ [\"it's\", 'say \"hi\"', 'both \\' \"', 'back\\\\slash', '\\n\\t\\x01\\x7f'] }}",
		"[\"it's\", 'say \"hi\"', 'both \\' \"', 'back\\\\slash', '\\n\\t\\x01\\x7f']");
	RENDERS("{{ ['\xc3\xa9t\xc3\xa9', '\\xa0'] }}", "['\xc3\xa9t\xc3\xa9', '\\xa0']");
}

static void test_float_printing(void **state)
{
	(void)state;
	RENDERS("{{ 0.1 + 0.2 }}", "0.30000000000000004");
	RENDERS("{{ 1 / 3 }}", "0.3333333333333333");
	RENDERS("{{ 2 / 1 }} {{ 0.5 }} {{ 100.0 }} {{ -0.0 }} {{ 0.0 }}", "2.0 0.5 100.0 -0.0 0.0");
	RENDERS("{{ 1e16 }} {{ 1.5e16 }} {{ 1e15 }} {{ 123456789012345678.0 }}",
		"1e+16 1.5e+16 1000000000000000.0 1.2345678901234568e+17");
	RENDERS("{{ 0.0001 }} {{ 0.00001 }} {{ 1.5e-7 }} {{ 1e-310 }}", "0.0001 1e-05 1.5e-07 1e-310");
	RENDERS("{{ 1e308 * 10 }} {{ -1e308 * 10 }}", "inf -inf");
	RENDERS("{{ [0.5, 2.0] }}", "[0.5, 2.0]");
}

static void test_arithmetic(void **state)
{
	(void)state;
	RENDERS("{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 10 - 4 - 3 }} {{ 2 ** 10 }}", "7 9 3 1024");
	RENDERS("{{ 7 / 2 }} {{ 6 / 3 }} {{ -7 / 2 }}", "3.5 2.0 -3.5");
	RENDERS("{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 // -2 }} {{ -7 // -2 }}", "3 -4 -4 3");
	RENDERS("{{ 7 % 3 }} {{ -7 % 3 }} {{ 7 % -3 }} {{ -7 % -3 }}", "1 2 -2 -1");
	RENDERS("{{ 7.5 // 2 }} {{ -7.5 // 2 }} {{ -7.5 % 2 }} {{ 7.5 % -2 }}", "3.0 -4.0 0.5 -0.5");
	RENDERS("{{ 1 + 1.5 }} {{ 3 * 0.5 }} {{ 2 ** -1 }}", "2.5 1.5 0.5");
	RENDERS("{{ true + true }} {{ -true }}", "2 -1");
	RENDERS("{{ 1 ~ 2 }} {{ 'a' ~ 1 ~ none }} {{ 1.0 ~ [1] }} {{ x ~ 'y' }}", "12 a1None 1.0[1] y");
	RENDERS("{{ 'ab' + 'cd' }} {{ [1] + [2, 3] }} {{ (1,) + (2,) }}", "abcd [1, 2, 3] (1, 2)");
	RENDERS("{{ '-' * 3 }} {{ 2 * 'ab' }} {{ [0] * 2 }} {{ 'x' * 0 }}|", "--- abab [0, 0] |");
	/* Jinja2's ** is left-associative; unary minus binds tighter */
	RENDERS("{{ 2 ** 3 ** 2 }} {{ -2 ** 2 }}", "64 4");
	RENDERS("{{ 9223372036854775807 }} {{ -9223372036854775807 - 1 }}",
		"9223372036854775807 -9223372036854775808");
	FAILS("{{ 9223372036854775807 + 1 }}", 1, 24, "integer overflow");
	FAILS("{{ 1 / 0 }}", 1, 6, "division by zero");
	FAILS("{{ 1 // 0 }}", 1, 6, "division by zero");
	FAILS("{{ 1 % 0 }}", 1, 6, "division by zero");
	FAILS("{{ 1.5 / 0.0 }}", 1, 8, "division by zero");
	FAILS("{{ 1 + 'a' }}", 1, 6, "unsupported operand type(s) for +: 'int' and 'str'");
	FAILS("{{ 'a' + 1 }}", 1, 8, "can only concatenate str (not \"int\") to str");
	FAILS("{{ [1] + (2,) }}", 1, 8, "can only concatenate list (not \"tuple\") to list");
	FAILS("{{ 'a' - 'b' }}", 1, 8, "unsupported operand type(s) for -: 'str' and 'str'");
	FAILS("{{ -'a' }}", 1, 4, "bad operand type for unary -: 'str'");
	FAILS("{{ none + 1 }}", 1, 9, "unsupported operand type(s) for +: 'NoneType' and 'int'");
}

static void test_truthiness(void **state)
{
	(void)state;
	RENDERS("{% for v in [0, 0.0, '', [], {}, none, false, undefined_thing, (), 1, -1, 0.1, 'a', [0], {'a': 0}, true, (0,)] %}"
		"{{ 'T' if v else 'F' }}{% endfor %}",
		"FFFFFFFFFTTTTTTTT");
	RENDERS("{% if '0' %}yes{% endif %}", "yes");
	RENDERS("{% if env.NOPE %}yes{% else %}no{% endif %}", "no");
	RENDERS("{% if env.EMPTY %}yes{% else %}no{% endif %}", "no");
}

static void test_comparisons(void **state)
{
	(void)state;
	RENDERS("{{ 1 == 1.0 }} {{ 1 != 2 }} {{ 'a' == 'a' }} {{ 1 == '1' }} {{ none == none }}",
		"True True True False True");
	RENDERS("{{ 1 < 2 }} {{ 2 <= 2 }} {{ 3 > 4 }} {{ 'abc' < 'abd' }} {{ [1, 2] < [1, 3] }} {{ (1,) < (1, 0) }}",
		"True True False True True True");
	RENDERS("{{ 1 < 2 < 3 }} {{ 1 < 3 < 2 }} {{ 2 == 2 == 2.0 }}", "True False True");
	RENDERS("{{ [1, [2]] == [1, [2]] }} {{ {'a': 1, 'b': 2} == {'b': 2, 'a': 1} }} {{ [1] == (1,) }}",
		"True True False");
	RENDERS("{{ true == 1 }} {{ x == y }} {{ x == none }}", "True True False");
	RENDERS("{{ 'b' in 'abc' }} {{ '' in 'abc' }} {{ 'x' in 'abc' }} {{ 2 in [1, 2] }} {{ 2.0 in [1, 2] }}",
		"True True False True True");
	RENDERS("{{ 'a' in {'a': 1} }} {{ 1 in {'a': 1} }} {{ 3 not in [1, 2] }} {{ 'a' in x }} {{ (1, 2) in [(1, 2)] }}",
		"True False True False True");
	RENDERS("{{ 'HOME' in env }} {{ 'NOPE' in env }} {{ 'a' in env.keys() }}", "True False False");
	FAILS("{{ 1 < 'a' }}", 1, 6, "'<' not supported between instances of 'int' and 'str'");
	FAILS("{{ 1 in 'abc' }}", 1, 6, "'in <string>' requires string as left operand, not int");
	FAILS("{{ 1 in 5 }}", 1, 6, "argument of type 'int' is not iterable");
	FAILS("{{ [] in {} }}", 1, 7, "unhashable type: 'list'");
	FAILS("{{ x < 1 }}", 1, 6, "'x' is undefined");
}

static void test_logic(void **state)
{
	(void)state;
	/* Python semantics: the operand that decided is the value */
	RENDERS("{{ 0 or 'b' }}|{{ 'a' or 'b' }}|{{ 1 and 'c' }}|{{ '' and 1 }}|{{ none or [] }}|{{ x or 5 }}",
		"b|a|c||[]|5");
	RENDERS("{{ not 0 }} {{ not 'a' }} {{ not x }} {{ not not [1] }}", "True False True True");
	RENDERS("{{ 1 or 1 / 0 }} {{ 0 and 1 / 0 }}", "1 0");
	RENDERS("{{ 'a' if true else 'b' }}{{ 'a' if 0 else 'b' }}{{ 'a' if 0 }}|", "ab|");
	RENDERS("{{ ('a' if 0) | default('d') }} {{ 1 if 0 else 2 if 0 else 3 }}", "d 3");
	RENDERS("{{ not 1 == 2 }} {{ 1 + 1 if 1 else 0 }} {{ (1, 2) if 1 else 0 }}", "True 2 (1, 2)");
}

static void test_variables(void **state)
{
	(void)state;
	RENDERS("{{ env.HOME }} {{ env['HOME'] }} {{ env.EQ }} {{ env.NOEQUALS }}|", "/home/maestro /home/maestro a=b |");
	RENDERS("{% set d = {'a': {'b': [10, 20, 30]}, 'k-1': 'v'} %}{{ d.a.b[0] }} {{ d['a']['b'][-1] }} {{ d.a.b.1 }} {{ d['k-1'] }}",
		"10 30 20 v");
	RENDERS("{% set l = ['a', 'b'] %}{{ l[5] }}|{{ l[-3] }}|{{ l.x }}|{{ 'abc'[1] }}|{{ 'abc'[-1] }}|{{ (1, 2)[1] }}",
		"|||b|c|2");
	/* undefined: renders empty, iterates as nothing; a missing attribute of a defined value is undefined */
	RENDERS("[{{ nothing }}][{{ env.NOPE }}][{{ {}.a }}][{{ 5.x }}][{{ none.x }}]", "[][][][][]");
	RENDERS("{% for x in nothing %}x{% endfor %}{{ nothing | length }}", "0");
	FAILS("{{ nothing.attr }}", 1, 12, "'nothing' is undefined");
	FAILS("{{ nothing['k'] }}", 1, 11, "'nothing' is undefined");
	FAILS("\n\n   {{ env.NOPE.x }}", 3, 16, "'dict object' has no attribute 'NOPE'");
	FAILS("{{ none.x.y }}", 1, 11, "'None' has no attribute 'x'");
	FAILS("{{ [1][3].x }}", 1, 11, "'list object' has no element 3");
	FAILS("{{ nothing + 1 }}", 1, 12, "'nothing' is undefined");
	FAILS("{{ nothing | int }}", 1, 14, "'nothing' is undefined");
	FAILS("{{ nothing() }}", 1, 4, "'nothing' is undefined");
	FAILS("{{ {}.keys }}", 1, 7, "'keys' is a method of 'dict' objects: call it");
	FAILS("{{ 5() }}", 1, 4, "'int' object is not callable");
}

static void test_set_and_scoping(void **state)
{
	(void)state;
	RENDERS("{% set x = 1 %}{{ x }}{% set x = x + 1 %}{{ x }}", "12");
	RENDERS("{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set (c, d), e = [3, 4], 5 %}{{ c }}{{ d }}{{ e }}", "12345");
	RENDERS("{% set a, b = 'xy' %}{{ b }}{{ a }}", "yx");
	/* the loop variable and a set in the loop body do not leak out of the loop */
	RENDERS("{% for i in [1, 2] %}{% set inner = i %}{% endfor %}[{{ i }}][{{ inner }}]", "[][]");
	/* a set outside the loop is visible inside; a set inside starts afresh each iteration */
	RENDERS("{% set x = 1 %}{% for i in [1, 2] %}{{ x }}{% set x = x + 10 %}{{ x }},{% endfor %}{{ x }}",
		"111,111,1");
	/* but a list is one object: append is seen outside */
	RENDERS("{% set l = [] %}{% for i in [1, 2] %}{% set _ = l.append(i * 2) %}{% endfor %}{{ l }}", "[2, 4]");
	/* if does not open a scope */
	RENDERS("{% if true %}{% set y = 'set in if' %}{% endif %}{{ y }}", "set in if");
	/* block set */
	RENDERS("{% set block %}a{{ 1 + 1 }}b{% endset %}[{{ block }}]{{ block | length }}", "[a2b]3");
	RENDERS("{% set l = [] %}{% set m = l %}{% set _ = m.append(1) %}{{ l }} {{ l.append(2) }} {{ l }}",
		"[1] None [1, 2]");
	FAILS("{% set a, b = [1] %}", 1, 8, "not enough values to unpack (expected 2, got 1)");
	FAILS("{% set a, b = [1, 2, 3] %}", 1, 8, "too many values to unpack (expected 2)");
	FAILS("{% set a, b = 5 %}", 1, 8, "'int' object is not iterable");
	FAILS("{% set true = 1 %}", 1, 8, "cannot assign to 'true'");
}

static void test_with(void **state)
{
	(void)state;
	RENDERS("{% with a = 1, b = 2 %}{{ a + b }}{% endwith %}[{{ a }}]", "3[]");
	RENDERS("{% set a = 'outer' %}{% with a = 'inner', b = a %}{{ a }} {{ b }}{% endwith %} {{ a }}",
		"inner outer outer");
	RENDERS("{% with %}{% set x = 1 %}{{ x }}{% endwith %}[{{ x }}]", "1[]");
	RENDERS("{% with d = {'vm1': [1, 2], 'vm2': [3]} %}{% for s, ids in d.items() %}{{ s }}={{ ids | join('+') }};{% endfor %}{% endwith %}",
		"vm1=1+2;vm2=3;");
}

static void test_if(void **state)
{
	(void)state;
	RENDERS("{% if 0 %}a{% elif '' %}b{% elif 3 %}c{% else %}d{% endif %}", "c");
	RENDERS("{% if 0 %}a{% elif 0 %}b{% else %}d{% endif %}", "d");
	RENDERS("{% if 0 %}a{% endif %}|{% if 1 %}a{% endif %}", "|a");
	RENDERS("{% if [1] | length > 0 and env.HOME %}yes{% endif %}", "yes");
	RENDERS("{% if x is defined %}d{% else %}u{% endif %}{% if env is mapping %}m{% endif %}"
		"{% if none is none %}n{% endif %}{% if 3 is odd and 4 is even %}o{% endif %}{% if x is not defined %}!{% endif %}",
		"umno!");
}

static void test_for(void **state)
{
	(void)state;
	RENDERS("{% for x in ['a', 'b', 'c'] %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.revindex }} {% endfor %}",
		"10TrueFalse33 21FalseFalse32 32FalseTrue31 ");
	RENDERS("{% for x in [] %}a{% else %}empty{% endfor %}", "empty");
	RENDERS("{% for x in nothing %}a{% else %}empty{% endfor %}", "empty");
	RENDERS("{% for x in [1] %}a{% else %}empty{% endfor %}", "a");
	RENDERS("{% for k, v in {'b': 1, 'a': 2, 'c': 3}.items() %}{{ k }}{{ v }}{% endfor %}", "b1a2c3");
	RENDERS("{% for k in {'b': 1, 'a': 2} %}{{ k }}{% endfor %}{% for v in {'b': 1, 'a': 2}.values() %}{{ v }}{% endfor %}",
		"ba12");
	RENDERS("{% for (a, b), c in [((1, 2), 3)] %}{{ a }}{{ b }}{{ c }}{% endfor %}", "123");
	RENDERS("{% for c in 'h\xc3\xa9!' %}[{{ c }}]{% endfor %}", "[h][\xc3\xa9][!]");
	RENDERS("{% for i in range(3) %}{{ i }}{% endfor %} {% for i in range(5, 1, -2) %}{{ i }}{% endfor %}", "012 53");
	/* nested loops: `loop` is the innermost; the outer one through a set */
	RENDERS("{% for a in [1, 2] %}{% set outer = loop %}{% for b in 'xy' %}{{ outer.index }}{{ loop.index }}{{ b }} {% endfor %}{% endfor %}",
		"11x 12y 21x 22y ");
	/* an append during the loop extends it, as Python's list iteration does */
	RENDERS("{% set l = [1] %}{% for x in l %}{% if x < 4 %}{% set _ = l.append(x + 1) %}{% endif %}{{ x }}{% endfor %}",
		"1234");
	RENDERS("{% for x in [1, 2, 3] %}{{ loop.previtem }}-{{ loop.nextitem }} {% endfor %}", "-2 1-3 2- ");
	FAILS("{% for a, b in [1] %}{% endfor %}", 1, 8, "'int' object is not iterable");
	FAILS("{% for x in 5 %}{% endfor %}", 1, 13, "'int' object is not iterable");
}

static void test_filters(void **state)
{
	(void)state;
	RENDERS("{{ x | default('d') }} {{ 0 | default('d') }} {{ 0 | default('d', true) }} {{ '' | d('e', boolean=true) }} {{ x | d }}|",
		"d 0 d e |");
	RENDERS("{{ env.NOPE | default(env.HOME) }} {{ none | default('d') }}", "/home/maestro None");
	RENDERS("{{ [1, 2] | length }} {{ 'h\xc3\xa9' | length }} {{ {'a': 1} | count }} {{ '' | length }} {{ (1, 2, 3) | count }}",
		"2 2 1 0 3");
	RENDERS("{{ [1, 'a', none] | join(',') }} {{ ['x', 'y'] | join }} {{ 'abc' | join('-') }} {{ {'k': 1, 'l': 2} | join(d='/') }} {{ [] | join(',') }}|",
		"1,a,None xy a-b-c k/l |");
	RENDERS("{{ 'MiXeD 1' | lower }} {{ 'MiXeD 1' | upper }} {{ [1, 'A'] | lower }}", "mixed 1 MIXED 1 [1, 'a']");
	RENDERS("{{ '42' | int + 1 }} {{ ' -7 ' | int }} {{ '4.7' | int }} {{ 'x' | int }} {{ 'x' | int(5) }} {{ '1_000' | int }}",
		"43 -7 4 0 5 1000");
	RENDERS("{{ 3.99 | int }} {{ -3.99 | int }} {{ true | int }} {{ none | int }} {{ [1] | int(-1) }} {{ '0x1A' | int(0, 16) }} {{ '1e3' | int }}",
		"3 -3 1 0 -1 26 1000");
	RENDERS("{{ 1 | string ~ 2 | string }} {{ none | string }} {{ [1] | string }} {{ x | string }}|", "12 None [1] |");
	RENDERS("{{ 'a-b-c' | replace('-', '+') }} {{ 'a-b-c' | replace('-', '', 1) }} {{ 'ab' | replace('', '.') }} {{ 12 | replace(1, 3) }}",
		"a+b+c ab-c .a.b. 32");
	RENDERS("[{{ '  a b \t\n' | trim }}] [{{ 'xxaxx' | trim('x') }}] [{{ 5 | trim }}]", "[a b] [a] [5]");
	RENDERS("{{ env.MAESTRO_ENV | upper | replace('-', '_') }}", "KAFKA_TEST");
	RENDERS("{{ -1 | string }} {{ (-1) | string }}", "-1 -1");
	FAILS("{{ 1 | foo }}", 1, 8, "unknown filter 'foo'");
	FAILS("{{ 5 | length }}", 1, 8, "object of type 'int' has no len()");
	FAILS("{{ 'a' | default(1, 2, 3) }}", 1, 10, "default() takes at most 2 arguments");
	FAILS("{{ 'a' | replace('a') }}", 1, 10, "replace() is missing the argument 'new'");
	FAILS("{{ 'a' | join(x=1) }}", 1, 10, "join() got an unexpected keyword argument 'x'");
	FAILS("{{ 'inf' | int }}", 1, 12, "cannot convert float infinity to integer");
}

static void test_methods(void **state)
{
	(void)state;
	RENDERS("{% set d = {'a': 1, 'b': [2]} %}{{ d.items() }} {{ d.keys() }} {{ d.values() }}",
		"dict_items([('a', 1), ('b', [2])]) dict_keys(['a', 'b']) dict_values([1, [2]])");
	RENDERS("{{ {'a': 1}.get('a') }} {{ {'a': 1}.get('b') }} {{ {'a': 1}.get('b', 0) }} {{ env.get('HOME') }}",
		"1 None 0 /home/maestro");
	RENDERS("{% set l = [1] %}{{ l.append(2) }}{{ l }}{% set _ = l.append([3]) %}{{ l }}", "None[1, 2][1, 2, [3]]");
	RENDERS("{{ 'Abc'.upper() }} {{ 'Abc'.lower() }}", "ABC abc");
	RENDERS("{{ 'a,b,,c'.split(',') }} {{ 'a,b,c'.split(',', 1) }} {{ '  a \t b\n'.split() }} {{ ''.split() }} {{ ''.split(',') }}",
		"['a', 'b', '', 'c'] ['a', 'b,c'] ['a', 'b'] [] ['']");
	RENDERS("{{ ' a b  c '.split(none, 1) }} {{ 'a b'.split(maxsplit=0) }}", "['a', 'b  c '] ['a b']");
	RENDERS("{{ ' x '.strip() }}|{{ 'ab'.startswith('a') }} {{ 'ab'.endswith('a') }} {{ 'aXa'.replace('a', 'b') }}",
		"x|True False bXb");
	FAILS("{{ [1].items() }}", 1, 8, "'list object' has no attribute 'items'");
	FAILS("{{ 'a'.foo() }}", 1, 8, "'str object' has no attribute 'foo'");
	FAILS("{{ 'a'.title() }}", 1, 8, "method 'title' of 'str' objects is not supported");
	FAILS("{{ (1,).append(2) }}", 1, 9, "'tuple object' has no attribute 'append'");
	FAILS("{{ {'a': 1}.a() }}", 1, 13, "'int' object is not callable");
	FAILS("{{ 'a'.split('') }}", 1, 8, "empty separator");
	FAILS("{{ {}.items(1) }}", 1, 7, "items() takes no arguments");
	FAILS("{{ nothing.items() }}", 1, 12, "'nothing' is undefined");
}

static void test_format(void **state)
{
	(void)state;
	RENDERS("{{ '{}:{}'.format('host', 2181) }}", "host:2181");
	RENDERS("{{ '{1}-{0}-{1}'.format('a', 'b') }}", "b-a-b");
	RENDERS("{{ '{name}={value}'.format(name='k', value=1.5) }}", "k=1.5");
	RENDERS("{{ '{} {x}'.format(1, x=[2]) }} {{ '{{}} {{{}}}'.format(7) }} {{ '{!r} {!s}'.format('a', 'b') }}",
		"1 [2] {} {7} 'a' b");
	RENDERS("{{ '{}{}'.format(none, true) }}{{ 'plain'.format(1) }}", "NoneTrueplain");
	FAILS("{{ '{}{1}'.format(1, 2) }}", 1, 12,
	      "cannot switch from automatic field numbering to manual field specification");
	FAILS("{{ '{0}{}'.format(1, 2) }}", 1, 12,
	      "cannot switch from manual field specification to automatic field numbering");
	FAILS("{{ '{} {}'.format(1) }}", 1, 12, "replacement index 1 out of range for positional args tuple");
	FAILS("{{ '{x}'.format(y=1) }}", 1, 10, "no argument named 'x' for format");
	FAILS("{{ 'a}'.format() }}", 1, 9, "single '}' encountered in format string");
	FAILS("{{ '{a'.format() }}", 1, 9, "single '{' encountered in format string");
	FAILS("{{ '{:>5}'.format(1) }}", 1, 12, "format specifications are not supported: '{:>5}'");
}

static void test_include(void **state)
{
	(void)state;
	/* the included file sees the includer's variables, loop variables included */
	RENDERS("{% set port = 80 %}a\n{% include 'common.yaml' %}\nb", "a\nport: 80\nb");
	RENDERS("{% for item in ['x', 'y'] %}{% include 'loopvar.yaml' %};{% endfor %}", "x:1;y:2;");
	RENDERS("{% include 'sub/part.yaml' %}{% include './sub//part.yaml' %}", "[/home/maestro][/home/maestro]");
	/* what it sets stays inside it */
	RENDERS("{% set leaked = 'yes' %}{% include 'sets.yaml' %} {{ leaked }}", "no yes");
	RENDERS("{% include 'sets.yaml' %}[{{ leaked }}]", "no[]");
	RENDERS("{% set name = 'common' %}{% set port = 1 %}{% include name ~ '.yaml' %}", "port: 1");
	RENDERS("{% set port = 2 %}{% include ['missing.yaml', 'common.yaml'] %}", "port: 2");
	RENDERS("a{% include 'missing.yaml' ignore missing %}b", "ab");
	RENDERS("{% include 'ctx.yaml' %} {% include 'ctx.yaml' without context %}", "yes no");
	FAILS("\n  {% include 'missing.yaml' %}", 2, 6, "cannot include 'missing.yaml': not found");
	FAILS("{% include ['a', 'b'] %}", 1, 4, "cannot include any of ['a', 'b']: not found");
	FAILS("{% include '../x' %}", 1, 4, "include of '../x' leaves the environment directory");
	FAILS("{% include 'sub/../../x' %}", 1, 4, "include of 'sub/../../x' leaves the environment directory");
	FAILS("{% include '/etc/passwd' %}", 1, 4, "include of '/etc/passwd' leaves the environment directory");
	FAILS("{% include '' %}", 1, 4, "cannot include an empty template name");
	FAILS("{% include './' %}", 1, 4, "cannot include an empty template name");
	FAILS("{% include 5 %}", 1, 12, "include expects a string, not 'int'");
	FAILS("{% include nothing %}", 1, 12, "'nothing' is undefined");
	/* errors inside an included file carry its name and position */
	FAILS_IN("{% include 'runtime.yaml' %}", "env.example.com/runtime.yaml", 2, 8, "division by zero");
	FAILS_IN("{% include 'bad.yaml' %}", "env.example.com/bad.yaml", 2, 7, "unexpected '*'");
	/* recursion stops at the include depth */
	FAILS_IN("{% include 'self.yaml' %}", "env.example.com/self.yaml", 1, 5, "includes nested more than 16 deep");
}

static void test_include_needs_reader(void **state)
{
	rc_template_opts o = { 0 };
	rc_buf out = RC_BUF_INIT;
	rc_diags d = RC_DIAGS_INIT;
	const char *t = "{% include 'common.yaml' %}";

	(void)state;
	o.envp = test_env;
	assert_int_equal(render(&out, &d, t, strlen(t), &o), RC_EINVALID);
	assert_int_equal(d.nr, 1);
	assert_string_equal(d.items[0].message, "cannot include 'common.yaml': includes are not available here");
	rc_buf_release(&out);
	rc_diags_release(&d);
}

static void test_syntax_errors(void **state)
{
	(void)state;
	FAILS("a\n{% for x in [1] %}\nb\n", 3, 2, "unclosed 'for' block opened at line 2");
	FAILS("{% for x in [] %}{% endif %}{% endfor %}", 1, 21,
	      "unexpected 'endif' in 'for' block opened at line 1");
	FAILS("x\n{% endfor %}", 2, 4, "unexpected 'endfor' (no block is open)");
	FAILS("{% macro m() %}", 1, 4, "unknown tag 'macro'");
	FAILS("{% raw %}", 1, 4, "unknown tag 'raw'");
	FAILS("{{ 'abc }}", 1, 4, "unterminated string");
	FAILS("a {{ x ", 1, 3, "unclosed '{{' (missing '}}')");
	FAILS("{% if x", 1, 1, "unclosed '{%' (missing '%}')");
	FAILS("{{ }}", 1, 4, "expected an expression, got end of print statement");
	FAILS("{{ 1 2 }}", 1, 6, "expected end of print statement, got integer");
	FAILS("{{ (1 }}", 1, 7, "unexpected '}', expected ')'");
	FAILS("{{ x[1:2] }}", 1, 7, "slices are not supported");
	FAILS("{{ x ! y }}", 1, 6, "unexpected character '!'");
	FAILS("{{ f(a=1, 2) }}", 1, 11, "positional argument follows keyword argument");
	FAILS("{% for x in y if x %}{% endfor %}", 1, 15, "loop filters ('for ... if ...') are not supported");
	FAILS("{% set x %}", 1, 12, "unclosed 'set' block opened at line 1");
	FAILS("{{ x is foo }}", 1, 9, "unknown test 'foo'");
	FAILS("{{ '\\x4' }}", 1, 4, "truncated \\xXX escape in string");
	/* found by the fuzzer: a bad literal after a good one */
	FAILS("{{ 'a' '\\x4' }}", 1, 8, "truncated \\xXX escape in string");
	FAILS("{{ 99999999999999999999 }}", 1, 4, "integer literal too large");
	FAILS("ok\n\xff", 2, 1, "invalid UTF-8");
}

static void test_all_parse_errors_reported(void **state)
{
	const char *t = "{{ 1 | nope }}\n{% bogus %}\n{% for x in [] %}{{ ) }}{% endfor %}\n{% if %}";
	rc_buf out = RC_BUF_INIT;
	rc_diags d = RC_DIAGS_INIT;

	(void)state;
	assert_int_equal(render(&out, &d, t, strlen(t), NULL), RC_EINVALID);
	assert_int_equal(d.errors, 5);
	assert_int_equal(d.items[0].line, 1);
	assert_string_equal(d.items[0].message, "unknown filter 'nope'");
	assert_int_equal(d.items[1].line, 2);
	assert_string_equal(d.items[1].message, "unknown tag 'bogus'");
	assert_int_equal(d.items[2].line, 3);
	assert_int_equal(d.items[2].col, 21);
	assert_string_equal(d.items[2].message, "unexpected ')'");
	assert_string_equal(d.items[3].message, "expected an expression, got end of statement block");
	assert_int_equal(d.items[4].line, 4);
	assert_string_equal(d.items[4].message, "unclosed 'if' block opened at line 4");
	rc_buf_release(&out);
	rc_diags_release(&d);
}

/* `text` repeated `n` times, then `tail` */
static char *repeat(const char *head, const char *text, size_t n, const char *tail)
{
	size_t hl = strlen(head), l = strlen(text), tl = strlen(tail);
	char *s = malloc(hl + l * n + tl + 1);
	assert_non_null(s);
	memcpy(s, head, hl);
	for (size_t i = 0; i < n; i++)
		memcpy(s + hl + i * l, text, l);
	memcpy(s + hl + l * n, tail, tl + 1);
	return s;
}

/* CPU seconds: the machine may be busy, and valgrind is slow; minutes would still show */
static double now(void)
{
	return (double)clock() / CLOCKS_PER_SEC;
}

static void test_limits(void **state)
{
	char *s, *p, *q;
	double t0;

	(void)state;
	/* a loop that would write 100 MiB stops at the output limit, quickly */
	t0 = now();
	FAILS("{% for i in range(1000000) %}{{ 'x' * 100 }}\n{% endfor %}", 1, 30, "output larger than 4194304 bytes");
	assert_true(now() - t0 < 10.0);
	t0 = now();
	FAILS("{% for i in range(1000) %}{% for j in range(1000) %}0123456789012345678901234567890123456789"
	      "0123456789012345678901234567890123456789{% endfor %}{% endfor %}",
	      1, 53, "output larger than 4194304 bytes");
	assert_true(now() - t0 < 10.0);
	FAILS("{% for i in range(1000) %}{% for j in range(1001) %}{% endfor %}{% endfor %}", 1, 30,
	      "more than 1000000 loop iterations");
	FAILS("{% for i in range(2000000) %}{% endfor %}", 1, 13, "range() longer than 1000000 items");
	/* an append in the loop to the list it walks would go on for ever */
	FAILS("{% set l = [1] %}{% for x in l %}{% set _ = l.append(x) %}{% endfor %}", 1, 47,
	      "list longer than 1000000 items");
	FAILS("{{ 'x' * 5000000 }}", 1, 8, "string longer than 4194304 bytes");

	/* 10,000 nested parentheses, ifs and operators: the depth limit, no crash */
	p = repeat("{{ ", "(", 10000, "1");
	s = repeat(p, ")", 10000, " }}");
	FAILS(s, 1, 260, "nested too deeply (more than 256 levels)");
	free(p);
	free(s);
	p = repeat("{{ ", "-", 10000, "1 }}");
	FAILS(p, 1, 259, "nested too deeply (more than 256 levels)");
	free(p);
	p = repeat("{{ ", "not ", 10000, "1 }}");
	FAILS(p, 1, 1024, "nested too deeply (more than 256 levels)");
	free(p);
	p = repeat("{{ 1", " + 1", 10000, " }}");
	FAILS(p, 1, 1030, "nested too deeply (more than 256 levels)");
	free(p);
	p = repeat("{{ ", "[", 200, "");
	q = repeat(p, "]", 200, " }}");
	free(p);
	p = repeat("", "[", 200, "");
	s = repeat(p, "]", 200, "");
	RENDERS(q, s);
	free(s);
	free(p);
	free(q);
	p = repeat("", "{% if 1 %}", 10000, "x");
	s = repeat(p, "{% endif %}", 10000, "");
	FAILS(s, 1, 2557, "nested too deeply (more than 256 levels)");
	free(p);
	free(s);
	/* a list holding itself prints as Python prints it */
	RENDERS("{% set l = [1] %}{% set _ = l.append(l) %}{{ l }}", "[1, [...]]");
	/* a chain of lists 300 deep is too deep to print, not a stack overflow */
	FAILS("{% set l = [[]] %}{% for i in range(300) %}{% set _ = l.append([l[-1]]) %}{% endfor %}{{ l[-1] }}",
	      1, 91, "value nested too deeply to print");
}

static void test_custom_limits(void **state)
{
	rc_template_opts o = { 0 };
	rc_buf out = RC_BUF_INIT;
	rc_diags d = RC_DIAGS_INIT;
	const char *t = "{% for i in range(5) %}{{ i }}{% endfor %}";

	(void)state;
	o.envp = test_env;
	o.max_iterations = 4;
	assert_int_equal(render(&out, &d, t, strlen(t), &o), RC_EINVALID);
	assert_string_equal(d.items[0].message, "range() longer than 4 items");
	rc_diags_release(&d);
	o.max_iterations = 0;
	o.max_output = 3;
	assert_int_equal(render(&out, &d, t, strlen(t), &o), RC_EINVALID);
	assert_string_equal(d.items[0].message, "output larger than 3 bytes");
	rc_diags_release(&d);
	o.max_output = 0;
	o.max_depth = 3;
	t = "{{ [[[1]]] }}";
	assert_int_equal(render(&out, &d, t, strlen(t), &o), RC_EINVALID);
	assert_string_equal(d.items[0].message, "nested too deeply (more than 3 levels)");
	rc_diags_release(&d);
	assert_int_equal(out.len, 0);
	rc_buf_release(&out);
}

static void test_output_kept_on_error(void **state)
{
	rc_buf out = RC_BUF_INIT;
	rc_diags d = RC_DIAGS_INIT;
	const char *t = "more {{ 1 }} {{ 1 / 0 }}";

	(void)state;
	rc_buf_adds(&out, "before|");
	assert_int_equal(render(&out, &d, t, strlen(t), NULL), RC_EINVALID);
	assert_string_equal(out.ptr, "before|");
	t = "more {{ 1 }}\n";
	assert_int_equal(render(&out, &d, t, strlen(t), NULL), 0);
	assert_string_equal(out.ptr, "before|more 1");
	rc_buf_release(&out);
	rc_diags_release(&d);
}

static void test_process_environment(void **state)
{
	rc_buf out = RC_BUF_INIT;
	rc_diags d = RC_DIAGS_INIT;
	const char *t = "{{ env.RC_TEMPLATE_TEST_VAR }}";

	(void)state;
	assert_int_equal(setenv("RC_TEMPLATE_TEST_VAR", "from environ", 1), 0);
	assert_int_equal(rc_template_render(&out, t, strlen(t), "t", NULL, &d), 0);
	assert_string_equal(out.ptr, "from environ");
	unsetenv("RC_TEMPLATE_TEST_VAR");
	rc_buf_release(&out);
	rc_diags_release(&d);
}

static void test_kafka_manifest(void **state)
{
	static const char *const env[] = { "MAESTRO_ENV=kafka-test", "ZK_HEAP=1g", "HOME=/root", NULL };
	rc_buf in = RC_BUF_INIT, want = RC_BUF_INIT, out = RC_BUF_INIT;
	rc_error err = RC_ERROR_INIT;
	rc_diags d = RC_DIAGS_INIT;
	rc_template_opts o = { 0 };

	(void)state;
	assert_int_equal(rc_buf_read_file(&in, "tests/unit/data/kafka/maestro.yaml", &err), 0);
	assert_int_equal(rc_buf_read_file(&want, "tests/unit/data/kafka/expected.yaml", &err), 0);
	o.envp = env;
	if (rc_template_render(&out, in.ptr, in.len, "kafka.example.com/maestro.yaml", &o, &d) < 0)
		dump_diags(&d);
	assert_int_equal(d.nr, 0);
	/* the template ends with an empty line: Jinja2 drops one newline, the other stays */
	assert_string_equal(out.ptr, want.ptr);
	assert_int_equal(out.len, want.len);
	rc_buf_release(&in);
	rc_buf_release(&want);
	rc_buf_release(&out);
	rc_diags_release(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_text),
		cmocka_unit_test(test_whitespace_control),
		cmocka_unit_test(test_comments),
		cmocka_unit_test(test_literals),
		cmocka_unit_test(test_float_printing),
		cmocka_unit_test(test_arithmetic),
		cmocka_unit_test(test_truthiness),
		cmocka_unit_test(test_comparisons),
		cmocka_unit_test(test_logic),
		cmocka_unit_test(test_variables),
		cmocka_unit_test(test_set_and_scoping),
		cmocka_unit_test(test_with),
		cmocka_unit_test(test_if),
		cmocka_unit_test(test_for),
		cmocka_unit_test(test_filters),
		cmocka_unit_test(test_methods),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_include),
		cmocka_unit_test(test_include_needs_reader),
		cmocka_unit_test(test_syntax_errors),
		cmocka_unit_test(test_all_parse_errors_reported),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_custom_limits),
		cmocka_unit_test(test_output_kept_on_error),
		cmocka_unit_test(test_process_environment),
		cmocka_unit_test(test_kafka_manifest),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
