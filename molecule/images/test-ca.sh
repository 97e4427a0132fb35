#!/usr/bin/env bash
# Makes a throw-away CA (ca.pem, ca.key) and a certificate for NAME, localhost and 127.0.0.1
# (server.pem, server.key) in the current directory: the TLS of the test services themselves.
set -euo pipefail
name=${1:?usage: test-ca.sh NAME}

openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=${name} test CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -keyout ca.key -out ca.pem 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=${name}" -keyout server.key -out server.csr 2>/dev/null
printf 'subjectAltName=DNS:%s,DNS:localhost,IP:127.0.0.1\n' "$name" >san.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 -extfile san.ext \
  -out server.pem 2>/dev/null
rm -f server.csr san.ext
