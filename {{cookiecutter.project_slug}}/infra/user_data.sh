#!/bin/bash
# Boot script of the app instances. infra/resources/app/instances.py fills in the placeholders (a name after
# an at sign; string.Template with that sign as delimiter) with shell-quoted values before
# it goes into the launch template. The database is built at the same time as the instances, so this script
# waits for it instead of the deploy waiting before it starts the instances.
set -euo pipefail

REGION=@region
REGISTRY=@registry
IMAGE=@image
IMAGE_TAG=@image_tag
DB_IDENTIFIER=@db_identifier
DB_NAME=@db_name
APP_PORT=@app_port
LOG_GROUP=@log_group

echo "Deploying image tag ${IMAGE_TAG}"

# Runs the function named $1 until it succeeds.
retry() {
  until "$1"; do
    echo "retrying in 10s: $1" >&2
    sleep 10
  done
}

metadata() {
  local token
  token="$(curl -sS -X PUT http://169.254.169.254/latest/api/token \
    -H 'X-aws-ec2-metadata-token-ttl-seconds: 300')"
  curl -sS -H "X-aws-ec2-metadata-token: ${token}" "http://169.254.169.254/latest/meta-data/$1"
}

db_field() {
  aws rds describe-db-instances --region "${REGION}" --db-instance-identifier "${DB_IDENTIFIER}" \
    --query "DBInstances[0].$1" --output text 2>/dev/null || echo "unknown"
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

dnf install -y docker
systemctl enable --now docker

INSTANCE_ID="$(metadata instance-id)"

until [ "$(db_field DBInstanceStatus)" = "available" ]; do
  echo "waiting for database ${DB_IDENTIFIER}"
  sleep 15
done
DB_HOST="$(db_field Endpoint.Address)"
DB_PORT="$(db_field Endpoint.Port)"
DB_SECRET_ARN="$(db_field MasterUserSecret.SecretArn)"
# The role may read the secret only once the deploy has seen the database: wait for that.
retry secret_readable

retry ecr_login
retry pull_image

docker rm -f app >/dev/null 2>&1 || true
docker run --detach --name app --restart unless-stopped \
  --publish "${APP_PORT}:${APP_PORT}" \
  --env "PORT=${APP_PORT}" \
  --env "DB_HOST=${DB_HOST}" \
  --env "DB_PORT=${DB_PORT}" \
  --env "DB_NAME=${DB_NAME}" \
  --env "DB_SECRET_ARN=${DB_SECRET_ARN}" \
  --env "DB_SSLMODE=require" \
  --env "AWS_REGION=${REGION}" \
  --env "AWS_DEFAULT_REGION=${REGION}" \
  --log-driver awslogs \
  --log-opt "awslogs-region=${REGION}" \
  --log-opt "awslogs-group=${LOG_GROUP}" \
  --log-opt "awslogs-stream=${INSTANCE_ID}" \
  "${IMAGE}"
