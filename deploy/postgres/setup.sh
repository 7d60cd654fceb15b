#!/usr/bin/env bash
# Prepare PostgreSQL for kassa central: the application role, the role the regional managers'
# row-level security runs as, and the database; then bring the schema to head with
# `kassa central init-db`. Safe to run again: what exists is left as it is (a password given
# again is set again), and init-db applies only the migrations not yet applied.
#
# Run as root on a machine where `runuser -u postgres -- psql` reaches the cluster as a
# superuser (the database server itself), or set PSQL to another superuser command line.
#
# Settings (environment variables; defaults in brackets):
#   KASSA_DB_NAME      database name [kassa]
#   KASSA_DB_USER      the application's login role [kassa]
#   KASSA_DB_PASSWORD  set this password on the role (SCRAM); unset: no password is set, for
#                      peer authentication over the local socket (the `kassa` OS user logs in
#                      as the `kassa` role; Debian's pg_hba.conf allows that by default)
#   KASSA_DB_LOCALE    LOCALE of a newly created database [the cluster's default]
#   PSQL               the superuser's psql [runuser -u postgres -- psql]
#   KASSA_HOME         the kassa checkout with its .venv [/opt/kassa]
#   KASSA_SERVICE_USER who runs the migrations [kassa]
#   KASSA_CENTRAL_ENV  central's environment file, read for KASSA_CENTRAL_DB [/etc/kassa/central.env]
#   KASSA_SKIP_MIGRATE 1: create roles and database only (no init-db)
#
# Migration 0013 (row-level security by region) needs the role `kassa_regional` and needs the
# migrating role to be a member of it (central's regional managers' transactions run
# `SET LOCAL ROLE kassa_regional`). When the role is missing, 0013 creates it and grants it to
# the migrating role, which then must have CREATEROLE. This script creates `kassa_regional`
# (NOLOGIN) as the superuser and grants it to the application role first, so the application
# role never needs CREATEROLE. Everything else the migrations do (tables, triggers, policies,
# grants on its own tables to kassa_regional) only needs the application role to own the
# database, which it does here. No extension and no superuser right is needed.
set -euo pipefail

DB_NAME=${KASSA_DB_NAME:-kassa}
DB_USER=${KASSA_DB_USER:-kassa}
DB_LOCALE=${KASSA_DB_LOCALE:-}
PSQL=${PSQL:-runuser -u postgres -- psql}
KASSA_HOME=${KASSA_HOME:-/opt/kassa}
SERVICE_USER=${KASSA_SERVICE_USER:-kassa}
CENTRAL_ENV=${KASSA_CENTRAL_ENV:-/etc/kassa/central.env}

ident_ok() { [[ $1 =~ ^[a-z_][a-z0-9_]*$ ]]; }
ident_ok "$DB_NAME" || { echo "setup.sh: KASSA_DB_NAME must be a plain lower-case name" >&2; exit 2; }
ident_ok "$DB_USER" || { echo "setup.sh: KASSA_DB_USER must be a plain lower-case name" >&2; exit 2; }
if [ -n "$DB_LOCALE" ] && ! [[ $DB_LOCALE =~ ^[A-Za-z0-9_.@-]+$ ]]; then
  echo "setup.sh: KASSA_DB_LOCALE looks wrong: $DB_LOCALE" >&2; exit 2
fi

# The SQL goes to psql on standard input, so a password never appears in a process list.
sql_literal() { local s=${1//\'/\'\'}; printf "'%s'" "$s"; }
locale_clause=""
[ -n "$DB_LOCALE" ] && locale_clause=" LOCALE '$DB_LOCALE'"
password_sql=""
if [ -n "${KASSA_DB_PASSWORD:-}" ]; then
  password_sql="ALTER ROLE $DB_USER PASSWORD $(sql_literal "$KASSA_DB_PASSWORD");"
fi

echo "setup.sh: roles $DB_USER and kassa_regional, database $DB_NAME"
$PSQL -X -q -v ON_ERROR_STOP=1 -d postgres <<SQL
SET client_min_messages = warning;
SELECT 'CREATE ROLE $DB_USER LOGIN'
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$DB_USER') \gexec
$password_sql
SELECT 'CREATE ROLE kassa_regional NOLOGIN'
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'kassa_regional') \gexec
SELECT 'GRANT kassa_regional TO $DB_USER'
 WHERE NOT pg_has_role('$DB_USER', 'kassa_regional', 'MEMBER') \gexec
SELECT 'CREATE DATABASE $DB_NAME OWNER $DB_USER ENCODING ''UTF8'' TEMPLATE template0$locale_clause'
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '$DB_NAME') \gexec
DO \$\$ BEGIN
  IF (SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '$DB_NAME') <> '$DB_USER' THEN
    RAISE WARNING 'database $DB_NAME exists and is not owned by $DB_USER: left as it is';
  END IF;
END \$\$;
REVOKE ALL ON DATABASE $DB_NAME FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE $DB_NAME TO $DB_USER;
SQL

if [ "${KASSA_SKIP_MIGRATE:-0}" = 1 ]; then
  echo "setup.sh: KASSA_SKIP_MIGRATE=1: no migrations run"
  exit 0
fi
if [ ! -r "$CENTRAL_ENV" ]; then
  echo "setup.sh: $CENTRAL_ENV is missing (copy deploy/central.env.example and set" \
       "KASSA_CENTRAL_DB); roles and database are ready, migrations not run" >&2
  exit 1
fi
echo "setup.sh: kassa central init-db as $SERVICE_USER with $CENTRAL_ENV"
# The environment file is read by the shell as systemd reads it: KEY=value lines, # comments.
runuser -u "$SERVICE_USER" -- sh -c 'set -a; . "$0"; set +a; exec "$1" central init-db' \
  "$CENTRAL_ENV" "$KASSA_HOME/.venv/bin/kassa"
