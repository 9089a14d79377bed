#!/usr/bin/env node
// check_terraform.js [--partial] DIR
//
// Static checks of the Terraform in DIR (every DIR/*.tf), for a build machine without
// Terraform: each file is parsed with @cdktf/hcl2json (HashiCorp's HCL parser compiled to
// WebAssembly, so syntax errors are HCL's own), then the merged configuration is checked:
//
//   - references: every var.X is declared and every declared variable is used (outside its own
//     validation); every local.X resolves and every local is used; every TYPE.NAME resource
//     reference and data.TYPE.NAME resolves to a declared block
//   - variables have a type, a description and (unless bool) a validation of themselves
//   - versions: required_version, and the aws provider pinned to a range with both bounds
//   - IAM: policies only as data "aws_iam_policy_document" (so every action is a literal the
//     checker can read); every Allow statement grants only actions of ALLOWED_ACTIONS below,
//     none with a wildcard, on resources scoped to the stack's own stream / bucket prefix / log
//     group / queue (never "*"); sts:AssumeRole only in a trust policy for lambda.amazonaws.com;
//     no managed policy attachments. Deny statements grant nothing and may use wildcards.
//   - the settings the bridge's deployment needs: the Lambda function (provided.al2023,
//     handler bootstrap, x86_64, zip + source_code_hash from one variable, the bridge's
//     environment, no reserved variables), its event source mapping (ReportBatchItemFailures,
//     bisect, bounded retries and record age, an SQS on-failure destination), its log group
//     (/aws/lambda/NAME with a valid retention), the S3 bucket (public access block all true,
//     versioning Enabled, encryption, BucketOwnerEnforced), encrypted streams and queue, and the
//     role's policy granting what the bridge calls.
//
// Without --partial DIR must hold the whole stack (one of each resource above, two streams,
// outputs naming them, the function's log group, its role granting every action the bridge
// needs); with --partial only what is present is checked, each block on its own (the small
// fixtures in tests/terraform/bad/ each hold one defect).
//
// Prints one line per check: "ok - CHECK" or, per problem, "FAIL - CHECK: PROBLEM"; exits 0
// when everything passes, 1 on any failure, 2 on a usage error or when hcl2json is missing.
//
// hcl2json's shape: blocks are arrays of objects; literals keep their JSON type; expressions
// stay strings such as "${var.x}". References are found with regular expressions over the
// strings that contain "${" (attributes of each., count., path., self. and terraform. are
// ignored; an iterator of a for expression whose name has an underscore would be taken for a
// resource type: do not name them so).
'use strict';

const fs = require('fs');
const path = require('path');

// --- policy: what the bridge's role may be granted ---------------------------------------------

// Exactly what wineq-kinesis-bridge and its event source mapping call. ListStreams and
// PutRecord are allowed but not needed (ListStreams cannot be scoped to a stream, so the
// resource check refuses it in practice).
const ALLOWED_ACTIONS = new Set([
	// the event source mapping reads the input stream with the function's role
	'kinesis:DescribeStream',
	'kinesis:DescribeStreamSummary',
	'kinesis:GetRecords',
	'kinesis:GetShardIterator',
	'kinesis:ListShards',
	'kinesis:ListStreams',
	// the bridge writes predictions
	'kinesis:PutRecord',
	'kinesis:PutRecords',
	// the bridge fetches its model bundle
	's3:GetObject',
	's3:ListBucket',
	// Lambda writes the function's log
	'logs:CreateLogStream',
	'logs:PutLogEvents',
	// the mapping's on-failure destination
	'sqs:SendMessage',
	// trust policies only (checked below)
	'sts:AssumeRole',
]);

// What the function's role must be granted for the stack to work at all.
const REQUIRED_ACTIONS = [
	'kinesis:DescribeStream',
	'kinesis:DescribeStreamSummary',
	'kinesis:GetRecords',
	'kinesis:GetShardIterator',
	'kinesis:ListShards',
	'kinesis:PutRecords',
	's3:GetObject',
	'logs:CreateLogStream',
	'logs:PutLogEvents',
	'sqs:SendMessage',
];
const STREAM_READ_ACTIONS = REQUIRED_ACTIONS.filter((a) => /^kinesis:(Describe|Get|List)/.test(a));
const STREAM_WRITE_ACTIONS = ['kinesis:PutRecord', 'kinesis:PutRecords'];

// Each service's actions must name resources of the stack's own resource type.
const SERVICE_RESOURCE = {
	kinesis: 'aws_kinesis_stream',
	s3: 'aws_s3_bucket',
	logs: 'aws_cloudwatch_log_group',
	sqs: 'aws_sqs_queue',
};

// Attributes that hold a policy document: they must be data.aws_iam_policy_document.X.json.
const POLICY_ATTRIBUTES = {
	aws_iam_role: ['assume_role_policy'],
	aws_iam_role_policy: ['policy'],
	aws_iam_policy: ['policy'],
	aws_s3_bucket_policy: ['policy'],
	aws_sqs_queue_policy: ['policy'],
	aws_kinesis_resource_policy: ['policy'],
};
// Ways to attach policies the checker cannot read.
const FORBIDDEN_TYPES = ['aws_iam_role_policy_attachment', 'aws_iam_policy_attachment',
	'aws_iam_role_policies_exclusive', 'aws_iam_role_policy_attachments_exclusive'];

// Variables Lambda reserves: a function that sets one is refused at apply time.
const LAMBDA_RESERVED_ENV = /^(_HANDLER|_X_AMZN_TRACE_ID|AWS_REGION|AWS_DEFAULT_REGION|AWS_EXECUTION_ENV|AWS_LAMBDA_[A-Z0-9_]+|AWS_ACCESS_KEY|AWS_ACCESS_KEY_ID|AWS_SECRET_ACCESS_KEY|AWS_SESSION_TOKEN|LAMBDA_TASK_ROOT|LAMBDA_RUNTIME_DIR)$/;

// CloudWatch Logs' accepted retention values (0, never expire, is deliberately not accepted).
const LOG_RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096,
	1827, 2192, 2557, 2922, 3288, 3653];

// --- output --------------------------------------------------------------------------------------

let failures = 0;
let checks = 0;

// report(CHECK, PROBLEMS): one "ok" line, or one "FAIL" line per problem.
function report(check, problems) {
	checks++;
	if (problems.length === 0) {
		console.log(`ok - ${check}`);
		return;
	}
	failures++;
	for (const p of problems)
		console.log(`FAIL - ${check}: ${p}`);
}

// --- hcl2json ------------------------------------------------------------------------------------

// The parser from WQ_NODE_MODULES (the tests point it at the source tree's node_modules), else
// from the source tree this script is in, else wherever node finds it.
function loadHcl2json() {
	const dirs = [process.env.WQ_NODE_MODULES, path.join(__dirname, '..', '..', 'node_modules')];
	for (const d of dirs) {
		if (!d)
			continue;
		const p = path.join(d, '@cdktf', 'hcl2json');
		if (fs.existsSync(p))
			return require(p);
	}
	try {
		return require('@cdktf/hcl2json');
	} catch (e) {
		console.error('check_terraform.js: @cdktf/hcl2json not found: run `npm ci` in the source ' +
			'directory (package-lock.json pins it) or set WQ_NODE_MODULES');
		process.exit(2);
	}
}

// --- the merged configuration --------------------------------------------------------------------

const blocks = (v) => (Array.isArray(v) ? v : v === undefined || v === null ? [] : [v]);
const first = (v) => blocks(v)[0];
const isExpr = (s) => typeof s === 'string' && s.includes('${');

// cfg: variables, locals, outputs: name -> {file, body}; resources, data: "TYPE.NAME" ->
// {type, name, file, body}; terraform, providers, modules: [{file, body}]; dupes: [text]
function merge(parsed) {
	const cfg = { variables: new Map(), locals: new Map(), outputs: new Map(),
		resources: new Map(), data: new Map(), terraform: [], providers: [], modules: [],
		dupes: [] };
	const put = (map, key, val, what) => {
		if (map.has(key))
			cfg.dupes.push(`${what} ${key} is declared in ${map.get(key).file} and ${val.file}`);
		else
			map.set(key, val);
	};
	for (const { file, json } of parsed) {
		for (const [name, bs] of Object.entries(json.variable || {}))
			put(cfg.variables, name, { file, body: first(bs) || {} }, 'variable');
		for (const lb of blocks(json.locals))
			for (const [name, value] of Object.entries(lb))
				put(cfg.locals, name, { file, value }, 'local');
		for (const [name, bs] of Object.entries(json.output || {}))
			put(cfg.outputs, name, { file, body: first(bs) || {} }, 'output');
		for (const [type, byName] of Object.entries(json.resource || {}))
			for (const [name, bs] of Object.entries(byName))
				put(cfg.resources, `${type}.${name}`, { type, name, file, body: first(bs) || {} },
					'resource');
		for (const [type, byName] of Object.entries(json.data || {}))
			for (const [name, bs] of Object.entries(byName))
				put(cfg.data, `${type}.${name}`, { type, name, file, body: first(bs) || {} },
					'data');
		for (const b of blocks(json.terraform))
			cfg.terraform.push({ file, body: b });
		for (const [name, bs] of Object.entries(json.provider || {}))
			for (const b of blocks(bs))
				cfg.providers.push({ file, name, body: b });
		for (const [name, bs] of Object.entries(json.module || {}))
			cfg.modules.push({ file, name, body: first(bs) });
	}
	return cfg;
}

// Every string below node, with the path of keys that leads to it.
function strings(node, at, out) {
	if (typeof node === 'string') {
		out.push({ at, s: node });
	} else if (Array.isArray(node)) {
		node.forEach((v, i) => strings(v, at, out));
	} else if (node && typeof node === 'object') {
		for (const [k, v] of Object.entries(node))
			strings(v, at.concat(k), out);
	}
	return out;
}

// The expression strings of the whole configuration: {file, where, inVariable, s}.
function expressions(cfg) {
	const out = [];
	const add = (file, where, body, inVariable) => {
		for (const { s } of strings(body, [], []))
			if (isExpr(s))
				out.push({ file, where, inVariable, s });
	};
	for (const [n, v] of cfg.variables)
		add(v.file, `variable ${n}`, v.body, n);
	for (const [n, l] of cfg.locals)
		add(l.file, `local ${n}`, l.value, null);
	for (const [n, o] of cfg.outputs)
		add(o.file, `output ${n}`, o.body, null);
	for (const [k, r] of cfg.resources)
		add(r.file, k, r.body, null);
	for (const [k, d] of cfg.data)
		add(d.file, `data.${k}`, d.body, null);
	for (const t of cfg.terraform)
		add(t.file, 'terraform', t.body, null);
	for (const p of cfg.providers)
		add(p.file, `provider ${p.name}`, p.body, null);
	for (const m of cfg.modules)
		add(m.file, `module ${m.name}`, m.body, null);
	return out;
}

// References in one expression string.
function refsOf(s) {
	// attributes of the iteration and meta objects are never declarations
	const t = s.replace(/(?<![\w.])(each|count|path|self|terraform)\.[\w.-]*/g, ' ');
	const all = (re) => [...t.matchAll(re)];
	const reserved = new Set(['var', 'local', 'data', 'module', 'each', 'count', 'path', 'self',
		'terraform']);
	return {
		vars: all(/(?<![\w.])var\.([A-Za-z_][\w-]*)/g).map((m) => m[1]),
		locals: all(/(?<![\w.])local\.([A-Za-z_][\w-]*)/g).map((m) => m[1]),
		data: all(/(?<![\w.])data\.([A-Za-z_][\w-]*)\.([A-Za-z_][\w-]*)/g).map((m) => `${m[1]}.${m[2]}`),
		resources: all(/(?<![\w.])([a-z][a-z0-9]*_[a-z0-9_]+)\.([A-Za-z_][\w-]*)/g)
			.filter((m) => !reserved.has(m[1]))
			.map((m) => `${m[1]}.${m[2]}`),
	};
}

// The text of an expression with the locals it names replaced by theirs (recursively), for
// checks that look through a local (the function's environment, the log group name).
function expand(cfg, value, depth = 0) {
	let s = typeof value === 'string' ? value : JSON.stringify(value);
	if (depth > 8 || s === undefined)
		return s;
	return s.replace(/\$\{local\.([A-Za-z_][\w-]*)\}|(?<![\w.])local\.([A-Za-z_][\w-]*)/g,
		(m, a, b) => {
			const l = cfg.locals.get(a || b);
			if (!l)
				return m;
			const inner = expand(cfg, l.value, depth + 1);
			// a whole "${local.x}" whose local is a template keeps its text; inside a larger
			// expression the local's own ${ } are unwrapped
			if (a)
				return inner;
			return typeof inner === 'string' ? inner.replace(/^\$\{([\s\S]*)\}$/, '$1') : m;
		});
}

// Names of the resources of TYPE an expression refers to.
function refsTo(value, type) {
	const out = [];
	for (const { s } of strings(value, [], []))
		for (const r of refsOf(s).resources)
			if (r.startsWith(`${type}.`))
				out.push(r);
	return out;
}

// --- bounds ------------------------------------------------------------------------------------

// Whether a numeric attribute is a literal in [lo, hi], or var.X whose validation bounds it
// inside [lo, hi] (a condition with var.X >= A and var.X <= B, lo <= A, B <= hi) and whose
// default, if any, lies in [lo, hi]. Returns null or the problem.
function bounded(cfg, value, lo, hi) {
	if (value === undefined || value === null)
		return 'is not set';
	if (typeof value === 'number')
		return value >= lo && value <= hi ? null : `${value} is outside ${lo}..${hi}`;
	const m = typeof value === 'string' && value.match(/^\$\{var\.([A-Za-z_][\w-]*)\}$/);
	if (!m)
		return `'${value}' is neither a number nor a var.X whose validation bounds it`;
	const v = cfg.variables.get(m[1]);
	if (!v)
		return `var.${m[1]} is not declared`;
	const d = v.body.default;
	if (d !== undefined && d !== null && (typeof d !== 'number' || d < lo || d > hi))
		return `var.${m[1]} defaults to ${d}, outside ${lo}..${hi}`;
	const esc = m[1].replace(/[-]/g, '\\-');
	for (const val of blocks(v.body.validation)) {
		const c = String(val.condition || '');
		const a = c.match(new RegExp(`var\\.${esc}\\s*>=\\s*(-?[0-9.]+)`));
		const b = c.match(new RegExp(`var\\.${esc}\\s*<=\\s*(-?[0-9.]+)`));
		if (a && b && Number(a[1]) >= lo && Number(b[1]) <= hi)
			return null;
	}
	return `var.${m[1]} has no validation bounding it inside ${lo}..${hi}`;
}

// Whether a value is a literal of ALLOWED or var.X validated by contains([...], var.X) with a
// list inside ALLOWED. Returns null or the problem.
function oneOf(cfg, value, allowed) {
	if (value === undefined || value === null)
		return 'is not set';
	if (typeof value !== 'string' || !isExpr(value))
		return allowed.includes(value) ? null : `${JSON.stringify(value)} is not one of ${allowed.join(', ')}`;
	const m = value.match(/^\$\{var\.([A-Za-z_][\w-]*)\}$/);
	if (!m)
		return `'${value}' is neither a literal nor a var.X validated with contains()`;
	const v = cfg.variables.get(m[1]);
	if (!v)
		return `var.${m[1]} is not declared`;
	for (const val of blocks(v.body.validation)) {
		const c = String(val.condition || '');
		const lm = c.match(new RegExp(`contains\\(\\s*\\[([^\\]]*)\\]\\s*,\\s*var\\.${m[1]}\\s*\\)`));
		if (!lm)
			continue;
		const items = lm[1].split(',').map((x) => x.trim().replace(/^"(.*)"$/, '$1'))
			.filter((x) => x !== '').map((x) => (/^-?[0-9]+$/.test(x) ? Number(x) : x));
		const bad = items.filter((x) => !allowed.includes(x));
		if (bad.length === 0)
			return null;
		return `var.${m[1]} allows ${bad.join(', ')}, not one of ${allowed.join(', ')}`;
	}
	return `var.${m[1]} has no contains([...], var.${m[1]}) validation`;
}

// --- checks --------------------------------------------------------------------------------------

function checkReferences(cfg, exprs) {
	const undeclared = { vars: [], locals: [], resources: [], data: [] };
	const usedVars = new Set();
	const usedLocals = new Set();
	const usedData = new Set();
	let nv = 0, nl = 0, nr = 0, nd = 0;
	for (const e of exprs) {
		const r = refsOf(e.s);
		for (const v of r.vars) {
			nv++;
			if (!cfg.variables.has(v))
				undeclared.vars.push(`var.${v} (${e.file}, ${e.where}) is not declared`);
			else if (e.inVariable !== v)
				usedVars.add(v);
		}
		for (const l of r.locals) {
			nl++;
			if (!cfg.locals.has(l))
				undeclared.locals.push(`local.${l} (${e.file}, ${e.where}) is not declared`);
			else if (e.where !== `local ${l}`)
				usedLocals.add(l);
		}
		for (const x of r.resources) {
			nr++;
			if (!cfg.resources.has(x))
				undeclared.resources.push(`${x} (${e.file}, ${e.where}) is not declared`);
		}
		for (const x of r.data) {
			nd++;
			if (!cfg.data.has(x))
				undeclared.data.push(`data.${x} (${e.file}, ${e.where}) is not declared`);
			else if (e.where !== `data.${x}`)
				usedData.add(x);
		}
	}
	const uniq = (a) => [...new Set(a)];
	report(`var references declared (${nv} references)`, uniq(undeclared.vars));
	report(`variables used (${cfg.variables.size} declared)`, [...cfg.variables.keys()]
		.filter((v) => !usedVars.has(v))
		.map((v) => `var.${v} (${cfg.variables.get(v).file}) is declared but never used`));
	report(`local references resolve (${nl} references)`, uniq(undeclared.locals));
	report(`locals used (${cfg.locals.size} declared)`, [...cfg.locals.keys()]
		.filter((l) => !usedLocals.has(l))
		.map((l) => `local.${l} (${cfg.locals.get(l).file}) is declared but never used`));
	report(`resource references resolve (${nr} references)`, uniq(undeclared.resources));
	report(`data references resolve (${nd} references)`, uniq(undeclared.data));
	report(`data sources used (${cfg.data.size} declared)`, [...cfg.data.keys()]
		.filter((d) => !usedData.has(d))
		.map((d) => `data.${d} (${cfg.data.get(d).file}) is declared but never used`));
}

function checkVariables(cfg) {
	const typed = [];
	const validated = [];
	for (const [n, v] of cfg.variables) {
		const b = v.body;
		if (!b.type)
			typed.push(`var.${n} (${v.file}) has no type`);
		if (typeof b.description !== 'string' || b.description.trim() === '')
			typed.push(`var.${n} (${v.file}) has no description`);
		if (b.type === '${bool}')
			continue;
		const vals = blocks(b.validation);
		if (vals.length === 0)
			validated.push(`var.${n} (${v.file}) has no validation block`);
		for (const val of vals) {
			if (!isExpr(val.condition) || !refsOf(val.condition).vars.includes(n))
				validated.push(`var.${n} (${v.file}): a validation condition does not test var.${n}`);
			if (typeof val.error_message !== 'string' || val.error_message.trim() === '')
				validated.push(`var.${n} (${v.file}): a validation has no error_message`);
		}
	}
	report('variables have a type and a description', typed);
	report('variables (other than bool) have validations', validated);
}

function checkVersions(cfg, partial) {
	const problems = [];
	const tf = cfg.terraform.map((t) => t.body);
	if (tf.length === 0) {
		if (!partial)
			problems.push('no terraform block (required_version, required_providers)');
		report('versions pinned', problems);
		return;
	}
	if (!tf.some((t) => typeof t.required_version === 'string' && /[0-9]/.test(t.required_version)))
		problems.push('terraform.required_version is not set');
	let aws = null;
	for (const t of tf)
		for (const rp of blocks(t.required_providers))
			if (rp.aws)
				aws = rp.aws;
	if (!aws) {
		problems.push('required_providers has no aws entry');
	} else {
		if (aws.source !== 'hashicorp/aws')
			problems.push(`aws provider source is ${JSON.stringify(aws.source)}, not hashicorp/aws`);
		const v = String(aws.version || '');
		const pessimistic = /^~>\s*[0-9]+\.[0-9]+/.test(v);
		const both = /(>=|>)\s*[0-9]/.test(v) && /(<=|<)\s*[0-9]/.test(v);
		if (!pessimistic && !both)
			problems.push(`aws provider version '${v}' is not a range with a lower and an upper bound`);
	}
	report('versions pinned', problems);
}

// The statements of every data "aws_iam_policy_document" (Deny and Allow).
function checkIam(cfg) {
	const style = [];
	for (const [k, r] of cfg.resources) {
		if (FORBIDDEN_TYPES.includes(r.type))
			style.push(`${k} (${r.file}) attaches a policy the checker cannot read`);
		if (r.body.managed_policy_arns !== undefined)
			style.push(`${k} (${r.file}) sets managed_policy_arns`);
		if (r.type === 'aws_iam_role' && r.body.inline_policy !== undefined)
			style.push(`${k} (${r.file}) uses inline_policy: use aws_iam_role_policy`);
		for (const attr of POLICY_ATTRIBUTES[r.type] || []) {
			const v = r.body[attr];
			if (v === undefined)
				continue;
			if (typeof v !== 'string' || !/^\$\{data\.aws_iam_policy_document\.[\w-]+\.json\}$/.test(v))
				style.push(`${k}.${attr} (${r.file}) is not data.aws_iam_policy_document.NAME.json`);
		}
	}
	report('IAM policies are aws_iam_policy_document data blocks', style);

	const actionProblems = [];
	const resourceProblems = [];
	let nstmt = 0;
	for (const [k, d] of cfg.data) {
		if (d.type !== 'aws_iam_policy_document')
			continue;
		if (d.body.source_policy_documents || d.body.override_policy_documents)
			actionProblems.push(`data.${k} merges other documents the checker cannot read`);
		blocks(d.body.statement).forEach((st, i) => {
			nstmt++;
			const id = `data.${k} statement ${st.sid ? JSON.stringify(st.sid) : `#${i + 1}`}`;
			const effect = st.effect === undefined ? 'Allow' : st.effect;
			if (effect === 'Deny')
				return; // grants nothing
			if (effect !== 'Allow') {
				actionProblems.push(`${id}: effect ${JSON.stringify(effect)}`);
				return;
			}
			if (st.not_actions !== undefined)
				actionProblems.push(`${id}: not_actions in an Allow statement`);
			if (st.not_resources !== undefined)
				resourceProblems.push(`${id}: not_resources in an Allow statement`);
			const actions = blocks(st.actions);
			if (actions.length === 0)
				actionProblems.push(`${id}: no actions`);
			for (const a of actions) {
				if (typeof a !== 'string' || isExpr(a))
					actionProblems.push(`${id}: action ${JSON.stringify(a)} is not a literal`);
				else if (/[*?]/.test(a))
					actionProblems.push(`${id}: action '${a}' has a wildcard`);
				else if (!ALLOWED_ACTIONS.has(a))
					actionProblems.push(`${id}: action '${a}' is not in the allowlist`);
			}
			const principals = blocks(st.principals);
			const trust = actions.includes('sts:AssumeRole');
			if (trust) {
				const lambdaOnly = principals.length === 1 && principals[0].type === 'Service' &&
					JSON.stringify(blocks(principals[0].identifiers)) === '["lambda.amazonaws.com"]';
				if (!lambdaOnly || actions.length !== 1)
					actionProblems.push(`${id}: sts:AssumeRole only alone, for the Service principal lambda.amazonaws.com`);
				return; // a trust policy has no resources
			}
			if (principals.length > 0)
				actionProblems.push(`${id}: an Allow with principals (a resource policy granting access)`);
			const resources = blocks(st.resources);
			if (resources.length === 0)
				resourceProblems.push(`${id}: no resources`);
			for (const r of resources)
				if (r === '*' || (typeof r === 'string' && /^arn:[^:]*:[^:]*:[^:]*:[^:]*:\*$/.test(r)))
					resourceProblems.push(`${id}: resource '${r}' is everything`);
			const services = new Set(actions.filter((a) => typeof a === 'string').map((a) => a.split(':')[0]));
			for (const svc of services) {
				const type = SERVICE_RESOURCE[svc];
				if (!type)
					continue;
				for (const r of resources)
					if (r !== '*' && refsTo(r, type).length === 0)
						resourceProblems.push(`${id}: ${svc} resource '${r}' is not one of the stack's ${type}`);
			}
			if (actions.includes('s3:GetObject'))
				for (const r of resources)
					if (typeof r === 'string' && !/\.arn\}\/[^*]+\/\*$/.test(r))
						resourceProblems.push(`${id}: s3:GetObject on '${r}' is not limited to a key prefix (BUCKET_ARN/PREFIX/*)`);
			if (actions.includes('s3:ListBucket') &&
				!blocks(st.condition).some((c) => c.variable === 's3:prefix'))
				resourceProblems.push(`${id}: s3:ListBucket without an s3:prefix condition`);
		});
	}
	report(`IAM actions allowlisted, no wildcards (${nstmt} statements)`, actionProblems);
	report('IAM resources scoped', resourceProblems);
}

// The Allow actions (and their resources) of the policies attached to role aws_iam_role.NAME.
function roleGrants(cfg, roleRef) {
	const grants = [];
	for (const [, r] of cfg.resources) {
		if (r.type !== 'aws_iam_role_policy' || !refsTo(r.body.role, 'aws_iam_role').includes(roleRef))
			continue;
		const m = String(r.body.policy).match(/data\.aws_iam_policy_document\.([\w-]+)\.json/);
		const d = m && cfg.data.get(`aws_iam_policy_document.${m[1]}`);
		if (!d)
			continue;
		for (const st of blocks(d.body.statement))
			if ((st.effect || 'Allow') === 'Allow')
				for (const a of blocks(st.actions))
					grants.push({ action: a, resources: blocks(st.resources) });
	}
	return grants;
}

function ofType(cfg, type) {
	return [...cfg.resources.values()].filter((r) => r.type === type);
}

function checkLambda(cfg, partial) {
	const fns = ofType(cfg, 'aws_lambda_function');
	if (!partial && fns.length === 0)
		report('Lambda function', ['no aws_lambda_function']);
	const groups = ofType(cfg, 'aws_cloudwatch_log_group');
	for (const f of fns) {
		const id = `aws_lambda_function.${f.name}`;
		const b = f.body;
		const p = [];
		if (b.runtime !== 'provided.al2023')
			p.push(`runtime is ${JSON.stringify(b.runtime)}, not "provided.al2023"`);
		if (b.handler !== 'bootstrap')
			p.push(`handler is ${JSON.stringify(b.handler)}, not "bootstrap"`);
		if (JSON.stringify(b.architectures) !== '["x86_64"]')
			p.push(`architectures is ${JSON.stringify(b.architectures)}, not ["x86_64"] (the zip's loader is x86_64)`);
		const zip = typeof b.filename === 'string' && b.filename.match(/^\$\{(var\.[A-Za-z_][\w-]*)\}$/);
		if (!zip)
			p.push('filename is not a variable');
		else if (b.source_code_hash !== `\${filebase64sha256(${zip[1]})}`)
			p.push(`source_code_hash is not filebase64sha256(${zip[1]})`);
		const t = bounded(cfg, b.timeout, 1, 900);
		if (t)
			p.push(`timeout ${t}`);
		const mem = bounded(cfg, b.memory_size, 128, 10240);
		if (mem)
			p.push(`memory_size ${mem}`);
		if (refsTo(b.role, 'aws_iam_role').length !== 1)
			p.push('role is not an aws_iam_role of the stack');
		// the environment, looked at through locals
		const env = first(b.environment);
		const vars = env ? env.variables : undefined;
		const envText = expand(cfg, vars === undefined ? '' : vars);
		const keys = new Set();
		if (vars && typeof vars === 'object') {
			Object.keys(vars).forEach((k) => keys.add(k));
		} else {
			for (const m of String(envText).matchAll(/(?:^|[\s{,(])"?([A-Za-z_][A-Za-z0-9_]*)"?\s*=(?![=>])/g))
				keys.add(m[1]);
		}
		const valueOf = (k) => {
			if (vars && typeof vars === 'object')
				return expand(cfg, vars[k]);
			const m = String(envText).match(new RegExp(`${k}"?\\s*=\\s*([^\\n,}]+)`));
			return m ? expand(cfg, m[1].trim()) : '';
		};
		for (const k of keys)
			if (LAMBDA_RESERVED_ENV.test(k))
				p.push(`environment sets ${k}, which Lambda reserves (the function is refused)`);
		if (!keys.has('PREDICTIONS_STREAM_NAME'))
			p.push('environment has no PREDICTIONS_STREAM_NAME (the output stream)');
		else if (!/aws_kinesis_stream\.[\w-]+\.name/.test(valueOf('PREDICTIONS_STREAM_NAME')))
			p.push('PREDICTIONS_STREAM_NAME is not the name of a stream of the stack');
		if (!keys.has('WINEQ_MODEL_URI') && !keys.has('WINEQ_SERVER'))
			p.push('environment has neither WINEQ_MODEL_URI nor WINEQ_SERVER (no predictor)');
		if (keys.has('WINEQ_MODEL_URI') && !/s3:\/\/|models:\//.test(valueOf('WINEQ_MODEL_URI')))
			p.push('WINEQ_MODEL_URI is not an s3:// (or models:/) URI');
		if (!keys.has('WINEQ_HOME') || !valueOf('WINEQ_HOME').includes('/tmp'))
			p.push('WINEQ_HOME is not below /tmp (the only writable directory in Lambda)');
		// its log group: /aws/lambda/<function_name>, Lambda's default
		const want = `/aws/lambda/${b.function_name}`;
		if (!partial && !groups.some((g) => expand(cfg, g.body.name) === want))
			p.push(`no aws_cloudwatch_log_group named ${want}`);
		const lc = first(b.logging_config);
		if (lc && lc.log_group !== undefined && refsTo(lc.log_group, 'aws_cloudwatch_log_group').length === 0)
			p.push('logging_config.log_group is not a log group of the stack');
		// the role grants what the bridge calls
		const role = refsTo(b.role, 'aws_iam_role')[0];
		if (role && !partial) {
			const granted = new Set(roleGrants(cfg, role).map((g) => g.action));
			for (const a of REQUIRED_ACTIONS)
				if (!granted.has(a))
					p.push(`role ${role} does not grant ${a}`);
		}
		report(`Lambda function ${id}`, p);
	}
}

function checkEventSourceMapping(cfg, partial) {
	const esms = ofType(cfg, 'aws_lambda_event_source_mapping');
	if (!partial && esms.length === 0)
		report('event source mapping', ['no aws_lambda_event_source_mapping']);
	for (const e of esms) {
		const id = `aws_lambda_event_source_mapping.${e.name}`;
		const b = e.body;
		const p = [];
		const fn = refsTo(b.function_name, 'aws_lambda_function');
		if (fn.length !== 1)
			p.push('function_name is not an aws_lambda_function of the stack');
		const src = refsTo(b.event_source_arn, 'aws_kinesis_stream');
		if (src.length !== 1 || !/\.arn\}$/.test(String(b.event_source_arn)))
			p.push('event_source_arn is not the ARN of an aws_kinesis_stream of the stack');
		if (!blocks(b.function_response_types).includes('ReportBatchItemFailures'))
			p.push('function_response_types lacks "ReportBatchItemFailures"');
		if (b.bisect_batch_on_function_error !== true)
			p.push('bisect_batch_on_function_error must be true');
		const r = bounded(cfg, b.maximum_retry_attempts, 0, 10000);
		if (r)
			p.push(`maximum_retry_attempts ${r}`);
		const age = bounded(cfg, b.maximum_record_age_in_seconds, 60, 604800);
		if (age)
			p.push(`maximum_record_age_in_seconds ${age}`);
		const bs = bounded(cfg, b.batch_size, 1, 10000);
		if (bs)
			p.push(`batch_size ${bs}`);
		const sp = oneOf(cfg, b.starting_position, ['LATEST', 'TRIM_HORIZON', 'AT_TIMESTAMP']);
		if (sp)
			p.push(`starting_position ${sp}`);
		const dc = first(b.destination_config);
		const of = dc && first(dc.on_failure);
		if (!of || refsTo(of.destination_arn, 'aws_sqs_queue').length !== 1)
			p.push('destination_config.on_failure is not an aws_sqs_queue of the stack');
		// the function must not write into the stream it reads
		if (fn.length === 1 && src.length === 1) {
			const f = cfg.resources.get(fn[0]);
			const role = f && refsTo(f.body.role, 'aws_iam_role')[0];
			const grants = role ? roleGrants(cfg, role) : [];
			for (const g of grants) {
				const onSrc = g.resources.some((x) => refsTo(x, 'aws_kinesis_stream').includes(src[0]));
				if (STREAM_WRITE_ACTIONS.includes(g.action) && onSrc)
					p.push(`the role may ${g.action} to its own event source ${src[0]}`);
			}
			for (const a of partial ? [] : STREAM_READ_ACTIONS)
				if (!grants.some((g) => g.action === a &&
					g.resources.some((x) => refsTo(x, 'aws_kinesis_stream').includes(src[0]))))
					p.push(`the role does not grant ${a} on ${src[0]}`);
		}
		report(`event source mapping ${id}`, p);
	}
}

function checkLogGroups(cfg, partial) {
	const groups = ofType(cfg, 'aws_cloudwatch_log_group');
	if (!partial && groups.length === 0)
		report('log group', ['no aws_cloudwatch_log_group']);
	for (const g of groups) {
		const p = [];
		const r = oneOf(cfg, g.body.retention_in_days, LOG_RETENTION_DAYS);
		if (r)
			p.push(`retention_in_days ${r}`);
		if (!String(expand(cfg, g.body.name)).startsWith('/aws/lambda/'))
			p.push('name is not /aws/lambda/...');
		report(`log group aws_cloudwatch_log_group.${g.name}`, p);
	}
}

function checkBuckets(cfg, partial) {
	const buckets = ofType(cfg, 'aws_s3_bucket');
	if (!partial && buckets.length === 0)
		report('S3 bucket', ['no aws_s3_bucket']);
	for (const [k, r] of cfg.resources)
		if (r.type === 'aws_s3_bucket_acl' || (r.type === 'aws_s3_bucket' && r.body.acl !== undefined))
			report('S3 ACLs', [`${k} sets an ACL (ownership is BucketOwnerEnforced)`]);
	// companions of each bucket: TYPE -> test of its body, the problem when it fails
	const companions = {
		aws_s3_bucket_public_access_block: [
			(b) => ['block_public_acls', 'block_public_policy', 'ignore_public_acls',
				'restrict_public_buckets'].every((a) => b[a] === true),
			'public access block: block_public_acls, block_public_policy, ignore_public_acls and restrict_public_buckets must all be true'],
		aws_s3_bucket_versioning: [
			(b) => (first(b.versioning_configuration) || {}).status === 'Enabled',
			'versioning_configuration.status must be "Enabled"'],
		aws_s3_bucket_server_side_encryption_configuration: [
			(b) => ['AES256', 'aws:kms', 'aws:kms:dsse'].includes(
				(first((first(b.rule) || {}).apply_server_side_encryption_by_default) || {}).sse_algorithm),
			'server-side encryption: rule.apply_server_side_encryption_by_default.sse_algorithm must be AES256, aws:kms or aws:kms:dsse'],
		aws_s3_bucket_ownership_controls: [
			(b) => (first(b.rule) || {}).object_ownership === 'BucketOwnerEnforced',
			'ownership controls: rule.object_ownership must be "BucketOwnerEnforced"'],
	};
	for (const bk of buckets) {
		const ref = `aws_s3_bucket.${bk.name}`;
		const p = [];
		for (const [type, [ok, problem]] of Object.entries(companions)) {
			const mine = ofType(cfg, type).filter((c) => refsTo(c.body.bucket, 'aws_s3_bucket').includes(ref));
			if (mine.length === 0)
				p.push(`no ${type} for it`);
			for (const c of mine)
				if (!ok(c.body))
					p.push(`${type}.${c.name}: ${problem}`);
		}
		report(`S3 bucket ${ref}`, p);
	}
}

function checkStreamsAndQueues(cfg, partial) {
	const streams = ofType(cfg, 'aws_kinesis_stream');
	if (!partial && streams.length < 2)
		report('Kinesis streams', [`${streams.length} aws_kinesis_stream, the stack needs an input and an output stream`]);
	for (const s of streams) {
		const b = s.body;
		const p = [];
		if (b.encryption_type !== 'KMS' || !b.kms_key_id)
			p.push('encryption_type must be "KMS" with a kms_key_id');
		const mode = (first(b.stream_mode_details) || {}).stream_mode;
		if (mode !== 'ON_DEMAND' && b.shard_count === undefined)
			p.push('shard_count is not set');
		const rp = bounded(cfg, b.retention_period, 24, 8760);
		if (rp)
			p.push(`retention_period ${rp}`);
		report(`Kinesis stream aws_kinesis_stream.${s.name}`, p);
	}
	const queues = ofType(cfg, 'aws_sqs_queue');
	if (!partial && queues.length === 0)
		report('SQS queue', ['no aws_sqs_queue (the on-failure destination)']);
	for (const q of queues) {
		const p = [];
		if (q.body.sqs_managed_sse_enabled !== true && !q.body.kms_master_key_id)
			p.push('neither sqs_managed_sse_enabled = true nor kms_master_key_id');
		const r = bounded(cfg, q.body.message_retention_seconds, 60, 1209600);
		if (r)
			p.push(`message_retention_seconds ${r}`);
		report(`SQS queue aws_sqs_queue.${q.name}`, p);
	}
}

function checkOutputs(cfg, partial) {
	const p = [];
	for (const [n, o] of cfg.outputs)
		if (typeof o.body.description !== 'string' || o.body.description.trim() === '')
			p.push(`output ${n} (${o.file}) has no description`);
	if (!partial) {
		const text = [...cfg.outputs.values()].map((o) => expand(cfg, o.body.value)).join('\n');
		for (const type of ['aws_s3_bucket', 'aws_kinesis_stream', 'aws_lambda_function',
			'aws_sqs_queue', 'aws_cloudwatch_log_group'])
			for (const r of ofType(cfg, type))
				if (!new RegExp(`(?<![\\w.])${type}\\.${r.name}\\.`).test(text))
					p.push(`no output names ${type}.${r.name}`);
	}
	report(`outputs (${cfg.outputs.size})`, p);
}

// --- main ----------------------------------------------------------------------------------------

async function main(argv) {
	let partial = false;
	const dirs = [];
	for (const a of argv) {
		if (a === '--partial')
			partial = true;
		else if (a.startsWith('-'))
			return usage();
		else
			dirs.push(a);
	}
	if (dirs.length !== 1)
		return usage();
	const dir = dirs[0];
	let files;
	try {
		files = fs.readdirSync(dir).filter((f) => f.endsWith('.tf')).sort();
	} catch (e) {
		console.error(`check_terraform.js: ${dir}: ${e.message}`);
		return 2;
	}
	if (files.length === 0) {
		console.error(`check_terraform.js: no .tf files in ${dir}`);
		return 2;
	}
	const hcl2json = loadHcl2json();
	const parsed = [];
	for (const f of files) {
		try {
			const json = await hcl2json.parse(f, fs.readFileSync(path.join(dir, f), 'utf8'));
			parsed.push({ file: f, json });
			report(`parse ${f}`, []);
		} catch (e) {
			report(`parse ${f}`, [String(e.message || e).split('\n')[0]]);
		}
	}
	if (parsed.length !== files.length) {
		console.log(`# ${files.length - parsed.length} files do not parse: nothing else checked`);
		return 1;
	}
	const cfg = merge(parsed);
	report('declarations unique', cfg.dupes);
	report('no modules (their contents are not checked)', cfg.modules.map((m) => `module ${m.name} (${m.file})`));
	checkReferences(cfg, expressions(cfg));
	checkVariables(cfg);
	checkVersions(cfg, partial);
	checkIam(cfg);
	checkLambda(cfg, partial);
	checkEventSourceMapping(cfg, partial);
	checkLogGroups(cfg, partial);
	checkBuckets(cfg, partial);
	checkStreamsAndQueues(cfg, partial);
	checkOutputs(cfg, partial);
	console.log(`# ${dir}: ${files.length} files, ${checks} checks, ${failures} failed` +
		(partial ? ' (partial)' : ''));
	return failures === 0 ? 0 : 1;
}

function usage() {
	console.error('usage: check_terraform.js [--partial] DIR');
	return 2;
}

main(process.argv.slice(2)).then((rc) => process.exit(rc), (e) => {
	console.error(`check_terraform.js: ${e.stack || e}`);
	process.exit(2);
});
