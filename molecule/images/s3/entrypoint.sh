#!/usr/bin/env bash
# Starts SeaweedFS with its S3 gateway on port 8333: S3_ACCESS_KEY and S3_SECRET_KEY may do anything,
# anyone may read S3_PUBLIC_BUCKET (the identities file is written here, from the environment).
set -euo pipefail
: "${S3_ACCESS_KEY:?S3_ACCESS_KEY is required}" "${S3_SECRET_KEY:?S3_SECRET_KEY is required}"
: "${S3_PUBLIC_BUCKET:?S3_PUBLIC_BUCKET is required}"
mkdir -p /etc/seaweedfs /data
umask 077
printf '{"identities": [{"name": "anonymous", "actions": ["Read:%s"]}, {"name": "site", "credentials": [{"accessKey": "%s", "secretKey": "%s"}], "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}\n' \
  "$S3_PUBLIC_BUCKET" "$S3_ACCESS_KEY" "$S3_SECRET_KEY" >/etc/seaweedfs/s3.json
exec weed server -dir=/data -ip="$(hostname -i | cut -d' ' -f1)" -ip.bind=0.0.0.0 -s3 -s3.port=8333 \
  -s3.config=/etc/seaweedfs/s3.json -volume.max=16 -master.volumeSizeLimitMB=64
