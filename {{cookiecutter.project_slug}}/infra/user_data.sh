#!/bin/bash
# Boot script of the app instances. infra/resources/app/instances.py fills in the placeholders (a name after
# an at sign; string.Template with that sign as delimiter) with shell-quoted values before
# it goes into the launch template. The database is built at the same time as the instances, so this script
# waits for it instead of the deploy waiting before it starts the instances.
#
# cloud-init runs this file, which runs `main`. Sourced instead (tests/infra/test_boot_script.py
# does, with stand-ins for dnf, aws, docker...), it only defines the functions;
# tests/infra/test_boot_rehearsal.py runs it whole against moto and a local metadata service.
set -euo pipefail

REGION=@region
REGISTRY=@registry
IMAGE=@image
IMAGE_TAG=@image_tag
DB_IDENTIFIER=@db_identifier
DB_NAME=@db_name
APP_PORT=@app_port
LOG_GROUP=@log_group
HEALTH_CHECK_PATH=@health_check_path

# Where the instance's outside world is. cloud-init sets none of these variables, so an
# instance always uses the defaults; the boot rehearsal points them at loopback and at a
# folder of its own, and shortens the pauses.
IMDS_ENDPOINT="${IMDS_ENDPOINT:-http://169.254.169.254}"
# The CA bundle of the region's RDS certificates ("Certificate bundles for specific AWS
# Regions", https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/UsingWithRDS.SSL.html).
RDS_CA_URL="${RDS_CA_BASE_URL:-https://truststore.pki.rds.amazonaws.com}/${REGION}/${REGION}-bundle.pem"
RDS_CA_DIR="${RDS_CA_DIR:-/etc/pki/rds}"
RDS_CA_FILE="${RDS_CA_DIR}/${REGION}-bundle.pem"
# The bundle's path inside the container, mounted read-only.
CONTAINER_CA_FILE=/etc/rds-ca/bundle.pem

# Pauses, in seconds.
RETRY_SECONDS="${RETRY_SECONDS:-10}"
DB_POLL_SECONDS="${DB_POLL_SECONDS:-15}"
CONNECT_TIMEOUT_SECONDS=5
# dnf: at most this many attempts, the first pause DNF_FIRST_PAUSE_SECONDS, doubling after
# each failure (5, 10, 20, 40, 80: under three minutes in all).
DNF_ATTEMPTS=6
DNF_FIRST_PAUSE_SECONDS="${DNF_FIRST_PAUSE_SECONDS:-5}"

# Runs the function named $1 until it succeeds.
retry() {
  until "$1"; do
    echo "retrying in ${RETRY_SECONDS}s: $1" >&2
    sleep "${RETRY_SECONDS}"
  done
}

# A repository mirror that is briefly unreachable or serves metadata being updated makes
# `dnf install` fail. Under `set -e` that would end the boot: the container never starts, the
# health checks fail, and after its grace period the Auto Scaling group replaces the instance,
# whose boot meets the same blip or not. A few attempts with growing pauses ride such blips
# out; a repository that stays broken still fails the boot (after under three minutes), and
# says so in /var/log/cloud-init-output.log.
install_docker() {
  local attempt pause="${DNF_FIRST_PAUSE_SECONDS}"
  for ((attempt = 1; attempt <= DNF_ATTEMPTS; attempt++)); do
    if dnf install -y docker; then
      return 0
    fi
    if ((attempt < DNF_ATTEMPTS)); then
      echo "dnf install -y docker failed (attempt ${attempt} of ${DNF_ATTEMPTS}); retrying in ${pause}s" >&2
      sleep "${pause}"
      pause=$((pause * 2))
    fi
  done
  echo "dnf install -y docker failed ${DNF_ATTEMPTS} times: giving up" >&2
  return 1
}

start_docker() {
  systemctl enable --now docker
}

# IMDSv2: a session token first (the launch template requires one), then the value.
metadata() {
  local token
  token="$(curl -fsS -X PUT "${IMDS_ENDPOINT}/latest/api/token" \
    -H 'X-aws-ec2-metadata-token-ttl-seconds: 300')"
  curl -fsS -H "X-aws-ec2-metadata-token: ${token}" "${IMDS_ENDPOINT}/latest/meta-data/$1"
}

# The app checks the database's certificate against this bundle (verify-full): a file
# only root may change, which the container sees read-only.
download_rds_ca() {
  local partial="${RDS_CA_FILE}.download"
  mkdir -p "${RDS_CA_DIR}"
  curl -fsS --max-time 30 -o "${partial}" "${RDS_CA_URL}" || return 1
  if ! grep -q -- '-----BEGIN CERTIFICATE-----' "${partial}"; then
    echo "${RDS_CA_URL} did not answer with a certificate bundle" >&2
    return 1
  fi
  chown root:root "${RDS_CA_DIR}" "${partial}"
  chmod 0755 "${RDS_CA_DIR}"
  chmod 0444 "${partial}"
  mv -f "${partial}" "${RDS_CA_FILE}"
}

# The database's status, endpoint address, port and secret ARN, separated by tabs ("None"
# for what RDS does not report yet); fails while the database does not exist yet.
db_instance() {
  aws rds describe-db-instances --region "${REGION}" --db-instance-identifier "${DB_IDENTIFIER}" \
    --query 'DBInstances[0].[DBInstanceStatus,Endpoint.Address,Endpoint.Port,MasterUserSecret.SecretArn]' \
    --output text 2>/dev/null
}

# Whether a TCP connection to host $1, port $2 opens within CONNECT_TIMEOUT_SECONDS.
accepts_connections() {
  # The single quotes are meant: the inner bash expands its own arguments.
  # shellcheck disable=SC2016
  timeout "${CONNECT_TIMEOUT_SECONDS}" bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
}

# Waits until RDS reports an endpoint that accepts a TCP connection, whatever the status: a
# database in use spends long periods `backing-up`, `modifying`, `storage-optimization`,
# `configuring-enhanced-monitoring`, `upgrading` or `maintenance` (RDS's DB instance status
# table), and the app can use it in most of them. Sets DB_HOST, DB_PORT and DB_SECRET_ARN.
wait_for_database() {
  local answer status address port secret
  while true; do
    if ! answer="$(db_instance)"; then
      echo "waiting for database ${DB_IDENTIFIER}: RDS does not describe it yet"
      sleep "${DB_POLL_SECONDS}"
      continue
    fi
    IFS=$'\t' read -r status address port secret <<<"${answer}" || true
    if [[ -z "${address:-}" || "${address}" == "None" || -z "${port:-}" || "${port}" == "None" ]]; then
      echo "waiting for database ${DB_IDENTIFIER}: status ${status:-unknown}, no endpoint yet"
    elif [[ -z "${secret:-}" || "${secret}" == "None" ]]; then
      echo "waiting for database ${DB_IDENTIFIER}: status ${status}, no password secret yet"
    elif ! accepts_connections "${address}" "${port}"; then
      echo "waiting for database ${DB_IDENTIFIER}: status ${status}, ${address}:${port} does not accept connections yet"
    else
      echo "database ${DB_IDENTIFIER} accepts connections at ${address}:${port} (status ${status})"
      DB_HOST="${address}"
      DB_PORT="${port}"
      DB_SECRET_ARN="${secret}"
      return 0
    fi
    sleep "${DB_POLL_SECONDS}"
  done
}

secret_readable() {
  aws secretsmanager get-secret-value --region "${REGION}" --secret-id "${DB_SECRET_ARN}" \
    --query Name --output text >/dev/null 2>&1
}

ecr_login() {
  aws ecr get-login-password --region "${REGION}" \
    | docker login --username AWS --password-stdin "${REGISTRY}"
}

pull_image() {
  docker pull "${IMAGE}"
}

run_app() {
  docker rm -f app >/dev/null 2>&1 || true
  docker run --detach --name app --restart unless-stopped \
    --read-only --tmpfs /tmp:rw,noexec,nosuid,size=16m \
    --publish "${APP_PORT}:${APP_PORT}" \
    --env "PORT=${APP_PORT}" \
    --env "DB_HOST=${DB_HOST}" \
    --env "DB_PORT=${DB_PORT}" \
    --env "DB_NAME=${DB_NAME}" \
    --env "DB_SECRET_ARN=${DB_SECRET_ARN}" \
    --env "DB_SSLMODE=verify-full" \
    --env "DB_SSLROOTCERT=${CONTAINER_CA_FILE}" \
    --volume "${RDS_CA_FILE}:${CONTAINER_CA_FILE}:ro" \
    --env "HEALTH_CHECK_PATH=${HEALTH_CHECK_PATH}" \
    --env "AWS_REGION=${REGION}" \
    --env "AWS_DEFAULT_REGION=${REGION}" \
    --log-driver awslogs \
    --log-opt "awslogs-region=${REGION}" \
    --log-opt "awslogs-group=${LOG_GROUP}" \
    --log-opt "awslogs-stream=${INSTANCE_ID}" \
    "${IMAGE}"
}

main() {
  echo "Deploying image tag ${IMAGE_TAG}"
  install_docker
  start_docker
  INSTANCE_ID="$(metadata instance-id)"
  retry download_rds_ca
  wait_for_database
  # The role may read the secret only once the deploy has seen the database: wait for that.
  retry secret_readable
  retry ecr_login
  retry pull_image
  run_app
}

# Only when run, not when sourced. (main takes no arguments: an at sign here would be read as
# a placeholder.)
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  main
fi
