#!/bin/bash
# tests/lib/mkcerts.sh: make the certificates a TLS test needs, offline, with
# openssl (Debian 12: OpenSSL 3.0).
#
#   mkcerts.sh DIR
#
# Writes into DIR (created if needed), every key an EC P-256 key in PEM:
#   ca.pem, ca-key.pem                 the test CA (valid 10 years)
#   server-cert.pem, server-key.pem    signed by ca.pem; subjectAltName
#                                      IP:127.0.0.1, DNS:localhost; serverAuth
#   client-cert.pem, client-key.pem    signed by ca.pem; clientAuth
#   other-ca.pem, other-ca-key.pem     a second CA that signed nothing of the above
#   other-client-cert.pem, other-client-key.pem
#                                      a client certificate signed by other-ca.pem
#   expired-cert.pem, expired-key.pem  signed by ca.pem, valid from 2020-01-01 to
#                                      2020-01-02 only; serverAuth and clientAuth,
#                                      with the same names as the server certificate,
#                                      so it can stand for either side
# The files are what dockerd's --tlscacert/--tlscert/--tlskey and a client's
# tls_ca_cert/tls_cert/tls_key read. Keys are mode 0600.
#
# OpenSSL 3.0's `x509` and `req` cannot set a start date in the past (the
# -not_before option came with 3.4), so every certificate is signed with
# `openssl ca`, whose -startdate/-enddate can, against a throwaway database
# in DIR/.ca. No network, no faketime.
set -eu

if test $# -ne 1; then
	echo "usage: mkcerts.sh DIR" >&2
	exit 2
fi
dir=$1
if ! command -v openssl >/dev/null 2>&1; then
	echo "mkcerts: missing program 'openssl' (apt-get install openssl)" >&2
	exit 1
fi
mkdir -p "$dir"
cd "$dir"
umask 077
rm -rf .ca
mkdir .ca

cat >.ca/openssl.cnf <<'EOF'
[ca]
default_ca = test_ca

[test_ca]
dir = .ca
database = $dir/index.txt
new_certs_dir = $dir
serial = $dir/serial
default_md = sha256
policy = policy_any
unique_subject = no
copy_extensions = none

[policy_any]
commonName = supplied

[req]
distinguished_name = req_dn
prompt = no

[req_dn]
CN = unused

[ext_ca]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash

[ext_server]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
authorityKeyIdentifier = keyid

[ext_client]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid

[ext_both]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
authorityKeyIdentifier = keyid
EOF

newkey () {
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null
}

# sign NAME CN CA_PREFIX EXTENSIONS [-startdate X -enddate Y | -days N]
# (CA_PREFIX "" self-signs NAME's own key)
sign () {
	local name=$1 cn=$2 ca=$3 ext=$4 cacert cakey
	shift 4
	: >.ca/index.txt
	openssl rand -hex 8 >.ca/serial
	newkey "$name-key.pem"
	openssl req -new -config .ca/openssl.cnf -key "$name-key.pem" -subj "/CN=$cn" \
		-out ".ca/$name.csr"
	if test -z "$ca"; then
		set -- -selfsign -keyfile "$name-key.pem" "$@"
	else
		set -- -cert "$ca.pem" -keyfile "$ca-key.pem" "$@"
	fi
	openssl ca -batch -notext -config .ca/openssl.cnf -extensions "$ext" \
		-in ".ca/$name.csr" -out "$name.pem" "$@" 2>.ca/log ||
		{ cat .ca/log >&2; return 1; }
}

sign ca "reconcile test CA" "" ext_ca -days 3650
sign other-ca "reconcile unrelated CA" "" ext_ca -days 3650
sign server "127.0.0.1" ca ext_server -days 3650
sign client "reconcile client" ca ext_client -days 3650
sign other-client "reconcile client of the other CA" other-ca ext_client -days 3650
sign expired "127.0.0.1 (expired)" ca ext_both -startdate 20200101000000Z -enddate 20200102000000Z

# the names docker's own tooling uses: ca.pem, cert.pem / key.pem
for n in server client other-client expired; do
	mv "$n.pem" "$n-cert.pem"
done
chmod 0644 ./*.pem
chmod 0600 ./*-key.pem
rm -rf .ca
