# shellcheck shell=sh # sourced by the tests (no shebang of its own)
# A private PostgreSQL 15 server on loopback for the tests (POSIX sh). Source it after lib.sh:
#   pg_start DIR        initdb into DIR/data and start; exports WQ_PG_URI and PGPASSWORD
#   pg_start_private    what a test does first: exit 77 (skip) without PostgreSQL 15, else
#                       pg_start in a new directory (PG_PRIVATE) that the exit trap stops
#                       and removes together with lib.sh's cleanup
#   pg_createdb NAME    creates an empty database and prints its URI
#   pg_stop             stops the server (put it in the test's trap; harmless when stopped)
# The superuser is wqtest with a random password (scram-sha-256, also on the socket); the
# server listens on 127.0.0.1 at a free port and on a socket in DIR, and logs to DIR/pg.log.
# Durability is off (fsync, synchronous_commit, full_page_writes): the data is thrown away.
# PostgreSQL refuses to run as root: as root, the server runs as the postgres system user, who
# then owns DIR (its parent directories must let that user through).

: "${PG_BIN:=/usr/lib/postgresql/15/bin}"
PG_DIR=""
PG_PORT=""

# pg_available: whether PostgreSQL 15's server programs are installed.
pg_available() {
	[ -x "$PG_BIN/initdb" ] && [ -x "$PG_BIN/pg_ctl" ]
}

# pg_as_owner CMD...: runs CMD as the user who owns the server's files.
pg_as_owner() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

pg_start() {
	pg_available || {
		echo "pg_start: PostgreSQL 15 is not installed ($PG_BIN)" >&2
		return 1
	}
	PG_DIR=$1
	mkdir -p "$PG_DIR" || return 1
	PG_PORT=$(free_ports 1) || return 1
	PGPASSWORD=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
	export PGPASSWORD
	(umask 077 && printf '%s\n' "$PGPASSWORD" >"$PG_DIR/pwfile") || return 1
	if [ "$(id -u)" -eq 0 ]; then
		chown postgres: "$PG_DIR" "$PG_DIR/pwfile" || return 1
		chmod 0755 "$PG_DIR"
		runuser -u postgres -- test -w "$PG_DIR" || {
			echo "pg_start: the postgres user cannot reach $PG_DIR" >&2
			return 1
		}
	fi
	pg_as_owner "$PG_BIN/initdb" -D "$PG_DIR/data" -U wqtest --pwfile="$PG_DIR/pwfile" \
		-A scram-sha-256 -E UTF8 --locale=C.UTF-8 --no-sync --no-instructions \
		>"$PG_DIR/initdb.log" 2>&1 || {
		echo "pg_start: initdb failed:" >&2
		tail -n 20 "$PG_DIR/initdb.log" >&2
		return 1
	}
	rm -f "$PG_DIR/pwfile"
	cat >>"$PG_DIR/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PG_DIR'
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = 16MB
max_connections = 40
logging_collector = off
log_min_messages = warning
EOF
	pg_as_owner "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/pg.log" -w -t 30 start \
		>/dev/null 2>&1 || {
		echo "pg_start: the server did not start:" >&2
		tail -n 20 "$PG_DIR/pg.log" >&2
		return 1
	}
	wait_for 10 "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -U wqtest -d postgres || {
		echo "pg_start: no answer on 127.0.0.1:$PG_PORT" >&2
		return 1
	}
	WQ_PG_URI="postgresql://wqtest@127.0.0.1:$PG_PORT/postgres"
	export WQ_PG_URI
}

pg_stop() {
	[ -n "$PG_DIR" ] && [ -f "$PG_DIR/data/postmaster.pid" ] || return 0
	pg_as_owner "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w -t 30 stop >/dev/null 2>&1
}

# pg_createdb NAME: a new, empty database NAME on the running server; prints its URI.
pg_createdb() {
	"$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U wqtest -- "$1" || return 1
	echo "postgresql://wqtest@127.0.0.1:$PG_PORT/$1"
}

pg_start_private() {
	if ! pg_available; then
		echo "SKIP: PostgreSQL 15 is not installed ($PG_BIN)"
		exit 77
	fi
	# not below $WORK: as root the server runs as the postgres user, who cannot enter it
	PG_PRIVATE=$(mktemp -d "${TMPDIR:-/tmp}/wqpg-XXXXXX") || die "mktemp failed"
	# the test's processes first: they must not see the server go away before they stop
	trap 'cleanup; pg_stop; rm -rf "$PG_PRIVATE"' EXIT INT TERM
	pg_start "$PG_PRIVATE" || die "cannot start PostgreSQL"
}
