#!/bin/sh
# Runs once, when the primary's volume is initialised: lets the standby stream from it.
set -e
echo "host replication ${POSTGRES_USER} all scram-sha-256" >> "$PGDATA/pg_hba.conf"
# Sessions of a killed segstore end within a second (the pooler sends no session options).
psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" \
  -c "ALTER ROLE \"$POSTGRES_USER\" SET client_connection_check_interval = 1000"
