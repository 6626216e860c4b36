#!/usr/bin/env bash
# Adds Warden's packages to a signed apt repository that a fleet points at (docs/install.md):
#   REPO/pool/main/*.deb                          every version added, kept for rollbacks
#   REPO/dists/stable/main/binary-ARCH/Packages{,.gz}
#   REPO/dists/stable/{Release,Release.gpg,InRelease}   signed with KEY
#   REPO/warden-archive-keyring.gpg               the public key hosts install (signed-by=)
# Usage: packaging/build-repo.sh REPO KEY DEB...
# KEY is a gpg key id or fingerprint in the keyring (GNUPGHOME) whose secret key signs; the
# indexes are made again from the whole pool each time, so adding a version is running it again.
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: build-repo.sh REPO KEY DEB..." >&2; exit 2; }
repo=$1 key=$2
shift 2
for deb in "$@"; do
  dpkg-deb -f "$deb" Package >/dev/null 2>&1 || { echo "build-repo: $deb is not a Debian package" >&2; exit 1; }
done
gpg --batch --list-secret-keys "$key" >/dev/null 2>&1 ||
  { echo "build-repo: no secret key $key in ${GNUPGHOME:-~/.gnupg}: the repository cannot be signed" >&2; exit 1; }
arch=$(dpkg --print-architecture)
mkdir -p "$repo/pool/main" "$repo/dists/stable/main/binary-$arch"
cp "$@" "$repo/pool/main/"
cd "$repo"
apt-ftparchive packages pool/main >"dists/stable/main/binary-$arch/Packages"
gzip -9n -c "dists/stable/main/binary-$arch/Packages" >"dists/stable/main/binary-$arch/Packages.gz"
apt-ftparchive \
  -o APT::FTPArchive::Release::Origin=Warden -o APT::FTPArchive::Release::Label=Warden \
  -o APT::FTPArchive::Release::Suite=stable -o APT::FTPArchive::Release::Codename=stable \
  -o APT::FTPArchive::Release::Architectures="$arch" -o APT::FTPArchive::Release::Components=main \
  -o APT::FTPArchive::Release::Description="Warden privileged access management" \
  release dists/stable >dists/stable/Release.new
mv dists/stable/Release.new dists/stable/Release
rm -f dists/stable/InRelease dists/stable/Release.gpg
gpg --batch --yes --local-user "$key" --clearsign -o dists/stable/InRelease dists/stable/Release
gpg --batch --yes --local-user "$key" --armor --detach-sign -o dists/stable/Release.gpg dists/stable/Release
gpg --batch --yes --export "$key" >warden-archive-keyring.gpg
echo "$repo: $(grep -c '^Package:' "dists/stable/main/binary-$arch/Packages") package versions, signed by $key"
