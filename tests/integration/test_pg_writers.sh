#!/bin/sh
# Concurrent writers on a PostgreSQL registry: four shell loops of real wineq-client commands
# (train --register, models promote to Production or Staging, models alias, models
# version-tag) on two shared model names for WQ_PG_WRITERS_SECONDS (default 30), each as its own
# user, while a sampler polls the server every 20 ms for a model with two versions in one of
# Production or Staging. Every command must exit 0 with nothing on stderr (a "busy, retry" is
# an error that reached a user). Afterwards the audit trail must hold, in each writer's order,
# exactly the changes that writer made; replayed in event-id order it must never show two
# versions in Production (or Staging), each transition must start from the stage the replay
# is in (a lost update would not), every archive must belong to the promotion that implied
# it, and the replay must end where `models versions` is. Skipped (77) where PostgreSQL 15 is
# not installed.

# `CHECK && ok ... || not_ok ...` is this suite's if/else (lib.sh's ok and not_ok return 0).
# shellcheck disable=SC2015
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pg.sh"

: "${WQ_PG_WRITERS_SECONDS:=30}"
C=$WQ_CLIENT
[ -x "$C" ] || die "$C not built"
pg_start_private
URI=$(pg_createdb writers) || die "cannot create a database"
WINEQ_TRACKING_URI=$URI
export WINEQ_TRACKING_URI
MODELS="wq-a wq-b"
NWRITERS=4

head -n 201 "$WQ_SRCDIR/data/winequality-white.csv" >"$WORK/small.csv"
# register NAME: a quick training registered as a new version of NAME (stdout to $1.out)
register() {
	"$C" train --data "$WORK/small.csv" --kernel linear --no-probability --register "$1"
}
# every model has a version before the writers start, so each can pick one at once
for m in $MODELS; do
	USER=setup register "$m" >"$WORK/setup.out" 2>&1 ||
		die "setup: train --register $m: $(tail -n 3 "$WORK/setup.out")"
done

# --- the writers ------------------------------------------------------------------------

# rand N: sets r to a pseudo-random number in 0..N-1 (an LCG in shell arithmetic: no process)
rand() {
	seed=$(((seed * 1103515245 + 12345) % 2147483648))
	r=$(((seed / 65536) % $1))
}

# run DIR CMD...: runs one command, its output in DIR/out; appends "EXIT CMD" to DIR/cmds and,
# when it failed or wrote to stderr, the command and its stderr to DIR/errors. 0 when clean.
run() {
	rdir=$1
	shift
	"$@" >"$rdir/out" 2>"$rdir/err"
	rc=$?
	echo "$rc $*" >>"$rdir/cmds"
	if [ "$rc" -ne 0 ] || [ -s "$rdir/err" ]; then
		{
			echo "exit $rc: $*"
			sed 's/^/    stderr: /' "$rdir/err"
		} >>"$rdir/errors"
		return 1
	fi
	return 0
}

# writer I END: commands until the clock passes END; every change it made goes to
# $WORK/wI/changes as "KIND MODEL VERSION WHAT", in the order it made them.
writer() {
	wi=$1
	wend=$2
	D=$WORK/w$wi
	USER=writer$wi
	export USER
	seed=$(($(od -An -N4 -tu4 /dev/urandom | tr -d ' ') + wi))
	: >"$D/changes"
	: >"$D/cmds"
	while [ "$(date +%s)" -lt "$wend" ]; do
		rand 2
		[ "$r" -eq 0 ] && m=wq-a || m=wq-b
		rand 100
		op=$r
		if [ "$op" -lt 12 ]; then
			run "$D" register "$m" || continue
			v=$(sed -n "s|^model URI: *models:/$m/\([0-9]*\)\$|\1|p" "$D/out")
			echo "create $m $v None" >>"$D/changes"
			continue
		fi
		run "$D" "$C" models versions "$m" || continue
		# shellcheck disable=SC2046 # the version numbers become $1..$N
		set -- $(awk 'NR > 1 { print $1 }' "$D/out")
		rand $#
		eval "v=\${$((r + 1))}"
		if [ "$op" -lt 55 ]; then
			rand 2
			[ "$r" -eq 0 ] && stage=Production || stage=Staging
			run "$D" "$C" models promote "$m" "$v" "$stage" &&
				echo "stage $m $v $stage" >>"$D/changes"
		elif [ "$op" -lt 80 ]; then
			rand 2
			[ "$r" -eq 0 ] && alias=champion || alias=challenger
			run "$D" "$C" models alias "$m" "$alias" "$v" &&
				echo "alias $m $v $alias" >>"$D/changes"
		else
			run "$D" "$C" models version-tag "$m" "$v" "w$wi=$(wc -l <"$D/cmds")" &&
				echo "tag $m $v w$wi" >>"$D/changes"
		fi
	done
}

# the sampler: one psql session running the query every 20 ms until stopped; each sample is a
# row "MODELS-IN-VIOLATION|VERSIONS-IN-PRODUCTION"
cat >"$WORK/sample.sql" <<'EOF'
SELECT (SELECT count(*) FROM (SELECT 1 FROM model_versions
          WHERE stage IN ('Production', 'Staging') AND deleted_ms IS NULL
          GROUP BY name, stage HAVING count(*) > 1) AS twice),
       (SELECT count(*) FROM model_versions WHERE stage = 'Production' AND deleted_ms IS NULL)
\watch 0.02
EOF
"$PG_BIN/psql" -X -At -h 127.0.0.1 -p "$PG_PORT" -U wqtest -d writers -f "$WORK/sample.sql" \
	>"$WORK/samples" 2>"$WORK/sampler.err" &
SAMPLER=$!
PIDS="$PIDS $SAMPLER"

END=$(($(date +%s) + WQ_PG_WRITERS_SECONDS))
WPIDS=""
for i in $(seq 1 "$NWRITERS"); do
	mkdir -p "$WORK/w$i"
	writer "$i" "$END" &
	WPIDS="$WPIDS $!"
done
PIDS="$PIDS $WPIDS"
for p in $WPIDS; do wait "$p"; done
kill "$SAMPLER" 2>/dev/null
wait "$SAMPLER" 2>/dev/null

# --- every command succeeded --------------------------------------------------------------
total=0
changes=0
for i in $(seq 1 "$NWRITERS"); do
	D=$WORK/w$i
	n=$(wc -l <"$D/cmds")
	total=$((total + n))
	changes=$((changes + $(wc -l <"$D/changes")))
	if [ -s "$D/errors" ]; then
		not_ok "writer$i: $(grep -c '^exit' "$D/errors") of $n commands reached the user with an error"
		head -n 20 "$D/errors"
	else
		ok "writer$i: $n commands, each exit 0 with an empty stderr ($(wc -l <"$D/changes") changes:$(awk '{ n[$1]++ } END { for (k in n) printf " %s %d", k, n[k] }' "$D/changes"))"
	fi
done
[ "$total" -ge $((NWRITERS * 4)) ] && ok "$total commands ($changes changes) in total in ${WQ_PG_WRITERS_SECONDS} s" ||
	not_ok "only $total commands in ${WQ_PG_WRITERS_SECONDS} s"

# --- the sampler never saw two versions in one stage ----------------------------------------
nsamples=$(grep -c '|' "$WORK/samples")
bad=$(grep -vc '^0|' "$WORK/samples")
[ "$nsamples" -gt 0 ] && [ "$bad" -eq 0 ] &&
	ok "the sampler took $nsamples samples (every 20 ms), none with two versions in Production or Staging" ||
	not_ok "sampler: $bad of $nsamples samples show a violation: $(grep -v '^0|' "$WORK/samples" | head -n 3) $(cat "$WORK/sampler.err")"
grep -q '|[1-9]' "$WORK/samples" && ok "the sampler saw versions in Production (it read live state)" ||
	not_ok "the sampler never saw a version in Production"

# --- the audit trail ------------------------------------------------------------------------
for m in $MODELS; do
	"$C" models history "$m" --format json >"$WORK/history.$m.json" 2>"$WORK/err" ||
		die "models history $m: $(cat "$WORK/err")"
	"$C" models versions "$m" --format json >"$WORK/versions.$m.json" 2>"$WORK/err" ||
		die "models versions $m: $(cat "$WORK/err")"
done
# shellcheck disable=SC2086 # the model names become arguments
/usr/bin/python3 - "$WORK" "$NWRITERS" $MODELS >"$WORK/audit" 2>&1 <<'PYEOF'
import json, sys

work, nwriters, models = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
events = sorted((e for m in models for e in json.load(open(f"{work}/history.{m}.json"))),
                key=lambda e: e["id"])
problems = []


def is_archive(e):
    return e["kind"] == "stage" and e["to"] == "Archived"


def key(e):
    """An event as a writer logs it: KIND MODEL VERSION WHAT."""
    what = e["alias"] if e["kind"] == "alias" else e["to"]
    return f'{e["kind"]} {e["name"]} {e["version"]} {what}'


# replay in id order: each step starts from the state the previous one left
state = {m: {"stage": {}, "alias": {}, "tags": {}} for m in models}
# ("stage", model, version) and ("alias", model, alias) -> [(event id, value from then on)]
timeline = {}
for e in events:
    s, v, kind = state[e["name"]], e["version"], e["kind"]
    if kind == "create":
        if v in s["stage"]:
            problems.append(f"event {e['id']}: version {v} created twice")
        s["stage"][v] = "None"
        s["tags"][v] = set()
        timeline[("stage", e["name"], v)] = [(e["id"], "None")]
    elif kind == "stage":
        if s["stage"].get(v) != e["from"]:
            problems.append(f"event {e['id']}: {key(e)} from {e['from']}, but the replay has "
                            f"{s['stage'].get(v)} (a lost transition)")
        s["stage"][v] = e["to"]
        timeline[("stage", e["name"], v)].append((e["id"], e["to"]))
    elif kind == "alias":
        before = s["alias"].get(e["alias"])
        if e["from"] != ("" if before is None else str(before)):
            problems.append(f"event {e['id']}: alias {e['alias']} from {e['from']}, replay {before}")
        s["alias"][e["alias"]] = v
        timeline.setdefault(("alias", e["name"], e["alias"]), []).append((e["id"], v))
    elif kind == "tag":
        s["tags"][v].add(e["to"])
    for st in ("Production", "Staging"):
        inst = [x for x, y in s["stage"].items() if y == st]
        if len(inst) > 1:
            problems.append(f"after event {e['id']}: {e['name']} has {inst} in {st}")

# an archive belongs to a promotion: the archives and then that promotion, by one actor, in
# consecutive events (a write transaction holds the writers' lock to its end)
narchives = 0
for i, e in enumerate(events):
    if not is_archive(e):
        continue
    narchives += 1
    j = i
    while j < len(events) and is_archive(events[j]) and events[j]["actor"] == e["actor"]:
        j += 1
    p = events[j] if j < len(events) else None
    if not (p and p["kind"] == "stage" and p["to"] == e["from"] and p["name"] == e["name"]
            and p["actor"] == e["actor"]):
        problems.append(f"event {e['id']}: an archive not followed by its promotion ({p})")


def held(what, model, name, value, lo, hi):
    """Whether name (a version's stage or an alias) had value at some point between event ids
    lo and hi."""
    now = None
    for eid, x in timeline.get((what, model, name), []):
        if eid <= lo:
            now = x
        elif eid < hi and x == value:
            return True
    return now == value


def noop(entry, lo, hi):
    """A promotion to the stage a version is in, or an alias set to the version it names,
    changes nothing and records nothing: it must have held between the writer's neighbouring
    events."""
    kind, model, version, what = entry[0], entry[1], int(entry[2]), entry[3]
    if kind == "stage":
        return held("stage", model, version, what, lo, hi)
    return kind == "alias" and held("alias", model, what, version, lo, hi)


def align(logged, mine):
    """Pairs a writer's log with its events, in order: each entry is its next event or a no-op
    that held between the neighbouring events. Equal entries make a greedy pairing ambiguous (a
    no-op between two of them can belong to either side), so every pairing is tried (breadth
    first over the index of the next event). The no-op entries' indices, or None with the
    index of the first entry no pairing explains."""
    reach = {0: []}  # index of the next event -> the no-op entries so far
    for i, entry in enumerate(logged):
        nxt = {}
        for k, skipped in reach.items():
            if k < len(mine) and key(mine[k]) == " ".join(entry):
                nxt.setdefault(k + 1, skipped)
            lo = mine[k - 1]["id"] if k > 0 else 0
            hi = mine[k]["id"] if k < len(mine) else events[-1]["id"] + 1
            if k not in nxt and noop(entry, lo, hi):
                nxt[k] = skipped + [i]
        if not nxt:
            return None, i, min(reach)
        reach = nxt
    if len(mine) not in reach:
        return None, len(logged), max(reach)
    return reach[len(mine)], None, None


promotions = noops = 0
for w in range(1, nwriters + 1):
    actor = f"writer{w}"
    logged = [l.split() for l in open(f"{work}/w{w}/changes")]
    mine = [e for e in events if e["actor"] == actor and not is_archive(e)]
    promotions += sum(1 for entry in logged if entry[0] == "stage")
    skipped, bad, k = align(logged, mine)
    if skipped is None and bad < len(logged):
        problems.append(f"{actor}: logged '{' '.join(logged[bad])}' has no event (next: "
                        f"{key(mine[k]) if k < len(mine) else 'none'})")
        continue
    if skipped is None:
        problems.append(f"{actor}: {len(mine) - k} events it did not log, first {key(mine[k])}")
        continue
    wnoops = sum(1 for i in skipped if logged[i][0] == "stage")
    noops += wnoops
    print(f"WRITER {actor}: {len(logged)} changes, {len(mine)} events, {wnoops} promotions and "
          f"{len(skipped) - wnoops} alias sets that were no-ops")

nstage = sum(1 for e in events if e["kind"] == "stage")
print(f"STAGE {nstage} stage events = {promotions} promotions - {noops} no-ops + {narchives} archives")
if nstage != promotions - noops + narchives:
    problems.append("the stage events do not add up to the writers' promotions and archives")
others = {e["actor"] for e in events} - {f"writer{w}" for w in range(1, nwriters + 1)} - {"setup"}
if others:
    problems.append(f"events by unknown actors {others}")

# the replay ends where the registry is
for m in models:
    got = {}
    for v in json.load(open(f"{work}/versions.{m}.json")):
        got[v["version"]] = (v["stage"], sorted(v["aliases"]), sorted(v["tags"]))
    s = state[m]
    want = {v: (st, sorted(a for a, x in s["alias"].items() if x == v), sorted(s["tags"][v]))
            for v, st in s["stage"].items()}
    if got != want:
        problems.append(f"{m}: replay {want} but models versions {got}")
    print(f"FINAL {m}: {len(want)} versions, production {[v for v, x in want.items() if x[0] == 'Production']}")
print(f"EVENTS {len(events)}")
for p in problems[:20]:
    print("PROBLEM", p)
sys.exit(1 if problems else 0)
PYEOF
arc=$?
grep '^WRITER' "$WORK/audit" | sed 's/^WRITER //' | while read -r line; do echo "# $line"; done
[ "$arc" -eq 0 ] &&
	ok "the audit trail has every writer's changes, in its order, and nothing else ($(sed -n 's/^EVENTS //p' "$WORK/audit") events)" ||
	not_ok "audit trail: $(grep -v '^WRITER' "$WORK/audit" | head -n 25)"
grep -q '^PROBLEM.*(a lost transition)' "$WORK/audit" &&
	not_ok "a transition started from a stage the replay was not in" ||
	ok "every transition starts from the stage the replay left (no lost update)"
grep -q '^PROBLEM.*in \(Production\|Staging\)$' "$WORK/audit" &&
	not_ok "the replay shows two versions in one stage" ||
	ok "replayed in id order, each model has at most one version in Production (and Staging) at every step"
grep -q '^PROBLEM.*stage events do not add up' "$WORK/audit" &&
	not_ok "stage events: $(sed -n 's/^STAGE //p' "$WORK/audit")" ||
	ok "$(sed -n 's/^STAGE //p' "$WORK/audit")"
grep -q '^PROBLEM.*but models versions' "$WORK/audit" &&
	not_ok "the replay does not end at models versions" ||
	ok "the replay's final stages, aliases and tags equal models versions ($(sed -n 's/^FINAL //p' "$WORK/audit" | tr '\n' ';'))"
finish
