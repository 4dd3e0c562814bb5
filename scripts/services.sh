#!/usr/bin/env bash
# Make sure the local MariaDB and PostgreSQL the live tests use are up, and that PostgreSQL
# checks passwords for test roles (members of wf_password_auth) even though it trusts the rest.
set -euo pipefail

wait_port() {  # host port name
  for _ in $(seq 1 60); do
    (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && { exec 3>&- 3<&-; return 0; }
    sleep 1
  done
  echo "$3 did not come up on $1:$2" >&2
  return 1
}
up() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

if ! up 127.0.0.1 5432; then
  echo "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
fi
if ! up 127.0.0.1 3306; then
  echo "starting MariaDB"
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || true
fi
wait_port 127.0.0.1 5432 PostgreSQL
wait_port 127.0.0.1 3306 MariaDB

hba=$(psql -h 127.0.0.1 -U postgres -Atc "SHOW hba_file")
if [ -w "$hba" ] && ! grep -q "wf_password_auth" "$hba"; then
  echo "PostgreSQL: requiring passwords for members of wf_password_auth (test roles)"
  tmp=$(mktemp)
  { echo "host all +wf_password_auth 127.0.0.1/32 scram-sha-256"; cat "$hba"; } > "$tmp"
  cat "$tmp" > "$hba" && rm -f "$tmp"
fi
psql -h 127.0.0.1 -U postgres -Atqc "DO \$\$BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname='wf_password_auth') THEN CREATE ROLE wf_password_auth NOLOGIN; END IF; END\$\$"
psql -h 127.0.0.1 -U postgres -Atqc "SELECT pg_reload_conf()" >/dev/null
