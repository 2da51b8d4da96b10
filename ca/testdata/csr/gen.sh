#!/bin/sh
# gen.sh makes the CSRs of key types Go's crypto/x509 cannot sign with (and
# mostly cannot verify or parse): the authority must refuse each with a
# request_errors entry naming the key. Made with Debian's OpenSSL 3.0:
#   cd ca/testdata/csr && ./gen.sh
# The private keys are thrown away; only the CSRs are kept. RSA-8192 and
# RSA-16384 are real keys (the size cap and its benchmark): the 16384-bit one
# takes a few minutes to generate.
set -eu
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
req() { # name keyfile
	openssl req -new -key "$2" -subj "/CN=$1.example.com" -addext "subjectAltName=DNS:$1.example.com" -out "$1.csr"
}
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:512 -out "$tmp/rsa512.key" 2>/dev/null
req rsa512 "$tmp/rsa512.key"
openssl dsaparam -out "$tmp/dsa.param" 2048 2>/dev/null
openssl genpkey -paramfile "$tmp/dsa.param" -out "$tmp/dsa2048.key"
req dsa2048 "$tmp/dsa2048.key"
openssl genpkey -algorithm ED448 -out "$tmp/ed448.key"
req ed448 "$tmp/ed448.key"
openssl ecparam -name secp256k1 -genkey -noout -out "$tmp/secp256k1.key"
req secp256k1 "$tmp/secp256k1.key"
for bits in 8192 16384; do
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:$bits -out "$tmp/rsa$bits.key" 2>/dev/null
	req rsa$bits "$tmp/rsa$bits.key"
done
